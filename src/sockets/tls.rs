//! Which of a socket's bytes the HTTP decoders see once it carries TLS: the
//! plaintext from the TLS library's calls, never the ciphertext of its syscalls.
//! A socket is TLS once plaintext arrives or its first bytes are a TLS record.

use crate::event::{Data, TlsLibrary};

use super::hello::{self, Hello, Parse};
use super::socket::Socket;

/// Ciphertext kept per direction until its first record (a hello) is whole: one
/// TLS record at most.
const MAX_HELLO: usize = 5 + 16 * 1024 + 256;

/// Whether `bytes` begin with a TLS record header: a content type (change cipher
/// spec, alert, handshake, application data) and major version 3. No HTTP/1
/// message starts with these bytes.
pub fn looks_like_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x14..=0x17, 0x03, minor, ..] if *minor <= 0x04)
}

/// What to do with one data event on `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// Goes on to HTTP.
    Pass,
    /// Ciphertext of a TLS socket: dropped here.
    Drop,
    /// Plaintext, the first of this socket: downstream is told the library first.
    FirstPlaintext(TlsLibrary),
}

pub(super) fn admit(s: &mut Socket, e: &Data) -> Admit {
    let dir = e.direction().index();
    match e.syscall.tls_library() {
        Some(library) => {
            if s.tls.is_some() {
                return Admit::Pass;
            }
            s.tls = Some(library);
            Admit::FirstPlaintext(library)
        }
        None if s.tls_ciphertext => {
            read_hello(s, dir, e.payload.as_slice());
            Admit::Drop
        }
        None if !s.clear_seen[dir] && looks_like_tls_record(e.payload.as_slice()) => {
            s.tls_ciphertext = true;
            read_hello(s, dir, e.payload.as_slice());
            Admit::Drop
        }
        None => {
            s.clear_seen[dir] = true;
            Admit::Pass
        }
    }
}

/// Gathers a direction's first ciphertext record and reads the server name or
/// the chosen version from it. Only the start of the direction counts (a later
/// record is no hello), and at most one record is kept.
fn read_hello(s: &mut Socket, dir: usize, bytes: &[u8]) {
    let (Some(buf), Some(done)) = (s.hello_buf.get_mut(dir), s.hello_done.get_mut(dir)) else {
        return;
    };
    if *done {
        return;
    }
    let room = MAX_HELLO.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    let outcome = hello::parse(buf);
    if outcome == Parse::NeedMore && buf.len() < MAX_HELLO {
        return;
    }
    *done = true;
    *buf = Vec::new();
    match outcome {
        Parse::Done(Some(Hello::Client { sni })) => s.tls_sni = sni,
        Parse::Done(Some(Hello::Server { version })) => s.tls_version = Some(version),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::Bytes;
    use crate::event::{Accept, Event, SockAddrs, Syscall, Task};
    use crate::sockets::{Limits, Released, Sockets};

    fn data(ts: u64, syscall: Syscall, pos: u64, payload: &[u8]) -> Event {
        Event::Data(Data {
            ts,
            task: Task {
                pid: 1,
                tid: 1,
                comm: "nginx".into(),
                cgroup: 0,
            },
            fd: 5,
            syscall,
            pos,
            count: payload.len() as u64,
            payload: Bytes(payload.to_vec()),
            truncated: false,
        })
    }

    #[test]
    fn ciphertext_is_dropped_and_plaintext_goes_on_after_the_tls_mark() {
        let mut sockets = Sockets::new(Limits::default());
        let mut out = Vec::new();
        let accept = Event::Accept(Accept {
            ts: 1,
            task: Task {
                pid: 1,
                tid: 1,
                comm: "nginx".into(),
                cgroup: 0,
            },
            fd: 5,
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            sock: Some(SockAddrs {
                local: Some("127.0.0.1:443".parse().unwrap()),
                peer: Some("127.0.0.1:5000".parse().unwrap()),
            }),
        });
        let hello = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5];
        let record = [0x17, 0x03, 0x03, 0x00, 0x02, 9, 9];
        for e in [
            accept,
            data(2, Syscall::Read, 0, &hello),
            data(3, Syscall::Read, 10, &record),
            data(4, Syscall::SslRead, 0, b"GET / HTTP/1.1\r\n\r\n"),
            data(5, Syscall::Write, 0, &record),
            data(6, Syscall::SslWrite, 0, b"HTTP/1.1 204 No Content\r\n\r\n"),
        ] {
            sockets.handle(e, None, &mut out);
        }
        sockets.finish(&mut out);
        let kinds: Vec<String> = out
            .iter()
            .map(|r| match r {
                Released::Open(_) => "open".to_string(),
                Released::Tls { library, .. } => format!("tls {library:?}"),
                Released::Data { payload, .. } => String::from_utf8_lossy(payload).into_owned(),
                Released::End { .. } => "end".to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "open",
                "tls Openssl",
                "GET / HTTP/1.1\r\n\r\n",
                "HTTP/1.1 204 No Content\r\n\r\n",
                "end"
            ]
        );
    }

    #[test]
    fn clear_text_that_later_carries_tls_looking_bytes_is_left_alone() {
        let mut sockets = Sockets::new(Limits::default());
        let mut out = Vec::new();
        sockets.handle(
            data(1, Syscall::Write, 0, b"GET / HTTP/1.1\r\n\r\n"),
            None,
            &mut out,
        );
        sockets.handle(
            data(2, Syscall::Write, 18, &[0x16, 0x03, 0x01]),
            None,
            &mut out,
        );
        let data_events = out
            .iter()
            .filter(|r| matches!(r, Released::Data { .. }))
            .count();
        assert_eq!(data_events, 2);
        assert!(!out.iter().any(|r| matches!(r, Released::Tls { .. })));
    }

    #[test]
    fn tls_record_headers_and_http_apart() {
        assert!(looks_like_tls_record(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(looks_like_tls_record(&[0x17, 0x03, 0x03]));
        assert!(!looks_like_tls_record(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_tls_record(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_tls_record(&[0x16, 0x03]));
        assert!(!looks_like_tls_record(&[0x16, 0x02, 0x00]));
        assert!(!looks_like_tls_record(&[]));
    }
}
