//! The process heap: how much free memory glibc keeps, and giving it back.
//!
//! By default glibc raises its trim threshold to twice the largest mmapped
//! block freed so far. Attaching the TLS probes has libelf read a library's
//! symbol table through such blocks, after which a thread's arena kept 7 MiB
//! free at its top for good: `malloc_trim` ([`give_back`]) does not trim the
//! top of a thread's arena, only `free` does, past the threshold. Fixing the
//! thresholds ([`configure`]) lets a capture's heap shrink back after
//! attaching and after bursts of traffic.

/// Free memory at the top of an arena past this goes back to the kernel.
const TRIM_THRESHOLD: i32 = 2 << 20;
/// Blocks this large or larger are mapped on their own (glibc's would rise
/// with use, and the trim threshold with it).
const MMAP_THRESHOLD: i32 = 1 << 20;

/// Fixes glibc's thresholds; call once, before threads start.
pub fn configure() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt takes plain integers and only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Returns the free pages inside the heap's arenas to the kernel, where the
/// allocator can; a walk of the free lists, for when traffic has gone quiet.
pub fn give_back() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own
    // allocator state, under the arenas' locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
