//! HPACK header block decoding (RFC 7541) for one direction of a connection:
//! static and dynamic tables, Huffman strings and table-size updates. A table
//! joined mid-connection knows only what was inserted since; older references
//! come out as unknown fields, never guessed.

use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};
use super::static_table::STATIC;

/// The dynamic table size every connection starts with (RFC 9113 6.5.2).
const INITIAL_MAX: usize = 4096;
/// Most dynamic-table bytes kept per direction, whatever the peer allows; an entry
/// pushed out only by this budget becomes unknown, like one from before capture.
pub const TABLE_BUDGET: usize = 64 * 1024;

/// One decoded header field; `None` where it referred to a table entry we never
/// saw inserted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: Option<String>,
    pub value: Option<String>,
}

impl Field {
    fn known(name: &str, value: &str) -> Self {
        Field {
            name: Some(name.to_string()),
            value: Some(value.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("header block ends inside a field")]
    Truncated,
    #[error("integer too large")]
    Overflow,
    #[error("index {0} is not in the table")]
    BadIndex(u64),
    #[error("table size update after a field")]
    LateSizeUpdate,
    #[error(transparent)]
    Huffman(#[from] HuffmanError),
}

#[derive(Debug, Clone)]
struct Entry {
    /// None: the name came from an unknown entry.
    name: Option<String>,
    value: String,
}

impl Entry {
    /// RFC 7541 4.1; an unknown name counts as empty (a lower bound: eviction
    /// only bounds memory, since a reference never reaches past the encoder's
    /// own newer entries, which are all ours).
    fn size(&self) -> usize {
        self.name.as_ref().map_or(0, String::len) + self.value.len() + 32
    }
}

#[derive(Debug)]
pub struct Decoder {
    /// Newest first, as HPACK indexes them.
    entries: VecDeque<Entry>,
    size: usize,
    /// The encoder's maximum, when known (from the start, or since a size update).
    max: Option<usize>,
    /// Entries older than ours may exist: inserted before capture, or pushed out
    /// of our copy by the budget.
    older_unknown: bool,
    /// Entry bytes dropped by [`TABLE_BUDGET`] rather than by the protocol.
    pub budget_evicted: u64,
}

impl Decoder {
    /// For a connection seen from its first byte.
    pub fn new() -> Self {
        Decoder {
            entries: VecDeque::new(),
            size: 0,
            max: Some(INITIAL_MAX),
            older_unknown: false,
            budget_evicted: 0,
        }
    }

    /// For a connection joined after it started.
    pub fn joined() -> Self {
        let mut d = Self::new();
        d.forget();
        d
    }

    /// Loses every entry (a header block was lost or could not be decoded):
    /// from now on only later insertions resolve.
    pub fn forget(&mut self) {
        self.entries.clear();
        self.size = 0;
        self.max = None;
        self.older_unknown = true;
    }

    /// Decodes one whole header block.
    pub fn decode(&mut self, mut block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let mut fields = Vec::new();
        while let Some(&first) = block.first() {
            if first & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                fields.push(self.lookup(index)?);
            } else if first & 0xe0 == 0x20 {
                let max = integer(&mut block, 5)?;
                if !fields.is_empty() {
                    return Err(HpackError::LateSizeUpdate);
                }
                self.resize(usize::try_from(max).map_err(|_| HpackError::Overflow)?);
            } else {
                // 01xxxxxx with indexing (6-bit index); 0000xxxx without and
                // 0001xxxx never indexed (4-bit index).
                let indexing = first & 0x40 != 0;
                let index = integer(&mut block, if indexing { 6 } else { 4 })?;
                let name = if index == 0 {
                    Some(string(&mut block)?)
                } else {
                    self.lookup(index)?.name
                };
                let value = string(&mut block)?;
                if indexing {
                    self.insert(Entry {
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
                fields.push(Field {
                    name,
                    value: Some(value),
                });
            }
        }
        Ok(fields)
    }

    fn lookup(&self, index: u64) -> Result<Field, HpackError> {
        let i = usize::try_from(index).map_err(|_| HpackError::BadIndex(index))?;
        if i == 0 {
            return Err(HpackError::BadIndex(index));
        }
        if let Some((name, value)) = STATIC.get(i - 1) {
            return Ok(Field::known(name, value));
        }
        match self.entries.get(i - 1 - STATIC.len()) {
            Some(e) => Ok(Field {
                name: e.name.clone(),
                value: Some(e.value.clone()),
            }),
            None if self.older_unknown => Ok(Field {
                name: None,
                value: None,
            }),
            None => Err(HpackError::BadIndex(index)),
        }
    }

    fn insert(&mut self, entry: Entry) {
        self.size += entry.size();
        self.entries.push_front(entry);
        self.evict();
    }

    fn resize(&mut self, max: usize) {
        self.max = Some(max);
        self.evict();
        if max == 0 {
            self.older_unknown = false;
        }
    }

    fn evict(&mut self) {
        while let Some(last) = self.entries.back() {
            let over_max = self.max.is_some_and(|m| self.size > m);
            let over_budget = self.size > TABLE_BUDGET;
            if !over_max && !over_budget {
                break;
            }
            let n = last.size();
            if over_max {
                // Anything older than our entries went before them.
                self.older_unknown = false;
            } else {
                self.older_unknown = true;
                self.budget_evicted += n as u64;
            }
            self.size -= n;
            self.entries.pop_back();
        }
    }

    /// The dynamic table's size in RFC 7541 terms (what we know of it).
    #[cfg(test)]
    pub fn table_size(&self) -> usize {
        self.size
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// RFC 7541 5.1: an integer with an `n`-bit prefix, from the first byte on.
fn integer(block: &mut &[u8], n: u8) -> Result<u64, HpackError> {
    let (&first, mut rest) = block.split_first().ok_or(HpackError::Truncated)?;
    let mask = (1u16 << n) as u64 - 1;
    let mut value = u64::from(first) & mask;
    if value == mask {
        let mut shift = 0u32;
        loop {
            let (&b, r) = rest.split_first().ok_or(HpackError::Truncated)?;
            rest = r;
            if shift > 56 {
                return Err(HpackError::Overflow);
            }
            value += u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    *block = rest;
    Ok(value)
}

/// RFC 7541 5.2: a string literal, Huffman-coded or not.
fn string(block: &mut &[u8]) -> Result<String, HpackError> {
    let huffman = block.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = integer(block, 7)?;
    let len = usize::try_from(len).map_err(|_| HpackError::Overflow)?;
    if len > block.len() {
        return Err(HpackError::Truncated);
    }
    let (raw, rest) = block.split_at(len);
    *block = rest;
    if huffman {
        let mut out = Vec::with_capacity(len * 8 / 5);
        huffman::decode(raw, &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    } else {
        Ok(String::from_utf8_lossy(raw).into_owned())
    }
}

#[cfg(test)]
#[path = "hpack_tests.rs"]
mod tests;
