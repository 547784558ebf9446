//! The kernel ring buffer, sized by the traffic: small while the reader keeps up
//! (the kernel maps a ring's pages into flowtap twice, so its size is most of an
//! idle capture's RSS), large while traffic outpaces the reader.
//!
//! The programs find the ring through a one-slot array of maps (bpf/ring.bpf.h).
//! A resize makes a new ring and puts it in the slot on a thread of its own,
//! while the reader goes on draining the old one. The slot's update returns
//! once no program can still be writing to the old ring; the reader then
//! drains it to the end and reads the new one from then on.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};

use super::loader::CaptureError;

/// How long traffic must stay light before the ring shrinks back.
const QUIET_FOR: Duration = Duration::from_secs(60);

/// When the ring changes size: a pure policy, fed what each read found.
#[derive(Debug, Clone)]
pub struct RingPolicy {
    start: u32,
    max: u32,
    current: u32,
    /// The size it is on its way to: `max` once a burst was met, `start` once
    /// traffic is light again.
    goal: u32,
    /// When a read last drained enough that the start size would have been
    /// tight; the ring shrinks once this is [`QUIET_FOR`] ago.
    busy_at: Instant,
}

impl RingPolicy {
    /// `start` and `max` are powers of two with `start <= max`.
    pub fn new(start: u32, max: u32, now: Instant) -> RingPolicy {
        RingPolicy {
            start,
            max,
            current: start,
            goal: start,
            busy_at: now,
        }
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    /// Whether the ring can never change size.
    pub fn fixed(&self) -> bool {
        self.start == self.max
    }

    /// Whether the ring is the size the policy wants.
    pub fn settled(&self) -> bool {
        self.goal == self.current
    }

    /// Bytes one read may drain before the ring should grow: an eighth of it.
    /// A read lasts while records keep coming, so one that drains that much
    /// met a burst the reader did not outpace, and the rest of the ring may
    /// last only milliseconds. `None` when it is growing already, or cannot.
    pub fn grow_at(&self) -> Option<usize> {
        (self.goal < self.max).then_some(self.current as usize / 8)
    }

    /// After a read that drained `drained` bytes, with `lost` set when the
    /// kernel dropped records since the last call: the size the ring should
    /// have now, if it should change.
    ///
    /// A burst sets it growing to the most it may, in two steps: first double
    /// the start, then the rest. The kernel makes a ring in time roughly
    /// proportional to its size (2 to 6 ms for 16 MiB and 9 to 25 ms for 64
    /// MiB on these machines) and the burst goes on filling the old ring until
    /// the new one is made, so the small step comes soonest; the empty ring it
    /// brings absorbs the burst while the large one is made. It shrinks back
    /// to the start, at once, when no read has drained an eighth of the start
    /// size for [`QUIET_FOR`].
    pub fn after_read(&mut self, drained: usize, lost: bool, now: Instant) -> Option<u32> {
        if drained >= self.start as usize / 8 || lost {
            self.busy_at = now;
        }
        if lost || self.grow_at().is_some_and(|at| drained >= at) {
            self.goal = self.max;
        } else if self.goal == self.current
            && self.current > self.start
            && now.duration_since(self.busy_at) >= QUIET_FOR
        {
            self.goal = self.start;
        }
        let to = if self.goal > self.current && self.current == self.start {
            self.current.saturating_mul(2).min(self.goal)
        } else {
            self.goal
        };
        if to == self.current {
            return None;
        }
        self.current = to;
        Some(to)
    }
}

/// A ring on its way in. Making 64 MiB took the kernel 9 to 25 ms here, and
/// the slot's update waits for an RCU grace period (5 to 18 ms): the reader
/// goes on reading all along, the old ring and, once it is made, the new one.
struct Making {
    bytes: u32,
    /// The new ring, sent once it is made and before it is put in the slot.
    made: mpsc::Receiver<MapHandle>,
    /// Ends once the ring is in the slot and the grace period is over.
    put: JoinHandle<Result<MapHandle, CaptureError>>,
}

/// The rings the kernel writes to and flowtap reads, and when to change them.
pub struct Rings {
    policy: RingPolicy,
    slot: Arc<MapHandle>,
    current: MapHandle,
    /// A ring being made and put in the slot on a thread of its own.
    making: Option<Making>,
    /// The ring the current one replaced, until the reader has drained it and
    /// reopened on the current one alone.
    replaced: Option<MapHandle>,
    /// The largest ring used, and how many swaps there were.
    pub largest: u32,
    pub resizes: u32,
}

impl Rings {
    /// Makes a ring of the policy's start size and puts it in `slot` (the
    /// `rings` map), before any program is attached.
    pub fn new(slot: MapHandle, policy: RingPolicy) -> Result<Rings, CaptureError> {
        let current = make_ring(policy.current())?;
        put(&slot, &current)?;
        Ok(Rings {
            largest: policy.current(),
            policy,
            slot: Arc::new(slot),
            current,
            making: None,
            replaced: None,
            resizes: 0,
        })
    }

    /// Record by record, mid-read (a read lasts as long as a burst does):
    /// starts a larger ring once this read has drained an eighth of the ring,
    /// or the second step of a growth, and takes a ring over once it is in the
    /// slot. Returns the new size when it did. A fixed ring costs one compare.
    pub fn during_read(&mut self, drained: usize) -> Result<Option<u32>, CaptureError> {
        if self.policy.fixed() {
            return Ok(None);
        }
        if self.making.is_none()
            && (self.policy.grow_at().is_some_and(|at| drained >= at) || !self.policy.settled())
        {
            self.after_read(drained, false, Instant::now());
        }
        self.take_over()
    }

    /// Tells the policy what a read drained (and whether the kernel lost
    /// records); starts making a ring of the size it asks for, if any.
    pub fn after_read(&mut self, drained: usize, lost: bool, now: Instant) {
        if self.making.is_some() {
            return;
        }
        if let Some(bytes) = self.policy.after_read(drained, lost, now) {
            let slot = self.slot.clone();
            let (made_tx, made) = mpsc::channel();
            let put = thread::spawn(move || {
                let ring = make_ring(bytes)?;
                if let Ok(copy) = MapHandle::try_from(&ring) {
                    let _ = made_tx.send(copy);
                }
                put(&slot, &ring)?;
                Ok(ring)
            });
            self.making = Some(Making { bytes, made, put });
        }
    }

    /// The ring being made, once it is (once only): the reader may read it
    /// from now on, but must hold what it reads there until
    /// [`Rings::take_over`], when the old ring has all it ever will.
    pub fn incoming(&self) -> Option<MapHandle> {
        self.making.as_ref()?.made.try_recv().ok()
    }

    /// Whether a ring is being made: the reader then polls often, since the
    /// programs may be writing to a ring it does not wait on yet.
    pub fn making(&self) -> bool {
        self.making.is_some()
    }

    /// Once the ring being made is in the slot, it becomes the current one.
    /// The slot's update returned only after an RCU grace period, so every
    /// program that found the old ring there has finished its record: the old
    /// ring holds all it ever will, each record before anything in the new
    /// one. Returns the new size; the caller then drains the old ring and
    /// reopens its reader on [`Rings::current`].
    pub fn take_over(&mut self) -> Result<Option<u32>, CaptureError> {
        // Not before the reader has drained and let go the last one replaced:
        // the current ring may not have been read at all yet.
        if self.replaced.is_some()
            || !self
                .making
                .as_ref()
                .is_some_and(|making| making.put.is_finished())
        {
            return Ok(None);
        }
        let Some(Making { bytes, put, .. }) = self.making.take() else {
            return Ok(None);
        };
        let ring = put.join().map_err(|_| CaptureError::ThreadLost)??;
        self.replaced = Some(std::mem::replace(&mut self.current, ring));
        self.largest = self.largest.max(bytes);
        self.resizes += 1;
        Ok(Some(bytes))
    }

    /// The ring to open a reader on.
    pub fn current(&self) -> &MapHandle {
        &self.current
    }

    /// Lets the replaced ring go, once the reader that mapped it has drained
    /// it and is dropped: the kernel frees it then.
    pub fn let_replaced_go(&mut self) {
        self.replaced = None;
    }
}

fn make_ring(bytes: u32) -> Result<MapHandle, CaptureError> {
    let opts = libbpf_rs::libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_rs::libbpf_sys::bpf_map_create_opts>()
            as libbpf_rs::libbpf_sys::size_t,
        ..Default::default()
    };
    MapHandle::create(MapType::RingBuf, Some("flowtap_ring"), 0, 0, bytes, &opts)
        .map_err(CaptureError::bpf("making a ring buffer"))
}

fn put(slot: &MapHandle, ring: &MapHandle) -> Result<(), CaptureError> {
    let fd = ring.as_fd().as_raw_fd() as u32;
    slot.update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
        .map_err(CaptureError::bpf("putting the ring buffer in its slot"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u32 = 1 << 20;

    #[test]
    fn a_read_that_drains_an_eighth_of_the_ring_grows_it_to_the_most_in_two_steps() {
        let t = Instant::now();
        let mut p = RingPolicy::new(8 * MIB, 64 * MIB, t);
        assert_eq!(p.grow_at(), Some(MIB as usize));
        assert_eq!(p.after_read(MIB as usize - 1, false, t), None);
        assert_eq!(p.after_read(MIB as usize, false, t), Some(16 * MIB));
        assert_eq!(p.grow_at(), None, "growing already");
        // The next step comes without another burst.
        assert_eq!(p.after_read(0, false, t), Some(64 * MIB));
        assert_eq!(p.current(), 64 * MIB);
        assert_eq!(p.grow_at(), None, "at the most it may be");
        assert_eq!(p.after_read(60 * MIB as usize, false, t), None);
    }

    #[test]
    fn a_loss_grows_the_ring_whatever_the_read() {
        let t = Instant::now();
        let mut p = RingPolicy::new(8 * MIB, 64 * MIB, t);
        assert_eq!(p.after_read(0, true, t), Some(16 * MIB));
        assert_eq!(p.after_read(0, true, t), Some(64 * MIB));
        assert_eq!(p.after_read(0, true, t), None, "nothing larger to go to");
    }

    #[test]
    fn a_small_most_is_reached_in_one_step() {
        let t = Instant::now();
        let mut p = RingPolicy::new(8 * MIB, 16 * MIB, t);
        assert_eq!(p.after_read(MIB as usize, false, t), Some(16 * MIB));
        assert_eq!(p.after_read(0, false, t), None);
    }

    #[test]
    fn the_ring_shrinks_back_after_a_quiet_minute_and_not_before() {
        let t = Instant::now();
        let mut p = RingPolicy::new(8 * MIB, 64 * MIB, t);
        assert_eq!(p.after_read(0, true, t), Some(16 * MIB));
        assert_eq!(p.after_read(0, false, t), Some(64 * MIB));
        // Reads that an eighth of the start size would have held are quiet.
        let light = MIB as usize - 1;
        assert_eq!(
            p.after_read(light, false, t + Duration::from_secs(59)),
            None
        );
        // A busy read restarts the minute.
        assert_eq!(
            p.after_read(MIB as usize, false, t + Duration::from_secs(59)),
            None
        );
        assert_eq!(
            p.after_read(light, false, t + Duration::from_secs(118)),
            None
        );
        assert_eq!(
            p.after_read(light, false, t + Duration::from_secs(119)),
            Some(8 * MIB),
            "straight back to the start"
        );
        assert_eq!(p.after_read(0, false, t + Duration::from_secs(300)), None);
        assert_eq!(p.grow_at(), Some(MIB as usize));
        // And it grows again on the next burst.
        assert_eq!(
            p.after_read(MIB as usize, false, t + Duration::from_secs(301)),
            Some(16 * MIB)
        );
    }

    #[test]
    fn a_ring_that_starts_at_the_most_never_changes() {
        let t = Instant::now();
        let mut p = RingPolicy::new(16 * MIB, 16 * MIB, t);
        assert_eq!(p.grow_at(), None);
        assert_eq!(p.after_read(16 * MIB as usize, true, t), None);
        assert_eq!(p.after_read(0, false, t + Duration::from_secs(3600)), None);
    }
}
