/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ring buffer records go on. It sits in a one-slot array of maps, so that
 * userspace can put a larger ring in while traffic outpaces it and a smaller one
 * back once traffic is light again (src/capture/ring.rs): a program looks the
 * current ring up for each record. Both objects share the slot (the TLS object
 * reuses its fd), so plaintext and syscall records come out of one ring in the
 * order they happened.
 */
#ifndef FLOWTAP_RING_BPF_H
#define FLOWTAP_RING_BPF_H

struct ft_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	/* A template only: userspace makes every ring the slot holds. */
	__uint(max_entries, 4096);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ft_ring);
} rings SEC(".maps");

/* Waking the reader for each record costs it a context switch per event, which at
 * tens of thousands of requests a second is most of flowtap's CPU. Records only
 * wake it once this much has piled up; its poll timeout collects the rest. */
#define FT_WAKEUP_BYTES (256 * 1024)

static __always_inline void *current_ring(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&rings, &zero);
}

/* The ring's producer position at the last wakeup this object asked for. */
__u64 ft_woken_at = 0;

/* Wakes the reader once FT_WAKEUP_BYTES have piled up, and then no more often than
 * once per FT_WAKEUP_BYTES written. A reader that is behind is draining already:
 * forcing a wakeup on every record while it was behind cost the producer an
 * irq_work per record (a self-IPI, which in a VM is an exit), 17 % of nginx's CPU
 * at 64 KiB saturation. No wakeup is missed: the reader drains until the ring is
 * empty before it sleeps, so once it sleeps it has read past ft_woken_at, and
 * the record that brings the backlog to FT_WAKEUP_BYTES is at least that far past
 * it. A ring swapped in starts at position 0: the unsigned difference then
 * wakes at once, or, should the old ring's mark be behind the new ring's
 * position, at most FT_WAKEUP_BYTES late. Producers on other CPUs race on
 * ft_woken_at; the worst they do is wake twice, or once that much late. The
 * reader's poll timeout bounds any lateness. */
static __always_inline __u64 wakeup_flag(void *ring)
{
	if (bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) < FT_WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	__u64 produced = bpf_ringbuf_query(ring, BPF_RB_PROD_POS);
	if (produced - ft_woken_at < FT_WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	ft_woken_at = produced;
	return BPF_RB_FORCE_WAKEUP;
}

/* Room for a record on the current ring, or NULL: the ring is full (or there is
 * none yet), and the caller counts a drop. */
static __always_inline void *ring_reserve(__u64 size)
{
	void *ring = current_ring();
	return ring ? bpf_ringbuf_reserve(ring, size, 0) : NULL;
}

/* Submits a record from ring_reserve. Should the ring have been swapped since,
 * the wakeup follows the new ring's fill: a late wakeup only costs latency, and
 * the reader's poll timeout bounds it. */
static __always_inline void ring_submit(void *record)
{
	void *ring = current_ring();
	bpf_ringbuf_submit(record, ring ? wakeup_flag(ring) : BPF_RB_FORCE_WAKEUP);
}

/* Copies a record onto the current ring: 0, or non-zero when it was dropped. */
static __always_inline long ring_output(void *data, __u64 size)
{
	void *ring = current_ring();
	return ring ? bpf_ringbuf_output(ring, data, size, wakeup_flag(ring)) : -1;
}

#endif
