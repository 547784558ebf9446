//! What a TLS connection's first handshake messages say in the clear: the server
//! name a ClientHello asks for (SNI) and the version a ServerHello chose. Bounded
//! and never trusting: anything malformed or cut short is simply not known.

/// What one hello told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A ClientHello, with its server_name if it had one.
    Client { sni: Option<String> },
    /// A ServerHello and the protocol version it chose.
    Server { version: String },
}

/// The outcome of looking at a direction's first bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse {
    Done(Option<Hello>),
    /// The first record is not whole yet.
    NeedMore,
}

const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

/// Parses the first TLS record of a direction when it is a ClientHello or a
/// ServerHello.
pub fn parse(bytes: &[u8]) -> Parse {
    let Some(header) = bytes.get(..5) else {
        return Parse::NeedMore;
    };
    if header[0] != HANDSHAKE {
        return Parse::Done(None);
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let Some(body) = bytes.get(5..5 + len) else {
        return Parse::NeedMore;
    };
    Parse::Done(hello(body))
}

/// A cursor over big-endian, length-prefixed fields.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

fn hello(body: &[u8]) -> Option<Hello> {
    let mut r = Reader(body);
    let kind = r.u8()?;
    let len = r.take(3)?;
    let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
    let mut m = Reader(r.take(len)?);
    let legacy_version = m.u16()?;
    m.take(32)?; // random
    m.vec8()?; // session id
    match kind {
        CLIENT_HELLO => {
            m.vec16()?; // cipher suites
            m.vec8()?; // compression methods
            let mut sni = None;
            for (kind, data) in extensions(&mut m) {
                if kind == EXT_SERVER_NAME {
                    sni = server_name(data);
                }
            }
            Some(Hello::Client { sni })
        }
        SERVER_HELLO => {
            m.u16()?; // cipher suite
            m.u8()?; // compression method
            let mut version = legacy_version;
            for (kind, data) in extensions(&mut m) {
                if kind == EXT_SUPPORTED_VERSIONS && data.len() == 2 {
                    version = u16::from_be_bytes([data[0], data[1]]);
                }
            }
            Some(Hello::Server {
                version: version_name(version),
            })
        }
        _ => None,
    }
}

fn extensions<'a>(m: &mut Reader<'a>) -> Vec<(u16, &'a [u8])> {
    let mut out = Vec::new();
    let Some(all) = m.vec16() else {
        return out;
    };
    let mut e = Reader(all);
    while let (Some(kind), Some(data)) = (e.u16(), e.vec16()) {
        out.push((kind, data));
    }
    out
}

/// The host_name entry of a server_name extension.
fn server_name(data: &[u8]) -> Option<String> {
    let mut list = Reader(Reader(data).vec16()?);
    while let Some(kind) = list.u8() {
        let name = list.vec16()?;
        if kind == 0 {
            let name = std::str::from_utf8(name).ok()?;
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
            return ok.then(|| name.to_string());
        }
    }
    None
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(handshake_kind: u8, msg: &[u8]) -> Vec<u8> {
        let mut hs = vec![handshake_kind, 0, (msg.len() >> 8) as u8, msg.len() as u8];
        hs.extend_from_slice(msg);
        let mut rec = vec![0x16, 0x03, 0x01, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut e = kind.to_be_bytes().to_vec();
        e.extend_from_slice(&(data.len() as u16).to_be_bytes());
        e.extend_from_slice(data);
        e
    }

    fn with_extensions(mut msg: Vec<u8>, exts: &[Vec<u8>]) -> Vec<u8> {
        let all: Vec<u8> = exts.concat();
        msg.extend_from_slice(&(all.len() as u16).to_be_bytes());
        msg.extend_from_slice(&all);
        msg
    }

    fn client_hello(sni: &str) -> Vec<u8> {
        let mut msg = vec![0x03, 0x03];
        msg.extend_from_slice(&[7; 32]);
        msg.push(0); // no session id
        msg.extend_from_slice(&[0, 2, 0x13, 0x01]); // one suite
        msg.extend_from_slice(&[1, 0]); // null compression
        let mut names = vec![0];
        names.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        names.extend_from_slice(sni.as_bytes());
        let mut list = (names.len() as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&names);
        record(
            CLIENT_HELLO,
            &with_extensions(msg, &[ext(10, &[0, 2, 0, 29]), ext(0, &list)]),
        )
    }

    fn server_hello(selected: Option<u16>) -> Vec<u8> {
        let mut msg = vec![0x03, 0x03];
        msg.extend_from_slice(&[9; 32]);
        msg.push(0);
        msg.extend_from_slice(&[0x13, 0x01, 0]);
        let exts: Vec<Vec<u8>> = selected
            .map(|v| ext(EXT_SUPPORTED_VERSIONS, &v.to_be_bytes()))
            .into_iter()
            .collect();
        record(SERVER_HELLO, &with_extensions(msg, &exts))
    }

    #[test]
    fn client_hello_gives_its_server_name() {
        assert_eq!(
            parse(&client_hello("web.example")),
            Parse::Done(Some(Hello::Client {
                sni: Some("web.example".into())
            }))
        );
    }

    #[test]
    fn server_hello_gives_the_chosen_version() {
        assert_eq!(
            parse(&server_hello(Some(0x0304))),
            Parse::Done(Some(Hello::Server {
                version: "TLSv1.3".into()
            }))
        );
        assert_eq!(
            parse(&server_hello(None)),
            Parse::Done(Some(Hello::Server {
                version: "TLSv1.2".into()
            }))
        );
    }

    #[test]
    fn a_cut_record_needs_more_and_garbage_is_nothing() {
        let hello = client_hello("a");
        for cut in 0..hello.len() {
            assert_eq!(parse(&hello[..cut]), Parse::NeedMore, "cut at {cut}");
        }
        assert_eq!(parse(&[0x17, 3, 3, 0, 1, 0]), Parse::Done(None));
        assert_eq!(parse(&[0x16, 3, 3, 0, 3, 1, 0, 9]), Parse::Done(None));
    }

    #[test]
    fn random_bytes_never_panic() {
        proptest::proptest!(|(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600))| {
            let mut b = bytes;
            if b.len() > 5 {
                b[0] = 0x16;
            }
            let _ = parse(&b);
        });
    }
}
