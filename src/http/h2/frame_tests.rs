use super::*;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn read_all(r: &mut FrameReader, chunks: &[&[u8]]) -> Vec<Unit> {
    let mut out = Vec::new();
    for c in chunks {
        r.feed(c, &mut out);
    }
    out
}

/// Data pieces joined, so that splits don't matter.
fn merged(units: Vec<Unit>) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    for u in units {
        if let (
            Some(Unit::Data { stream: s1, bytes }),
            Unit::Data {
                stream,
                bytes: more,
            },
        ) = (out.last_mut(), &u)
        {
            if *s1 == *stream {
                bytes.extend_from_slice(more);
                continue;
            }
        }
        out.push(u);
    }
    out
}

fn wire() -> Vec<u8> {
    let mut w = PREFACE.to_vec();
    w.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
    w.extend(frame(HEADERS, END_HEADERS, 1, &[0x82]));
    // Padded DATA: pad length 3, "hello", 3 zero bytes.
    w.extend(frame(DATA, PADDED | END_STREAM, 1, b"\x03hello\0\0\0"));
    w.extend(frame(PING, 0, 0, &[0; 8]));
    w
}

fn expected() -> Vec<Unit> {
    vec![
        Unit::Frame(
            FrameHeader {
                len: 6,
                kind: SETTINGS,
                flags: 0,
                stream: 0,
            },
            vec![0, 3, 0, 0, 0, 100],
        ),
        Unit::Frame(
            FrameHeader {
                len: 1,
                kind: HEADERS,
                flags: END_HEADERS,
                stream: 1,
            },
            vec![0x82],
        ),
        Unit::Data {
            stream: 1,
            bytes: b"hello".to_vec(),
        },
        Unit::DataEnd {
            stream: 1,
            end_stream: true,
        },
        Unit::Frame(
            FrameHeader {
                len: 8,
                kind: PING,
                flags: 0,
                stream: 0,
            },
            vec![0; 8],
        ),
    ]
}

#[test]
fn frames_split_anywhere_read_the_same_and_padding_is_dropped() {
    let w = wire();
    assert_eq!(read_all(&mut FrameReader::client(), &[&w]), expected());
    for cut in 1..w.len() {
        let got = read_all(&mut FrameReader::client(), &[&w[..cut], &w[cut..]]);
        assert_eq!(merged(got), expected(), "cut at {cut}");
    }
    let bytewise: Vec<&[u8]> = w.chunks(1).collect();
    assert_eq!(
        merged(read_all(&mut FrameReader::client(), &bytewise)),
        expected()
    );
}

#[test]
fn a_wrong_preface_is_not_http2() {
    let got = read_all(&mut FrameReader::client(), &[b"PRI * HTTP/1.1\r\n"]);
    assert_eq!(got, vec![Unit::NotHttp2]);
}

#[test]
fn lost_bytes_inside_data_are_skipped_exactly() {
    let mut w = frame(DATA, 0, 3, b"0123456789");
    w.extend(frame(PING, 0, 0, &[0; 8]));
    let mut r = FrameReader::server();
    let mut out = Vec::new();
    r.feed(&w[..11], &mut out); // header + "01"
    r.skip(5, &mut out); // "23456"
    r.feed(&w[16..], &mut out);
    assert_eq!(
        merged(out),
        vec![
            Unit::Data {
                stream: 3,
                bytes: b"01".to_vec()
            },
            Unit::DataSkipped { stream: 3, n: 5 },
            Unit::Data {
                stream: 3,
                bytes: b"789".to_vec()
            },
            Unit::DataEnd {
                stream: 3,
                end_stream: false
            },
            Unit::Frame(
                FrameHeader {
                    len: 8,
                    kind: PING,
                    flags: 0,
                    stream: 0
                },
                vec![0; 8]
            ),
        ]
    );
}

#[test]
fn lost_bytes_across_frames_resync_on_the_next_well_formed_run() {
    let mut r = FrameReader::server();
    let mut out = Vec::new();
    r.feed(&frame(DATA, 0, 1, b"ab")[..10], &mut out);
    r.skip(100, &mut out);
    // Garbage, then frames.
    let mut next = b"\xff\xff\xff".to_vec();
    next.extend(frame(HEADERS, END_HEADERS | END_STREAM, 5, &[0x88]));
    r.feed(&next, &mut out);
    assert_eq!(
        out,
        vec![
            Unit::Data {
                stream: 1,
                bytes: b"a".to_vec()
            },
            Unit::DataSkipped { stream: 1, n: 1 },
            Unit::DataEnd {
                stream: 1,
                end_stream: false
            },
            Unit::Desync,
            Unit::Synced,
            Unit::Frame(
                FrameHeader {
                    len: 1,
                    kind: HEADERS,
                    flags: END_HEADERS | END_STREAM,
                    stream: 5
                },
                vec![0x88]
            ),
        ]
    );
}

#[test]
fn a_joined_reader_waits_for_a_whole_plausible_frame() {
    let mut r = FrameReader::joined();
    let mut out = Vec::new();
    let f = frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]);
    r.feed(&f[..6], &mut out);
    assert!(out.is_empty());
    r.feed(&f[6..], &mut out);
    assert_eq!(out[0], Unit::Synced);
    assert!(matches!(out[1], Unit::Frame(h, _) if h.kind == WINDOW_UPDATE));
    // HTTP/1 text never looks like frames.
    let mut r = FrameReader::joined();
    let mut out = Vec::new();
    r.feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &mut out);
    assert!(out.is_empty());
}

#[test]
fn a_frame_over_budget_is_counted_and_skipped() {
    let big = vec![0u8; FRAME_BUDGET + 1];
    let mut w = frame(HEADERS, END_HEADERS, 1, &big);
    w.extend(frame(PING, 0, 0, &[0; 8]));
    let mut r = FrameReader::server();
    let out = read_all(&mut r, &[&w]);
    assert!(matches!(out[0], Unit::FrameLost(h) if h.kind == HEADERS));
    assert!(matches!(out[1], Unit::Frame(h, _) if h.kind == PING));
    assert_eq!(r.over_budget, big.len() as u64);
}
