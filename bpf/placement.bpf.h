/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where a data call's bytes sit in its socket's stream. Included once, by
 * flowtap.bpf.c, after fds.bpf.h.
 *
 * A position handed out at sys_exit in exit order is wrong when two threads move
 * bytes the same way on one socket at once: the kernel appends in the order the
 * calls took the socket lock, and the thread that appended first can reach its
 * exit second. So positions are TCP sequence numbers, made relative to the
 * socket's first byte: write_seq for bytes sent, copied_seq for bytes read.
 *
 * A call's start is known exactly when one of these holds:
 *  1. nothing else moved bytes that way between its enter and its exit: the
 *     sequence number advanced by exactly what it returned;
 *  2. (reads) its last copy ended exactly its return value past where the
 *     sequence number stood at enter, so nothing came between;
 *  3. a tracepoint fired with the socket locked, and the call held the lock
 *     throughout: tcp_sendmsg_locked, before each piece a send appends, or
 *     tcp_rcv_space_adjust, after each piece a read copies. A call that slept
 *     (waiting for buffer space or data) may have let the lock go, and another
 *     thread's bytes in; sendmmsg/recvmmsg, sendfile and splice take the lock
 *     per piece.
 * Otherwise the call is reported unplaced, with the range it lies in, and
 * userspace declares that range lost rather than guess an order.
 */

/* The struct sock of a socket's struct file (already known to be TCP). */
static __always_inline __u64 file_sock(__u64 file)
{
	return (__u64)file_sk((struct file *)file);
}

static __always_inline __u64 voluntary_switches(void)
{
	return bpf_get_current_task_btf()->nvcsw;
}

/* At enter: the socket and where its stream stands. */
static __always_inline void note_stream(struct call_args *a, __u32 dir)
{
	a->sk = file_sock(a->file);
	if (a->sk) {
		a->seq = stream_seq(a->sk, dir);
		a->seq_known = 1;
	}
}

/* Under the socket lock (see rule 3), for the current thread's call on sk. */
static __always_inline void note_locked(struct sock *sk, __u32 dir)
{
	struct call_args *a = bpf_task_storage_get(&args, bpf_get_current_task_btf(), 0, 0);
	if (!a || !a->op || a->op == FT_OP_NONE || a->sk != (__u64)sk ||
	    (is_send(a->op) ? 0 : 1) != dir)
		return;
	if (!a->locked_n)
		a->switches = voluntary_switches();
	/* Sends keep the first sighting (where their bytes start), reads the last
	 * (where they end). */
	if (!a->locked_n || dir)
		a->locked_seq = stream_seq((__u64)sk, dir);
	if (a->locked_n < 0xffff)
		a->locked_n++;
}

/* One lock hold covers the whole call: not so for calls made of pieces. */
static __always_inline bool single_hold(__u32 op)
{
	return op != FT_SYS_SENDMMSG && op != FT_SYS_RECVMMSG && op != FT_SYS_SENDFILE &&
	       op != FT_SYS_SPLICE_TO && op != FT_SYS_SPLICE_FROM;
}

/*
 * The sequence number at which the call's `total` bytes start, if known. `now`
 * is the stream's sequence number at exit.
 */
static __always_inline bool call_start(struct call_args *a, __u32 dir, __u32 now, __u64 total,
				       __u32 *start)
{
	if (!a->seq_known) {
		/* In flight when capture attached: no enter was seen. Its bytes end
		 * where the stream stands now unless another thread moved bytes
		 * after it, which nothing here can rule out; it is the socket's
		 * first call seen, and what it says sets position 0. */
		*start = now - total;
		return true;
	}
	__u32 window = now - a->seq;
	if (window == total) {
		*start = a->seq;
		return true;
	}
	if (!a->locked_n || window < total)
		return false;
	if (dir && a->locked_seq - a->seq == total) {
		*start = a->seq;
		return true;
	}
	bool held = single_hold(a->op) && voluntary_switches() == a->switches;
	if (!held)
		return false;
	__u32 s = dir ? a->locked_seq - (__u32)total : a->locked_seq;
	/* It must lie inside what moved during the call. */
	if (s - a->seq > window - total)
		return false;
	*start = s;
	return true;
}

/*
 * The position of sequence number `seq` in direction dir of the socket, counted
 * from the first byte flowtap placed (whose sequence number becomes the base).
 * `pos[dir]`, the end of the latest bytes placed, widens it past 4 GiB. False:
 * before the base (calls racing to be the socket's first).
 */
static __always_inline bool stream_pos(struct fd_state *st, __u32 dir, __u32 seq, __u64 len,
				       __u64 *pos)
{
	dir &= 1;
	__u64 base = st->seq_base[dir];
	if (!base) {
		__u64 mine = (1ULL << 32) | seq;
		base = __sync_val_compare_and_swap(&st->seq_base[dir], 0, mine);
		if (!base)
			base = mine;
	}
	__u64 latest = st->pos[dir];
	__s32 delta = (__s32)(seq - (__u32)base - (__u32)latest);
	if (delta < 0 && (__u64)(-(__s64)delta) > latest)
		return false;
	*pos = latest + delta;
	/* Racing threads may store an older end: any end within 2 GiB widens right. */
	if (*pos + len > latest)
		st->pos[dir] = *pos + len;
	return true;
}

static __always_inline void emit_unplaced(__s32 fd, __u32 op, __u64 pos, __u64 len, __u64 count)
{
	struct ft_unplaced_event *e = ring_reserve(sizeof(*e));
	if (!e) {
		count_drop();
		return;
	}
	fill_header(&e->hdr, FT_UNPLACED, fd);
	e->pos = pos;
	e->len = len;
	e->count = count;
	e->syscall = op;
	e->_pad = 0;
	ring_submit(e);
}

/*
 * Places the call's `total` bytes: true with their position, or false once it
 * has reported them unplaced (or, before the socket's first byte, dropped them).
 */
static __always_inline bool place_call(struct fd_state *st, struct call_args *a, __u64 total,
				       __u64 *pos)
{
	__u32 dir = is_send(a->op) ? 0 : 1;
	if (!a->seq_known)
		a->sk = file_sock(a->file);
	if (!a->sk)
		return false;
	__u32 now = stream_seq(a->sk, dir);
	__u32 start;
	if (call_start(a, dir, now, total, &start))
		return stream_pos(st, dir, start, total, pos);
	__u32 window = now - a->seq;
	__u64 from;
	if (stream_pos(st, dir, a->seq, window, &from))
		emit_unplaced(a->fd, a->op, from, window, total);
	return false;
}
