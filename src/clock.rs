//! The kernel's CLOCK_MONOTONIC, which every event's `ts` is on, and its tie to
//! wall-clock time.

use crate::event::Nanos;

/// Now on CLOCK_MONOTONIC, the clock `bpf_ktime_get_ns()` reads.
pub fn monotonic_ns() -> Nanos {
    read(libc::CLOCK_MONOTONIC)
}

/// Now on CLOCK_REALTIME, in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    read(libc::CLOCK_REALTIME)
}

fn read(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; both clock ids always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Turns monotonic timestamps into wall-clock ones, given one instant read on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    offset_ns: i128,
}

impl WallClock {
    pub fn new(monotonic: Nanos, realtime: u64) -> Self {
        Self {
            offset_ns: realtime as i128 - monotonic as i128,
        }
    }

    pub fn now() -> Self {
        Self::new(monotonic_ns(), realtime_ns())
    }

    /// Nanoseconds since the Unix epoch at monotonic `ts`.
    pub fn realtime(&self, ts: Nanos) -> i128 {
        ts as i128 + self.offset_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_maps_monotonic_to_realtime() {
        let w = WallClock::new(1_000, 1_700_000_000_000_000_000);
        assert_eq!(w.realtime(1_500), 1_700_000_000_000_000_500);
        let now = WallClock::now();
        let drift = now.realtime(monotonic_ns()) - realtime_ns() as i128;
        assert!(
            drift.abs() < 1_000_000_000,
            "monotonic→realtime off by {drift} ns"
        );
    }
}
