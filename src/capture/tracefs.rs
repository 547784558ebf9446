//! libbpf attaches syscall tracepoints through tracefs, which a fresh machine may
//! not have mounted (attach then fails with ENOENT). Where it is absent, the
//! capture thread mounts it in a mount namespace of its own, so the host's mounts
//! never change: no other process sees the mount, two captures never race over
//! mounting and unmounting, and it goes away with the thread on every exit path.

use std::ffi::CStr;
use std::io;
use std::path::Path;

const TRACEFS: &CStr = c"/sys/kernel/tracing";
/// Where libbpf looks first; debugfs automounts tracefs below it.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

fn has_events(dir: &str) -> bool {
    Path::new(dir).join("events").is_dir()
}

/// Whether tracefs is reachable where libbpf looks for it, in this thread's
/// mount namespace.
pub fn is_mounted() -> bool {
    TRACEFS.to_str().is_ok_and(has_events) || has_events(DEBUGFS_TRACING)
}

/// Makes tracefs reachable for the calling thread. When it is not, the thread
/// leaves the process's mount namespace for a copy of its own and mounts tracefs
/// there; call it on a thread that attaches the programs and opens no files the
/// rest of the process should see. Returns whether it mounted.
pub fn ensure_mounted_for_this_thread() -> io::Result<bool> {
    if is_mounted() {
        return Ok(false);
    }
    // SAFETY: unshare and mount take no pointers but the NUL-terminated strings
    // below, which outlive the calls. CLONE_NEWNS (which implies CLONE_FS) is
    // allowed in a multithreaded process and applies to the calling thread only.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return Err(io::Error::last_os_error());
        }
        // The copy's mounts are still peers of the host's: make them receive
        // only, so the mount below cannot propagate back.
        if libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_SLAVE,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            c"tracefs".as_ptr(),
            TRACEFS.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(true)
}
