//! The extension protocol (BEP 10) and its extensions: ut_metadata (BEP 9), ut_pex (BEP 11).
//!
//! [`handshake`] holds the extended handshake (extended message id 0) and [`ExtensionMap`], the
//! name → id table both sides advertise in its `m` dictionary. Each extension registers its
//! name in our table; a message the peer sends uses the id *we* advertised for it, a message
//! we send uses the id *the peer* advertised.

pub mod handshake;

pub use handshake::{ExtendedHandshake, ExtendedHandshakeError, ExtensionMap, UT_METADATA, UT_PEX};
