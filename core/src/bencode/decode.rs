//! The bencode decoder: zero-copy, bounded, with typed errors that name the byte offset.

use std::fmt;

use super::DEFAULT_MAX_DEPTH;
use super::value::{Dict, Kind, Value};

/// Decodes exactly one value that spans all of `input` (lenient, default depth limit).
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    Decoder::new(input).decode()
}

/// Decodes one value at the start of `input` and returns it with the number of bytes it used;
/// bytes after it are left to the caller (ut_metadata appends raw data after a dictionary).
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), DecodeError> {
    Decoder::new(input).decode_prefix()
}

/// A configurable decoder: depth limit and strict (canonical-only) mode.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
    strict: bool,
}

impl<'a> Decoder<'a> {
    /// A lenient decoder over `input` with the default depth limit.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            pos: 0,
            max_depth: DEFAULT_MAX_DEPTH,
            strict: false,
        }
    }

    /// Sets the deepest nesting of lists and dictionaries accepted.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Strict mode: unsorted or duplicate keys, leading zeros and `-0` are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Decodes one value that must span the whole input.
    pub fn decode(mut self) -> Result<Value<'a>, DecodeError> {
        let value = self.value(0)?;
        if self.pos != self.input.len() {
            return Err(self.error(DecodeErrorKind::TrailingBytes));
        }
        Ok(value)
    }

    /// Decodes one value at the start of the input; returns it and the bytes it used.
    pub fn decode_prefix(mut self) -> Result<(Value<'a>, usize), DecodeError> {
        let value = self.value(0)?;
        Ok((value, self.pos))
    }

    fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    fn error_at(offset: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { offset, kind }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEof))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        let start = self.pos;
        let kind = match self.peek()? {
            b'i' => Kind::Int(self.int()?),
            b'0'..=b'9' => Kind::Bytes(self.bytes()?),
            b'l' => {
                self.enter(depth)?;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Kind::List(items)
            }
            b'd' => {
                self.enter(depth)?;
                Kind::Dict(self.dict(depth)?)
            }
            other => return Err(self.error(DecodeErrorKind::UnexpectedByte(other))),
        };
        Ok(Value::new(&self.input[start..self.pos], start, kind))
    }

    fn enter(&mut self, depth: usize) -> Result<(), DecodeError> {
        if depth >= self.max_depth {
            return Err(self.error(DecodeErrorKind::DepthExceeded(self.max_depth)));
        }
        self.pos += 1;
        Ok(())
    }

    fn dict(&mut self, depth: usize) -> Result<Dict<'a>, DecodeError> {
        let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
        while self.peek()? != b'e' {
            let key_offset = self.pos;
            if !self.peek()?.is_ascii_digit() {
                let byte = self.peek()?;
                return Err(self.error(DecodeErrorKind::KeyNotString(byte)));
            }
            let key = self.bytes()?;
            if self.strict
                && let Some((last, _)) = entries.last()
            {
                if *last == key {
                    return Err(Self::error_at(
                        key_offset,
                        DecodeErrorKind::NonCanonical(NonCanonical::DuplicateKey),
                    ));
                }
                if *last > key {
                    return Err(Self::error_at(
                        key_offset,
                        DecodeErrorKind::NonCanonical(NonCanonical::UnsortedKeys),
                    ));
                }
            }
            let value = self.value(depth + 1)?;
            entries.push((key, value));
        }
        self.pos += 1;
        Ok(Dict::from_entries(entries))
    }

    /// Parses `i<digits>e` at `pos`.
    fn int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.pos += 1; // 'i'
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut magnitude: i64 = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    let digit = i64::from(byte - b'0');
                    // Accumulate negatively so i64::MIN is representable.
                    magnitude = magnitude
                        .checked_mul(10)
                        .and_then(|m| m.checked_sub(digit))
                        .ok_or_else(|| Self::error_at(start, DecodeErrorKind::IntegerOverflow))?;
                    self.pos += 1;
                }
                b'e' => break,
                other => return Err(self.error(DecodeErrorKind::UnexpectedByte(other))),
            }
        }
        let digits = &self.input[digits_start..self.pos];
        if digits.is_empty() {
            return Err(Self::error_at(start, DecodeErrorKind::EmptyInteger));
        }
        if self.strict {
            if digits.len() > 1 && digits[0] == b'0' {
                return Err(Self::error_at(
                    start,
                    DecodeErrorKind::NonCanonical(NonCanonical::LeadingZero),
                ));
            }
            if negative && digits == b"0" {
                return Err(Self::error_at(
                    start,
                    DecodeErrorKind::NonCanonical(NonCanonical::NegativeZero),
                ));
            }
        }
        self.pos += 1; // 'e'
        if negative {
            Ok(magnitude)
        } else {
            magnitude
                .checked_neg()
                .ok_or_else(|| Self::error_at(start, DecodeErrorKind::IntegerOverflow))
        }
    }

    /// Parses `<len>:<bytes>` at `pos`.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut len: usize = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                        .ok_or_else(|| Self::error_at(start, DecodeErrorKind::LengthOverflow))?;
                    self.pos += 1;
                }
                b':' => break,
                other => return Err(self.error(DecodeErrorKind::InvalidLength(other))),
            }
        }
        if self.strict && self.pos - start > 1 && self.input[start] == b'0' {
            return Err(Self::error_at(
                start,
                DecodeErrorKind::NonCanonical(NonCanonical::LeadingZero),
            ));
        }
        self.pos += 1; // ':'
        let remaining = self.input.len() - self.pos;
        if len > remaining {
            return Err(Self::error_at(
                start,
                DecodeErrorKind::StringPastEnd {
                    length: len,
                    remaining,
                },
            ));
        }
        let bytes = &self.input[self.pos..self.pos + len];
        self.pos += len;
        Ok(bytes)
    }
}

/// Why bencode could not be decoded, and at which byte offset of the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with bencoded input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended inside a value.
    UnexpectedEof,
    /// A byte that cannot start or continue a value here.
    UnexpectedByte(u8),
    /// Lists and dictionaries nested deeper than the limit.
    DepthExceeded(usize),
    /// An integer outside the range of i64.
    IntegerOverflow,
    /// `ie` or `i-e`.
    EmptyInteger,
    /// A string length too large to represent.
    LengthOverflow,
    /// A string length with a non-digit byte before the `:`.
    InvalidLength(u8),
    /// A string length that runs past the end of the input.
    StringPastEnd {
        /// The length the input claimed.
        length: usize,
        /// The bytes that were actually left.
        remaining: usize,
    },
    /// A dictionary key that is not a byte string (its first byte).
    KeyNotString(u8),
    /// Bytes after the one top-level value.
    TrailingBytes,
    /// Valid but not canonical bencode (strict mode only).
    NonCanonical(NonCanonical),
}

/// A construct strict mode rejects: valid bencode that is not canonical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonCanonical {
    /// Dictionary keys not in ascending byte order.
    UnsortedKeys,
    /// The same key twice in one dictionary.
    DuplicateKey,
    /// An integer or string length with a leading zero.
    LeadingZero,
    /// `i-0e`.
    NegativeZero,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bencode at byte {}: ", self.offset)?;
        match &self.kind {
            DecodeErrorKind::UnexpectedEof => write!(f, "input ends inside a value"),
            DecodeErrorKind::UnexpectedByte(b) => write!(f, "unexpected byte 0x{b:02x}"),
            DecodeErrorKind::DepthExceeded(max) => write!(f, "nested deeper than {max} levels"),
            DecodeErrorKind::IntegerOverflow => write!(f, "integer does not fit in 64 bits"),
            DecodeErrorKind::EmptyInteger => write!(f, "integer has no digits"),
            DecodeErrorKind::LengthOverflow => write!(f, "string length too large"),
            DecodeErrorKind::InvalidLength(b) => {
                write!(f, "string length has non-digit byte 0x{b:02x}")
            }
            DecodeErrorKind::StringPastEnd { length, remaining } => write!(
                f,
                "string of {length} bytes runs past the end of input ({remaining} bytes left)"
            ),
            DecodeErrorKind::KeyNotString(b) => {
                write!(
                    f,
                    "dictionary key is not a byte string (starts with 0x{b:02x})"
                )
            }
            DecodeErrorKind::TrailingBytes => write!(f, "trailing bytes after the value"),
            DecodeErrorKind::NonCanonical(n) => write!(
                f,
                "not canonical: {}",
                match n {
                    NonCanonical::UnsortedKeys => "dictionary keys are not sorted",
                    NonCanonical::DuplicateKey => "duplicate dictionary key",
                    NonCanonical::LeadingZero => "number with a leading zero",
                    NonCanonical::NegativeZero => "negative zero",
                }
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &[u8]) -> DecodeError {
        decode(input).unwrap_err()
    }

    fn strict_err(input: &[u8]) -> DecodeErrorKind {
        Decoder::new(input).strict(true).decode().unwrap_err().kind
    }

    #[test]
    fn decodes_every_kind() {
        let v = decode(b"d3:bar4:spam3:fooi42e4:listli1ei-2eee").unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(d.bytes(b"bar"), Some(&b"spam"[..]));
        assert_eq!(d.int(b"foo"), Some(42));
        let list = d.list(b"list").unwrap();
        assert_eq!(
            list.iter().map(|v| v.as_int().unwrap()).collect::<Vec<_>>(),
            [1, -2]
        );
    }

    #[test]
    fn spans_are_exact() {
        let input = b"d4:infod6:lengthi5eee";
        let v = decode(input).unwrap();
        let info = v.get(b"info").unwrap();
        assert_eq!(info.raw(), b"d6:lengthi5ee");
        assert_eq!(info.span(), 7..20);
        assert_eq!(&input[info.span()], info.raw());
    }

    #[test]
    fn integer_limits() {
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap().as_int(),
            Some(i64::MAX)
        );
        assert_eq!(
            decode(b"i-9223372036854775808e").unwrap().as_int(),
            Some(i64::MIN)
        );
        assert_eq!(
            err(b"i9223372036854775808e").kind,
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(
            err(b"i-9223372036854775809e").kind,
            DecodeErrorKind::IntegerOverflow
        );
        assert_eq!(err(b"ie").kind, DecodeErrorKind::EmptyInteger);
        assert_eq!(err(b"i-e").kind, DecodeErrorKind::EmptyInteger);
        assert_eq!(err(b"i12").kind, DecodeErrorKind::UnexpectedEof);
        assert_eq!(err(b"i1x2e").kind, DecodeErrorKind::UnexpectedByte(b'x'));
    }

    #[test]
    fn hostile_strings() {
        let e = err(b"10:abc");
        assert_eq!(
            e.kind,
            DecodeErrorKind::StringPastEnd {
                length: 10,
                remaining: 3
            }
        );
        assert_eq!(e.offset, 0);
        assert_eq!(
            err(b"99999999999999999999999:").kind,
            DecodeErrorKind::LengthOverflow
        );
        assert_eq!(err(b"3x:abc").kind, DecodeErrorKind::InvalidLength(b'x'));
        assert_eq!(err(b"3").kind, DecodeErrorKind::UnexpectedEof);
        assert_eq!(err(b"").kind, DecodeErrorKind::UnexpectedEof);
    }

    #[test]
    fn structure_errors() {
        assert_eq!(err(b"i1ei2e").kind, DecodeErrorKind::TrailingBytes);
        assert_eq!(err(b"i1ei2e").offset, 3);
        assert_eq!(err(b"di1ei2ee").kind, DecodeErrorKind::KeyNotString(b'i'));
        assert_eq!(err(b"l").kind, DecodeErrorKind::UnexpectedEof);
        assert_eq!(err(b"d3:foo").kind, DecodeErrorKind::UnexpectedEof);
        assert_eq!(err(b"x").kind, DecodeErrorKind::UnexpectedByte(b'x'));
        assert_eq!(err(b"e").kind, DecodeErrorKind::UnexpectedByte(b'e'));
    }

    #[test]
    fn depth_limit() {
        let deep = [vec![b'l'; 65], vec![b'e'; 65]].concat();
        assert_eq!(err(&deep).kind, DecodeErrorKind::DepthExceeded(64));
        let ok = [vec![b'l'; 64], vec![b'e'; 64]].concat();
        assert!(decode(&ok).is_ok());
        // A million opening brackets fail fast without recursion blowing the stack.
        let huge = vec![b'l'; 1_000_000];
        assert_eq!(err(&huge).kind, DecodeErrorKind::DepthExceeded(64));
    }

    #[test]
    fn lenient_accepts_what_strict_rejects() {
        for (input, kind) in [
            (&b"d1:bi1e1:ai2ee"[..], NonCanonical::UnsortedKeys),
            (b"d1:ai1e1:ai2ee", NonCanonical::DuplicateKey),
            (b"i03e", NonCanonical::LeadingZero),
            (b"03:abc", NonCanonical::LeadingZero),
            (b"i-0e", NonCanonical::NegativeZero),
        ] {
            assert!(decode(input).is_ok(), "{input:?}");
            assert_eq!(
                strict_err(input),
                DecodeErrorKind::NonCanonical(kind),
                "{input:?}"
            );
        }
        assert!(
            Decoder::new(b"d1:ai1e1:bi2ee")
                .strict(true)
                .decode()
                .is_ok()
        );
        assert!(Decoder::new(b"i0e").strict(true).decode().is_ok());
    }

    #[test]
    fn duplicate_keys_leniently_return_first() {
        let v = decode(b"d1:ai1e1:ai2ee").unwrap();
        assert_eq!(v.as_dict().unwrap().int(b"a"), Some(1));
    }

    #[test]
    fn prefix_leaves_the_rest() {
        let (v, used) = decode_prefix(b"d8:msg_typei1eeRAWDATA").unwrap();
        assert_eq!(used, 15);
        assert_eq!(v.as_dict().unwrap().int(b"msg_type"), Some(1));
    }

    #[test]
    fn error_display_names_offset() {
        let e = err(b"d3:foo5:ab");
        assert_eq!(
            e.to_string(),
            "invalid bencode at byte 6: string of 5 bytes runs past the end of input (2 bytes left)"
        );
    }
}
