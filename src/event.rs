//! The seam between capture and analysis: everything the kernel and Docker say
//! becomes an [`Event`]. Live capture and `flowtap replay` both feed the rest of
//! the pipeline from here, and a trace file is these events, one JSON object a line.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::bytes::Bytes;

/// Nanoseconds on the kernel's CLOCK_MONOTONIC, as `bpf_ktime_get_ns()` gives them.
pub type Nanos = u64;

/// Events handed on together: the capture thread sends what it decoded in one
/// go, so that the thread consuming them is woken once a batch, not once an event.
pub type EventBatch = Vec<Event>;

/// One thing that happened, in the order it was observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Ties the monotonic clock to wall-clock time: at monotonic `ts` it was `realtime_ns`
    /// nanoseconds since the Unix epoch. Comes first in every trace.
    Clock { ts: Nanos, realtime_ns: u64 },
    /// `accept`/`accept4` returned a new connected socket.
    Accept(Accept),
    /// `connect` on a TCP socket finished (successfully, with EINPROGRESS, or failed).
    Connect(Connect),
    /// `getsockname` told the process its own address.
    Getsockname(Getsockname),
    /// A TCP socket first seen at a data syscall: open before capture started, or
    /// inherited across fork. The kernel's view of its addresses comes with it.
    Socket(ExistingSocket),
    /// Bytes the process sent or received on a TCP socket.
    Data(Data),
    /// A data call whose bytes cannot be placed in the socket's stream: another
    /// thread moved bytes the same way on the socket during it.
    Unplaced(Unplaced),
    /// `close` on a tracked socket.
    Close(Close),
    /// Plaintext of an OpenSSL call that made no socket I/O of its own (OpenSSL
    /// driven through memory BIOs), keyed by its `SSL*`.
    SslData(SslData),
    /// The first bytes of what such an `SSL*` handed its BIO: the start of TLS
    /// records that the process then sends on some socket.
    TlsHead(TlsHead),
    /// `SSL_free` of an `SSL*` seen in `ssl_data` or `tls_head`: its stream ends.
    SslFree(SslFree),
    /// What Docker says about a container.
    Container(ContainerEvent),
    /// Cumulative count of events the kernel could not deliver (ring buffer full).
    Loss { ts: Nanos, lost: u64 },
    /// Cumulative count of events flowtap itself dropped before this point in
    /// the trace because a byte budget was full (`budget` names which), so that
    /// a replay reports them too.
    Overflow {
        ts: Nanos,
        budget: String,
        events: u64,
        bytes: u64,
    },
}

impl Event {
    /// About what this event holds in memory, for budgets in bytes.
    pub fn held_bytes(&self) -> usize {
        let payload = match self {
            Event::Data(d) => d.payload.len(),
            Event::SslData(d) => d.payload.len(),
            _ => 0,
        };
        std::mem::size_of::<Event>() + payload
    }

    pub fn ts(&self) -> Nanos {
        match self {
            Event::Clock { ts, .. } | Event::Loss { ts, .. } | Event::Overflow { ts, .. } => *ts,
            Event::Accept(e) => e.ts,
            Event::Connect(e) => e.ts,
            Event::Getsockname(e) => e.ts,
            Event::Socket(e) => e.ts,
            Event::Data(e) => e.ts,
            Event::Unplaced(e) => e.ts,
            Event::Close(e) => e.ts,
            Event::SslData(e) => e.ts,
            Event::TlsHead(e) => e.ts,
            Event::SslFree(e) => e.ts,
            Event::Container(e) => e.ts,
        }
    }

    /// The thread whose syscall this is; `None` for events no process made.
    pub fn task(&self) -> Option<&Task> {
        Some(match self {
            Event::Accept(e) => &e.task,
            Event::Connect(e) => &e.task,
            Event::Getsockname(e) => &e.task,
            Event::Socket(e) => &e.task,
            Event::Data(e) => &e.task,
            Event::Unplaced(e) => &e.task,
            Event::Close(e) => &e.task,
            Event::SslData(e) => &e.task,
            Event::TlsHead(e) => &e.task,
            Event::SslFree(e) => &e.task,
            Event::Clock { .. }
            | Event::Container(_)
            | Event::Loss { .. }
            | Event::Overflow { .. } => return None,
        })
    }
}

/// Which end of a TCP connection the observing process is: the client connected,
/// the server accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observer {
    Client,
    Server,
}

/// The thread that made a syscall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Process id (the kernel's tgid).
    pub pid: u32,
    /// Thread id (the kernel's pid).
    pub tid: u32,
    /// Inline (at most 24 bytes, and a kernel comm is 15): one fewer allocation
    /// an event, and a free copy into each flow.
    pub comm: CompactString,
    /// `bpf_get_current_cgroup_id()`: the inode of the task's cgroup v2 directory.
    pub cgroup: u64,
}

/// The kernel's view of a socket's two ends, read from `struct sock`.
/// Either side is absent when the kernel did not have it (yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockAddrs {
    pub local: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    pub ts: Nanos,
    pub task: Task,
    /// The new connected socket.
    pub fd: i32,
    /// The peer address the syscall wrote back; absent when the caller passed no buffer.
    pub peer: Option<SocketAddr>,
    /// The kernel's view of the new socket.
    pub sock: Option<SockAddrs>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connect {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
    /// The destination the process asked for.
    pub peer: Option<SocketAddr>,
    /// 0 on success, otherwise the negative errno (`-115` is EINPROGRESS).
    pub result: i32,
    /// The kernel's view once connect returned (the local port is bound by then).
    pub sock: Option<SockAddrs>,
}

impl Connect {
    pub const EINPROGRESS: i32 = -115;

    /// Whether the connection is, or may become, established.
    pub fn is_pending_or_ok(&self) -> bool {
        self.result == 0 || self.result == Self::EINPROGRESS
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Getsockname {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
    pub local: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingSocket {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
    pub sock: SockAddrs,
}

/// Which way bytes moved, from the observing process's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Send,
    Recv,
}

impl Direction {
    pub fn index(self) -> usize {
        match self {
            Direction::Send => 0,
            Direction::Recv => 1,
        }
    }
}

/// The syscall that moved the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Syscall {
    Read,
    Write,
    Readv,
    Writev,
    Recvfrom,
    Sendto,
    Recvmsg,
    Sendmsg,
    /// sendfile(2) to the socket: counted at its position; the payload is what
    /// capture read back from the source file when it could prove the file
    /// unchanged, else empty and `truncated`.
    Sendfile,
    /// splice(2) from a pipe to the socket: counted, never copied.
    SpliceTo,
    /// splice(2) from the socket to a pipe: counted, never copied.
    SpliceFrom,
    Sendmmsg,
    Recvmmsg,
    /// Plaintext OpenSSL's `SSL_read`/`SSL_read_ex` returned; its positions count
    /// the connection's plaintext stream.
    SslRead,
    /// Plaintext handed to OpenSSL's `SSL_write`/`SSL_write_ex`.
    SslWrite,
    /// Plaintext Go's `crypto/tls.(*Conn).Read` returned (positions as for `SslRead`).
    GoTlsRead,
    /// Plaintext handed to Go's `crypto/tls.(*Conn).Write`.
    GoTlsWrite,
    /// Plaintext BoringSSL's `SSL_read` returned (positions as for `SslRead`).
    BoringsslRead,
    /// Plaintext handed to BoringSSL's `SSL_write`.
    BoringsslWrite,
}

/// The TLS library whose calls gave plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsLibrary {
    Openssl,
    /// Google's OpenSSL fork: the same API, another library.
    Boringssl,
    /// Go's own crypto/tls.
    Go,
}

impl Syscall {
    pub fn direction(self) -> Direction {
        match self {
            Syscall::Write
            | Syscall::Writev
            | Syscall::Sendto
            | Syscall::Sendmsg
            | Syscall::Sendfile
            | Syscall::SpliceTo
            | Syscall::Sendmmsg
            | Syscall::SslWrite
            | Syscall::GoTlsWrite
            | Syscall::BoringsslWrite => Direction::Send,
            Syscall::Read
            | Syscall::Readv
            | Syscall::Recvfrom
            | Syscall::Recvmsg
            | Syscall::SpliceFrom
            | Syscall::Recvmmsg
            | Syscall::SslRead
            | Syscall::GoTlsRead
            | Syscall::BoringsslRead => Direction::Recv,
        }
    }

    /// The library, for plaintext taken from a TLS library's calls; `None` for
    /// the bytes of a socket syscall.
    pub fn tls_library(self) -> Option<TlsLibrary> {
        match self {
            Syscall::SslRead | Syscall::SslWrite => Some(TlsLibrary::Openssl),
            Syscall::BoringsslRead | Syscall::BoringsslWrite => Some(TlsLibrary::Boringssl),
            Syscall::GoTlsRead | Syscall::GoTlsWrite => Some(TlsLibrary::Go),
            _ => None,
        }
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Syscall::Read => "read",
            Syscall::Write => "write",
            Syscall::Readv => "readv",
            Syscall::Writev => "writev",
            Syscall::Recvfrom => "recvfrom",
            Syscall::Sendto => "sendto",
            Syscall::Recvmsg => "recvmsg",
            Syscall::Sendmsg => "sendmsg",
            Syscall::Sendfile => "sendfile",
            Syscall::SpliceTo | Syscall::SpliceFrom => "splice",
            Syscall::Sendmmsg => "sendmmsg",
            Syscall::Recvmmsg => "recvmmsg",
            Syscall::SslRead => "ssl_read",
            Syscall::SslWrite => "ssl_write",
            Syscall::GoTlsRead => "go_tls_read",
            Syscall::GoTlsWrite => "go_tls_write",
            Syscall::BoringsslRead => "boringssl_read",
            Syscall::BoringsslWrite => "boringssl_write",
        };
        f.write_str(name)
    }
}

/// A piece of one data syscall. A syscall that moved more than the capture cap, or
/// more than one kernel chunk, becomes several `Data` events with consecutive `pos`;
/// their `count`s add up to the syscall's return value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
    pub syscall: Syscall,
    /// Byte position of this piece in its direction of the socket, counted from the
    /// first byte flowtap saw (the connection's first, when flowtap saw it open).
    /// Bytes not seen between two pieces (lost events, or moved by calls flowtap
    /// does not see) are a jump.
    pub pos: u64,
    /// Bytes this piece stands for.
    pub count: u64,
    /// The bytes captured: all `count` of them, or a prefix when `truncated`.
    pub payload: Bytes,
    pub truncated: bool,
}

impl Data {
    pub fn direction(&self) -> Direction {
        self.syscall.direction()
    }
}

/// A call on a socket that moved `count` bytes, somewhere among the `len` bytes
/// from `pos` that the socket moved in that direction while the call ran: two
/// threads were in calls on it at once, and which went first is not known. Its
/// bytes are not carried; the range is declared lost rather than guessed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unplaced {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
    pub syscall: Syscall,
    pub pos: u64,
    pub len: u64,
    pub count: u64,
}

impl Unplaced {
    pub fn direction(&self) -> Direction {
        self.syscall.direction()
    }
}

/// One piece of an `SSL*`'s plaintext, as [`Data`] is of a socket's; `pos`
/// counts the `SSL*`'s plaintext stream in its direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslData {
    pub ts: Nanos,
    pub task: Task,
    /// The `SSL*`, an address in the process (`task.pid`).
    pub ssl: u64,
    pub syscall: Syscall,
    pub pos: u64,
    pub count: u64,
    pub payload: Bytes,
    pub truncated: bool,
}

impl SslData {
    /// The same piece, as plaintext on the socket the `SSL*` was tied to.
    pub fn on_socket(self, fd: i32) -> Data {
        Data {
            ts: self.ts,
            task: self.task,
            fd,
            syscall: self.syscall,
            pos: self.pos,
            count: self.count,
            payload: self.payload,
            truncated: self.truncated,
        }
    }
}

/// A BIO write OpenSSL made for `ssl` inside one of its calls: `len` bytes,
/// `head` the first of them (up to 16).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHead {
    pub ts: Nanos,
    pub task: Task,
    pub ssl: u64,
    pub len: u64,
    pub head: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslFree {
    pub ts: Nanos,
    pub task: Task,
    pub ssl: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    pub ts: Nanos,
    pub task: Task,
    pub fd: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    /// Its cgroup just appeared and Docker has not described it yet: only `id`
    /// and `cgroup_id` are known (`name` is the short id). A fuller event follows.
    Created,
    /// Running when flowtap started.
    Seen,
    Start,
    /// Stopped or killed; its cgroup and IPs may be reused later.
    Die,
    /// Its networks changed.
    Update,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEvent {
    pub ts: Nanos,
    pub action: ContainerAction,
    pub container: ContainerInfo,
}

/// A container as flowtap knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Shared, not copied, by every flow that names the container.
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub compose_project: Option<Arc<str>>,
    pub compose_service: Option<Arc<str>>,
    /// Inode of its cgroup v2 directory; what `bpf_get_current_cgroup_id()` returns
    /// inside it. Absent when the cgroup could not be found.
    pub cgroup_id: Option<u64>,
    pub ips: Vec<std::net::IpAddr>,
    pub pid: Option<u32>,
}
