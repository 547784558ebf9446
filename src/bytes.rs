//! Byte strings as they appear in trace and flow files: `{"text": "…"}` when the
//! bytes are valid UTF-8, `{"base64": "…"}` otherwise. One encoding for payloads
//! and bodies, so a reader never guesses. Formats that are not for people (the
//! compact trace) get the raw bytes. Validation is simdutf8's: bodies are most
//! of the bytes a flow writes, and std's check was 6 % of a capture of 64 KiB
//! responses.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match simdutf8::basic::from_utf8(&self.0) {
            Ok(s) => write!(f, "b{s:?}"),
            Err(_) => write!(f, "Bytes({} bytes, binary)", self.0.len()),
        }
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_bytes(&self.0);
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match simdutf8::basic::from_utf8(&self.0) {
            Ok(text) => map.serialize_entry("text", text)?,
            Err(_) => map.serialize_entry("base64", &BASE64.encode(&self.0))?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            return deserializer.deserialize_byte_buf(BytesVisitor);
        }
        deserializer.deserialize_map(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an object with one key, "text" or "base64""#)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
        let key: String = map
            .next_key()?
            .ok_or_else(|| de::Error::custom(r#"expected "text" or "base64""#))?;
        let bytes = match key.as_str() {
            "text" => map.next_value::<String>()?.into_bytes(),
            "base64" => {
                let encoded: String = map.next_value()?;
                BASE64
                    .decode(encoded.as_bytes())
                    .map_err(|e| de::Error::custom(format!("invalid base64: {e}")))?
            }
            other => return Err(de::Error::unknown_field(other, &["text", "base64"])),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "unexpected key {extra:?} beside {key:?}"
            )));
        }
        Ok(Bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_text_and_binary_is_base64() {
        let text = serde_json::to_string(&Bytes(b"GET / HTTP/1.1\r\n".to_vec())).unwrap();
        assert_eq!(text, r#"{"text":"GET / HTTP/1.1\r\n"}"#);
        let bin = serde_json::to_string(&Bytes(vec![0xff, 0x00, 0x80])).unwrap();
        assert_eq!(bin, r#"{"base64":"/wCA"}"#);
    }

    #[test]
    fn round_trips_any_bytes() {
        proptest::proptest!(|(v in proptest::collection::vec(proptest::num::u8::ANY, 0..300))| {
            let json = serde_json::to_string(&Bytes(v.clone())).unwrap();
            let back: Bytes = serde_json::from_str(&json).unwrap();
            proptest::prop_assert_eq!(back.0, v);
        });
    }

    #[test]
    fn rejects_unknown_keys_and_bad_base64() {
        assert!(serde_json::from_str::<Bytes>(r#"{"hex":"00"}"#).is_err());
        assert!(serde_json::from_str::<Bytes>(r#"{"base64":"!!"}"#).is_err());
        assert!(serde_json::from_str::<Bytes>(r#"{"text":"a","base64":"AA=="}"#).is_err());
        assert!(serde_json::from_str::<Bytes>(r#"{}"#).is_err());
    }
}
