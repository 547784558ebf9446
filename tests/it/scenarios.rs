//! The hand-built fixture traces, written as small scenarios: each one is what the
//! kernel side would emit for a case that is hard to provoke with real programs.
//! `FLOWTAP_BLESS=1 cargo test --test it fixtures` rewrites fixtures/ from here.

use std::collections::HashMap;
use std::net::SocketAddr;

use flowtap::bytes::Bytes;
use flowtap::event::{
    Accept, Close, Connect, ContainerAction, ContainerEvent, ContainerInfo, Data, Direction, Event,
    ExistingSocket, Getsockname, SockAddrs, Syscall, Task, Unplaced,
};

/// Builds one trace: every call is one event, one millisecond after the last.
pub struct Trace {
    events: Vec<Event>,
    ts: u64,
    pos: HashMap<(u32, i32, Direction), u64>,
}

pub fn task(pid: u32, comm: &str, cgroup: u64) -> Task {
    Task {
        pid,
        tid: pid,
        comm: comm.into(),
        cgroup,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|e| panic!("scenario address {s:?}: {e}"))
}

fn sock(local: &str, peer: &str) -> SockAddrs {
    SockAddrs {
        local: Some(addr(local)),
        peer: Some(addr(peer)),
    }
}

impl Trace {
    pub fn new() -> Self {
        let ts = 5_000_000_000;
        Trace {
            // 2026-11-22T04:00:00Z at monotonic 5 s.
            events: vec![Event::Clock {
                ts,
                realtime_ns: 1_795_320_000_000_000_000,
            }],
            ts,
            pos: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.ts += 1_000_000;
        self.ts
    }

    /// Lets time pass without events.
    pub fn wait_ms(&mut self, ms: u64) -> &mut Self {
        self.ts += ms * 1_000_000;
        self
    }

    pub fn container(&mut self, id: &str, cgroup: u64, ip: &str) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Container(ContainerEvent {
            ts,
            action: ContainerAction::Seen,
            container: ContainerInfo {
                id: id.into(),
                name: format!("demo-{id}-1").into(),
                compose_project: Some("demo".into()),
                compose_service: Some(id.into()),
                cgroup_id: Some(cgroup),
                ips: vec![ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}"))],
                pid: Some(1),
            },
        }));
        self
    }

    /// accept: `peer` as the syscall wrote it back, `kernel` as (local, peer).
    pub fn accept(
        &mut self,
        t: &Task,
        fd: i32,
        peer: Option<&str>,
        kernel: Option<(&str, &str)>,
    ) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Accept(Accept {
            ts,
            task: t.clone(),
            fd,
            peer: peer.map(addr),
            sock: kernel.map(|(l, p)| sock(l, p)),
        }));
        self
    }

    pub fn connect(
        &mut self,
        t: &Task,
        fd: i32,
        peer: &str,
        kernel: Option<(&str, &str)>,
    ) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Connect(Connect {
            ts,
            task: t.clone(),
            fd,
            peer: Some(addr(peer)),
            result: Connect::EINPROGRESS,
            sock: kernel.map(|(l, p)| sock(l, p)),
        }));
        self
    }

    pub fn getsockname(&mut self, t: &Task, fd: i32, local: &str) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Getsockname(Getsockname {
            ts,
            task: t.clone(),
            fd,
            local: addr(local),
        }));
        self
    }

    /// A socket first seen at a data syscall, with the kernel's (local, peer).
    pub fn socket(&mut self, t: &Task, fd: i32, local: &str, peer: &str) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Socket(ExistingSocket {
            ts,
            task: t.clone(),
            fd,
            sock: sock(local, peer),
        }));
        self
    }

    pub fn send(&mut self, t: &Task, fd: i32, bytes: &[u8]) -> &mut Self {
        self.data(t, fd, Syscall::Write, bytes, bytes.len() as u64)
    }

    pub fn recv(&mut self, t: &Task, fd: i32, bytes: &[u8]) -> &mut Self {
        self.data(t, fd, Syscall::Read, bytes, bytes.len() as u64)
    }

    /// A syscall that moved `count` bytes of which only `captured` were copied.
    pub fn data(
        &mut self,
        t: &Task,
        fd: i32,
        syscall: Syscall,
        captured: &[u8],
        count: u64,
    ) -> &mut Self {
        let ts = self.tick();
        let key = (t.pid, fd, syscall.direction());
        let pos = self.pos.entry(key).or_insert(0);
        self.events.push(Event::Data(Data {
            ts,
            task: t.clone(),
            fd,
            syscall,
            pos: *pos,
            count,
            payload: Bytes(captured.to_vec()),
            truncated: (captured.len() as u64) < count,
        }));
        *pos += count;
        self
    }

    /// Bytes moved whose events were lost: only the position moves.
    pub fn lose(&mut self, t: &Task, fd: i32, direction: Direction, n: u64) -> &mut Self {
        *self.pos.entry((t.pid, fd, direction)).or_insert(0) += n;
        self
    }

    /// A call that another thread's call on the socket overlapped, so the
    /// kernel side could not place it: its `count` bytes are the next ones of
    /// the stream (the window is just them), and are not carried.
    pub fn unplaced(&mut self, t: &Task, fd: i32, syscall: Syscall, count: u64) -> &mut Self {
        let ts = self.tick();
        let pos = self
            .pos
            .entry((t.pid, fd, syscall.direction()))
            .or_insert(0);
        self.events.push(Event::Unplaced(Unplaced {
            ts,
            task: t.clone(),
            fd,
            syscall,
            pos: *pos,
            len: count,
            count,
        }));
        *pos += count;
        self
    }

    /// The gate's note that it dropped events past its hold budget (cumulative).
    pub fn overflow(&mut self, events: u64, bytes: u64) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Overflow {
            ts,
            budget: "held events of undecided containers".into(),
            events,
            bytes,
        });
        self
    }

    pub fn close(&mut self, t: &Task, fd: i32) -> &mut Self {
        let ts = self.tick();
        self.events.push(Event::Close(Close {
            ts,
            task: t.clone(),
            fd,
        }));
        self.pos.retain(|(pid, f, _), _| (*pid, *f) != (t.pid, fd));
        self
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }
}
