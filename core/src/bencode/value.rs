//! Decoded bencode values, borrowing the input.

use std::ops::Range;

/// A decoded bencode value that borrows its input and remembers its exact byte span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
    start: usize,
    kind: Kind<'a>,
}

/// What a [`Value`] is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `i…e`
    Int(i64),
    /// `len:bytes`
    Bytes(&'a [u8]),
    /// `l…e`
    List(Vec<Value<'a>>),
    /// `d…e`
    Dict(Dict<'a>),
}

/// A decoded dictionary: its entries in input order (lenient decoding keeps unsorted and
/// duplicate keys; [`Dict::get`] returns the first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Value<'a> {
    pub(crate) fn new(raw: &'a [u8], start: usize, kind: Kind<'a>) -> Self {
        Self { raw, start, kind }
    }

    /// The exact bytes this value was decoded from.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The byte range of this value within the decoded input.
    pub fn span(&self) -> Range<usize> {
        self.start..self.start + self.raw.len()
    }

    /// What this value is.
    pub fn kind(&self) -> &Kind<'a> {
        &self.kind
    }

    /// Takes the kind out of the value.
    pub fn into_kind(self) -> Kind<'a> {
        self.kind
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self.kind {
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Self]> {
        match &self.kind {
            Kind::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Shorthand for `self.as_dict()?.get(key)`.
    pub fn get(&self, key: &[u8]) -> Option<&Self> {
        self.as_dict()?.get(key)
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int(_) => "integer",
            Kind::Bytes(_) => "byte string",
            Kind::List(_) => "list",
            Kind::Dict(_) => "dictionary",
        }
    }
}

impl<'a> Dict<'a> {
    pub(crate) fn from_entries(entries: Vec<(&'a [u8], Value<'a>)>) -> Self {
        Self { entries }
    }

    /// The value of the first entry with this key.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The entries in input order.
    pub fn entries(&self) -> &[(&'a [u8], Value<'a>)] {
        &self.entries
    }

    /// How many entries the dictionary has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The integer under `key`, if present and an integer.
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        self.get(key)?.as_int()
    }

    /// The byte string under `key`, if present and a byte string.
    pub fn bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key)?.as_bytes()
    }

    /// The UTF-8 string under `key`, if present and valid.
    pub fn str(&self, key: &[u8]) -> Option<&'a str> {
        self.get(key)?.as_str()
    }

    /// The dictionary under `key`, if present and a dictionary.
    pub fn dict(&self, key: &[u8]) -> Option<&Self> {
        self.get(key)?.as_dict()
    }

    /// The list under `key`, if present and a list.
    pub fn list(&self, key: &[u8]) -> Option<&[Value<'a>]> {
        self.get(key)?.as_list()
    }
}
