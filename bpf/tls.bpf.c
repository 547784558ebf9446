// SPDX-License-Identifier: GPL-2.0
/*
 * flowtap's TLS side: uprobes on OpenSSL's SSL_read/SSL_write (and the _ex pair)
 * report the plaintext a process hands to or gets from its TLS library, as
 * FT_DATA records on the main object's ring buffer (the map is shared by fd), with
 * positions in the connection's plaintext stream.
 *
 * The socket an SSL* talks over comes from the nested-syscall method: entry saves
 * the call per thread, this object's own sys_enter tracepoints note the fd of the
 * read/write the same thread makes while inside SSL_*, and an SSL* -> fd cache
 * answers calls served from OpenSSL's buffer without a syscall. No struct offsets.
 *
 * OpenSSL driven through memory BIOs (grpcio, Node) makes no syscall inside
 * SSL_*: such a call's plaintext goes out keyed by its SSL* (FT_SSL_DATA), and
 * each BIO write it makes reports the first bytes of the TLS records written
 * (FT_TLS_HEAD), which userspace finds again in a socket's ciphertext.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flowtap.h"
#include "tcpsock.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace before load, as for the main object. */
const volatile bool trace_all = false;
const volatile __u32 max_payload = 64 * 1024;
const volatile __u32 self_tgid = 0;
const volatile bool pid_filter = false;

/* Shared with the main object by fd (userspace calls reuse_fd before load). */
#include "ring.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* An SSL_* call in progress on a thread. */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_out; /* _ex: where the byte count is written; 0 for SSL_read/SSL_write */
	__s32 fd;      /* -1 until a nested syscall names it */
	__u32 op;      /* FT_SYS_{SSL,BORINGSSL}_{READ,WRITE}, or OP_HANDSHAKE */
};

/* A handshake call: it only teaches the SSL* -> fd cache (a request that came
 * with the client's Finished is then read from OpenSSL's buffer, no syscall). */
#define OP_HANDSHAKE 0

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

/* Entries in ssl_calls. While there are none, the nested-syscall hooks, which
 * run at every read and write of every process on the host, stop at this. */
__u64 ssl_calls_open = 0;

static __always_inline void ssl_call_closed(__u64 id)
{
	if (!bpf_map_delete_elem(&ssl_calls, &id))
		__sync_fetch_and_sub(&ssl_calls_open, 1);
}

struct ssl_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

struct fd_key {
	__u32 tgid;
	__s32 fd;
};

/* Plaintext bytes sent, received, per (tgid, fd). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fd_key);
	__type(value, __u64[2]);
} plain_pos SEC(".maps");

/* Plaintext records whose socket could not be told (no syscall seen, not cached). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unmapped SEC(".maps");

struct data_record {
	struct ft_data_event ev;
	__u8 payload[FT_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_record);
} scratch SEC(".maps");

struct ssl_data_record {
	struct ft_ssl_data_event ev;
	__u8 payload[FT_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ssl_data_record);
} ssl_scratch SEC(".maps");

/* Plaintext bytes sent, received, per SSL* reported by FT_SSL_DATA or
 * FT_TLS_HEAD: an entry means SSL_free is reported too. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u64[2]);
} ssl_pos SEC(".maps");

static __always_inline void bump(void *map)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(map, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

#include "filter.bpf.h"
#include "header.bpf.h"

/* ---- uprobes ------------------------------------------------------------------ */

static __always_inline int ssl_enter(__u32 op, __u64 ssl, __u64 buf, __u64 len_out)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct ssl_call c = {.ssl = ssl, .buf = buf, .len_out = len_out, .fd = -1, .op = op};
	if (!bpf_map_update_elem(&ssl_calls, &id, &c, BPF_NOEXIST))
		__sync_fetch_and_add(&ssl_calls_open, 1);
	else
		bpf_map_update_elem(&ssl_calls, &id, &c, BPF_EXIST);
	return 0;
}

struct emit_state {
	__u64 ssl; /* nonzero: an FT_SSL_DATA record of this SSL* (fd is -1) */
	__u64 ptr;
	__u64 left;         /* bytes not yet emitted */
	__u64 capture_left; /* bytes that may still be copied */
	__u64 pos;
	__s32 fd;
	__u32 op;
};

/*
 * The walk lives in a per-CPU map value, not on the stack, as in flowtap.bpf.c:
 * the verifier tracks no map contents, so it checks the bpf_loop callback once
 * instead of once per possible remaining length (with --max-payload a load-time
 * constant, that ran into its million-instruction limit).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emit_state);
} tls_walks SEC(".maps");

static __always_inline void emit(struct emit_state *s, __u64 count, __u32 want)
{
	__u32 zero = 0;
	struct ft_data_event *ev;
	__u8 *payload;
	__u64 size;
	if (s->ssl) {
		struct ssl_data_record *r = bpf_map_lookup_elem(&ssl_scratch, &zero);
		if (!r)
			return;
		r->ev.ssl = s->ssl;
		ev = &r->ev.data;
		payload = r->payload;
		size = sizeof(r->ev);
	} else {
		struct data_record *r = bpf_map_lookup_elem(&scratch, &zero);
		if (!r)
			return;
		ev = &r->ev;
		payload = r->payload;
		size = sizeof(r->ev);
	}
	fill_header(&ev->hdr, s->ssl ? FT_SSL_DATA : FT_DATA, s->fd);
	ev->pos = s->pos;
	ev->count = count;
	ev->syscall = s->op;
	__u32 len = want;
	if (len > FT_CHUNK)
		len = FT_CHUNK;
	if (len && bpf_probe_read_user(payload, len, (const void *)s->ptr))
		len = 0; /* not readable: the bytes are counted, not copied */
	ev->captured = len;
	if (ring_output(ev, size + (len & (2 * FT_CHUNK - 1))))
		bump(&drops);
}

static long emit_piece(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct emit_state *s = bpf_map_lookup_elem(&tls_walks, &zero);
	if (!s || !s->left || !s->capture_left)
		return 1;
	__u64 n = s->left;
	if (n > s->capture_left)
		n = s->capture_left;
	if (n > FT_CHUNK)
		n = FT_CHUNK;
	emit(s, n, n);
	s->ptr += n;
	s->left -= n;
	s->capture_left -= n;
	s->pos += n;
	return 0;
}

/* The plaintext positions at key in map, made on first use. */
static __always_inline __u64 *positions(void *map, void *key)
{
	__u64 *pos = bpf_map_lookup_elem(map, key);
	if (pos)
		return pos;
	__u64 zeros[2] = {};
	bpf_map_update_elem(map, key, zeros, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Plaintext a TLS call moved, as data records at the stream's plaintext
 * positions: the socket's (fd), or the SSL*'s when ssl is nonzero. */
static __always_inline int emit_at(__u64 *pos, __s32 fd, __u64 ssl, __u32 op, __u64 buf, __u64 n)
{
	__u32 dir = op == FT_SYS_SSL_WRITE || op == FT_SYS_BORINGSSL_WRITE ||
				    op == FT_SYS_GOTLS_WRITE ?
			    0 :
			    1;
	__u32 zero = 0;
	struct emit_state *s = bpf_map_lookup_elem(&tls_walks, &zero);
	if (!s)
		return 0;
	s->ssl = ssl;
	s->ptr = buf;
	s->left = n;
	s->capture_left = max_payload;
	s->pos = __sync_fetch_and_add(&pos[dir & 1], n);
	s->fd = fd;
	s->op = op;
	bpf_loop(FT_MAX_PIECES, emit_piece, NULL, 0);
	/* What was not copied (past the cap) still counts. */
	if (s->left)
		emit(s, s->left, 0);
	return 0;
}

/* Plaintext on a socket (shared by every library: the stream is the socket's). */
static __always_inline int emit_plaintext(__u64 id, __s32 fd, __u32 op, __u64 buf, __u64 n)
{
	struct fd_key fk = {.tgid = id >> 32, .fd = fd};
	__u64 *pos = positions(&plain_pos, &fk);
	if (!pos)
		return 0;
	return emit_at(pos, fd, 0, op, buf, n);
}

static __always_inline int ssl_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *cp = bpf_map_lookup_elem(&ssl_calls, &id);
	if (!cp)
		return 0;
	struct ssl_call c = *cp;
	ssl_call_closed(id);
	if (c.op == OP_HANDSHAKE) {
		struct ssl_key hk = {.tgid = id >> 32, .ssl = c.ssl};
		if (c.fd >= 0)
			bpf_map_update_elem(&ssl_fds, &hk, &c.fd, BPF_ANY);
		return 0;
	}

	__u64 n = 0;
	if (c.len_out) {
		size_t done = 0;
		if (ret != 1 || bpf_probe_read_user(&done, sizeof(done), (const void *)c.len_out))
			return 0;
		n = done;
	} else {
		if ((int)ret <= 0)
			return 0;
		n = (int)ret;
	}
	if (!n)
		return 0;

	struct ssl_key sk = {.tgid = id >> 32, .ssl = c.ssl};
	if (c.fd >= 0) {
		bpf_map_update_elem(&ssl_fds, &sk, &c.fd, BPF_ANY);
	} else {
		__s32 *cached = bpf_map_lookup_elem(&ssl_fds, &sk);
		if (!cached) {
			/* Memory BIOs: userspace ties the SSL* to its socket by record. */
			bump(&unmapped);
			__u64 *pos = positions(&ssl_pos, &sk);
			if (!pos)
				return 0;
			return emit_at(pos, -1, c.ssl, c.op, c.buf, n);
		}
		c.fd = *cached;
	}

	return emit_plaintext(id, c.fd, c.op, c.buf, n);
}

/*
 * Which library a libssl probe is in: its cookie is that library's read code,
 * FT_SYS_SSL_READ (OpenSSL) or FT_SYS_BORINGSSL_READ, set by
 * src/capture/tls/mod.rs; its write code is the one after it.
 */
static __always_inline __u32 ssl_op(struct pt_regs *ctx, bool write)
{
	__u32 read = bpf_get_attach_cookie(ctx) == FT_SYS_BORINGSSL_READ ? FT_SYS_BORINGSSL_READ :
									   FT_SYS_SSL_READ;
	return write ? read + 1 : read;
}

/* int SSL_read(SSL *ssl, void *buf, int num) */
SEC("uprobe")
int BPF_UPROBE(ssl_read_enter, void *ssl, void *buf)
{
	return ssl_enter(ssl_op(ctx, false), (__u64)ssl, (__u64)buf, 0);
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_UPROBE(ssl_write_enter, void *ssl, void *buf)
{
	return ssl_enter(ssl_op(ctx, true), (__u64)ssl, (__u64)buf, 0);
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_UPROBE(ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *out)
{
	return ssl_enter(ssl_op(ctx, false), (__u64)ssl, (__u64)buf, (__u64)out);
}

/* int SSL_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_UPROBE(ssl_write_ex_enter, void *ssl, void *buf, size_t num, size_t *out)
{
	return ssl_enter(ssl_op(ctx, true), (__u64)ssl, (__u64)buf, (__u64)out);
}

/* int SSL_do_handshake(SSL *ssl), SSL_accept(SSL *ssl), SSL_connect(SSL *ssl) */
SEC("uprobe")
int BPF_UPROBE(ssl_handshake_enter, void *ssl)
{
	return ssl_enter(OP_HANDSHAKE, (__u64)ssl, 0, 0);
}

SEC("uretprobe")
int BPF_URETPROBE(ssl_exit_probe, long ret)
{
	return ssl_exit(ret);
}

/* void SSL_free(SSL *ssl): an SSL* reported by itself ends (its address may
 * come back for another connection), and its fd is forgotten. */
SEC("uprobe")
int BPF_UPROBE(ssl_free_enter, void *ssl)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct ssl_key k = {.tgid = id >> 32, .ssl = (__u64)ssl};
	bpf_map_delete_elem(&ssl_fds, &k);
	if (bpf_map_delete_elem(&ssl_pos, &k))
		return 0;
	struct ft_ssl_free_event *e = ring_reserve(sizeof(*e));
	if (!e) {
		bump(&drops);
		return 0;
	}
	fill_header(&e->hdr, FT_SSL_FREE, -1);
	e->ssl = (__u64)ssl;
	ring_submit(e);
	return 0;
}

/*
 * A BIO write inside an SSL_* call that has made no socket syscall, for an SSL*
 * with no fd known: OpenSSL is handing TLS records to a memory BIO (or to a
 * socket BIO that will make the syscall inside this write: then the SSL* gets
 * its fd and later writes are quiet). The first bytes are what userspace looks
 * for among the records the process sends on its sockets.
 */
static __always_inline int bio_write(__u64 data, long len)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *c = bpf_map_lookup_elem(&ssl_calls, &id);
	if (!c || c->fd >= 0 || len <= 0)
		return 0;
	struct ssl_key k = {.tgid = id >> 32, .ssl = c->ssl};
	if (bpf_map_lookup_elem(&ssl_fds, &k))
		return 0;
	if (!positions(&ssl_pos, &k))
		return 0;
	struct ft_tls_head_event *e = ring_reserve(sizeof(*e));
	if (!e) {
		bump(&drops);
		return 0;
	}
	fill_header(&e->hdr, FT_TLS_HEAD, -1);
	e->ssl = c->ssl;
	e->len = len;
	e->_pad = 0;
	__builtin_memset(e->head, 0, sizeof(e->head));
	e->captured = len < FT_TLS_HEAD_LEN ? len : FT_TLS_HEAD_LEN;
	if (bpf_probe_read_user(e->head, sizeof(e->head), (const void *)data))
		e->captured = 0;
	ring_submit(e);
	return 0;
}

/* int BIO_write(BIO *b, const void *data, int dlen) */
SEC("uprobe")
int BPF_UPROBE(bio_write_enter, void *bio, void *data, int len)
{
	return bio_write((__u64)data, len);
}

/* int BIO_write_ex(BIO *b, const void *data, size_t dlen, size_t *written) */
SEC("uprobe")
int BPF_UPROBE(bio_write_ex_enter, void *bio, void *data, size_t len)
{
	return bio_write((__u64)data, len > 0x7fffffff ? 0x7fffffff : (long)len);
}

/* ---- nested syscalls: which fd the SSL* in progress uses ---------------------- */

/* Only a TCP socket counts: a call that reads a file or wakes an event loop
 * inside SSL_* (Node does) must not send the plaintext to that fd. */
static __always_inline int note_fd(__s32 fd)
{
	if (!*(volatile __u64 *)&ssl_calls_open)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call *c = bpf_map_lookup_elem(&ssl_calls, &id);
	if (c && fd >= 0 && file_tcp_sock(fd_file(fd)))
		c->fd = fd;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int tls_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_write")
int tls_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int tls_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int tls_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tls_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int tls_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tls_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tls_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return note_fd(ctx->args[0]);
}

/* A closed fd's plaintext stream ends; the next socket on it starts at 0. */
SEC("tracepoint/syscalls/sys_enter_close")
int tls_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fd_key fk = {.tgid = id >> 32, .fd = ctx->args[0]};
	/* Every close on the machine comes here, and almost none has an entry: the
	 * lookup takes no lock, the delete takes the bucket's. */
	if (bpf_map_lookup_elem(&plain_pos, &fk))
		bpf_map_delete_elem(&plain_pos, &fk);
	return 0;
}

/* ---- processes that start: userspace looks at them for TLS libraries ---------- */

/* Tgids of traced processes that just exec'd, on a small ring of their own. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} execs SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tls_on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	__u32 *e = bpf_ringbuf_reserve(&execs, sizeof(*e), 0);
	if (!e)
		return 0;
	*e = id >> 32;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A thread that dies inside SSL_* (or whose uretprobe never ran) leaves nothing. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(tls_on_exit, struct task_struct *task)
{
	__u64 id = ((__u64)task->tgid << 32) | (__u32)task->pid;
	ssl_call_closed(id);
	return 0;
}

/* ---- Go crypto/tls ------------------------------------------------------------ */

/*
 * Go's (*Conn).Write is probed at entry and (*Conn).Read at entry and at each of
 * its RET instructions (userspace finds them by disassembly): uretprobes rewrite
 * the return address on a stack Go may move, which crashes the program. Go's
 * register ABI puts the receiver and the slice in the first argument registers,
 * the results of Read in the first result registers at RET, and the goroutine (g)
 * in a fixed register, which pairs a Read's entry with its return whichever
 * thread the goroutine runs on by then.
 */
#if defined(__TARGET_ARCH_x86)
#define GO_ARG1(x) ((x)->ax)
#define GO_ARG2(x) ((x)->bx)
#define GO_ARG3(x) ((x)->cx)
#define GO_G(x) ((x)->r14)
#elif defined(__TARGET_ARCH_arm64)
#define GO_ARG1(x) ((x)->regs[0])
#define GO_ARG2(x) ((x)->regs[1])
#define GO_ARG3(x) ((x)->regs[2])
#define GO_G(x) ((x)->regs[28])
#endif

/*
 * Where the socket's fd lies in one Go binary (from its DWARF or a per-version
 * table), indexed by the uprobe's cookie: tls.Conn.conn is a net.Conn interface
 * (itab, data); the data of a *net.TCPConn points at a net.conn whose fd is a
 * *netFD, whose poll.FD holds Sysfd. The itab's type hash is checked against the
 * *net.TCPConn one first, so a wrapped conn is never read as a TCPConn.
 */
struct go_layout {
	__u32 conn_off;    /* tls.Conn.conn */
	__u32 itab_hash;   /* the *net.TCPConn type's hash, as its itab holds it */
	__u32 fd_off;      /* net.conn.fd (net.TCPConn embeds net.conn) */
	__u32 sysfd_off;   /* netFD.pfd + poll.FD.Sysfd */
};

#define GO_ITAB_HASH_OFF 16 /* itab: inter, _type, hash */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct go_layout);
} go_layouts SEC(".maps");

/* Per traced process, Go TLS calls on a conn that is not a *net.TCPConn: userspace
 * names each such process once as not hooked (by the comm kept here, as the
 * process may be gone by then) and deletes its entry. */
struct go_wrapped_calls {
	__u64 calls;
	char comm[FT_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct go_wrapped_calls);
} go_wrapped SEC(".maps");

struct go_read_key {
	__u32 tgid;
	__u32 _pad;
	__u64 g;
};

struct go_read {
	__u64 buf;
	__s32 fd;
	__u32 _pad;
};

/* Reads in progress, by goroutine. LRU: a goroutine that never returns (panics
 * out of Read, exits) leaves an entry that ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_read_key);
	__type(value, struct go_read);
} go_reads SEC(".maps");

/* The fd under a *tls.Conn, or -1 (unreadable, or not over a *net.TCPConn). */
static __always_inline __s32 go_conn_fd(void *ctx, __u64 tls_conn)
{
	__u32 idx = bpf_get_attach_cookie(ctx);
	struct go_layout *l = bpf_map_lookup_elem(&go_layouts, &idx);
	if (!l)
		return -1;
	__u64 iface[2];
	if (bpf_probe_read_user(iface, sizeof(iface), (void *)(tls_conn + l->conn_off)))
		return -1;
	__u32 hash;
	if (bpf_probe_read_user(&hash, sizeof(hash), (void *)(iface[0] + GO_ITAB_HASH_OFF)))
		return -1;
	if (hash != l->itab_hash) {
		__u32 tgid = bpf_get_current_pid_tgid() >> 32;
		struct go_wrapped_calls *w = bpf_map_lookup_elem(&go_wrapped, &tgid);
		if (w) {
			__sync_fetch_and_add(&w->calls, 1);
		} else {
			struct go_wrapped_calls first = {.calls = 1};
			bpf_get_current_comm(first.comm, sizeof(first.comm));
			bpf_map_update_elem(&go_wrapped, &tgid, &first, BPF_NOEXIST);
		}
		return -1;
	}
	__u64 netfd;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(iface[1] + l->fd_off)))
		return -1;
	__s64 sysfd;
	if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + l->sysfd_off)))
		return -1;
	if (sysfd < 0 || sysfd > 0x7fffffff)
		return -1;
	return (__s32)sysfd;
}

/* func (c *Conn) Write(b []byte) (int, error): the bytes are all there at entry. */
SEC("uprobe")
int gotls_write_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	__u64 n = GO_ARG3(ctx);
	if (!n)
		return 0;
	__s32 fd = go_conn_fd(ctx, GO_ARG1(ctx));
	if (fd < 0)
		return 0;
	return emit_plaintext(id, fd, FT_SYS_GOTLS_WRITE, GO_ARG2(ctx), n);
}

/* func (c *Conn) Read(b []byte) (int, error) */
SEC("uprobe")
int gotls_read_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	__s32 fd = go_conn_fd(ctx, GO_ARG1(ctx));
	if (fd < 0)
		return 0;
	struct go_read_key k = {.tgid = id >> 32, .g = GO_G(ctx)};
	struct go_read r = {.buf = GO_ARG2(ctx), .fd = fd};
	bpf_map_update_elem(&go_reads, &k, &r, BPF_ANY);
	return 0;
}

/* At a RET of (*Conn).Read: n is the first result. */
SEC("uprobe")
int gotls_read_ret(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_read_key k = {.tgid = id >> 32, .g = GO_G(ctx)};
	struct go_read *rp = bpf_map_lookup_elem(&go_reads, &k);
	if (!rp)
		return 0;
	struct go_read r = *rp;
	bpf_map_delete_elem(&go_reads, &k);
	__s64 n = (__s64)GO_ARG1(ctx);
	if (n <= 0)
		return 0;
	return emit_plaintext(id, r.fd, FT_SYS_GOTLS_READ, r.buf, n);
}
