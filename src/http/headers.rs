//! A message's header fields, in the order they came, as one text buffer and the
//! spans of each name and value in it: two allocations a head rather than two a
//! field, which with one UTF-8 check a head was a tenth of `flowtap replay`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// Every name and value, back to back.
    text: String,
    /// Per field, the lengths of its name and its value in `text`.
    lens: Vec<(usize, usize)>,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// httparse's fields, values decoded lossily as UTF-8. Names are tokens
    /// (ASCII), so the whole text is valid exactly when every value is: one
    /// check for the head, and the lossy pass only for a head that needs it.
    pub(super) fn from_wire(fields: &[httparse::Header<'_>]) -> Self {
        let size = fields.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut bytes = Vec::with_capacity(size);
        let mut lens = Vec::with_capacity(fields.len());
        for h in fields {
            bytes.extend_from_slice(h.name.as_bytes());
            bytes.extend_from_slice(h.value);
            lens.push((h.name.len(), h.value.len()));
        }
        match String::from_utf8(bytes) {
            Ok(text) => Headers { text, lens },
            Err(_) => fields
                .iter()
                .map(|h| (h.name, String::from_utf8_lossy(h.value)))
                .collect(),
        }
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.text.push_str(name);
        self.text.push_str(value);
        self.lens.push((name.len(), value.len()));
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Bytes of all names and values together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// (name, value) in the order they came.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            rest: &self.text,
            lens: self.lens.iter(),
        }
    }

    /// The value of the first field named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

pub struct Iter<'h> {
    /// The text of this field and the ones after it.
    rest: &'h str,
    lens: std::slice::Iter<'h, (usize, usize)>,
}

impl<'h> Iterator for Iter<'h> {
    type Item = (&'h str, &'h str);

    fn next(&mut self) -> Option<Self::Item> {
        let &(name_len, value_len) = self.lens.next()?;
        // The lengths are those of whole strs that `push` or `from_wire` wrote.
        let (name, rest) = self.rest.split_at_checked(name_len)?;
        let (value, rest) = rest.split_at_checked(value_len)?;
        self.rest = rest;
        Some((name, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.lens.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'h> IntoIterator for &'h Headers {
    type Item = (&'h str, &'h str);
    type IntoIter = Iter<'h>;

    fn into_iter(self) -> Iter<'h> {
        self.iter()
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(fields: I) -> Self {
        let mut h = Headers::new();
        h.extend(fields);
        h
    }
}

impl<N: AsRef<str>, V: AsRef<str>> Extend<(N, V)> for Headers {
    fn extend<I: IntoIterator<Item = (N, V)>>(&mut self, fields: I) {
        for (n, v) in fields {
            self.push(n.as_ref(), v.as_ref());
        }
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `[["name", "value"], …]`, as a list of pairs always was.
impl Serialize for Headers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<(String, String)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(head: &[u8]) -> Headers {
        let mut fields = [httparse::EMPTY_HEADER; 8];
        match httparse::parse_headers(head, &mut fields) {
            Ok(httparse::Status::Complete((_, fields))) => Headers::from_wire(fields),
            other => panic!("not a header section: {other:?}"),
        }
    }

    #[test]
    fn fields_keep_their_order_names_and_values() {
        let h = wire(b"Host: a\r\nX-Empty:\r\nhost: b\r\n\r\n");
        let got: Vec<_> = h.iter().collect();
        assert_eq!(got, [("Host", "a"), ("X-Empty", ""), ("host", "b")]);
        assert_eq!(h.get("HOST"), Some("a"));
        assert_eq!(h.get("x-empty"), Some(""));
        assert_eq!(h.get("missing"), None);
        assert_eq!((h.len(), h.text_len()), (3, 17));
    }

    #[test]
    fn an_invalid_value_is_lossy_and_the_others_are_untouched() {
        let h = wire(b"A: \xc3\xa9t\xc3\xa9\r\nB: x\xffy\r\nC: z\r\n\r\n");
        let got: Vec<_> = h.iter().collect();
        assert_eq!(
            got,
            [("A", "\u{e9}t\u{e9}"), ("B", "x\u{fffd}y"), ("C", "z")]
        );
    }

    #[test]
    fn serialises_as_a_list_of_pairs() {
        let h: Headers = [("a", "1"), ("b", "\"2\"")].into_iter().collect();
        let pairs = vec![("a", "1"), ("b", "\"2\"")];
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, serde_json::to_string(&pairs).unwrap());
        assert_eq!(sonic_rs::to_string(&h).unwrap(), json);
        assert_eq!(serde_json::from_str::<Headers>(&json).unwrap(), h);
        assert_eq!(serde_json::to_string(&Headers::new()).unwrap(), "[]");
    }

    proptest::proptest! {
        /// Pushing, reading back and a JSON round trip agree with a plain list.
        #[test]
        fn behaves_as_a_list_of_pairs(
            fields in proptest::collection::vec((".{0,6}", ".{0,6}"), 0..8),
        ) {
            let h: Headers = fields.iter().cloned().collect();
            let back: Vec<(String, String)> =
                h.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
            proptest::prop_assert_eq!(&back, &fields);
            let json = serde_json::to_string(&h).unwrap();
            proptest::prop_assert_eq!(&json, &serde_json::to_string(&fields).unwrap());
            proptest::prop_assert_eq!(serde_json::from_str::<Headers>(&json).unwrap(), h);
        }
    }
}
