//! Telling which direction carries requests when the socket's role is unknown
//! (it was open before capture, or inherited across fork): the side that sends a
//! request line is the client.

/// What the first bytes of one direction look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    Request,
    Response,
    NotHttp,
    NeedMore,
}

pub fn sniff(buf: &[u8]) -> Sniff {
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let buf = &buf[start..];
    if buf.is_empty() {
        return Sniff::NeedMore;
    }
    let n = buf.len().min(5);
    if buf[..n] == b"HTTP/"[..n] {
        return if n == 5 {
            Sniff::Response
        } else {
            Sniff::NeedMore
        };
    }
    // No room for headers: a valid request line then fails with TooManyHeaders
    // (or completes), while anything that is not a request line fails earlier.
    let mut fields = [httparse::EMPTY_HEADER; 0];
    match httparse::Request::new(&mut fields).parse(buf) {
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => Sniff::Request,
        // A whole request line that parsed, waiting for headers.
        Ok(httparse::Status::Partial) if buf.contains(&b'\n') => Sniff::Request,
        Ok(httparse::Status::Partial) => Sniff::NeedMore,
        Err(_) => Sniff::NotHttp,
    }
}
