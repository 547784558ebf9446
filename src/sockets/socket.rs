//! One socket's state: who the observer is, its two addresses and where each came
//! from, and the data held back until those addresses are complete.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::event::{Direction, Nanos, Observer, SockAddrs, Task, TlsLibrary};

use super::records::RecordWalk;
use super::reorder::{Reorder, ReorderStats};

/// Which observation gave an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressSource {
    /// The peer address `accept` wrote back.
    Accept,
    /// The destination passed to `connect`.
    Connect,
    Getsockname,
    /// The observing process's container IP (no port).
    Container,
    /// Read from the kernel's `struct sock`.
    Kernel,
}

/// One end of a socket, as far as it is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Address {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub source: Option<AddressSource>,
}

impl Address {
    pub fn from_socket_addr(addr: SocketAddr, source: AddressSource) -> Self {
        Address {
            ip: Some(addr.ip()),
            port: Some(addr.port()),
            source: Some(source),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.ip.is_some() && self.port.is_some()
    }
}

/// A socket's identity: a reused fd gets a new generation, so state never leaks
/// from a closed connection into the next one on the same fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId {
    pub pid: u32,
    pub fd: i32,
    pub generation: u64,
}

/// What the rest of the pipeline knows about a socket once it is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub id: SocketId,
    /// The task whose syscall introduced the socket.
    pub task: Task,
    /// Known from accept (server) or connect (client); None for a socket first seen
    /// at a data syscall.
    pub role: Option<Observer>,
    pub local: Address,
    pub peer: Address,
}

/// Bytes moved by one data event, waiting for the socket's addresses.
#[derive(Debug)]
pub(super) struct HeldData {
    pub ts: Nanos,
    pub direction: Direction,
    pub pos: u64,
    pub count: u64,
    pub payload: Vec<u8>,
    /// The first plaintext of the socket: `Released::Tls` goes before it.
    pub tls: Option<TlsLibrary>,
    /// Not bytes but the range [`pos`, `pos + count`) that an unplaced call's
    /// bytes are somewhere in ([`crate::event::Unplaced`]); `payload` is empty.
    pub unplaced: bool,
}

#[derive(Debug)]
pub(super) struct Socket {
    pub info: SocketInfo,
    /// The kernel's view, used to fill what syscalls did not tell.
    pub kernel: SockAddrs,
    /// The observer's container IP, for the local side of an outgoing connection.
    pub container_ip: Option<IpAddr>,
    /// Addresses are final and data flows straight through.
    pub released: bool,
    pub held: VecDeque<HeldData>,
    pub held_bytes: usize,
    pub held_since: Option<Nanos>,
    /// The socket's records, put back in position order.
    pub order: Reorder,
    pub order_stats: ReorderStats,
    pub last_active: Nanos,
    /// Plaintext came from this TLS library (see `tls.rs`).
    pub tls: Option<TlsLibrary>,
    /// Its syscall bytes are TLS records: they never reach HTTP.
    pub tls_ciphertext: bool,
    /// Clear-text bytes went on per direction (so a later TLS-looking start is not one).
    pub clear_seen: [bool; 2],
    /// A direction's first ciphertext, until its hello is read (see `tls.rs`).
    pub hello_buf: [Vec<u8>; 2],
    pub hello_done: [bool; 2],
    /// What the hellos said: the server name asked for, the version chosen.
    pub tls_sni: Option<String>,
    pub tls_version: Option<String>,
    /// Goes on from a tombstone: no syscall will add to what it knew.
    pub resumed: bool,
    /// The records this socket sends, while a memory-BIO `SSL*` may be tied
    /// to it (see `membio.rs`).
    pub records: RecordWalk,
}

/// What is kept of a socket that aged out or was evicted, for the data that may
/// still come on its (pid, fd): the kernel won't announce it again. HTTP state
/// is not kept.
#[derive(Debug)]
pub(super) struct Tombstone {
    role: Option<Observer>,
    local: Address,
    peer: Address,
    /// Its syscall bytes were TLS records; a plaintext stream is announced anew.
    tls_ciphertext: bool,
    tls_sni: Option<String>,
    tls_version: Option<String>,
}

impl Tombstone {
    /// None when nothing is known worth keeping.
    pub fn of(s: &Socket) -> Option<Tombstone> {
        let i = &s.info;
        let known = i.role.is_some() || i.local.ip.is_some() || i.peer.ip.is_some();
        known.then_some(Tombstone {
            role: i.role,
            local: i.local,
            peer: i.peer,
            tls_ciphertext: s.tls_ciphertext,
            tls_sni: s.tls_sni.clone(),
            tls_version: s.tls_version.clone(),
        })
    }

    /// Gives a socket just opened on the same (pid, fd) what was known.
    pub fn restore(self, s: &mut Socket) {
        s.info.role = self.role;
        s.info.local = self.local;
        s.info.peer = self.peer;
        s.tls_ciphertext = self.tls_ciphertext;
        // Mid-stream, no hello is coming.
        s.hello_done = [self.tls_ciphertext; 2];
        s.tls_sni = self.tls_sni;
        s.tls_version = self.tls_version;
        s.resumed = true;
    }
}

impl Socket {
    pub fn new(info: SocketInfo, kernel: SockAddrs, ts: Nanos) -> Self {
        let from_start = info.role.is_some();
        Socket {
            info,
            kernel,
            container_ip: None,
            released: false,
            held: VecDeque::new(),
            held_bytes: 0,
            held_since: None,
            order: Reorder::new(from_start),
            order_stats: ReorderStats::default(),
            last_active: ts,
            tls: None,
            tls_ciphertext: false,
            clear_seen: [false, false],
            hello_buf: Default::default(),
            hello_done: [false, false],
            tls_sni: None,
            tls_version: None,
            resumed: false,
            records: RecordWalk::default(),
        }
    }

    /// Whether nothing more is worth waiting for. A socket whose role is unknown
    /// was introduced by the kernel's view alone: no syscall will add to it.
    pub fn is_ready(&self) -> bool {
        self.resumed
            || self.info.role.is_none()
            || (self.info.local.is_complete() && self.info.peer.is_complete())
    }

    /// Whether both ends would be known without getsockname: the peer from the
    /// syscall or the kernel, the local end from the kernel, or (for an outgoing
    /// connection) its IP from the container.
    pub fn others_complete(&self) -> bool {
        let peer = self.info.peer.is_complete() || self.kernel.peer.is_some();
        let local = self.info.local.is_complete()
            || self.kernel.local.is_some()
            || (self.info.role == Some(Observer::Client) && self.container_ip.is_some());
        peer && local
    }

    /// Fills missing ends: the kernel's view first, then the container IP.
    pub fn fill_fallback(&mut self) {
        if !self.info.local.is_complete() {
            if let Some(local) = self.kernel.local {
                self.info.local = Address::from_socket_addr(local, AddressSource::Kernel);
            } else if let (None, Some(ip)) = (self.info.local.ip, self.container_ip) {
                self.info.local = Address {
                    ip: Some(ip),
                    port: None,
                    source: Some(AddressSource::Container),
                };
            }
        }
        if !self.info.peer.is_complete() {
            if let Some(peer) = self.kernel.peer {
                self.info.peer = Address::from_socket_addr(peer, AddressSource::Kernel);
            }
        }
    }
}
