//! Bencode: the serialisation of .torrent files, tracker responses, the extension protocol and
//! DHT KRPC messages.
//!
//! [`decode`] is zero-copy: a [`Value`] borrows the input and remembers the exact bytes it was
//! decoded from ([`Value::raw`]), so an info-hash is SHA-1 over the original `info` bytes and
//! never over a re-encoding. Decoding is lenient by default (real torrents have unsorted keys);
//! [`Decoder::strict`] reports every non-canonical construct. [`Encoder`] and [`OwnedValue`]
//! produce canonical output.
//!
//! Every input is hostile: the decoder limits nesting depth, checks integer overflow and string
//! lengths against the bytes actually present, and never allocates by a length the input claims.

mod decode;
mod encode;
mod value;

pub use decode::{DecodeError, DecodeErrorKind, Decoder, NonCanonical, decode, decode_prefix};
pub use encode::{Encoder, OwnedValue};
pub use value::{Dict, Kind, Value};

/// The deepest nesting of lists and dictionaries [`decode`] accepts by default.
pub const DEFAULT_MAX_DEPTH: usize = 64;
