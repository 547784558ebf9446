/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Records that flowtap's BPF programs put on the ring buffer. This header is the
 * one definition: Rust decodes with the skeleton's generated copies of these
 * structs (see src/capture/decode.rs), never a hand-written mirror.
 *
 * Every record starts with struct ft_header; `kind` says which struct it is.
 */
#ifndef FLOWTAP_H
#define FLOWTAP_H

#define FT_COMM_LEN 16
/* Payload bytes in one data record. A syscall moving more becomes several records. */
#define FT_CHUNK (16 * 1024)
/* iovecs of one readv/writev/sendmsg/recvmsg that are captured; later ones count
 * towards the byte total but are not copied. */
#define FT_MAX_IOV 64
/* Limits userspace must respect; an enum so the skeleton carries them to Rust. */
enum ft_limits {
	/* Largest --max-payload: bytes copied from one syscall. */
	FT_MAX_PAYLOAD = 4 * 1024 * 1024,
};
/* Messages of one sendmmsg/recvmmsg that are captured; later ones are counted. */
#define FT_MAX_MMSG 16
/* Upper bound on loop steps for one data syscall: a piece per chunk of the cap, a
 * partial piece and an iovec load per iovec, and the tail. */
#define FT_MAX_PIECES (FT_MAX_PAYLOAD / FT_CHUNK + 2 * FT_MAX_IOV + 1)

enum ft_kind {
	FT_ACCEPT = 1,
	FT_CONNECT = 2,
	FT_GETSOCKNAME = 3,
	FT_SOCKET = 4, /* a TCP socket first seen at a data syscall */
	FT_DATA = 5,
	FT_CLOSE = 6,
	FT_FILE_DATA = 7, /* a sendfile record with the source file's identity */
	/* OpenSSL driven through memory BIOs (bpf/tls.bpf.c): its calls make no
	 * socket I/O, so they are reported by SSL* and tied to a socket in userspace. */
	FT_SSL_DATA = 8, /* plaintext of an SSL_* call with no socket of its own */
	FT_TLS_HEAD = 9, /* the first bytes OpenSSL wrote to such an SSL*'s BIO */
	FT_SSL_FREE = 10, /* SSL_free of such an SSL*: its stream ends */
	/* A data call whose bytes cannot be placed in the socket's stream: another
	 * thread moved bytes the same way on the socket during it. */
	FT_UNPLACED = 11,
};

enum ft_syscall {
	FT_SYS_READ = 1,
	FT_SYS_WRITE = 2,
	FT_SYS_READV = 3,
	FT_SYS_WRITEV = 4,
	FT_SYS_RECVFROM = 5,
	FT_SYS_SENDTO = 6,
	FT_SYS_RECVMSG = 7,
	FT_SYS_SENDMSG = 8,
	/* Counted, not copied: the bytes come from a file or a pipe, not user memory. */
	FT_SYS_SENDFILE = 9,
	FT_SYS_SPLICE_TO = 10,   /* pipe to socket */
	FT_SYS_SPLICE_FROM = 11, /* socket to pipe */
	FT_SYS_SENDMMSG = 12,
	FT_SYS_RECVMMSG = 13,
	/* Plaintext handed to or taken from a TLS library (bpf/tls.bpf.c); positions
	 * count the connection's plaintext stream, not its socket bytes. Numbered
	 * apart from the syscalls, which may grow. */
	FT_SYS_SSL_READ = 32,
	FT_SYS_SSL_WRITE = 33,
	/* The same from Go's crypto/tls: (*Conn).Read returned, (*Conn).Write was called. */
	FT_SYS_GOTLS_READ = 34,
	FT_SYS_GOTLS_WRITE = 35,
	/* The same from BoringSSL's SSL_read/SSL_write (the OpenSSL API, another library). */
	FT_SYS_BORINGSSL_READ = 36,
	FT_SYS_BORINGSSL_WRITE = 37,
};

struct ft_header {
	__u64 ts;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup; /* the traced cgroup the task is in or below; else its own */
	__u32 pid;    /* tgid */
	__u32 tid;
	__u32 kind;   /* enum ft_kind */
	__s32 fd;
	char comm[FT_COMM_LEN];
};

/* family 0: no address. Port in host byte order; addr holds 4 or 16 bytes. */
struct ft_addr {
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

/* FT_ACCEPT, FT_CONNECT, FT_GETSOCKNAME, FT_SOCKET */
struct ft_sock_event {
	struct ft_header hdr;
	__s32 result;          /* connect: 0 or -errno; others 0 */
	__u32 has_kernel;      /* local/peer below were read from struct sock */
	struct ft_addr sys;    /* accept: peer written back; connect: destination; getsockname: local */
	struct ft_addr local;  /* the kernel's view */
	struct ft_addr peer;
};

/* FT_DATA: followed by `captured` payload bytes. */
struct ft_data_event {
	struct ft_header hdr;
	__u64 pos;       /* byte position in this direction of the socket */
	__u64 count;     /* bytes this record stands for */
	__u32 captured;  /* payload bytes that follow; < count means truncated */
	__u32 syscall;   /* enum ft_syscall */
};

/* FT_UNPLACED: the call moved `count` bytes, somewhere among the `len` bytes
 * from `pos` that the socket moved in its direction while it ran. */
struct ft_unplaced_event {
	struct ft_header hdr;
	__u64 pos;
	__u64 len;
	__u64 count;
	__u32 syscall; /* enum ft_syscall */
	__u32 _pad;
};

/* FT_SSL_DATA: hdr.fd is -1, positions count this SSL*'s plaintext; followed
 * by `data.captured` payload bytes. */
struct ft_ssl_data_event {
	struct ft_data_event data;
	__u64 ssl;
};

/* Bytes of a BIO write kept in FT_TLS_HEAD: a TLS record header and 11 bytes
 * after it, enough to tell one socket's record from another's. */
#define FT_TLS_HEAD_LEN 16

/* FT_TLS_HEAD: a BIO write inside an SSL_* call on `ssl` (len bytes, of which
 * the first `captured` are in `head`), made without a socket syscall. */
struct ft_tls_head_event {
	struct ft_header hdr;
	__u64 ssl;
	__u64 len;
	__u32 captured;
	__u32 _pad;
	__u8 head[FT_TLS_HEAD_LEN];
};

/* FT_SSL_FREE */
struct ft_ssl_free_event {
	struct ft_header hdr;
	__u64 ssl;
};

/* Bytes of the source file's path kept, and the longest name one step adds. */
#define FT_PATH_MAX 1024
#define FT_NAME_MAX 256
/* dentry and mount steps walked from the file towards the task's root. */
#define FT_PATH_STEPS 64

/*
 * Where the bytes of one sendfile came from: a regular file, [offset, offset +
 * count) of it, identified by the inode's device and number, and its size and
 * mtime when the call returned (unchanged since it began). `path` holds the
 * names from the file up to the task's root, leaf first, each NUL-terminated:
 * `path_len` bytes. Userspace reads the bytes only when that path, under the
 * process's root, is still this inode with this size and mtime.
 */
struct ft_file_src {
	__u64 dev;  /* the superblock's s_dev, the kernel's encoding */
	__u64 ino;
	__u64 offset;
	__u64 size;
	__s64 mtime_sec;
	__u32 mtime_nsec;
	__u32 path_len;
	char path[FT_PATH_MAX + FT_NAME_MAX];
};

/* FT_FILE_DATA: a counted sendfile record (captured 0) and its source. */
struct ft_file_data_event {
	struct ft_data_event data;
	struct ft_file_src src;
};

/* FT_CLOSE */
struct ft_close_event {
	struct ft_header hdr;
};

#endif
