//! RFC 7541 Appendix C, verbatim, plus what joining a connection late means.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pairs(fields: Vec<Field>) -> Vec<(String, String)> {
    fields
        .into_iter()
        .map(|f| (f.name.unwrap(), f.value.unwrap()))
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn check(d: &mut Decoder, block: &str, expected: &[(&str, &str)], table_size: usize) {
    assert_eq!(pairs(d.decode(&hex(block)).unwrap()), fields(expected));
    assert_eq!(d.table_size(), table_size);
}

#[test]
fn c1_integers() {
    let mut b: &[u8] = &[0x0a];
    assert_eq!(integer(&mut b, 5).unwrap(), 10);
    let mut b: &[u8] = &[0x1f, 0x9a, 0x0a];
    assert_eq!(integer(&mut b, 5).unwrap(), 1337);
    assert!(b.is_empty());
    let mut b: &[u8] = &[0x2a];
    assert_eq!(integer(&mut b, 8).unwrap(), 42);
    let mut b: &[u8] = &[0x1f, 0x9a];
    assert_eq!(integer(&mut b, 5), Err(HpackError::Truncated));
}

#[test]
fn c2_single_fields() {
    let mut d = Decoder::new();
    check(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        55,
    );
    let mut d = Decoder::new();
    check(
        &mut d,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        0,
    );
    let mut d = Decoder::new();
    check(
        &mut d,
        "1008 7061 7373 776f 7264 0673 6563 7265 74",
        &[("password", "secret")],
        0,
    );
    let mut d = Decoder::new();
    check(&mut d, "82", &[(":method", "GET")], 0);
}

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];

#[test]
fn c3_requests_without_huffman() {
    let mut d = Decoder::new();
    check(
        &mut d,
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        REQ1,
        57,
    );
    check(&mut d, "8286 84be 5808 6e6f 2d63 6163 6865", REQ2, 110);
    check(
        &mut d,
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        REQ3,
        164,
    );
}

#[test]
fn c4_requests_with_huffman() {
    let mut d = Decoder::new();
    check(
        &mut d,
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        REQ1,
        57,
    );
    check(&mut d, "8286 84be 5886 a8eb 1064 9cbf", REQ2, 110);
    check(
        &mut d,
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        REQ3,
        164,
    );
}

const RESP1: &[(&str, &str)] = &[
    (":status", "302"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP2: &[(&str, &str)] = &[
    (":status", "307"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
    ("location", "https://www.example.com"),
];
const RESP3: &[(&str, &str)] = &[
    (":status", "200"),
    ("cache-control", "private"),
    ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
    ("location", "https://www.example.com"),
    ("content-encoding", "gzip"),
    (
        "set-cookie",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ),
];

/// The responses run with a 256-byte table, so entries are evicted.
fn small_table() -> Decoder {
    let mut d = Decoder::new();
    d.resize(256);
    d
}

#[test]
fn c5_responses_without_huffman_evict() {
    let mut d = small_table();
    check(
        &mut d,
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        RESP1,
        222,
    );
    check(&mut d, "4803 3330 37c1 c0bf", RESP2, 222);
    check(
        &mut d,
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        RESP3,
        215,
    );
}

#[test]
fn c6_responses_with_huffman_evict() {
    let mut d = small_table();
    check(
        &mut d,
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        RESP1,
        222,
    );
    check(&mut d, "4883 640e ffc1 c0bf", RESP2, 222);
    check(
        &mut d,
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        RESP3,
        215,
    );
}

#[test]
fn a_size_update_evicts_and_must_come_first() {
    let mut d = Decoder::new();
    check(
        &mut d,
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        REQ1,
        57,
    );
    // 0x20: size update to 0, then the old entry's index is invalid.
    assert_eq!(d.decode(&hex("20")).unwrap(), vec![]);
    assert_eq!(d.table_size(), 0);
    assert_eq!(d.decode(&hex("be")), Err(HpackError::BadIndex(62)));
    assert_eq!(d.decode(&hex("82 20")), Err(HpackError::LateSizeUpdate));
}

#[test]
fn joined_late_later_insertions_resolve_and_older_ones_are_unknown() {
    let mut d = Decoder::joined();
    // :authority www.example.com is inserted after we joined: index 62. Then 63
    // refers to something from before.
    let got = d
        .decode(&hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d bf"))
        .unwrap();
    assert_eq!(
        got[3],
        Field::known(":authority", "www.example.com"),
        "inserted after attach"
    );
    assert_eq!(
        got[4],
        Field {
            name: None,
            value: None
        }
    );
    // A literal whose name is an old entry: value known, name not; the inserted
    // entry keeps the unknown name.
    let got = d.decode(&hex("7f01 0178 be")).unwrap();
    assert_eq!(got[0].name, None);
    assert_eq!(got[0].value.as_deref(), Some("x"));
    assert_eq!(got[1].name, None);
    assert_eq!(got[1].value.as_deref(), Some("x"));
    // Index 63 is now our :authority entry, exactly.
    assert_eq!(
        d.decode(&hex("bf")).unwrap()[0],
        Field::known(":authority", "www.example.com")
    );
}

#[test]
fn the_budget_bounds_a_huge_table_and_makes_what_it_drops_unknown() {
    let mut d = Decoder::new();
    d.resize(1 << 20);
    let value = "v".repeat(1000);
    for _ in 0..100 {
        // Literal with indexing, new name "k", a 1000-byte value (127 + 0x69 + 6 * 128).
        let mut block = vec![0x40, 0x01, b'k', 0x7f, 0xe9, 0x06];
        block.extend_from_slice(value.as_bytes());
        d.decode(&block).unwrap();
    }
    assert!(d.table_size() <= TABLE_BUDGET);
    assert!(d.budget_evicted > 0);
    // Index 195, past the entries the budget kept: unknown, not invalid.
    let got = d.decode(&hex("ff 44")).unwrap();
    assert_eq!(got[0].name, None);
}
