/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The header every record starts with, filled alike by flowtap.bpf.c and
 * tls.bpf.c. Include after filter.bpf.h (traced_cgroup).
 */
#ifndef FT_HEADER_BPF_H
#define FT_HEADER_BPF_H

/* The current task's header for a record of `kind` on `fd` (-1: none). Its
 * cgroup is the traced one it is in or below, else its own. */
static __always_inline void fill_header(struct ft_header *h, __u32 kind, __s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
	__u64 cgroup = traced_cgroup();
	h->cgroup = cgroup ? cgroup : bpf_get_current_cgroup_id();
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->kind = kind;
	h->fd = fd;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

#endif /* FT_HEADER_BPF_H */
