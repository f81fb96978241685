//! Canonical bencode output: a streaming [`Encoder`] and an owned value tree, [`OwnedValue`].

use std::collections::BTreeMap;

use super::value::{Kind, Value};

/// Writes bencode into a `Vec<u8>` without intermediate allocation.
///
/// The caller writes dictionary keys in ascending order to get canonical output (checked in
/// debug builds is too costly to track; [`OwnedValue`] sorts for you).
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// An encoder writing into a new buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder appending to `out`.
    pub fn with_buffer(out: Vec<u8>) -> Self {
        Self { out }
    }

    /// Writes an integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.out.push(b'i');
        self.decimal(value);
        self.out.push(b'e');
        self
    }

    /// Writes a byte string.
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.decimal(value.len() as i64);
        self.out.push(b':');
        self.out.extend_from_slice(value);
        self
    }

    /// Starts a list; close it with [`Encoder::end`].
    pub fn list(&mut self) -> &mut Self {
        self.out.push(b'l');
        self
    }

    /// Starts a dictionary; write key, value, key, value…, then [`Encoder::end`].
    pub fn dict(&mut self) -> &mut Self {
        self.out.push(b'd');
        self
    }

    /// Ends the innermost open list or dictionary.
    pub fn end(&mut self) -> &mut Self {
        self.out.push(b'e');
        self
    }

    /// Writes already-encoded bencode verbatim (for example an `info` dictionary's raw bytes).
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.out.extend_from_slice(encoded);
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// Returns the encoded bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    fn decimal(&mut self, value: i64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let negative = value < 0;
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if negative {
            self.out.push(b'-');
        }
        self.out.extend_from_slice(&buf[i..]);
    }
}

/// An owned bencode value; dictionaries are sorted maps, so encoding is always canonical.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Self>),
    /// A dictionary with byte-string keys, kept sorted.
    Dict(BTreeMap<Vec<u8>, Self>),
}

impl OwnedValue {
    /// A byte-string value.
    pub fn bytes(value: impl Into<Vec<u8>>) -> Self {
        Self::Bytes(value.into())
    }

    /// Canonical bencode of this value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut enc = Encoder::new();
        self.encode(&mut enc);
        enc.finish()
    }

    /// Writes canonical bencode of this value.
    pub fn encode(&self, enc: &mut Encoder) {
        match self {
            Self::Int(i) => {
                enc.int(*i);
            }
            Self::Bytes(b) => {
                enc.bytes(b);
            }
            Self::List(items) => {
                enc.list();
                for item in items {
                    item.encode(enc);
                }
                enc.end();
            }
            Self::Dict(map) => {
                enc.dict();
                for (k, v) in map {
                    enc.bytes(k);
                    v.encode(enc);
                }
                enc.end();
            }
        }
    }
}

impl From<&Value<'_>> for OwnedValue {
    /// Copies a decoded value (for duplicate keys, the first wins, as in [`super::Dict::get`]).
    fn from(value: &Value<'_>) -> Self {
        match value.kind() {
            Kind::Int(i) => Self::Int(*i),
            Kind::Bytes(b) => Self::Bytes(b.to_vec()),
            Kind::List(items) => Self::List(items.iter().map(Self::from).collect()),
            Kind::Dict(d) => {
                let mut map = BTreeMap::new();
                for (k, v) in d.entries() {
                    map.entry(k.to_vec()).or_insert_with(|| Self::from(v));
                }
                Self::Dict(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::{Decoder, decode};
    use crate::rng::Rng;

    fn random_value(rng: &mut Rng, depth: u32) -> OwnedValue {
        let pick = if depth >= 4 {
            rng.below(2)
        } else {
            rng.below(4)
        };
        match pick {
            0 => OwnedValue::Int(match rng.below(4) {
                0 => i64::MIN,
                1 => i64::MAX,
                2 => 0,
                _ => rng.next_u64() as i64,
            }),
            1 => {
                let len = rng.below(40) as usize;
                OwnedValue::Bytes((0..len).map(|_| rng.next_u64() as u8).collect())
            }
            2 => {
                let len = rng.below(5) as usize;
                OwnedValue::List((0..len).map(|_| random_value(rng, depth + 1)).collect())
            }
            _ => {
                let len = rng.below(5) as usize;
                OwnedValue::Dict(
                    (0..len)
                        .map(|_| {
                            let klen = rng.below(6) as usize;
                            let key = (0..klen).map(|_| b'a' + rng.below(4) as u8).collect();
                            (key, random_value(rng, depth + 1))
                        })
                        .collect(),
                )
            }
        }
    }

    #[test]
    fn decode_of_encode_is_identity() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let value = random_value(&mut rng, 0);
            let bytes = value.to_bytes();
            let decoded = Decoder::new(&bytes).strict(true).decode().unwrap();
            assert_eq!(decoded.raw(), &bytes[..]);
            assert_eq!(OwnedValue::from(&decoded), value);
        }
    }

    #[test]
    fn canonical_input_reencodes_identically() {
        let input = b"d4:infod6:lengthi-5e4:name3:abce4:listl0:i0eee";
        assert_eq!(OwnedValue::from(&decode(input).unwrap()).to_bytes(), input);
    }

    #[test]
    fn encoder_writes_canonical_forms() {
        let mut enc = Encoder::new();
        enc.dict()
            .bytes(b"a")
            .int(-12)
            .bytes(b"b")
            .list()
            .bytes(b"")
            .int(0)
            .end()
            .end();
        assert_eq!(enc.finish(), b"d1:ai-12e1:bl0:i0eee");
        assert_eq!(
            OwnedValue::Int(i64::MIN).to_bytes(),
            b"i-9223372036854775808e"
        );
    }

    #[test]
    fn unsorted_input_becomes_sorted() {
        let v = decode(b"d1:bi1e1:ai2ee").unwrap();
        assert_eq!(OwnedValue::from(&v).to_bytes(), b"d1:ai2e1:bi1ee");
    }
}
