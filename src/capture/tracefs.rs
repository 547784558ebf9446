//! libbpf attaches syscall tracepoints through tracefs, which a fresh machine may
//! not have mounted (attach then fails with ENOENT). This mounts it for the
//! capture's lifetime, and only when nobody else has.

use std::ffi::CString;
use std::io;
use std::path::Path;

const TRACEFS: &str = "/sys/kernel/tracing";
/// Where libbpf looks first; debugfs automounts tracefs below it.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

/// Unmounts tracefs on drop if [`ensure_mounted`] mounted it.
#[derive(Debug)]
pub struct TracefsMount {
    mounted_by_us: bool,
}

fn has_events(dir: &str) -> bool {
    Path::new(dir).join("events").is_dir()
}

/// Whether tracefs is reachable where libbpf looks for it.
pub fn is_mounted() -> bool {
    has_events(TRACEFS) || has_events(DEBUGFS_TRACING)
}

/// Makes sure tracefs is reachable where libbpf looks for it.
pub fn ensure_mounted() -> io::Result<TracefsMount> {
    if is_mounted() {
        return Ok(TracefsMount {
            mounted_by_us: false,
        });
    }
    let target = CString::new(TRACEFS).map_err(io::Error::other)?;
    let fstype = CString::new("tracefs").map_err(io::Error::other)?;
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call;
    // tracefs takes no mount data.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TracefsMount {
        mounted_by_us: true,
    })
}

impl Drop for TracefsMount {
    fn drop(&mut self) {
        if !self.mounted_by_us {
            return;
        }
        if let Ok(target) = CString::new(TRACEFS) {
            // SAFETY: valid NUL-terminated path. Lazy, so a tool that opened tracefs
            // meanwhile keeps working; failure leaves it mounted, which is harmless.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
