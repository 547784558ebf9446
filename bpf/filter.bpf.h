/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Which tasks are traced, shared by flowtap.bpf.c and tls.bpf.c so that the
 * syscall programs and the TLS uprobes always select alike. The including file
 * defines the maps traced_cgroups and traced_tgids and the rodata self_tgid and
 * trace_all first (tls.bpf.c reuses the main object's maps by fd).
 */
#ifndef FT_FILTER_BPF_H
#define FT_FILTER_BPF_H

/* How many levels above its own cgroup a task's traced cgroup may be. */
#define FT_CGROUP_DEPTH 8

/*
 * The traced cgroup the current task is in or below, or 0. A process in a child
 * cgroup of a container's (systemd or Docker inside the container, a test's
 * sub-cgroup) is that container's.
 */
static __always_inline __u64 traced_cgroup(void)
{
	__u64 own = bpf_get_current_cgroup_id();
	if (bpf_map_lookup_elem(&traced_cgroups, &own))
		return own;
	struct task_struct *task = bpf_get_current_task_btf();
	int level = BPF_CORE_READ(task, cgroups, dfl_cgrp, level);
	for (int up = 1; up <= FT_CGROUP_DEPTH; up++) {
		if (level - up < 1)
			break;
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level - up);
		if (bpf_map_lookup_elem(&traced_cgroups, &ancestor))
			return ancestor;
	}
	return 0;
}

static __always_inline bool traced(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (tgid == self_tgid)
		return false;
	if (trace_all)
		return true;
	if (bpf_map_lookup_elem(&traced_tgids, &tgid))
		return true;
	return traced_cgroup() != 0;
}

#endif /* FT_FILTER_BPF_H */
