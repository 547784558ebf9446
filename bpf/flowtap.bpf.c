// SPDX-License-Identifier: GPL-2.0
/*
 * flowtap's kernel side: syscall tracepoints that report TCP socket lifecycles and
 * the bytes processes send and receive on them, as records on one ring buffer.
 *
 * Each syscall is a sys_enter/sys_exit pair: enter saves the arguments keyed by
 * pid_tgid, exit reads results (and received payloads) once the kernel has filled
 * them in. Only TCP sockets cost anything: fds.bpf.h remembers which (tgid, fd)
 * pairs are TCP sockets and which are not, so file, pipe, UNIX and UDP I/O stops at
 * a look at the fd table and one map lookup.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "flowtap.h"
#include "tcpsock.bpf.h"

/* Never used: they put the records bpf/tls.bpf.c writes into this object's
 * BTF, so that the skeleton's Rust types, which the decoder reads, include them. */
struct ft_ssl_data_event unused_ssl_data __attribute__((unused));
struct ft_tls_head_event unused_tls_head __attribute__((unused));
struct ft_ssl_free_event unused_ssl_free __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";

#define MSG_PEEK 2

/* Set by userspace before load. */
const volatile bool trace_all = false;
const volatile __u32 max_payload = FT_MAX_PAYLOAD;
const volatile __u32 self_tgid = 0;
/* --pid: traced_tgids is in use. */
const volatile bool pid_filter = false;

/* Referenced so that the skeleton generates Rust types for every record. */
struct ft_sock_event _ft_sock_event = {};
struct ft_data_event _ft_data_event = {};
struct ft_close_event _ft_close_event = {};
struct ft_file_data_event _ft_file_data_event = {};
struct ft_unplaced_event _ft_unplaced_event = {};
enum ft_kind _ft_kind = 0;
enum ft_syscall _ft_syscall = 0;
enum ft_limits _ft_limits = 0;

#include "ring.bpf.h"

/* Records the ring buffer had no room for. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* io_uring instances set up by traced processes: their I/O through the ring is
 * not seen by syscall tracepoints, so userspace says so. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} io_urings SEC(".maps");

/* Arguments saved at sys_enter, keyed by pid_tgid. */
struct call_args {
	__u64 ptr;    /* buffer, iovec array, or sockaddr */
	__u64 ptr2;   /* accept/getsockname: socklen_t pointer */
	__u32 iovcnt; /* 0: ptr is a plain buffer */
	__s32 fd;
	__u32 op;     /* enum ft_syscall, or enum ft_kind for socket calls */
	__u32 seq;    /* data calls: the stream's sequence number at enter */
	__u64 file;   /* data calls: the struct file * fd referred to at enter */
	/* data calls (see placement.bpf.h): the socket; the thread's voluntary
	 * context switches and the stream's sequence number at the first (sends)
	 * or latest (reads) of `locked_n` sightings under the socket lock. */
	__u64 sk;
	__u64 switches;
	__u32 locked_seq;
	__u16 locked_n;
	__u8 seq_known; /* `seq` was read at enter */
	__u8 _pad;
	struct ft_addr addr; /* connect: the destination */
	/* sendfile: the source file (0: none to prove), its fd, the offset argument,
	 * the offset the call starts at and the file's mtime then. */
	__u64 src_file;
	__u64 src_offset_ptr;
	__u64 src_start;
	__u64 src_mtime;
	__s32 src_fd;
	__u32 _pad2;
};

/*
 * Task-local storage: it lives in the thread's task_struct, so enter and exit find
 * it without hashing, no two threads share it, and it goes when the thread does.
 * `op == 0` marks it empty.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_args);
} args SEC(".maps");

static __always_inline void save_args(const struct call_args *a)
{
	struct call_args *slot = bpf_task_storage_get(&args, bpf_get_current_task_btf(), 0,
						      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		*slot = *a;
}

/* A call_args.op: enter looked and found nothing to report (not a TCP socket),
 * so exit need not recover arguments and look again. Not a syscall or kind. */
#define FT_OP_NONE 0xff

/* This thread's coming exit has nothing to report. */
static __always_inline void skip_exit(void)
{
	struct call_args *slot = bpf_task_storage_get(&args, bpf_get_current_task_btf(), 0,
						      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (slot)
		slot->op = FT_OP_NONE;
}

/* The arguments saved at this thread's sys_enter, taken so no later exit sees them. */
static __always_inline bool take_args(struct call_args *out)
{
	struct call_args *slot = bpf_task_storage_get(&args, bpf_get_current_task_btf(), 0, 0);
	if (!slot || !slot->op)
		return false;
	*out = *slot;
	slot->op = 0;
	return true;
}

struct data_record {
	struct ft_data_event ev;
	/* A chunk and a half, so that the verifier can prove a copy of up to a chunk
	 * at an offset below half a chunk in bounds (a per-CPU value may not pass
	 * 32 KiB); a record carries at most one chunk. */
	__u8 payload[FT_CHUNK + FT_CHUNK / 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_record);
} scratch SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}


#include "filter.bpf.h"
#include "header.bpf.h"

static __always_inline void read_sock_addrs(struct sock *sk, struct ft_addr *local,
					    struct ft_addr *peer)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	local->family = family;
	peer->family = family;
	local->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	peer->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO(&local->addr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&peer->addr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&local->addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&peer->addr, sk, __sk_common.skc_v6_daddr);
	}
}

static __always_inline void read_user_sockaddr(struct ft_addr *out, const void *uaddr)
{
	__u16 family = 0;
	if (!uaddr || bpf_probe_read_user(&family, sizeof(family), uaddr))
		return;
	if (family == AF_INET) {
		struct sockaddr_in sin = {};
		if (bpf_probe_read_user(&sin, sizeof(sin), uaddr))
			return;
		out->family = AF_INET;
		out->port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(out->addr, &sin.sin_addr, 4);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = {};
		if (bpf_probe_read_user(&sin6, sizeof(sin6), uaddr))
			return;
		out->family = AF_INET6;
		out->port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(out->addr, &sin6.sin6_addr, 16);
	}
}

static __always_inline void emit_sock(__u32 kind, __s32 fd, __s32 result,
				      const struct ft_addr *sys, struct sock *sk)
{
	struct ft_sock_event *e = ring_reserve(sizeof(*e));
	if (!e) {
		count_drop();
		return;
	}
	fill_header(&e->hdr, kind, fd);
	e->result = result;
	__builtin_memset(&e->sys, 0, sizeof(e->sys));
	__builtin_memset(&e->local, 0, sizeof(e->local));
	__builtin_memset(&e->peer, 0, sizeof(e->peer));
	if (sys)
		e->sys = *sys;
	e->has_kernel = sk != NULL;
	if (sk)
		read_sock_addrs(sk, &e->local, &e->peer);
	ring_submit(e);
}

/* The sequence number of the next byte in direction dir: sent by the process
 * (0), or read by it (1). */
static __always_inline __u32 stream_seq(__u64 sk, __u32 dir)
{
	if (typed_casts) {
		struct tcp_sock *tp = bpf_core_cast((void *)sk, struct tcp_sock);
		return dir ? tp->copied_seq : tp->write_seq;
	}
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	return dir ? BPF_CORE_READ(tp, copied_seq) : BPF_CORE_READ(tp, write_seq);
}

#include "fds.bpf.h"
#include "sendfile.bpf.h"

/* ---- data syscalls ---------------------------------------------------------- */

static __always_inline bool is_send(__u32 op)
{
	return op == FT_SYS_WRITE || op == FT_SYS_WRITEV || op == FT_SYS_SENDTO ||
	       op == FT_SYS_SENDMSG || op == FT_SYS_SENDFILE || op == FT_SYS_SPLICE_TO ||
	       op == FT_SYS_SENDMMSG;
}

/* Bytes moved without passing through user memory: counted at their position. */
static __always_inline bool counted_only(__u32 op)
{
	return op == FT_SYS_SENDFILE || op == FT_SYS_SPLICE_TO || op == FT_SYS_SPLICE_FROM;
}

#include "placement.bpf.h"

static __always_inline int data_enter(__u32 op, __s32 fd, __u64 ptr, __u64 iovcnt)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 file;
	if (!traced(id))
		return 0;
	/* readv/writev with no iovecs moves nothing; a plain buffer is one segment. */
	bool vectored = op == FT_SYS_READV || op == FT_SYS_WRITEV || op == FT_SYS_RECVMSG ||
			op == FT_SYS_SENDMSG || op == FT_SYS_SENDMMSG || op == FT_SYS_RECVMMSG;
	if ((vectored && !iovcnt) || !tcp_entry(id >> 32, fd, &file)) {
		skip_exit();
		return 0;
	}
	struct call_args a = {.ptr = ptr, .iovcnt = iovcnt, .fd = fd, .op = op, .file = file};
	note_stream(&a, is_send(op) ? 0 : 1);
	save_args(&a);
	return 0;
}

/*
 * Walks the syscall's buffer (or iovecs), gathering its bytes into the scratch
 * record and emitting it whenever it holds a chunk: consecutive iovecs share a
 * record (nginx's head and body, one writev, are one record), and a record never
 * spans two syscalls. The walk
 * lives in a per-CPU map value, not on the stack: the verifier tracks no map
 * contents, so it checks the bpf_loop callback once instead of once per possible
 * remaining length (which, with --max-payload a load-time constant, ran into its
 * million-instruction limit from 128 KiB up).
 */
struct emit_state {
	__u64 iov_ptr;
	__u64 seg_ptr;
	__u64 seg_left;
	__u64 total_left;   /* bytes of the syscall's result not yet emitted */
	__u64 capture_left; /* bytes that may still be copied */
	__u64 pos;
	__u32 iovcnt;
	__u32 iov_idx;
	__s32 fd;
	__u32 op;
	__u32 fill; /* bytes gathered into the scratch record, not yet emitted */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emit_state);
} walks SEC(".maps");

/* The bytes gathered into the scratch record, as one record ending at the walk's
 * position. */
static __always_inline void emit_gathered(struct emit_state *s)
{
	__u32 zero = 0;
	struct data_record *r = bpf_map_lookup_elem(&scratch, &zero);
	__u32 len = s->fill;
	s->fill = 0;
	if (!r || !len || len > FT_CHUNK)
		return;
	fill_header(&r->ev.hdr, FT_DATA, s->fd);
	r->ev.pos = s->pos - len;
	r->ev.count = len;
	r->ev.syscall = s->op;
	r->ev.captured = len;
	if (ring_output(r, sizeof(r->ev) + len))
		count_drop();
}

/* A record for `count` bytes at the walk's position that were not copied. */
static __always_inline void emit_uncaptured(struct emit_state *s, __u64 count)
{
	__u32 zero = 0;
	struct data_record *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return;
	fill_header(&r->ev.hdr, FT_DATA, s->fd);
	r->ev.pos = s->pos;
	r->ev.count = count;
	r->ev.syscall = s->op;
	r->ev.captured = 0;
	if (ring_output(r, sizeof(r->ev)))
		count_drop();
}

static long emit_piece(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct emit_state *s = bpf_map_lookup_elem(&walks, &zero);
	struct data_record *r = bpf_map_lookup_elem(&scratch, &zero);
	if (!s || !r || !s->total_left || !s->capture_left)
		return 1;
	if (!s->seg_left) {
		if (!s->iovcnt || s->iov_idx >= s->iovcnt || s->iov_idx >= FT_MAX_IOV)
			return 1;
		struct iovec iov = {};
		if (bpf_probe_read_user(&iov, sizeof(iov),
					(const void *)(s->iov_ptr + s->iov_idx * sizeof(iov))))
			return 1;
		s->iov_idx++;
		s->seg_ptr = (__u64)iov.iov_base;
		s->seg_left = iov.iov_len < s->total_left ? iov.iov_len : s->total_left;
		return 0;
	}
	/* Gathering goes on only from below half a chunk: past it, what was
	 * gathered goes first. */
	if (s->fill >= FT_CHUNK / 2)
		emit_gathered(s);
	__u32 fill = s->fill & (FT_CHUNK / 2 - 1);
	__u64 n = s->seg_left;
	if (n > s->capture_left)
		n = s->capture_left;
	if (n > FT_CHUNK - fill)
		n = FT_CHUNK - fill;
	__u32 len = n;
	if (len > FT_CHUNK)
		return 1;
	if (bpf_probe_read_user(r->payload + fill, len, (const void *)s->seg_ptr)) {
		/* Not readable: what was gathered goes, and these bytes are counted. */
		emit_gathered(s);
		emit_uncaptured(s, n);
	} else {
		s->fill = fill + len;
	}
	s->seg_ptr += n;
	s->seg_left -= n;
	s->capture_left -= n;
	s->total_left -= n;
	s->pos += n;
	if (s->fill >= FT_CHUNK || !s->capture_left || !s->total_left)
		emit_gathered(s);
	return 0;
}

/*
 * A syscall already in flight when capture attached (a server blocked in read on
 * an idle keep-alive connection) has no saved arguments. The task's user
 * registers still hold them at exit (x86-64 preserves the argument registers;
 * arm64 keeps the first one in orig_x0), so they are recovered from there.
 */
static __always_inline bool recover_args(__u32 op, struct call_args *a)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 arg2 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	__u64 arg3 = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a->fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	a->op = op;
	a->ptr = arg2;
	a->iovcnt = 0;
	if (op == FT_SYS_READV || op == FT_SYS_WRITEV) {
		a->iovcnt = arg3;
	} else if (op == FT_SYS_RECVMSG || op == FT_SYS_SENDMSG) {
		/* The two fields, not the whole struct on the stack: the exit
		 * programs' frames are near the verifier's 512-byte limit. */
		struct user_msghdr *msg = (struct user_msghdr *)arg2;
		__u64 iov = 0, iovlen = 0;
		if ((op == FT_SYS_RECVMSG && (arg3 & MSG_PEEK)) ||
		    bpf_probe_read_user(&iov, sizeof(iov), &msg->msg_iov) ||
		    bpf_probe_read_user(&iovlen, sizeof(iovlen), &msg->msg_iovlen))
			return false;
		a->ptr = iov;
		a->iovcnt = iovlen;
	} else if (op == FT_SYS_RECVFROM && (PT_REGS_PARM4_CORE_SYSCALL(regs) & MSG_PEEK)) {
		return false;
	} else if (op == FT_SYS_SPLICE_TO) {
		/* splice(fd_in, off_in, fd_out, ...): the socket is whichever end is one. */
		__u64 file;
		if (tcp_entry(bpf_get_current_pid_tgid() >> 32, a->fd, &file))
			a->op = FT_SYS_SPLICE_FROM;
		else
			a->fd = arg3;
	} else if (op == FT_SYS_SENDMMSG || op == FT_SYS_RECVMMSG) {
		a->iovcnt = arg3; /* vlen */
	}
	return true;
}

/*
 * Emits `total` bytes moved by one call (or one message of an mmsg call) on the
 * socket of fd, at position `pos`, from a plain buffer (iovcnt 0) or an iovec
 * array.
 */
static __always_inline void emit_call(__s32 fd, __u32 op, __u64 ptr, __u32 iovcnt, __u64 total,
				      __u64 pos)
{
	__u32 zero = 0;
	struct emit_state *s = bpf_map_lookup_elem(&walks, &zero);
	if (!s || !total)
		return;
	__builtin_memset(s, 0, sizeof(*s));
	s->total_left = total;
	s->capture_left = counted_only(op) ? 0 : max_payload;
	s->pos = pos;
	s->fd = fd;
	s->op = op;
	if (iovcnt) {
		s->iov_ptr = ptr;
		s->iovcnt = iovcnt;
	} else {
		s->seg_ptr = ptr;
		s->seg_left = total;
	}
	bpf_loop(FT_MAX_PIECES, emit_piece, NULL, 0);
	/* The iovecs ended (past FT_MAX_IOV, or one not readable) with bytes gathered. */
	emit_gathered(s);
	/* What was not copied (past the cap, or past FT_MAX_IOV iovecs) still counts. */
	if (s->total_left)
		emit_uncaptured(s, s->total_left);
}

struct mmsg_walk {
	__u64 vec;
	__u64 pos;   /* where the next message's bytes go */
	__u64 total; /* bytes of the messages walked */
	__s32 fd;
	__u32 op;
	__u32 n;
	bool emit;   /* false: only add up their lengths */
};

static long walk_mmsg(__u32 i, struct mmsg_walk *w)
{
	if (i >= w->n)
		return 1;
	struct mmsghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)(w->vec + i * sizeof(m))))
		return 1;
	if (w->emit)
		emit_call(w->fd, w->op, (__u64)m.msg_hdr.msg_iov, m.msg_hdr.msg_iovlen, m.msg_len,
			  w->pos);
	w->pos += m.msg_len;
	w->total += m.msg_len;
	return 0;
}

static __always_inline int data_exit(__u32 op, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args a = {};
	/* Taken even when the call failed, so no later exit can mistake it for its own. */
	if (take_args(&a)) {
		if (ret <= 0 || a.op == FT_OP_NONE)
			return 0;
	} else if (ret <= 0 || !traced(id) || !recover_args(op, &a) ||
		   !tcp_entry(id >> 32, a.fd, &a.file)) {
		return 0;
	}

	/* The entry must still be the socket the call was made on: a dup2 by another
	 * thread in between has replaced it (and reported it closed). */
	struct fd_key key = {.tgid = id >> 32, .fd = a.fd};
	struct fd_state *st = bpf_map_lookup_elem(&tcp_fds, &key);
	if (!st || st->file != a.file)
		return 0;
	__u64 pos;
	if (a.op == FT_SYS_SENDMMSG || a.op == FT_SYS_RECVMMSG) {
		/* ret is the number of messages; each says its own length. Those past
		 * FT_MAX_MMSG are not seen, nor placed. */
		struct mmsg_walk w = {.vec = a.ptr, .fd = a.fd, .op = a.op, .n = ret};
		bpf_loop(FT_MAX_MMSG, walk_mmsg, &w, 0);
		if (!place_call(st, &a, w.total, &pos))
			return 0;
		w.pos = pos;
		w.emit = true;
		bpf_loop(FT_MAX_MMSG, walk_mmsg, &w, 0);
		return 0;
	}
	if (!place_call(st, &a, ret, &pos))
		return 0;
	if (a.op == FT_SYS_SENDFILE && emit_sendfile(&key, &a, ret, pos))
		return 0;
	emit_call(a.fd, a.op, a.ptr, a.iovcnt, ret, pos);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_READ, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_READ, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_WRITE, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_WRITE, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_READV, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_READV, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_WRITEV, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_WRITEV, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK) /* peeked bytes are read again later */
		return 0;
	return data_enter(FT_SYS_RECVFROM, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_RECVFROM, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_SENDTO, ctx->args[0], ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_SENDTO, ctx->ret);
}

static __always_inline int msg_enter(__u32 op, struct trace_event_raw_sys_enter *ctx)
{
	struct user_msghdr msg = {};
	if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)ctx->args[1]))
		return 0;
	return data_enter(op, ctx->args[0], (__u64)msg.msg_iov, msg.msg_iovlen);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return msg_enter(FT_SYS_RECVMSG, ctx);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_RECVMSG, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(FT_SYS_SENDMSG, ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_SENDMSG, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(FT_SYS_SENDMMSG, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_SENDMMSG, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return data_enter(FT_SYS_RECVMMSG, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_RECVMMSG, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 file;
	if (!traced(id) || !tcp_entry(id >> 32, ctx->args[0], &file))
		return 0;
	struct call_args a = {.fd = ctx->args[0], .op = FT_SYS_SENDFILE, .file = file};
	note_stream(&a, 0);
	save_sendfile_source(&a, ctx->args[1], ctx->args[2]);
	save_args(&a);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_SENDFILE, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_splice")
int enter_splice(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 file;
	if (traced(id) && tcp_entry(id >> 32, ctx->args[0], &file))
		return data_enter(FT_SYS_SPLICE_FROM, ctx->args[0], 0, 0);
	return data_enter(FT_SYS_SPLICE_TO, ctx->args[2], 0, 0);
}

SEC("tracepoint/syscalls/sys_exit_splice")
int exit_splice(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(FT_SYS_SPLICE_TO, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_io_uring_setup")
int exit_io_uring_setup(struct trace_event_raw_sys_exit *ctx)
{
	if (ctx->ret < 0 || !traced(bpf_get_current_pid_tgid()))
		return 0;
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&io_urings, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

/* ---- socket lifecycle -------------------------------------------------------- */

static __always_inline int save_call(__u32 op, __s32 fd, __u64 ptr, __u64 ptr2)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct call_args a = {.ptr = ptr, .ptr2 = ptr2, .fd = fd, .op = op};
	save_args(&a);
	return 0;
}

static __always_inline struct call_args *take_call(__u32 op, struct call_args *out)
{
	if (!take_args(out))
		return NULL;
	return out->op == op ? out : NULL;
}

static __always_inline int accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args a;
	if (!take_call(FT_ACCEPT, &a) || ret < 0)
		return 0;
	__s32 fd = ret;
	struct sock *sk = track_new(id >> 32, fd);
	if (!sk)
		return 0;
	struct ft_addr peer = {};
	read_user_sockaddr(&peer, (const void *)a.ptr);
	emit_sock(FT_ACCEPT, fd, 0, &peer, sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(FT_ACCEPT, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(FT_ACCEPT, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct call_args a = {.fd = ctx->args[0], .op = FT_CONNECT};
	read_user_sockaddr(&a.addr, (const void *)ctx->args[1]);
	if (!a.addr.family) /* UNIX, netlink, AF_UNSPEC: not ours */
		return 0;
	save_args(&a);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args a;
	if (!take_call(FT_CONNECT, &a))
		return 0;
	struct sock *sk = track_new(id >> 32, a.fd);
	if (sk)
		emit_sock(FT_CONNECT, a.fd, ctx->ret, &a.addr, sk);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getsockname")
int enter_getsockname(struct trace_event_raw_sys_enter *ctx)
{
	return save_call(FT_GETSOCKNAME, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_getsockname")
int exit_getsockname(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call_args a;
	if (!take_call(FT_GETSOCKNAME, &a) || ctx->ret != 0)
		return 0;
	__u64 file;
	if (!tcp_entry(id >> 32, a.fd, &file))
		return 0;
	struct ft_addr local = {};
	read_user_sockaddr(&local, (const void *)a.ptr);
	if (local.family)
		emit_sock(FT_GETSOCKNAME, a.fd, 0, &local, NULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!traced(id))
		return 0;
	struct fd_key key = {.tgid = id >> 32, .fd = ctx->args[0]};
	/* Whatever the fd refers to now, a TCP entry means a socket this fd held: if
	 * something replaced it since, that socket was closed then. */
	if (bpf_map_lookup_elem(&tcp_fds, &key)) {
		emit_close(key.fd);
		bpf_map_delete_elem(&tcp_fds, &key);
	}
	/* Most fds closed were never classified (a file nginx opened to send): the
	 * lookup takes no lock, the delete takes the bucket's. A stale entry left by
	 * a race is harmless, as every use checks its file and inode. */
	if (bpf_map_lookup_elem(&other_fds, &key))
		bpf_map_delete_elem(&other_fds, &key);
	return 0;
}

/* ---- under the socket lock (placement.bpf.h) --------------------------------- */

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_sendmsg_locked, struct sock *sk)
{
	note_locked(sk, 0);
	return 0;
}

SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(on_rcv_space_adjust, struct sock *sk)
{
	note_locked(sk, 1);
	return 0;
}

/* ---- process tree for --pid ---------------------------------------------------- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid;
	if (!pid_filter || !bpf_map_lookup_elem(&traced_tgids, &ptgid))
		return 0;
	__u32 ctgid = child->tgid;
	__u8 one = 1;
	bpf_map_update_elem(&traced_tgids, &ctgid, &one, BPF_ANY);
	return 0;
}

/* When the last thread of a process exits, its fd entries go (and its TCP
 * sockets are reported closed). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	/* Only traced processes have entries (any others age out of the LRU maps). */
	if (BPF_CORE_READ(task, signal, live.counter) == 0 && traced(bpf_get_current_pid_tgid()))
		sweep_fds(true);
	if (!pid_filter || task->pid != task->tgid)
		return 0;
	__u32 tgid = task->tgid;
	bpf_map_delete_elem(&traced_tgids, &tgid);
	return 0;
}

/* exec closed the close-on-exec fds: their entries go now, not at their reuse. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task)
{
	if (traced(bpf_get_current_pid_tgid()))
		sweep_fds(false);
	return 0;
}
