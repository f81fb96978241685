//! Message stream encryption (MSE), the opening side: how we dial a peer that refuses plain
//! BitTorrent (encryption required). The steps, as A (see [`crate::wire::mse`] for B's):
//!
//! 1. We send `Ya` (96 bytes) and 0–512 bytes of padding ([`MseInitiator::new`]).
//! 2. B sends `Yb` and its padding. On `Yb` we send `HASH("req1", S)`,
//!    `HASH("req2", SKEY) xor HASH("req3", S)`, then, RC4-encrypted with
//!    `HASH("keyA", S, SKEY)`: VC, `crypto_provide`, an empty PadC and an empty initial payload.
//! 3. B answers, RC4-encrypted with `HASH("keyB", S, SKEY)`: VC, `crypto_select`, `len(PadD)`
//!    and PadD. We find B's encrypted VC within the 512 bytes of padding allowed, read its
//!    choice, and the handshake is over ([`MseStep::Established`]): the BitTorrent handshake
//!    follows in plaintext or, if B selected RC4, in the RC4 streams ([`MseStream`]).
//!
//! We send no initial payload: until B's choice arrives we cannot know whether our
//! BitTorrent handshake goes in plaintext, so the caller holds it (one round trip). Every
//! length is bounded by the specification: at most `96 + 512 + 8 + 6 + 512` bytes of B's are
//! held before the handshake ends.

use std::fmt;

use bytes::BytesMut;
use rc4::StreamCipher;

use super::mse::{
    CRYPTO_RC4, KEY_LEN, MAX_PAD, MseError, MseStep, MseStream, VC, cipher, hash, key_exchange,
    public_key, sync,
};
use crate::id::InfoHash;

/// Bytes of B's reply before its padding length: VC, `crypto_select`, `len(PadD)`.
const SELECT_LEN: usize = 4 + 2;

enum Stage {
    /// Waiting for B's 96-byte public key.
    PublicKey,
    /// Looking for B's encrypted VC after its padding.
    Sync { vc: [u8; 8], stream: Box<MseStream> },
    /// Waiting for `crypto_select` and `len(PadD)`.
    Select { stream: Box<MseStream> },
    /// Skipping PadD (decrypted, then dropped).
    PadD {
        left: usize,
        select: u32,
        stream: Box<MseStream>,
    },
    /// Over (a step was returned that ends the initiator).
    Done,
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PublicKey => "PublicKey",
            Self::Sync { .. } => "Sync",
            Self::Select { .. } => "Select",
            Self::PadD { .. } => "PadD",
            Self::Done => "Done",
        })
    }
}

/// The opening side of one connection's MSE handshake; see the module docs.
pub struct MseInitiator {
    stage: Stage,
    buf: BytesMut,
    private: [u8; 20],
    info_hash: InfoHash,
    provide: u32,
}

impl fmt::Debug for MseInitiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MseInitiator")
            .field("stage", &self.stage)
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl MseInitiator {
    /// An initiator for the torrent `info_hash` whose private key is `private` (160 random
    /// bits), offering the payload modes in `provide` (`CRYPTO_PLAINTEXT`, `CRYPTO_RC4` or
    /// both), and the first message to send: our public key and `pad` (random bytes; at most
    /// 512 are sent).
    pub fn new(
        private: [u8; 20],
        mut pad: Vec<u8>,
        info_hash: InfoHash,
        provide: u32,
    ) -> (Self, Vec<u8>) {
        pad.truncate(MAX_PAD);
        let mut first = public_key(&private).to_vec();
        first.append(&mut pad);
        let initiator = Self {
            stage: Stage::PublicKey,
            buf: BytesMut::new(),
            private,
            info_hash,
            provide,
        };
        (initiator, first)
    }

    /// Bytes received and not yet handed on.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes received from the peer. Never returns [`MseStep::Plaintext`]; after
    /// [`MseStep::Established`] (whose `reply` is empty) or an error, the initiator is spent.
    pub fn receive(&mut self, data: &[u8]) -> Result<MseStep, MseError> {
        self.buf.extend_from_slice(data);
        let mut send = Vec::new();
        loop {
            match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::PublicKey => {
                    if self.buf.len() < KEY_LEN {
                        self.stage = Stage::PublicKey;
                        return Ok(MseStep::Continue(send));
                    }
                    let theirs = self.buf.split_to(KEY_LEN);
                    let (_, secret) = key_exchange(&self.private, &theirs)?;
                    send.extend_from_slice(&hash(&[b"req1", &secret[..]]));
                    let req2 = hash(&[b"req2", &self.info_hash.0]);
                    let req3 = hash(&[b"req3", &secret[..]]);
                    send.extend(req2.iter().zip(req3).map(|(a, b)| a ^ b));
                    let mut encrypt = cipher(b"keyA", &secret, &self.info_hash);
                    let mut negotiation = Vec::with_capacity(8 + 4 + 2 + 2);
                    negotiation.extend_from_slice(&VC);
                    negotiation.extend_from_slice(&self.provide.to_be_bytes());
                    negotiation.extend_from_slice(&0u16.to_be_bytes());
                    negotiation.extend_from_slice(&0u16.to_be_bytes());
                    encrypt.apply_keystream(&mut negotiation);
                    send.append(&mut negotiation);
                    let mut decrypt = cipher(b"keyB", &secret, &self.info_hash);
                    let mut vc = VC;
                    decrypt.apply_keystream(&mut vc);
                    let stream = Box::new(MseStream { decrypt, encrypt });
                    self.stage = Stage::Sync { vc, stream };
                }
                Stage::Sync { vc, stream } => {
                    if sync(&mut self.buf, &vc)? {
                        self.stage = Stage::Select { stream };
                    } else {
                        self.stage = Stage::Sync { vc, stream };
                        return Ok(MseStep::Continue(send));
                    }
                }
                Stage::Select { mut stream } => {
                    if self.buf.len() < SELECT_LEN {
                        self.stage = Stage::Select { stream };
                        return Ok(MseStep::Continue(send));
                    }
                    let mut head = self.buf.split_to(SELECT_LEN);
                    stream.decrypt(&mut head);
                    let select = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                    let left = usize::from(u16::from_be_bytes([head[4], head[5]]));
                    if select.count_ones() != 1 || select & self.provide == 0 {
                        return Err(MseError::BadSelect(select));
                    }
                    if left > MAX_PAD {
                        return Err(MseError::PadTooLong(left));
                    }
                    self.stage = Stage::PadD {
                        left,
                        select,
                        stream,
                    };
                }
                Stage::PadD {
                    left,
                    select,
                    mut stream,
                } => {
                    let n = left.min(self.buf.len());
                    let mut pad = self.buf.split_to(n);
                    stream.decrypt(&mut pad);
                    if n < left {
                        self.stage = Stage::PadD {
                            left: left - n,
                            select,
                            stream,
                        };
                        return Ok(MseStep::Continue(send));
                    }
                    let mut payload = std::mem::take(&mut self.buf);
                    let stream = (select == CRYPTO_RC4).then(|| {
                        stream.decrypt(&mut payload);
                        stream
                    });
                    return Ok(MseStep::Established {
                        reply: send,
                        payload,
                        info_hash: self.info_hash,
                        stream,
                    });
                }
                Stage::Done => return Ok(MseStep::Continue(send)),
            }
        }
    }
}

#[cfg(test)]
#[path = "mse_initiator_tests.rs"]
mod tests;
