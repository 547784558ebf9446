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
 * Kernel structs are read with plain loads where the kernel allows, not with a
 * bpf_probe_read_kernel call per field: from the task's BTF pointer the
 * verifier checks each load and the JIT guards it against faults. A struct file
 * or socket pointer that arrives as a number (from the fd array, private_data)
 * gets its type back with bpf_core_cast, which the verifier turns into a
 * register move. That kfunc came in Linux 6.2: userspace sets typed_casts
 * only when the kernel's BTF has it, and otherwise the verifier drops the cast branches as dead code and the
 * fields are read with helper calls. These run on every data syscall of every
 * traced process.
 */
const volatile bool typed_casts = false;

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
	if (typed_casts)
		return bpf_core_cast(file, struct file)->f_inode->i_ino;
	return BPF_CORE_READ(file, f_inode, i_ino);
}

static __always_inline __u32 file_mode(struct file *file)
{
	if (typed_casts)
		return bpf_core_cast(file, struct file)->f_inode->i_mode;
	return BPF_CORE_READ(file, f_inode, i_mode);
}

/* The struct socket of a socket's struct file (its private_data). */
static __always_inline struct socket *file_socket(struct file *file)
{
	if (typed_casts)
		return bpf_core_cast(bpf_core_cast(file, struct file)->private_data, struct socket);
	return BPF_CORE_READ(file, private_data);
}

static __always_inline struct sock *socket_sk(struct socket *sock)
{
	if (!sock)
		return NULL;
	return typed_casts ? sock->sk : BPF_CORE_READ(sock, sk);
}

/* The struct sock of a socket's struct file. */
static __always_inline struct sock *file_sk(struct file *file)
{
	return socket_sk(file_socket(file));
}

/* The struct sock behind file, if it is a TCP socket. */
static __always_inline struct sock *file_tcp_sock(struct file *file)
{
	if (!file || (file_mode(file) & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = file_socket(file);
	if (!sock || (typed_casts ? sock->type : BPF_CORE_READ(sock, type)) != SOCK_STREAM)
		return NULL;
	struct sock *sk = socket_sk(sock);
	if (!sk)
		return NULL;
	__u16 family = typed_casts ? sk->__sk_common.skc_family
				   : BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	__u16 protocol = typed_casts ? sk->sk_protocol : BPF_CORE_READ(sk, sk_protocol);
	if (protocol != IPPROTO_TCP)
		return NULL;
	return sk;
}

#endif
