/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sendfile's source: which file, which bytes of it, and the file's path below the
 * task's root, so that userspace can read the bytes that were sent once it has
 * proved the path still names that inode, unchanged. Included once, by
 * flowtap.bpf.c, after fds.bpf.h.
 */

#define S_IFREG 0100000

/* inode timestamps moved: i_mtime (timespec64) until 6.6, __i_mtime until 6.11,
 * then i_mtime_sec and i_mtime_nsec. */
struct inode___ts64 {
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___ts64u {
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___split {
	time64_t i_mtime_sec;
	u32 i_mtime_nsec;
} __attribute__((preserve_access_index));

static __always_inline void inode_mtime(struct inode *inode, __s64 *sec, __u32 *nsec)
{
	if (bpf_core_field_exists(struct inode___split, i_mtime_sec)) {
		struct inode___split *i = (void *)inode;
		*sec = BPF_CORE_READ(i, i_mtime_sec);
		*nsec = BPF_CORE_READ(i, i_mtime_nsec);
	} else if (bpf_core_field_exists(struct inode___ts64u, __i_mtime)) {
		struct inode___ts64u *i = (void *)inode;
		*sec = BPF_CORE_READ(i, __i_mtime.tv_sec);
		*nsec = BPF_CORE_READ(i, __i_mtime.tv_nsec);
	} else {
		struct inode___ts64 *i = (void *)inode;
		*sec = BPF_CORE_READ(i, i_mtime.tv_sec);
		*nsec = BPF_CORE_READ(i, i_mtime.tv_nsec);
	}
}

/* mtime as one number, to compare the call's start with its end. */
static __always_inline __u64 file_mtime(struct file *file)
{
	__s64 sec = 0;
	__u32 nsec = 0;
	inode_mtime(BPF_CORE_READ(file, f_inode), &sec, &nsec);
	return (__u64)sec * 1000000000ULL + nsec;
}

/*
 * At sendfile entry: the source fd, if a regular file, and the offset the call
 * starts reading at (from the offset argument, else the file's position).
 */
static __always_inline void save_sendfile_source(struct call_args *a, __s32 in_fd,
						 __u64 offset_ptr)
{
	struct file *src = fd_file(in_fd);
	if (!src || (BPF_CORE_READ(src, f_inode, i_mode) & S_IFMT) != S_IFREG)
		return;
	__s64 start = 0;
	if (offset_ptr) {
		if (bpf_probe_read_user(&start, sizeof(start), (const void *)offset_ptr))
			return;
	} else {
		start = BPF_CORE_READ(src, f_pos);
	}
	if (start < 0)
		return;
	a->src_file = (__u64)src;
	a->src_fd = in_fd;
	a->src_start = start;
	a->src_offset_ptr = offset_ptr;
	a->src_mtime = file_mtime(src);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ft_file_data_event);
} file_scratch SEC(".maps");

struct path_walk {
	struct ft_file_src *src;
	struct dentry *dentry;
	struct vfsmount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	__u32 len;
	bool done; /* reached the task's root */
};

static long path_step(__u32 i, struct path_walk *w)
{
	/* Locals, not w->…: CO-RE relocations must not reach into our own struct. */
	struct dentry *dentry = w->dentry;
	struct vfsmount *mnt = w->mnt;
	if (dentry == w->root_dentry && mnt == w->root_mnt) {
		w->done = true;
		return 1;
	}
	if (dentry == BPF_CORE_READ(mnt, mnt_root)) {
		/* The top of a mount: continue from where it is mounted. */
		struct mount *m = (void *)mnt - bpf_core_field_offset(struct mount, mnt);
		struct mount *up = BPF_CORE_READ(m, mnt_parent);
		if (!up || up == m)
			return 1; /* the namespace's root, above the task's: not below it */
		w->dentry = BPF_CORE_READ(m, mnt_mountpoint);
		w->mnt = (void *)up + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (!parent || parent == dentry || w->len >= FT_PATH_MAX)
		return 1;
	const unsigned char *name = BPF_CORE_READ(dentry, d_name.name);
	long n = bpf_probe_read_kernel_str(&w->src->path[w->len & (FT_PATH_MAX - 1)],
					   FT_NAME_MAX, name);
	if (n <= 1) /* unreadable, or an empty name */
		return 1;
	w->len += n;
	w->dentry = parent;
	return 0;
}

/* Names from file up to the task's root into src->path; false when the walk did
 * not reach the root (a file outside it, a path too deep or too long). */
static __always_inline bool file_path(struct file *file, struct ft_file_src *src)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct path_walk w = {
		.src = src,
		.dentry = BPF_CORE_READ(file, f_path.dentry),
		.mnt = BPF_CORE_READ(file, f_path.mnt),
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
	};
	if (!w.dentry || !w.mnt || !w.root_dentry)
		return false;
	bpf_loop(FT_PATH_STEPS, path_step, &w, 0);
	src->path_len = w.len;
	return w.done && w.len > 0 && w.len <= FT_PATH_MAX;
}

/*
 * Emits the record of a sendfile that moved `total` bytes from the source saved
 * at entry, when that source is still provable: the fd still refers to the same
 * open file, the offset moved by exactly `total`, the mtime did not change, and
 * the path walk reached the task's root. Returns false when it emitted nothing
 * (the caller then emits the plain counted record).
 */
static __always_inline bool emit_sendfile(struct fd_key *key, struct call_args *a, __u64 total,
					  __u64 pos)
{
	if (!a->src_file || fd_file(a->src_fd) != (struct file *)a->src_file)
		return false;
	struct file *file = (struct file *)a->src_file;
	__s64 end = 0;
	if (a->src_offset_ptr) {
		if (bpf_probe_read_user(&end, sizeof(end), (const void *)a->src_offset_ptr))
			return false;
	} else {
		end = BPF_CORE_READ(file, f_pos);
	}
	if ((__u64)end != a->src_start + total || file_mtime(file) != a->src_mtime)
		return false;

	__u32 zero = 0;
	struct ft_file_data_event *r = bpf_map_lookup_elem(&file_scratch, &zero);
	if (!r)
		return false;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	r->src.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	r->src.ino = BPF_CORE_READ(inode, i_ino);
	r->src.offset = a->src_start;
	r->src.size = BPF_CORE_READ(inode, i_size);
	inode_mtime(inode, &r->src.mtime_sec, &r->src.mtime_nsec);
	if (!file_path(file, &r->src))
		return false;

	fill_header(&r->data.hdr, FT_FILE_DATA, key->fd);
	r->data.pos = pos;
	r->data.count = total;
	r->data.captured = 0;
	r->data.syscall = FT_SYS_SENDFILE;
	if (ring_output(r, sizeof(*r)))
		count_drop();
	return true;
}
