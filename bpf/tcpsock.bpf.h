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

/*
 * Kernel structs are read with plain loads, not bpf_probe_read_kernel: from the
 * task's BTF pointer the verifier checks each load and the JIT guards it against
 * faults, so a field costs a load instead of a helper call. A struct file or
 * socket pointer that arrives as a number (from the fd array, private_data, a
 * map) is given its type back with bpf_core_cast, which the verifier turns into
 * a register move. These run on every data syscall of every traced process.
 */

/* The open file at fd in the current task, or NULL. */
static __always_inline struct file *fd_file(__s32 fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	if (!fdt || fd < 0 || (__u32)fd >= fdt->max_fds)
		return NULL;
	/* The fd array is a pointer to pointers, which BTF loads do not follow. */
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]))
		return NULL;
	return file;
}

static __always_inline __u64 file_ino(struct file *file)
{
	return bpf_core_cast(file, struct file)->f_inode->i_ino;
}

/* The struct socket of a socket's struct file. */
static __always_inline struct socket *file_socket(struct file *file)
{
	return bpf_core_cast(bpf_core_cast(file, struct file)->private_data, struct socket);
}

/* The struct sock behind file, if it is a TCP socket. */
static __always_inline struct sock *file_tcp_sock(struct file *file)
{
	if (!file || (bpf_core_cast(file, struct file)->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = file_socket(file);
	if (!sock || sock->type != SOCK_STREAM)
		return NULL;
	struct sock *sk = sock->sk;
	if (!sk)
		return NULL;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (sk->sk_protocol != IPPROTO_TCP)
		return NULL;
	return sk;
}

#endif
