//! Decoding HPACK's static Huffman code (RFC 7541 section 5.2): a binary tree
//! built once from the Appendix B table, walked a bit at a time.

use std::sync::OnceLock;

use super::huffman_table::CODES;

const EOS: u16 = 256;
/// A child that is a leaf holds `LEAF | symbol`.
const LEAF: u16 = 0x8000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    #[error("Huffman padding longer than 7 bits or not all ones")]
    Padding,
}

/// Inner nodes; children are a node index or a leaf.
fn tree() -> &'static [[u16; 2]] {
    static TREE: OnceLock<Vec<[u16; 2]>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes: Vec<[u16; 2]> = vec![[0, 0]];
        for (symbol, &(code, len)) in CODES.iter().enumerate() {
            let mut node = 0usize;
            for i in (0..len).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[node][bit] = LEAF | symbol as u16;
                } else {
                    if nodes[node][bit] == 0 {
                        nodes.push([0, 0]);
                        nodes[node][bit] = (nodes.len() - 1) as u16;
                    }
                    node = nodes[node][bit] as usize;
                }
            }
        }
        nodes
    })
}

/// Appends the decoded bytes of `input` to `out`.
pub fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    let tree = tree();
    let mut node = 0usize;
    // Bits read since the last symbol, and whether they were all ones.
    let mut pending = 0u32;
    let mut all_ones = true;
    for &byte in input {
        for i in (0..8).rev() {
            let bit = usize::from((byte >> i) & 1);
            pending += 1;
            all_ones &= bit == 1;
            let next = tree[node][bit];
            if next & LEAF != 0 {
                let symbol = next & !LEAF;
                if symbol == EOS {
                    return Err(HuffmanError::Eos);
                }
                out.push(symbol as u8);
                node = 0;
                pending = 0;
                all_ones = true;
            } else {
                node = usize::from(next);
            }
        }
    }
    if pending > 7 || !all_ones {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn text(input: &str) -> String {
        let mut out = Vec::new();
        decode(&hex(input), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_is_a_complete_prefix_code() {
        // Kraft's equality: every bit string ends in exactly one symbol, so the
        // tree has no empty child and exactly 256 inner nodes.
        let tree = tree();
        assert_eq!(tree.len(), 256);
        assert!(tree.iter().all(|n| n[0] != 0 && n[1] != 0));
    }

    #[test]
    fn rfc7541_appendix_c4_and_c6_strings() {
        assert_eq!(text("f1e3 c2e5 f23a 6ba0 ab90 f4ff"), "www.example.com");
        assert_eq!(text("a8eb 1064 9cbf"), "no-cache");
        assert_eq!(text("25a8 49e9 5ba9 7d7f"), "custom-key");
        assert_eq!(text("25a8 49e9 5bb8 e8b4 bf"), "custom-value");
        assert_eq!(text("6402"), "302");
        assert_eq!(text("aec3 771a 4b"), "private");
        assert_eq!(
            text("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
            "Mon, 21 Oct 2013 20:13:21 GMT"
        );
        assert_eq!(
            text("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
            "https://www.example.com"
        );
        assert_eq!(
            text("94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07"),
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
        );
    }

    #[test]
    fn bad_padding_and_eos_are_errors() {
        let mut out = Vec::new();
        // '0' is 00000: three bits of padding that are zeros.
        assert_eq!(decode(&[0x00], &mut out), Err(HuffmanError::Padding));
        // A whole byte of ones is more than 7 bits of padding.
        assert_eq!(decode(&[0x1f, 0xff], &mut out), Err(HuffmanError::Padding));
        // EOS spelled out: 30 ones.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xfc], &mut out),
            Err(HuffmanError::Eos)
        );
    }
}
