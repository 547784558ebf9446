//! sendfile bodies: a sendfile record names the file and the byte range it sent;
//! here, still on the capture thread and before anything records the event, the
//! range is read back from the file, but only when the file is provably the one
//! the kernel read: the file found at the path the kernel walked must still be
//! that device and inode with that size and mtime. Anything else leaves the record
//! counted and `truncated`.
//!
//! The path is looked up below the process's root while the process lives. The
//! capture thread reads the ring late (by its poll interval, more under load), so
//! a short-lived server is often gone by then; the path is then looked up below
//! flowtap's own root, which is the same tree for every process on the host that
//! was not chrooted or containerised. Where the path is looked up proves nothing
//! and needs to prove nothing: the identity check does.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::bytes::Bytes;
use crate::event::Data;

/// Where one sendfile's bytes came from, as the kernel saw it when the call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    /// The superblock's `s_dev`, in the kernel's encoding (major << 20 | minor).
    pub dev: u64,
    pub ino: u64,
    /// Offset of the first byte sent.
    pub offset: u64,
    pub size: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
    /// Relative to the process's root directory.
    pub path: PathBuf,
}

impl FileSource {
    /// The path from the kernel's leaf-first, NUL-terminated names; `None` when a
    /// name is one no walk of a real directory tree gives.
    pub fn path_from_names(names: &[u8]) -> Option<PathBuf> {
        let mut parts: Vec<&[u8]> = names.split(|&b| b == 0).collect();
        // The last name ends with a NUL too, leaving one empty piece after it.
        if parts.pop() != Some(b"") || parts.is_empty() {
            return None;
        }
        let mut path = PathBuf::new();
        for name in parts.iter().rev() {
            if name.is_empty() || *name == b"." || *name == b".." || name.contains(&b'/') {
                return None;
            }
            path.push(std::ffi::OsStr::from_bytes(name));
        }
        Some(path)
    }
}

/// Why a sendfile body stayed unread.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error("--max-payload 0 copies nothing")]
    NothingWanted,
    #[error("opening the file: {0}")]
    Open(io::Error),
    #[error("the path now names another file, or it changed")]
    Changed,
    #[error("reading the file: {0}")]
    Read(io::Error),
}

/// The kernel's dev_t encoding as the one `stat` reports.
fn user_dev(kernel: u64) -> u64 {
    libc::makedev((kernel >> 20) as u32, (kernel & 0xfffff) as u32)
}

/// Opens `src.path` below `root` when it is the very file the kernel sent from:
/// a regular file with that device, inode, size and mtime.
fn open_same(root: &Path, src: &FileSource) -> Result<File, FillError> {
    let file = File::options()
        .read(true)
        // No FIFO at that path can block the capture thread, and no symlink
        // leads elsewhere (the walk only names real entries).
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(root.join(&src.path))
        .map_err(FillError::Open)?;
    let meta = file.metadata().map_err(FillError::Open)?;
    let same = meta.is_file()
        && meta.dev() == user_dev(src.dev)
        && meta.ino() == src.ino
        && meta.size() == src.size
        && meta.mtime() == src.mtime_sec
        && meta.mtime_nsec() == i64::from(src.mtime_nsec);
    if same {
        Ok(file)
    } else {
        Err(FillError::Changed)
    }
}

/// Fills `data`'s payload with up to `max_payload` of the bytes `src` says it
/// sent, when the file is provably unchanged. On error `data` is untouched.
pub fn fill(data: &mut Data, src: &FileSource, max_payload: u32) -> Result<(), FillError> {
    let want = data.count.min(u64::from(max_payload));
    if want == 0 {
        return Err(FillError::NothingWanted);
    }
    if src.offset.saturating_add(want) > src.size {
        return Err(FillError::Changed);
    }
    let file = match open_same(&PathBuf::from(format!("/proc/{}/root", data.task.pid)), src) {
        Ok(file) => file,
        // The process's root is gone with the process, or the path below it no
        // longer names that file: try flowtap's own root.
        Err(first) => open_same(Path::new("/"), src).map_err(|_| first)?,
    };
    let mut buf = vec![0; usize::try_from(want).map_err(|_| FillError::Changed)?];
    file.read_exact_at(&mut buf, src.offset)
        .map_err(FillError::Read)?;
    // Read again after reading: a change during the read shows in the mtime.
    let after = file.metadata().map_err(FillError::Read)?;
    if after.mtime() != src.mtime_sec
        || after.mtime_nsec() != i64::from(src.mtime_nsec)
        || after.size() != src.size
    {
        return Err(FillError::Changed);
    }
    data.truncated = want < data.count;
    data.payload = Bytes::from(buf);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_leaf_first_become_a_relative_path() {
        let p = FileSource::path_from_names(b"big.txt\0www\0tmp\0").expect("path");
        assert_eq!(p, PathBuf::from("tmp/www/big.txt"));
    }

    #[test]
    fn names_that_no_directory_walk_gives_are_refused() {
        for bad in [&b""[..], b"a", b"a\0\0b\0", b"..\0etc\0", b"a/b\0", b".\0"] {
            assert_eq!(FileSource::path_from_names(bad), None, "{bad:?}");
        }
    }

    use crate::event::{Syscall, Task};

    fn sendfile_of(count: u64) -> Data {
        Data {
            ts: 1,
            task: Task {
                pid: std::process::id(),
                tid: std::process::id(),
                comm: "test".into(),
                cgroup: 0,
            },
            fd: 3,
            syscall: Syscall::Sendfile,
            pos: 0,
            count,
            payload: Bytes::default(),
            truncated: true,
        }
    }

    /// The source the kernel would report for `path` as it is now.
    fn source_of(path: &std::path::Path, offset: u64) -> FileSource {
        let m = std::fs::metadata(path).unwrap();
        let (major, minor) = (libc::major(m.dev()), libc::minor(m.dev()));
        FileSource {
            dev: (u64::from(major) << 20) | u64::from(minor),
            ino: m.ino(),
            offset,
            size: m.size(),
            mtime_sec: m.mtime(),
            mtime_nsec: m.mtime_nsec() as u32,
            path: path.strip_prefix("/").unwrap().to_path_buf(),
        }
    }

    #[test]
    fn an_unchanged_file_gives_the_range_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut d = sendfile_of(4);
        fill(&mut d, &source_of(&path, 3), 1 << 20).unwrap();
        assert_eq!((d.payload.as_slice(), d.truncated), (&b"3456"[..], false));
        // --max-payload keeps a prefix, and says so.
        let mut d = sendfile_of(4);
        fill(&mut d, &source_of(&path, 3), 2).unwrap();
        assert_eq!((d.payload.as_slice(), d.truncated), (&b"34"[..], true));
    }

    #[test]
    fn the_file_of_a_process_gone_is_found_below_flowtaps_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let mut d = sendfile_of(10);
        d.task.pid = gone.id();
        assert!(!Path::new(&format!("/proc/{}", gone.id())).exists());
        fill(&mut d, &source_of(&path, 0), 1 << 20).unwrap();
        assert_eq!(
            (d.payload.as_slice(), d.truncated),
            (&b"0123456789"[..], false)
        );
        // Found there, it still has to be the very file.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"0123456789").unwrap();
        let mut d = sendfile_of(10);
        d.task.pid = gone.id();
        let mut stale = source_of(&path, 0);
        stale.ino ^= 1;
        assert!(fill(&mut d, &stale, 1 << 20).is_err());
        assert!(d.truncated && d.payload.is_empty());
    }

    #[test]
    fn a_changed_replaced_or_missing_file_gives_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body");
        std::fs::write(&path, b"0123456789").unwrap();
        let src = source_of(&path, 0);
        let refused = |src: &FileSource| {
            let mut d = sendfile_of(10);
            assert!(fill(&mut d, src, 1 << 20).is_err(), "{src:?}");
            assert!(d.truncated && d.payload.is_empty());
        };
        // Another inode at the path.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"abcdefghij").unwrap();
        refused(&src);
        // The same inode with another mtime.
        let mut older = source_of(&path, 0);
        older.mtime_nsec ^= 1;
        refused(&older);
        // A range past the end, and no file at all.
        refused(&source_of(&path, 5));
        std::fs::remove_file(&path).unwrap();
        refused(&src);
        // Nothing to copy under --max-payload 0.
        std::fs::write(&path, b"0123456789").unwrap();
        let mut d = sendfile_of(10);
        assert!(fill(&mut d, &source_of(&path, 0), 0).is_err());
    }

    #[test]
    fn kernel_dev_numbers_map_to_stat_numbers() {
        // 259:3 (an NVMe partition) and 0:35 (an overlay mount).
        assert_eq!(user_dev((259 << 20) | 3), libc::makedev(259, 3));
        assert_eq!(user_dev(35), libc::makedev(0, 35));
    }
}
