//! The extension protocol (BEP 10) and its extensions: ut_metadata (BEP 9), ut_pex (BEP 11).
//!
//! The extended handshake (extended message id 0) and
//! [`ExtensionMap`](crate::wire::ExtensionMap), the name → id table
//! both sides advertise in its `m` dictionary, are part of the wire codec
//! ([`crate::wire::extension_handshake`]). Each extension registers its name
//! ([`UT_METADATA`], [`UT_PEX`]) in our table; a message the peer sends uses the id *we*
//! advertised for it, a message we send uses the id *the peer* advertised.
//!
//! [`ut_metadata`] fetches and serves a torrent's info dictionary ([`MetadataFetcher`],
//! [`MetadataServer`]); [`pex`] exchanges peer addresses ([`PexPool`], [`PexSender`]). Both are
//! per-torrent Sans-IO machines the session feeds with the payloads of
//! `Event::ExtendedMessage` and whose output it sends with `Connection::send_extended`.

pub mod pex;
pub mod ut_metadata;

pub use crate::wire::extension_handshake::{UT_METADATA, UT_PEX};
pub use pex::{
    PexCandidate, PexConfig, PexError, PexFlags, PexMessage, PexPeer, PexPool, PexSender,
};
pub use ut_metadata::{
    FetchEvent, FetcherConfig, MetadataFault, MetadataFetcher, MetadataMessage,
    MetadataMessageError, MetadataServer, PeerRefusal,
};
