/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which (tgid, fd) pairs are TCP sockets, with entries that cannot go stale.
 * Included once, by flowtap.bpf.c, after the record emitters it uses.
 *
 * Each entry remembers what it was classified from: the struct file * and its
 * inode number. Every data syscall compares them with what the fd refers to now,
 * so dup2/dup3 over a socket, exec with close-on-exec, close_range and pid reuse
 * are noticed at the fd's next use: the old socket is reported closed and the fd
 * classified afresh. TCP sockets and everything else live in separate maps, so
 * file and pipe churn under --all-processes never evicts a live TCP entry.
 */

#define FT_REPLACING 1 /* fd_state.file while one thread re-classifies the fd */

struct fd_key {
	__u32 tgid;
	__s32 fd;
};

struct fd_ident {
	__u64 file; /* struct file * the entry was classified from */
	__u64 ino;  /* that file's inode number */
};

struct fd_state {
	/* Per direction (sent, received), see placement.bpf.h: where the latest
	 * bytes placed end, and the sequence number of position 0 (bit 32 set
	 * once known). */
	__u64 pos[2];
	__u64 seq_base[2];
	__u64 file;   /* as in fd_ident; FT_REPLACING while being replaced */
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct fd_key);
	__type(value, struct fd_state);
} tcp_fds SEC(".maps");

/* fds seen and found not to be TCP sockets: files, pipes, UNIX and UDP sockets. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct fd_key);
	__type(value, struct fd_ident);
} other_fds SEC(".maps");

#include "tcpsock.bpf.h"

static __always_inline struct fd_ident file_ident(struct file *file)
{
	struct fd_ident id = {.file = (__u64)file, .ino = file ? file_ino(file) : 0};
	return id;
}

static __always_inline void emit_close(__s32 fd)
{
	struct ft_close_event *e = ring_reserve(sizeof(*e));
	if (!e) {
		count_drop();
		return;
	}
	fill_header(&e->hdr, FT_CLOSE, fd);
	ring_submit(e);
}

/* A new connection's streams start where connect or accept leaves them: sent
 * from write_seq, read from copied_seq once established (see placement.bpf.h). */
static __always_inline void start_streams(struct fd_state *st, struct sock *sk)
{
	st->seq_base[0] = (1ULL << 32) | stream_seq((__u64)sk, 0);
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_ESTABLISHED)
		st->seq_base[1] = (1ULL << 32) | stream_seq((__u64)sk, 1);
}

/*
 * A new connection (accept, connect) on fd: its byte positions start afresh.
 * Returns the struct sock when fd is a TCP socket.
 */
static __always_inline struct sock *track_new(__u32 tgid, __s32 fd)
{
	struct fd_key key = {.tgid = tgid, .fd = fd};
	struct file *file = fd_file(fd);
	struct sock *sk = file_tcp_sock(file);
	struct fd_ident id = file_ident(file);
	if (sk) {
		struct fd_state st = {.file = id.file, .ino = id.ino};
		start_streams(&st, sk);
		bpf_map_delete_elem(&other_fds, &key);
		bpf_map_update_elem(&tcp_fds, &key, &st, BPF_ANY);
	} else if (file) {
		bpf_map_delete_elem(&tcp_fds, &key);
		bpf_map_update_elem(&other_fds, &key, &id, BPF_ANY);
	}
	return sk;
}

/*
 * A TCP socket first seen at a data syscall (opened before capture, inherited, or
 * dup'ed). The announcing record is reserved before the entry is inserted with
 * BPF_NOEXIST: exactly one thread inserts it and submits its record, and any
 * other thread's records for this socket are reserved after it, so the
 * announcement comes first on the ring buffer.
 */
static __always_inline struct fd_state *announce(struct fd_key *key, struct fd_ident *id,
						 struct sock *sk)
{
	struct ft_sock_event *e = ring_reserve(sizeof(*e));
	struct fd_state fresh = {.file = id->file, .ino = id->ino};
	if (bpf_map_update_elem(&tcp_fds, key, &fresh, BPF_NOEXIST)) {
		if (e)
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		struct fd_state *st = bpf_map_lookup_elem(&tcp_fds, key);
		return st && st->file == id->file && st->ino == id->ino ? st : NULL;
	}
	if (e) {
		fill_header(&e->hdr, FT_SOCKET, key->fd);
		e->result = 0;
		__builtin_memset(&e->sys, 0, sizeof(e->sys));
		__builtin_memset(&e->local, 0, sizeof(e->local));
		__builtin_memset(&e->peer, 0, sizeof(e->peer));
		e->has_kernel = 1;
		read_sock_addrs(sk, &e->local, &e->peer);
		ring_submit(e);
	} else {
		count_drop();
	}
	return bpf_map_lookup_elem(&tcp_fds, key);
}

/* Classifies fd by what it refers to now, for an fd with no valid TCP entry. */
static __always_inline struct fd_state *classify(struct fd_key *key, struct file *file)
{
	struct fd_ident id = file_ident(file);
	struct fd_ident *other = bpf_map_lookup_elem(&other_fds, key);
	if (other && other->file == id.file && other->ino == id.ino)
		return NULL;
	struct sock *sk = file_tcp_sock(file);
	if (!sk) {
		bpf_map_update_elem(&other_fds, key, &id, BPF_ANY);
		return NULL;
	}
	if (other)
		bpf_map_delete_elem(&other_fds, key);
	return announce(key, &id, sk);
}

/*
 * The TCP entry of (tgid, fd) if fd refers, now, to the TCP socket the entry was
 * made for; `file` gets what fd refers to. A stale entry is retired by the one
 * thread that swaps its file for FT_REPLACING: that thread reports the old socket
 * closed, deletes the entry and classifies the fd again. Others skip the call.
 */
static __always_inline struct fd_state *tcp_entry(__u32 tgid, __s32 fd, __u64 *file_out)
{
	struct fd_key key = {.tgid = tgid, .fd = fd};
	struct file *file = fd_file(fd);
	*file_out = (__u64)file;
	if (!file)
		return NULL;
	struct fd_state *st = bpf_map_lookup_elem(&tcp_fds, &key);
	if (!st)
		return classify(&key, file);
	__u64 seen = st->file;
	if (seen == (__u64)file && st->ino == file_ino(file))
		return st;
	if (seen == FT_REPLACING ||
	    __sync_val_compare_and_swap(&st->file, seen, FT_REPLACING) != seen)
		return NULL;
	emit_close(fd);
	bpf_map_delete_elem(&tcp_fds, &key);
	return classify(&key, file);
}

/* ---- sweeps at exec and exit ----------------------------------------------- */

/* fds looked at per sweep: enough for ordinary processes; the rest age out. */
#define FT_SWEEP_FDS 4096

struct sweep {
	__u32 tgid;
	bool all; /* exit: everything goes; exec: only what no longer matches */
};

static long sweep_fd(__u32 i, struct sweep *s)
{
	struct fd_key key = {.tgid = s->tgid, .fd = i};
	struct fd_ident now = {};
	if (!s->all) {
		struct file *file = fd_file(i);
		if (file)
			now = file_ident(file);
	}
	struct fd_state *st = bpf_map_lookup_elem(&tcp_fds, &key);
	if (st && (s->all || st->file != now.file || st->ino != now.ino)) {
		emit_close(i);
		bpf_map_delete_elem(&tcp_fds, &key);
	}
	struct fd_ident *other = bpf_map_lookup_elem(&other_fds, &key);
	if (other && (s->all || other->file != now.file || other->ino != now.ino))
		bpf_map_delete_elem(&other_fds, &key);
	return 0;
}

/* Retires the current process's entries (all, or those exec closed). */
static __always_inline void sweep_fds(bool all)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return;
	__u32 n = BPF_CORE_READ(fdt, max_fds);
	struct sweep s = {.tgid = task->tgid, .all = all};
	bpf_loop(n < FT_SWEEP_FDS ? n : FT_SWEEP_FDS, sweep_fd, &s, 0);
}
