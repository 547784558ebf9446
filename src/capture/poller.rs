//! The capture thread: owns the loaded programs, polls the ring buffer, decodes
//! records and sends owned [`Event`]s down a bounded channel, in batches (one a
//! poll round, or sooner when one is full) so that the consumer is woken once a
//! batch rather than once an event. A full channel blocks the poller, the ring
//! buffer then fills, and the kernel counts what it drops: loss is visible,
//! never silent.

use std::cell::{Cell, RefCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use libbpf_rs::{MapCore, MapFlags, MapHandle, RingBuffer, RingBufferBuilder};

use super::loader::{self, CaptureConfig, CaptureError, Scope};
use super::ring::Rings;
use super::{decode_record, features, libbpf_log, links, sendfile, tls, tracefs};
use crate::clock;
use crate::event::{Event, EventBatch};
use crate::selection::CgroupFilter;

/// The kernel wakes this thread only once a batch of records has piled up (see
/// FT_WAKEUP_BYTES in bpf/flowtap.bpf.c), so a quiet ring is also read at this
/// interval: it bounds how late a lone event arrives.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The poll while a new ring is being put in the slot: the programs may be
/// writing to it already, and the reader waits on the old one.
const POLL_WHILE_RESIZING: Duration = Duration::from_millis(1);
const LOSS_INTERVAL: Duration = Duration::from_secs(1);
/// How long the ring stays empty after traffic before the heap's free memory
/// goes back to the kernel.
const QUIET_BEFORE_TRIM: Duration = Duration::from_secs(1);
/// How long [`Capture::look_for_tls`] waits for the capture thread at most.
const TLS_SCAN_WAIT: Duration = Duration::from_secs(10);
/// A batch is sent once it holds this many events or this many bytes, even in
/// the middle of a poll round (a round can drain the whole ring).
const BATCH_EVENTS: usize = 1024;
const BATCH_BYTES: usize = 1024 * 1024;
/// What [`Reader::hold`] returns to end a read of a ring on its way in.
const HELD_ENOUGH: i32 = -libc::ENOBUFS;

/// The kernel's live filter maps: which cgroups and processes are traced.
pub struct Filters {
    cgroups: MapHandle,
    tgids: MapHandle,
    /// The cgroup filter's generation (filter_gen in bpf/filter.bpf.h): the
    /// kernel caches each thread's verdict until it changes. Held across a
    /// change and its bump, so that the generation only ever grows.
    generation: Mutex<(MapHandle, u64)>,
}

impl Filters {
    /// Applies `change` to the cgroup map, then moves the generation on, so
    /// that no verdict cached before the change is trusted after it (the
    /// kernel reads the generation before it walks the map).
    fn change_cgroups(
        &self,
        change: impl FnOnce(&MapHandle) -> Result<(), CaptureError>,
    ) -> Result<(), CaptureError> {
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let changed = change(&self.cgroups);
        // The kernel's stores for the change become visible before the
        // generation's, on CPUs that may reorder stores too (arm64).
        std::sync::atomic::fence(Ordering::SeqCst);
        let (map, gen) = &mut *generation;
        *gen += 1;
        map.update(&0u32.to_ne_bytes(), &gen.to_ne_bytes(), MapFlags::ANY)
            .map_err(CaptureError::bpf("moving the filter's generation on"))?;
        changed
    }
}

impl CgroupFilter for Filters {
    type Error = CaptureError;

    fn trace_cgroup(&self, cgroup: u64) -> Result<(), CaptureError> {
        self.change_cgroups(|cgroups| {
            cgroups
                .update(&cgroup.to_ne_bytes(), &[1], MapFlags::ANY)
                .map_err(CaptureError::bpf("adding a cgroup to the filter"))
        })
    }

    fn untrace_cgroup(&self, cgroup: u64) -> Result<(), CaptureError> {
        self.change_cgroups(|cgroups| match cgroups.delete(&cgroup.to_ne_bytes()) {
            Err(e) if e.kind() != libbpf_rs::ErrorKind::NotFound => {
                Err(CaptureError::bpf("removing a cgroup from the filter")(e))
            }
            _ => Ok(()),
        })
    }
}

impl Filters {
    pub fn trace_pid(&self, pid: u32) -> Result<(), CaptureError> {
        self.tgids
            .update(&pid.to_ne_bytes(), &[1], MapFlags::ANY)
            .map_err(CaptureError::bpf("adding a process to the filter"))
    }
}

/// What the capture thread counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaptureStats {
    /// Records decoded into events.
    pub events: u64,
    /// Records that could not be decoded.
    pub decode_errors: u64,
    /// Records the kernel dropped because the ring buffer was full.
    pub lost: u64,
    /// io_uring instances traced processes set up: what they move is not seen.
    pub io_urings: u64,
    /// Traced processes whose TLS could not be hooked (each named on stderr).
    pub tls_unhookable: u64,
    /// sendfile records whose bytes were read back from their file.
    pub sendfile_filled: u64,
    /// sendfile records left counted, without their bytes: the kernel could not
    /// name the file, or it was gone or had changed when read.
    pub sendfile_unfilled: u64,
    /// SSL calls whose socket the kernel could not tell: their plaintext went
    /// on keyed by `SSL*`, for the socket layer to tie by record.
    pub tls_unmapped: u64,
    /// The largest ring buffer used, in bytes, and how often it was resized.
    pub ring_largest: u32,
    pub ring_resizes: u32,
}

/// A running capture. Dropping it asks the thread to stop without waiting for it.
pub struct Capture {
    filters: Arc<Filters>,
    stop: Arc<AtomicBool>,
    /// Asks the thread to look at traced processes for TLS now; it answers on
    /// the sender it is given.
    tls_scans: mpsc::Sender<mpsc::Sender<()>>,
    /// The thread's figures, sent once everything is sent and before its
    /// probes detach, which the kernel takes seconds over.
    figures: mpsc::Receiver<CaptureStats>,
    thread: Option<JoinHandle<Result<CaptureStats, CaptureError>>>,
}

impl Capture {
    /// Loads and attaches the programs on a new thread and returns once events
    /// flow into `events`; the first one is a [`Event::Clock`].
    pub fn start(
        config: CaptureConfig,
        events: SyncSender<EventBatch>,
    ) -> Result<Capture, CaptureError> {
        config.validate()?;
        libbpf_log::route();
        loader::check_privileges(!tracefs::is_mounted())?;
        if let Some(why) = features::missing_message(&features::probe(&features::pretended())) {
            return Err(CaptureError::Kernel(why));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tls_scans, scan_rx) = mpsc::channel();
        let (figures_tx, figures) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("flowtap-ringbuf".into())
            .spawn({
                let stop = stop.clone();
                move || run(config, events, stop, ready_tx, scan_rx, figures_tx)
            })
            .map_err(|_| CaptureError::ThreadLost)?;
        match ready_rx.recv() {
            Ok(filters) => Ok(Capture {
                filters: Arc::new(filters),
                stop,
                tls_scans,
                figures,
                thread: Some(thread),
            }),
            // The thread ended before it was ready: its result says why.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                _ => CaptureError::ThreadLost,
            }),
        }
    }

    /// The live filter maps; shareable with a thread that follows containers.
    pub fn filters(&self) -> Arc<Filters> {
        self.filters.clone()
    }

    /// Has the capture thread look at the traced processes for TLS to hook, and
    /// waits (a bounded time) until it did: after the filters gained the
    /// containers seen at start, so that their running servers are hooked
    /// before flowtap says it is ready. Go executables, unlike the host's
    /// libssl, are only found this way.
    pub fn look_for_tls(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.tls_scans.send(done_tx).is_ok() {
            let _ = done_rx.recv_timeout(TLS_SCAN_WAIT);
        }
    }

    /// Asks the capture thread to drain the ring buffer, send a final
    /// [`Event::Loss`] with the drop count, and detach. Keep receiving until the
    /// channel closes, then [`Capture::join`].
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// The capture's figures, once the channel has closed. Its probes may
    /// still be detaching: [`Capture::join`] waits for that.
    pub fn figures(&mut self) -> Result<CaptureStats, CaptureError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.figures.recv() {
            Ok(figures) => Ok(figures),
            // The thread ended without them: its result says why.
            Err(_) => self.join_thread(),
        }
    }

    /// Waits for the capture thread to end, probes detached; call once the
    /// channel has closed.
    pub fn join(mut self) -> Result<CaptureStats, CaptureError> {
        self.join_thread()
    }

    fn join_thread(&mut self) -> Result<CaptureStats, CaptureError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(CaptureError::ThreadLost),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // Not joined: the thread may be blocked sending to a receiver nobody drains.
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(
    config: CaptureConfig,
    events: SyncSender<EventBatch>,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Filters>,
    tls_scans: mpsc::Receiver<mpsc::Sender<()>>,
    figures: mpsc::Sender<CaptureStats>,
) -> Result<CaptureStats, CaptureError> {
    // This thread attaches, so it is the one that needs tracefs; a mount it
    // makes is its own, gone with it.
    tracefs::ensure_mounted_for_this_thread().map_err(CaptureError::Tracefs)?;
    let mut object = MaybeUninit::uninit();
    let (skel, rings, mut links) = loader::load(&mut object, &config)?;
    let maps = &skel.maps;
    let filters = Filters {
        cgroups: MapHandle::try_from(&maps.traced_cgroups)
            .map_err(CaptureError::bpf("opening the cgroup filter"))?,
        tgids: MapHandle::try_from(&maps.traced_tgids)
            .map_err(CaptureError::bpf("opening the process filter"))?,
        generation: Mutex::new((
            MapHandle::try_from(&maps.filter_gen)
                .map_err(CaptureError::bpf("opening the filter's generation"))?,
            0,
        )),
    };
    if let Scope::ProcessTrees(roots) = &config.scope {
        for pid in crate::procfs::descendants_of(roots) {
            filters.trace_pid(pid)?;
        }
    }
    // TLS is an addition: where its programs cannot load, clear text still works.
    let mut tls_object = MaybeUninit::uninit();
    let mut tls = match tls::TlsProbes::load(&mut tls_object, &skel, &config) {
        Ok(probes) => Some(probes),
        Err(e) => {
            eprintln!("flowtap: TLS plaintext will not be captured: {e}");
            None
        }
    };
    if let Some(tls) = &mut tls {
        tls.rescan();
    }

    let mut stats = CaptureStats::default();
    let reader = Reader {
        batch: Batch::new(events),
        max_payload: config.max_payload,
        decoded: Cell::new((0, 0)),
        sendfiles: Cell::new((0, 0)),
        drained: Cell::new(0),
        rings: RefCell::new(rings),
        swapped: Cell::new(false),
        failed: RefCell::new(None),
        start_bytes: config.ring_start_bytes,
        held: RefCell::new(Vec::new()),
        held_bytes: Cell::new(0),
        held_most: Cell::new(0),
    };
    let batch = &reader.batch;
    batch.push(Event::Clock {
        ts: clock::monotonic_ns(),
        realtime_ns: clock::realtime_ns(),
    });
    batch.send();

    // Traced processes that exec'd, for the TLS probes to look at.
    let execs = RefCell::new(Vec::<u32>::new());
    let exec_ring = tls.as_ref().map(|t| t.exec_ring()).transpose()?;
    let exec_ring = exec_ring.as_ref().map(|ring| (ring, &execs));
    let mut ring = open_reader(&reader, exec_ring)?;
    if ready.send(filters).is_err() {
        return Ok(stats);
    }

    // A reader on a ring on its way in.
    let mut incoming: Option<RingBuffer> = None;
    let mut last_loss_check = Instant::now();
    let mut lost_since_read = false;
    // Loading and attaching (the kernel's BTF, libraries' symbol tables)
    // left memory free inside the heap.
    crate::heap::give_back();
    // When a read last took records, if the heap has not been trimmed since.
    let mut busy_at: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) && !batch.closed() {
        reader.drained.set(0);
        reader.swapped.set(false);
        // `poll` reads nothing when it times out without a wakeup; `consume` then
        // takes the records that did not reach the wakeup threshold.
        let interval = if reader.rings.borrow().making() {
            POLL_WHILE_RESIZING
        } else {
            POLL_INTERVAL
        };
        let polled = ring.poll(interval).and_then(|()| ring.consume());
        batch.send();
        if let Some(e) = reader.failed.take() {
            return Err(e);
        }
        if let Err(e) = polled {
            if e.kind() != libbpf_rs::ErrorKind::Interrupted && !batch.closed() {
                return Err(CaptureError::bpf("polling the ring buffer")(e));
            }
        }
        if incoming.is_none() {
            if let Some(new) = reader.rings.borrow().incoming() {
                reader.held_most.set(new.max_entries() as usize);
                incoming = Some(open_incoming(&reader, &new)?);
            }
        }
        // The kernel may be writing to the new ring already: what it holds is
        // read now, so that the ring has room, and sent after the old one's.
        if let Some(new) = &incoming {
            if !reader.held_full() {
                let read = new.consume_raw();
                if read < 0 && read != HELD_ENOUGH {
                    return Err(CaptureError::bpf("polling the ring buffer")(
                        libbpf_rs::Error::from_raw_os_error(-read),
                    ));
                }
            }
        }
        {
            let mut rings = reader.rings.borrow_mut();
            rings.after_read(reader.drained.get(), lost_since_read, Instant::now());
            if let Some(bytes) = rings.take_over()? {
                reader.announce(bytes);
                reader.swapped.set(true);
            }
        }
        lost_since_read = false;
        let now = Instant::now();
        if reader.drained.get() > 0 {
            busy_at = Some(now);
        } else if busy_at.is_some_and(|at| now.duration_since(at) >= QUIET_BEFORE_TRIM) {
            busy_at = None;
            crate::heap::give_back();
        }
        if reader.swapped.get() {
            ring = reopen(ring, incoming.take(), &reader, exec_ring)?;
        }
        if let Some(tls) = &mut tls {
            for pid in execs.borrow_mut().drain(..) {
                tls.exec(pid);
            }
            tls.tick();
        }
        while let Ok(done) = tls_scans.try_recv() {
            if let Some(tls) = &mut tls {
                tls.rescan();
            }
            let _ = done.send(());
        }
        if last_loss_check.elapsed() >= LOSS_INTERVAL {
            last_loss_check = Instant::now();
            note_io_urings(&mut stats, dropped(&maps.io_urings));
            if let Some(tls) = &mut tls {
                tls.rescan();
            }
            let lost = dropped(&maps.drops);
            if lost != stats.lost {
                lost_since_read = true;
                stats.lost = lost;
                batch.push(Event::Loss {
                    ts: clock::monotonic_ns(),
                    lost,
                });
                batch.send();
            }
        }
    }
    // Whatever the kernel wrote before we stopped still belongs to the capture.
    let _ = ring.consume();
    batch.send();
    if let Some(new) = incoming.take() {
        // A ring on its way in is drained too, in held pieces of at most its
        // size, each sent before the next is read.
        while new.consume_raw() == HELD_ENOUGH {
            reader.release_held();
        }
    }
    reader.release_held();
    drop(ring);
    drop(incoming);
    stats.lost = dropped(&maps.drops);
    note_io_urings(&mut stats, dropped(&maps.io_urings));
    batch.push(Event::Loss {
        ts: clock::monotonic_ns(),
        lost: stats.lost,
    });
    batch.send();
    let (decoded, sendfiles) = (reader.decoded, reader.sendfiles);
    let rings = reader.rings.into_inner();
    stats.ring_largest = rings.largest;
    stats.ring_resizes = rings.resizes;
    (stats.events, stats.decode_errors) = decoded.get();
    (stats.sendfile_filled, stats.sendfile_unfilled) = sendfiles.get();
    stats.tls_unhookable = tls.as_ref().map_or(0, |t| t.unhookable);
    stats.tls_unmapped = tls.as_ref().map_or(0, |t| dropped(t.unmapped()));
    // Before the probes detach: that takes the kernel tens of milliseconds a link.
    let _ = figures.send(stats);
    if let Some(tls) = &mut tls {
        links.append(&mut tls.take_links());
    }
    links::detach_all(links);
    Ok(stats)
}

/// Takes each record off the ring: decodes it into the batch, counts, and
/// has the ring grow when a read finds it filling.
struct Reader {
    batch: Batch,
    max_payload: u32,
    /// Records decoded, and records that could not be.
    decoded: Cell<(u64, u64)>,
    /// sendfile records filled from their files, and those left unfilled.
    sendfiles: Cell<(u64, u64)>,
    /// Bytes taken off the ring since the loop last reset it: how far behind
    /// the reader was.
    drained: Cell<usize>,
    rings: RefCell<Rings>,
    /// The ring was swapped during this read: the loop reopens the reader.
    swapped: Cell<bool>,
    /// A swap failed inside a read; the loop ends with it.
    failed: RefCell<Option<CaptureError>>,
    start_bytes: u32,
    /// Records read from a ring on its way in, held until the old ring is
    /// drained to its end (see [`Rings::take_over`]), their bytes, and the
    /// most to hold: the new ring's size (past it the ring is left to fill).
    held: RefCell<EventBatch>,
    held_bytes: Cell<usize>,
    held_most: Cell<usize>,
}

impl Reader {
    /// One record: 0 to go on, non-zero to end this read.
    fn take(&self, record: &[u8]) -> i32 {
        if let Some(event) = self.decode(record) {
            self.batch.push(event);
        }
        let drained = self.drained.get() + record.len();
        self.drained.set(drained);
        match self.rings.borrow_mut().during_read(drained) {
            Ok(Some(bytes)) => {
                self.announce(bytes);
                self.swapped.set(true);
            }
            Ok(None) => {}
            Err(e) => {
                *self.failed.borrow_mut() = Some(e);
                return -1;
            }
        }
        // A non-zero return ends this read; the loop then sees why.
        if self.batch.closed() {
            -1
        } else {
            0
        }
    }

    /// One record of a ring on its way in: held, not sent. Returns
    /// [`HELD_ENOUGH`] to end the read once the most to hold is held.
    fn hold(&self, record: &[u8]) -> i32 {
        if let Some(event) = self.decode(record) {
            self.held_bytes
                .set(self.held_bytes.get() + event.held_bytes());
            self.held.borrow_mut().push(event);
        }
        if self.held_full() {
            HELD_ENOUGH
        } else {
            0
        }
    }

    fn held_full(&self) -> bool {
        self.held_bytes.get() >= self.held_most.get()
    }

    /// Sends what was held, in the order it was read.
    fn release_held(&self) {
        for event in self.held.take() {
            self.batch.push(event);
        }
        self.held_bytes.set(0);
        self.batch.send();
    }

    /// A record as an event, counted; a sendfile's bytes read from its file.
    fn decode(&self, record: &[u8]) -> Option<Event> {
        let (ok, bad) = self.decoded.get();
        let Ok((mut event, source)) = decode_record(record) else {
            self.decoded.set((ok, bad + 1));
            return None;
        };
        self.decoded.set((ok + 1, bad));
        if let Event::Data(data) = &mut event {
            if data.syscall == crate::event::Syscall::Sendfile {
                let (filled, unfilled) = self.sendfiles.get();
                let ok = source.is_some_and(|s| sendfile::fill(data, &s, self.max_payload).is_ok());
                self.sendfiles.set(if ok {
                    (filled + 1, unfilled)
                } else {
                    (filled, unfilled + 1)
                });
            }
        }
        Some(event)
    }

    fn announce(&self, bytes: u32) {
        eprintln!(
            "flowtap: the ring buffer is now {} MiB ({})",
            bytes >> 20,
            if bytes > self.start_bytes {
                "traffic outpaced the reader"
            } else {
                "traffic is light again"
            }
        );
    }
}

/// Opens a reader on the current ring and the TLS object's exec ring.
fn open_reader<'a>(
    reader: &'a Reader,
    execs: Option<(&MapHandle, &'a RefCell<Vec<u32>>)>,
) -> Result<RingBuffer<'a>, CaptureError> {
    let mut builder = RingBufferBuilder::new();
    let rings = reader.rings.borrow();
    builder
        .add(rings.current(), |record: &[u8]| reader.take(record))
        .map_err(CaptureError::bpf("opening the ring buffer"))?;
    if let Some((exec_ring, execs)) = execs {
        builder
            .add(exec_ring, |record: &[u8]| {
                if let Some(pid) = record.get(..4).and_then(|b| b.try_into().ok()) {
                    execs.borrow_mut().push(u32::from_ne_bytes(pid));
                }
                0
            })
            .map_err(CaptureError::bpf("opening the exec ring"))?;
    }
    builder
        .build()
        .map_err(CaptureError::bpf("opening the ring buffer"))
}

/// Opens a reader that holds what it reads: on a ring the programs may write
/// to before the old one has all it ever will.
fn open_incoming<'a>(reader: &'a Reader, ring: &MapHandle) -> Result<RingBuffer<'a>, CaptureError> {
    let mut builder = RingBufferBuilder::new();
    builder
        .add(ring, |record: &[u8]| reader.hold(record))
        .map_err(CaptureError::bpf("opening the ring buffer"))?;
    builder
        .build()
        .map_err(CaptureError::bpf("opening the ring buffer"))
}

/// Drains `old`, whose ring was replaced, to the end; sends what `incoming`
/// held after it; lets both go and opens a reader on the current ring, which
/// goes on from where `incoming` stopped.
fn reopen<'a>(
    old: RingBuffer<'a>,
    incoming: Option<RingBuffer<'a>>,
    reader: &'a Reader,
    execs: Option<(&MapHandle, &'a RefCell<Vec<u32>>)>,
) -> Result<RingBuffer<'a>, CaptureError> {
    let drained = old.consume();
    reader.batch.send();
    if let Some(e) = reader.failed.take() {
        return Err(e);
    }
    if let Err(e) = drained {
        if !reader.batch.closed() {
            return Err(CaptureError::bpf("polling the ring buffer")(e));
        }
    }
    drop(incoming);
    reader.release_held();
    drop(old);
    reader.rings.borrow_mut().let_replaced_go();
    open_reader(reader, execs)
}

/// The events decoded since the last send, and the channel they go down.
struct Batch {
    events: RefCell<EventBatch>,
    bytes: Cell<usize>,
    to: SyncSender<EventBatch>,
    /// The receiver is gone: nothing more is sent.
    closed: Cell<bool>,
}

impl Batch {
    fn new(to: SyncSender<EventBatch>) -> Batch {
        Batch {
            events: RefCell::new(Vec::with_capacity(BATCH_EVENTS)),
            bytes: Cell::new(0),
            to,
            closed: Cell::new(false),
        }
    }

    /// Adds an event, sending the batch once it is full.
    fn push(&self, event: Event) {
        self.bytes.set(self.bytes.get() + event.held_bytes());
        let full = {
            let mut events = self.events.borrow_mut();
            events.push(event);
            events.len() >= BATCH_EVENTS
        };
        if full || self.bytes.get() >= BATCH_BYTES {
            self.send();
        }
    }

    /// Sends what was gathered, if anything (blocking while the channel is full).
    fn send(&self) {
        let events = std::mem::take(&mut *self.events.borrow_mut());
        self.bytes.set(0);
        if events.is_empty() || self.closed.get() {
            return;
        }
        if self.to.send(events).is_err() {
            self.closed.set(true);
        }
    }

    fn closed(&self) -> bool {
        self.closed.get()
    }
}

/// Says once, on stderr, that traced processes use io_uring.
fn note_io_urings(stats: &mut CaptureStats, now: u64) {
    if now > 0 && stats.io_urings == 0 {
        eprintln!(
            "flowtap: a traced process set up io_uring; socket I/O it does through the \
             ring is not visible to flowtap"
        );
    }
    stats.io_urings = now;
}

/// A per-CPU kernel counter (drops, io_uring setups, unmapped SSL calls), summed
/// over CPUs.
fn dropped(drops: &dyn MapCore) -> u64 {
    let Ok(Some(per_cpu)) = drops.lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY) else {
        return 0;
    };
    per_cpu
        .iter()
        .filter_map(|v| {
            v.get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_ne_bytes)
        })
        .sum()
}
