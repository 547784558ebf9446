/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Whether an fd of the current task is a TCP socket, read from its struct file:
 * shared by the syscall side (fds.bpf.h) and the TLS side (tls.bpf.c), whose
 * nested-syscall method must only learn an SSL*'s fd from a TCP socket.
 */
#ifndef FT_TCPSOCK_BPF_H
#define FT_TCPSOCK_BPF_H

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* The open file at fd in the current task, or NULL. */
static __always_inline struct file *fd_file(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	struct file **fd_array = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fd_array[fd]))
		return NULL;
	return file;
}

/* The struct sock behind file, if it is a TCP socket. */
static __always_inline struct sock *file_tcp_sock(struct file *file)
{
	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return NULL;
	return sk;
}

#endif
