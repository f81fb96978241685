//! The peer wire protocol (BEP 3, BEP 6 Fast extension, BEP 10 framing) and one peer
//! connection as a Sans-IO state machine.
//!
//! - [`handshake`]: the 68-byte handshake and its [`Reserved`] extension bits.
//! - [`message`]: every message after it, [`Message`], and its encoding.
//! - [`extension_handshake`]: the BEP 10 extended handshake and its [`ExtensionMap`].
//! - [`codec`]: the incremental [`Decoder`] over a `BytesMut` receive buffer, checking each
//!   length prefix against [`limits`] before waiting for the payload.
//! - [`fast`]: the BEP 6 allowed-fast set.
//! - [`hashes`]: the BEP 52 merkle-hash messages' common [`hashes::HashRequest`].
//! - [`peer`]: [`Connection`], choke/interest, requests both ways, timers, misbehaviour.
//! - [`mse`]: answering the encrypted handshake (MSE) other clients try first.
//! - [`mse_initiator`]: opening it, for peers that require encryption.
//! - [`transport`]: what a connection's bytes travel over (plain, or MSE then plain or RC4).

pub mod codec;
pub mod extension_handshake;
pub mod fast;
pub mod handshake;
pub mod hashes;
pub mod limits;
pub mod message;
pub mod mse;
pub mod mse_initiator;
pub mod peer;
pub mod transport;

pub use codec::{Decoder, PieceCount, ProtocolError};
pub use extension_handshake::{ExtendedHandshake, ExtendedHandshakeError, ExtensionMap};
pub use fast::allowed_fast_set;
pub use handshake::{Handshake, Reserved};
pub use message::{Message, MessageId};
pub use peer::{
    CloseReason, Config, Connection, Event, Misbehaviour, Phase, PieceGeometry, TorrentParams,
    UsageError,
};
