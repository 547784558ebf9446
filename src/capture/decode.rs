//! Ring-buffer records → [`Event`]s. Records come from the kernel, so nothing here
//! trusts them: a short, malformed or unknown record is an error to count, never a
//! panic.

use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use compact_str::CompactString;

use super::sendfile::FileSource;
use super::skel::types::{
    ft_addr, ft_close_event, ft_data_event, ft_file_data_event, ft_header, ft_kind, ft_sock_event,
    ft_ssl_data_event, ft_ssl_free_event, ft_syscall, ft_tls_head_event, ft_unplaced_event,
};
use crate::bytes::Bytes;
use crate::event::{
    Accept, Close, Connect, Data, Event, ExistingSocket, Getsockname, SockAddrs, SslData, SslFree,
    Syscall, Task, TlsHead, Unplaced,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its {what} ({need} bytes)")]
    Short {
        what: &'static str,
        len: usize,
        need: usize,
    },
    #[error("unknown record kind {0}")]
    UnknownKind(u32),
    #[error("unknown syscall {0} in a data record")]
    UnknownSyscall(u32),
    #[error("address family {0} in a record that needs an IP address")]
    MissingAddress(u16),
}

/// Decodes one ring-buffer record.
pub fn decode(record: &[u8]) -> Result<Event, DecodeError> {
    decode_record(record).map(|(event, _)| event)
}

/// Decodes one ring-buffer record, with the source file of a sendfile record
/// whose bytes the kernel could name (see [`super::sendfile`]).
pub fn decode_record(record: &[u8]) -> Result<(Event, Option<FileSource>), DecodeError> {
    let header: ft_header = read(record, "header")?;
    let kind = ft_kind(header.kind);
    if kind == ft_kind::FT_FILE_DATA {
        return decode_file_data(record);
    }
    let event = match kind {
        ft_kind::FT_ACCEPT | ft_kind::FT_CONNECT | ft_kind::FT_GETSOCKNAME | ft_kind::FT_SOCKET => {
            decode_sock(kind, &read::<ft_sock_event>(record, "socket record")?)
        }
        ft_kind::FT_DATA => decode_data(record),
        ft_kind::FT_UNPLACED => {
            let e: ft_unplaced_event = read(record, "unplaced record")?;
            Ok(Event::Unplaced(Unplaced {
                ts: e.hdr.ts,
                task: task(&e.hdr),
                fd: e.hdr.fd,
                syscall: syscall(e.syscall)?,
                pos: e.pos,
                len: e.len,
                count: e.count,
            }))
        }
        ft_kind::FT_SSL_DATA => decode_ssl_data(record),
        ft_kind::FT_TLS_HEAD => {
            let e: ft_tls_head_event = read(record, "TLS head record")?;
            let captured = (e.captured as usize).min(e.head.len());
            Ok(Event::TlsHead(TlsHead {
                ts: e.hdr.ts,
                task: task(&e.hdr),
                ssl: e.ssl,
                len: e.len,
                head: Bytes::from(&e.head[..captured]),
            }))
        }
        ft_kind::FT_SSL_FREE => {
            let e: ft_ssl_free_event = read(record, "SSL free record")?;
            Ok(Event::SslFree(SslFree {
                ts: e.hdr.ts,
                task: task(&e.hdr),
                ssl: e.ssl,
            }))
        }
        ft_kind::FT_CLOSE => {
            let close: ft_close_event = read(record, "close record")?;
            Ok(Event::Close(Close {
                ts: close.hdr.ts,
                task: task(&close.hdr),
                fd: close.hdr.fd,
            }))
        }
        ft_kind(other) => Err(DecodeError::UnknownKind(other)),
    }?;
    Ok((event, None))
}

fn decode_file_data(record: &[u8]) -> Result<(Event, Option<FileSource>), DecodeError> {
    let e: ft_file_data_event = read(record, "sendfile source record")?;
    // A path that makes no sense costs the body, never the record's position.
    let path = e.src.path.get(..e.src.path_len as usize).and_then(|names| {
        let names: Vec<u8> = names.iter().map(|&c| c as u8).collect();
        FileSource::path_from_names(&names)
    });
    let source = path.map(|path| FileSource {
        dev: e.src.dev,
        ino: e.src.ino,
        offset: e.src.offset,
        size: e.src.size,
        mtime_sec: e.src.mtime_sec,
        mtime_nsec: e.src.mtime_nsec,
        path,
    });
    let d = &e.data;
    let event = Event::Data(Data {
        ts: d.hdr.ts,
        task: task(&d.hdr),
        fd: d.hdr.fd,
        syscall: syscall(d.syscall)?,
        pos: d.pos,
        count: d.count,
        truncated: d.count > 0,
        payload: Bytes::from(Vec::new()),
    });
    Ok((event, source))
}

/// Copies a record struct out of the front of `bytes`. Copying (rather than
/// borrowing) sidesteps alignment: ring-buffer samples are 8-aligned, but nothing
/// here depends on it.
fn read<T: plain::Plain + Default>(bytes: &[u8], what: &'static str) -> Result<T, DecodeError> {
    let mut out = T::default();
    plain::copy_from_bytes(&mut out, bytes).map_err(|_| DecodeError::Short {
        what,
        len: bytes.len(),
        need: size_of::<T>(),
    })?;
    Ok(out)
}

fn task(h: &ft_header) -> Task {
    // On the stack, so that the name costs one allocation (the String), not two.
    let mut comm = [0u8; 16];
    let mut len = 0;
    for (dst, &c) in comm.iter_mut().zip(h.comm.iter().take_while(|&&c| c != 0)) {
        *dst = c as u8;
        len += 1;
    }
    Task {
        pid: h.pid,
        tid: h.tid,
        comm: CompactString::from_utf8_lossy(&comm[..len]),
        cgroup: h.cgroup,
    }
}

fn decode_sock(kind: ft_kind, e: &ft_sock_event) -> Result<Event, DecodeError> {
    let ts = e.hdr.ts;
    let task = task(&e.hdr);
    let fd = e.hdr.fd;
    let sys = socket_addr(&e.sys);
    let kernel = (e.has_kernel != 0).then(|| SockAddrs {
        local: socket_addr(&e.local),
        peer: socket_addr(&e.peer),
    });
    Ok(match kind {
        ft_kind::FT_ACCEPT => Event::Accept(Accept {
            ts,
            task,
            fd,
            peer: sys,
            sock: kernel,
        }),
        ft_kind::FT_CONNECT => Event::Connect(Connect {
            ts,
            task,
            fd,
            peer: sys,
            result: e.result,
            sock: kernel,
        }),
        ft_kind::FT_GETSOCKNAME => {
            let local = sys.ok_or(DecodeError::MissingAddress(e.sys.family))?;
            Event::Getsockname(Getsockname {
                ts,
                task,
                fd,
                local,
            })
        }
        _ => Event::Socket(ExistingSocket {
            ts,
            task,
            fd,
            sock: kernel.unwrap_or_default(),
        }),
    })
}

/// An address as the kernel recorded it; `None` for no family, and for the
/// all-zero address a socket has before it is bound or connected. A v4-mapped
/// IPv6 address (a dual-stack socket talking to an IPv4 peer) is reported as IPv4.
fn socket_addr(a: &ft_addr) -> Option<SocketAddr> {
    let ip = match a.family {
        AF_INET => {
            let [b0, b1, b2, b3, ..] = a.addr;
            IpAddr::V4(Ipv4Addr::new(b0, b1, b2, b3))
        }
        AF_INET6 => {
            let v6 = Ipv6Addr::from(a.addr);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    if ip.is_unspecified() && a.port == 0 {
        return None;
    }
    Some(SocketAddr::new(ip, a.port))
}

fn syscall(raw: u32) -> Result<Syscall, DecodeError> {
    Ok(match ft_syscall(raw) {
        ft_syscall::FT_SYS_READ => Syscall::Read,
        ft_syscall::FT_SYS_WRITE => Syscall::Write,
        ft_syscall::FT_SYS_READV => Syscall::Readv,
        ft_syscall::FT_SYS_WRITEV => Syscall::Writev,
        ft_syscall::FT_SYS_RECVFROM => Syscall::Recvfrom,
        ft_syscall::FT_SYS_SENDTO => Syscall::Sendto,
        ft_syscall::FT_SYS_RECVMSG => Syscall::Recvmsg,
        ft_syscall::FT_SYS_SENDMSG => Syscall::Sendmsg,
        ft_syscall::FT_SYS_SENDFILE => Syscall::Sendfile,
        ft_syscall::FT_SYS_SPLICE_TO => Syscall::SpliceTo,
        ft_syscall::FT_SYS_SPLICE_FROM => Syscall::SpliceFrom,
        ft_syscall::FT_SYS_SENDMMSG => Syscall::Sendmmsg,
        ft_syscall::FT_SYS_RECVMMSG => Syscall::Recvmmsg,
        ft_syscall::FT_SYS_SSL_READ => Syscall::SslRead,
        ft_syscall::FT_SYS_SSL_WRITE => Syscall::SslWrite,
        ft_syscall::FT_SYS_GOTLS_READ => Syscall::GoTlsRead,
        ft_syscall::FT_SYS_GOTLS_WRITE => Syscall::GoTlsWrite,
        ft_syscall::FT_SYS_BORINGSSL_READ => Syscall::BoringsslRead,
        ft_syscall::FT_SYS_BORINGSSL_WRITE => Syscall::BoringsslWrite,
        ft_syscall(other) => return Err(DecodeError::UnknownSyscall(other)),
    })
}

fn decode_data(record: &[u8]) -> Result<Event, DecodeError> {
    let e: ft_data_event = read(record, "data record")?;
    data_with_payload(record, &e, size_of::<ft_data_event>()).map(Event::Data)
}

fn decode_ssl_data(record: &[u8]) -> Result<Event, DecodeError> {
    let e: ft_ssl_data_event = read(record, "SSL data record")?;
    let d = data_with_payload(record, &e.data, size_of::<ft_ssl_data_event>())?;
    Ok(Event::SslData(SslData {
        ts: d.ts,
        task: d.task,
        ssl: e.ssl,
        syscall: d.syscall,
        pos: d.pos,
        count: d.count,
        payload: d.payload,
        truncated: d.truncated,
    }))
}

/// A data record's fields with its payload, which starts at `start`.
fn data_with_payload(record: &[u8], e: &ft_data_event, start: usize) -> Result<Data, DecodeError> {
    let captured = e.captured as usize;
    let payload = record
        .get(start..start.saturating_add(captured))
        .ok_or(DecodeError::Short {
            what: "data record's payload",
            len: record.len(),
            need: start.saturating_add(captured),
        })?;
    Ok(Data {
        ts: e.hdr.ts,
        task: task(&e.hdr),
        fd: e.hdr.fd,
        syscall: syscall(e.syscall)?,
        pos: e.pos,
        count: e.count,
        truncated: (captured as u64) < e.count,
        payload: Bytes::from(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: ft_kind) -> ft_header {
        let mut h = ft_header {
            ts: 42,
            cgroup: 7,
            pid: 100,
            tid: 101,
            kind: kind.0,
            fd: 5,
            ..Default::default()
        };
        for (dst, src) in h.comm.iter_mut().zip(b"curl") {
            *dst = *src as i8;
        }
        h
    }

    fn bytes_of<T: plain::Plain>(v: &T) -> Vec<u8> {
        // SAFETY: T is a plain `#[repr(C)]` record; reading its bytes is sound.
        unsafe { std::slice::from_raw_parts(v as *const T as *const u8, size_of::<T>()) }.to_vec()
    }

    fn v4(ip: [u8; 4], port: u16) -> ft_addr {
        let mut addr = [0; 16];
        addr[..4].copy_from_slice(&ip);
        ft_addr {
            family: AF_INET,
            port,
            addr,
        }
    }

    fn data_record(syscall: ft_syscall, count: u64, payload: &[u8]) -> Vec<u8> {
        let e = ft_data_event {
            hdr: header(ft_kind::FT_DATA),
            pos: 10,
            count,
            captured: payload.len() as u32,
            syscall: syscall.0,
        };
        let mut out = bytes_of(&e);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_an_accept_with_both_views() {
        let e = ft_sock_event {
            hdr: header(ft_kind::FT_ACCEPT),
            sys: v4([127, 0, 0, 1], 50000),
            local: v4([127, 0, 0, 1], 8000),
            peer: v4([127, 0, 0, 1], 50000),
            has_kernel: 1,
            ..Default::default()
        };
        let Ok(Event::Accept(a)) = decode(&bytes_of(&e)) else {
            panic!("not an accept")
        };
        assert_eq!(a.peer, Some("127.0.0.1:50000".parse().unwrap()));
        assert_eq!(
            a.sock.unwrap().local,
            Some("127.0.0.1:8000".parse().unwrap())
        );
        assert_eq!(
            a.task,
            Task {
                pid: 100,
                tid: 101,
                comm: "curl".into(),
                cgroup: 7
            }
        );
    }

    #[test]
    fn v4_mapped_v6_is_reported_as_v4() {
        let mut addr = [0u8; 16];
        addr[10] = 0xff;
        addr[11] = 0xff;
        addr[12..].copy_from_slice(&[10, 1, 2, 3]);
        let a = ft_addr {
            family: AF_INET6,
            port: 80,
            addr,
        };
        assert_eq!(socket_addr(&a), Some("10.1.2.3:80".parse().unwrap()));
        let loopback6 = ft_addr {
            family: AF_INET6,
            port: 80,
            addr: Ipv6Addr::LOCALHOST.octets(),
        };
        assert_eq!(socket_addr(&loopback6), Some("[::1]:80".parse().unwrap()));
        assert_eq!(socket_addr(&ft_addr::default()), None);
        assert_eq!(socket_addr(&v4([0, 0, 0, 0], 0)), None);
    }

    #[test]
    fn data_payload_and_truncation() {
        let Ok(Event::Data(d)) = decode(&data_record(ft_syscall::FT_SYS_WRITEV, 5, b"hello"))
        else {
            panic!("not data")
        };
        assert_eq!(
            (d.pos, d.count, d.truncated, d.syscall),
            (10, 5, false, Syscall::Writev)
        );
        assert_eq!(d.payload.as_slice(), b"hello");
        let Ok(Event::Data(d)) = decode(&data_record(ft_syscall::FT_SYS_READ, 1 << 20, b"abc"))
        else {
            panic!("not data")
        };
        assert!(d.truncated);
    }

    #[test]
    fn payload_shorter_than_announced_is_an_error() {
        let mut r = data_record(ft_syscall::FT_SYS_WRITE, 5, b"hello");
        r.truncate(r.len() - 1);
        assert!(matches!(decode(&r), Err(DecodeError::Short { .. })));
    }

    #[test]
    fn unknown_kind_and_syscall_are_errors() {
        let mut h = header(ft_kind::FT_DATA);
        h.kind = 99;
        assert_eq!(decode(&bytes_of(&h)), Err(DecodeError::UnknownKind(99)));
        let r = data_record(ft_syscall(77), 1, b"x");
        assert_eq!(decode(&r), Err(DecodeError::UnknownSyscall(77)));
    }

    fn ssl_data_record(payload: &[u8]) -> Vec<u8> {
        let mut hdr = header(ft_kind::FT_SSL_DATA);
        hdr.fd = -1;
        let e = ft_ssl_data_event {
            data: ft_data_event {
                hdr,
                pos: 3,
                count: payload.len() as u64,
                captured: payload.len() as u32,
                syscall: ft_syscall::FT_SYS_SSL_WRITE.0,
            },
            ssl: 0xfeed,
        };
        let mut out = bytes_of(&e);
        out.extend_from_slice(payload);
        out
    }

    fn tls_head_record(captured: u32) -> ft_tls_head_event {
        let mut head = [0u8; 16];
        head[..5].copy_from_slice(&[0x17, 3, 3, 0, 40]);
        ft_tls_head_event {
            hdr: header(ft_kind::FT_TLS_HEAD),
            ssl: 0xfeed,
            len: 45,
            captured,
            head,
            ..Default::default()
        }
    }

    #[test]
    fn an_unplaced_record_keeps_its_range_and_count() {
        let e = ft_unplaced_event {
            hdr: header(ft_kind::FT_UNPLACED),
            pos: 4096,
            len: 98_304,
            count: 65_536,
            syscall: ft_syscall::FT_SYS_WRITE.0,
            ..Default::default()
        };
        let Ok(Event::Unplaced(u)) = decode(&bytes_of(&e)) else {
            panic!("not an unplaced record")
        };
        assert_eq!(
            (u.fd, u.pos, u.len, u.count, u.syscall, u.direction()),
            (
                5,
                4096,
                98_304,
                65_536,
                Syscall::Write,
                crate::event::Direction::Send
            )
        );
        // Cut short: an error, not a guess.
        assert!(decode(&bytes_of(&e)[..size_of::<ft_unplaced_event>() - 1]).is_err());
    }

    #[test]
    fn memory_bio_records_keep_their_ssl() {
        let Ok(Event::SslData(d)) = decode(&ssl_data_record(b"PRI *")) else {
            panic!("not SSL data")
        };
        assert_eq!(
            (d.ssl, d.pos, d.syscall, d.payload.as_slice()),
            (0xfeed, 3, Syscall::SslWrite, &b"PRI *"[..])
        );
        let Ok(Event::TlsHead(h)) = decode(&bytes_of(&tls_head_record(16))) else {
            panic!("not a TLS head")
        };
        assert_eq!((h.ssl, h.len, h.head.len()), (0xfeed, 45, 16));
        assert_eq!(&h.head.as_slice()[..5], [0x17, 3, 3, 0, 40]);
        // A captured count past the head is held to the head.
        let Ok(Event::TlsHead(h)) = decode(&bytes_of(&tls_head_record(99))) else {
            panic!("not a TLS head")
        };
        assert_eq!(h.head.len(), 16);
        let free = ft_ssl_free_event {
            hdr: header(ft_kind::FT_SSL_FREE),
            ssl: 0xfeed,
        };
        assert!(matches!(decode(&bytes_of(&free)), Ok(Event::SslFree(f)) if f.ssl == 0xfeed));
    }

    fn file_data_record(names: &[u8], path_len: u32) -> Vec<u8> {
        let mut e = ft_file_data_event {
            data: ft_data_event {
                hdr: header(ft_kind::FT_FILE_DATA),
                pos: 7,
                count: 4096,
                captured: 0,
                syscall: ft_syscall::FT_SYS_SENDFILE.0,
            },
            ..Default::default()
        };
        e.src.dev = 35;
        e.src.ino = 99;
        e.src.offset = 512;
        e.src.size = 8192;
        e.src.path_len = path_len;
        for (dst, src) in e.src.path.iter_mut().zip(names) {
            *dst = *src as i8;
        }
        bytes_of(&e)
    }

    #[test]
    fn a_sendfile_record_decodes_with_its_source_file() {
        let names = b"big.txt\0www\0srv\0";
        let (event, source) =
            decode_record(&file_data_record(names, names.len() as u32)).expect("decodes");
        let Event::Data(d) = event else {
            panic!("not data")
        };
        assert_eq!((d.pos, d.count, d.syscall), (7, 4096, Syscall::Sendfile));
        assert!(d.truncated && d.payload.is_empty(), "nothing read yet");
        let source = source.expect("a source");
        assert_eq!(source.path, std::path::PathBuf::from("srv/www/big.txt"));
        assert_eq!((source.dev, source.ino, source.offset), (35, 99, 512));
    }

    #[test]
    fn a_sendfile_record_with_a_bad_path_keeps_its_position_without_a_source() {
        for (names, len) in [(&b"a\0"[..], 5000), (b"..\0", 3), (b"", 0)] {
            let (event, source) = decode_record(&file_data_record(names, len)).expect("decodes");
            assert!(matches!(event, Event::Data(d) if d.pos == 7 && d.count == 4096));
            assert_eq!(source, None);
        }
    }

    #[test]
    fn random_and_truncated_records_never_panic() {
        let samples = [
            data_record(ft_syscall::FT_SYS_SENDMSG, 3, b"abc"),
            bytes_of(&ft_sock_event {
                hdr: header(ft_kind::FT_CONNECT),
                ..Default::default()
            }),
            bytes_of(&ft_close_event {
                hdr: header(ft_kind::FT_CLOSE),
            }),
            file_data_record(b"f\0", 2),
            ssl_data_record(b"hello"),
            bytes_of(&tls_head_record(16)),
        ];
        for s in &samples {
            for cut in 0..s.len() {
                let _ = decode(&s[..cut]);
            }
        }
        proptest::proptest!(proptest::test_runner::Config::with_cases(5000), |(
            mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1600),
            kind in 0u32..11,
        )| {
            // Steer a share of the cases into real record kinds.
            if bytes.len() >= size_of::<ft_header>() {
                bytes[24..28].copy_from_slice(&kind.to_ne_bytes());
            }
            let _ = decode(&bytes);
        });
    }
}
