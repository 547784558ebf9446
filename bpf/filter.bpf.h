/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which tasks are traced, shared by flowtap.bpf.c and tls.bpf.c so that the
 * syscall programs and the TLS uprobes always select alike. The including file
 * defines the rodata self_tgid, trace_all and pid_filter first; the maps below
 * are the main object's, and tls.bpf.c reuses them by fd.
 */
#ifndef FT_FILTER_BPF_H
#define FT_FILTER_BPF_H

/* How many levels above its own cgroup a task's traced cgroup may be. */
#define FT_CGROUP_DEPTH 8

/* Filters, updated live by userspace. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} traced_cgroups SEC(".maps");

/* Used only with pid_filter (--pid): empty otherwise, so not looked at. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} traced_tgids SEC(".maps");

/* The generation of traced_cgroups: userspace bumps it after each change. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} filter_gen SEC(".maps");

/*
 * A thread's last answer of traced_cgroup(), valid while the filter is in the
 * generation it was made in and the thread in the cgroup it was made for. The
 * walk up the cgroup tree costs a map lookup per level on every read and write
 * of every process on the host; this costs one task-storage lookup. A cgroup's
 * ancestors never change and cgroup ids are never reused, so (generation, own
 * cgroup) decides the answer exactly.
 */
struct cgroup_verdict {
	__u64 gen;    /* filter_gen + 1 when made: zeroed storage never matches */
	__u64 own;    /* the thread's own cgroup then */
	__u64 traced; /* the traced cgroup it is in or below, or 0 */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgroup_verdict);
} verdicts SEC(".maps");

/*
 * The generation, read before the map it stands for. x86 does not reorder a
 * load with later loads; arm64 may, and an atomic (a full barrier there) keeps
 * the walk's loads after this one.
 */
static __always_inline __u64 read_filter_gen(__u64 *gen)
{
#if defined(__TARGET_ARCH_arm64)
	return __sync_fetch_and_add(gen, 0);
#else
	return *(volatile __u64 *)gen;
#endif
}

/* The walk: the traced cgroup `own` (the current task's) is or is below, or 0. */
static __always_inline __u64 walk_traced_cgroup(struct task_struct *task, __u64 own)
{
	if (bpf_map_lookup_elem(&traced_cgroups, &own))
		return own;
	int level = task->cgroups->dfl_cgrp->level;
	for (int up = 1; up <= FT_CGROUP_DEPTH; up++) {
		if (level - up < 1)
			break;
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level - up);
		if (bpf_map_lookup_elem(&traced_cgroups, &ancestor))
			return ancestor;
	}
	return 0;
}

/*
 * The traced cgroup the current task is in or below, or 0. A process in a child
 * cgroup of a container's (systemd or Docker inside the container, a test's
 * sub-cgroup) is that container's. A global function, so the verifier checks it
 * once per program: inlined at every call site, its branches multiplied the
 * callers' paths and loading took 10 s of verification instead of 1.5 s.
 */
__noinline __u64 traced_cgroup(void)
{
	__u32 zero = 0;
	/* Read before the walk: a change made during it bumps past this value,
	 * so what the walk saw is not trusted afterwards. */
	__u64 *genp = bpf_map_lookup_elem(&filter_gen, &zero);
	__u64 gen = genp ? read_filter_gen(genp) + 1 : 0;
	__u64 own = bpf_get_current_cgroup_id();
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_verdict *v =
		bpf_task_storage_get(&verdicts, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (v && gen && v->gen == gen && v->own == own)
		return v->traced;
	__u64 traced = walk_traced_cgroup(task, own);
	if (v && gen) {
		v->own = own;
		v->traced = traced;
		v->gen = gen;
	}
	return traced;
}

static __always_inline bool traced(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (tgid == self_tgid)
		return false;
	if (trace_all)
		return true;
	if (pid_filter && bpf_map_lookup_elem(&traced_tgids, &tgid))
		return true;
	return traced_cgroup() != 0;
}

#endif /* FT_FILTER_BPF_H */
