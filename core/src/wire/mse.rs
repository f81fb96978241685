//! Message stream encryption (MSE, also called PE): the answering side, and what both sides
//! share (the opening side is [`crate::wire::mse_initiator`]).
//!
//! libtorrent, Transmission and most other clients open connections with an MSE handshake
//! first (a Diffie-Hellman exchange, then RC4-encrypted negotiation) and fall back to plain
//! BitTorrent only after that connection fails and a reconnect delay passes: a second lost on
//! every connection they open to us. [`MseResponder`] answers that handshake for an inbound
//! connection and hands the connection back in plaintext:
//!
//! 1. A sends `Ya` (96 bytes) and 0–512 bytes of padding; we send `Yb` and our padding.
//! 2. A sends `HASH("req1", S)`, `HASH("req2", SKEY) xor HASH("req3", S)` (SKEY is the info
//!    hash: it names the torrent), then, RC4-encrypted with `HASH("keyA", S, SKEY)`: VC (8 zero
//!    bytes), `crypto_provide`, `len(PadC)`, PadC, `len(IA)` and the initial payload IA
//!    (usually A's BitTorrent handshake).
//! 3. We answer, RC4-encrypted with `HASH("keyB", S, SKEY)`: VC, `crypto_select`, `len(PadD)`,
//!    PadD. We select plaintext when the peer offers it (libtorrent and Transmission do by
//!    default): everything after that (and after IA) is plain BitTorrent. A peer that offers
//!    only RC4 gets RC4: both RC4 streams go on over the payload ([`MseStream`]).
//!
//! A stream that starts with the plain BitTorrent handshake is handed back untouched
//! ([`MseStep::Plaintext`]). Every length is bounded by the
//! specification, so at most [`MAX_BUFFERED`] bytes are held. Randomness (the private key and
//! the padding) comes from the caller.

use std::fmt;

use bytes::BytesMut;
use num_bigint::BigUint;
use rc4::consts::U20;
use rc4::{KeyInit, Rc4, StreamCipher};

use crate::id::{InfoHash, sha1_digest};

/// The 768-bit prime of the key exchange.
const PRIME_HEX: &[u8] = b"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74\
020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7E\
C6F44C42E9A63A36210000000000090563";
/// Length of a public key and of the shared secret.
pub(crate) const KEY_LEN: usize = 96;
/// The most padding either side may send.
pub const MAX_PAD: usize = 512;
/// The plain BitTorrent handshake's first 20 bytes.
const PLAIN_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";
/// Verification constant: eight zero bytes.
pub(crate) const VC: [u8; 8] = [0; 8];
/// `crypto_provide` / `crypto_select` bit: plaintext payload.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
/// `crypto_provide` / `crypto_select` bit: RC4-encrypted payload.
pub const CRYPTO_RC4: u32 = 0x02;
/// The most initial payload accepted (the field is 16 bits).
const MAX_IA: usize = u16::MAX as usize;
/// The most bytes a responder holds before the handshake ends.
pub const MAX_BUFFERED: usize = KEY_LEN + MAX_PAD + 20 + 20 + 14 + MAX_PAD + 2 + MAX_IA;

/// Why an MSE handshake failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MseError {
    /// `HASH("req1", S)` did not appear within the padding allowed after `Ya`.
    NoSync,
    /// The public key is outside the group (0, 1 or P - 1 and above).
    BadPublicKey,
    /// The torrent the peer names is not one of ours.
    UnknownTorrent,
    /// The decrypted verification constant is not zero: wrong key.
    BadVerification,
    /// The peer offers no payload mode we speak (plaintext or RC4).
    NoCommonMethod(u32),
    /// A padding length above 512.
    PadTooLong(usize),
    /// The answering peer selected a payload mode we did not offer.
    BadSelect(u32),
}

impl fmt::Display for MseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSync => f.write_str("encrypted handshake: no synchronisation hash"),
            Self::BadPublicKey => f.write_str("encrypted handshake: invalid public key"),
            Self::UnknownTorrent => f.write_str("encrypted handshake: unknown torrent"),
            Self::BadVerification => f.write_str("encrypted handshake: bad verification"),
            Self::NoCommonMethod(p) => write!(
                f,
                "encrypted handshake: no payload mode in common (peer offers {p:#x})"
            ),
            Self::PadTooLong(n) => write!(f, "encrypted handshake: padding of {n} bytes"),
            Self::BadSelect(s) => write!(
                f,
                "encrypted handshake: the peer selected payload mode {s:#x}, not offered"
            ),
        }
    }
}

impl std::error::Error for MseError {}

/// What to do after feeding bytes to an [`MseResponder`].
#[derive(Debug)]
pub enum MseStep {
    /// Waiting for more bytes; first send these to the peer (may be empty).
    Continue(Vec<u8>),
    /// Not an MSE handshake: the peer speaks plain BitTorrent. Everything received so far.
    Plaintext(BytesMut),
    /// The handshake is over: send `reply`, then treat `payload` (the initial payload, then
    /// whatever followed it, decrypted) as received.
    Established {
        /// Our last handshake message.
        reply: Vec<u8>,
        /// Plain BitTorrent bytes from the peer.
        payload: BytesMut,
        /// The torrent the peer asked for.
        info_hash: InfoHash,
        /// `None`: the payload is plaintext from here on. `Some`: RC4 was selected; decrypt
        /// every later byte from the peer and encrypt every byte to it with this.
        stream: Option<Box<MseStream>>,
    },
}

/// The two RC4 streams of a connection whose payload is encrypted.
pub struct MseStream {
    pub(crate) decrypt: Rc4<U20>,
    pub(crate) encrypt: Rc4<U20>,
}

impl fmt::Debug for MseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MseStream")
    }
}

impl MseStream {
    /// Decrypts bytes from the peer in place (in stream order).
    pub fn decrypt(&mut self, data: &mut [u8]) {
        self.decrypt.apply_keystream(data);
    }

    /// Encrypts bytes for the peer in place (in stream order).
    pub fn encrypt(&mut self, data: &mut [u8]) {
        self.encrypt.apply_keystream(data);
    }
}

#[derive(Debug)]
enum Stage {
    /// Deciding between plain BitTorrent and MSE.
    Detect,
    /// Waiting for the 96-byte `Ya`.
    PublicKey,
    /// Looking for `HASH("req1", S)` after A's padding.
    Sync { secret: Box<[u8; KEY_LEN]> },
    /// Waiting for the torrent hash and the encrypted negotiation.
    Negotiate { secret: Box<[u8; KEY_LEN]> },
    /// Over (a step was returned that ends the responder).
    Done,
}

/// The answering side of one connection's MSE handshake; see the module docs.
pub struct MseResponder {
    stage: Stage,
    buf: BytesMut,
    private: [u8; 20],
    pad: Vec<u8>,
}

impl fmt::Debug for MseResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MseResponder")
            .field("stage", &self.stage)
            .field("buffered", &self.buf.len())
            .finish()
    }
}

impl MseResponder {
    /// A responder whose private key is `private` (160 random bits) and whose padding is
    /// `pad` (random bytes; at most 512 are sent).
    pub fn new(private: [u8; 20], mut pad: Vec<u8>) -> Self {
        pad.truncate(MAX_PAD);
        Self {
            stage: Stage::Detect,
            buf: BytesMut::new(),
            private,
            pad,
        }
    }

    /// Bytes received and not yet handed on.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes received from the peer. `torrents` finds the torrents the peer may ask
    /// for. After [`MseStep::Plaintext`], [`MseStep::Established`] or an error, the responder
    /// is spent.
    pub fn receive(
        &mut self,
        data: &[u8],
        torrents: &(impl MseTorrents + ?Sized),
    ) -> Result<MseStep, MseError> {
        self.buf.extend_from_slice(data);
        let mut send = Vec::new();
        loop {
            match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::Detect => {
                    let n = self.buf.len().min(PLAIN_PREFIX.len());
                    if self.buf[..n] != PLAIN_PREFIX[..n] {
                        self.stage = Stage::PublicKey;
                    } else if n == PLAIN_PREFIX.len() {
                        return Ok(MseStep::Plaintext(std::mem::take(&mut self.buf)));
                    } else {
                        self.stage = Stage::Detect;
                        return Ok(MseStep::Continue(send));
                    }
                }
                Stage::PublicKey => {
                    if self.buf.len() < KEY_LEN {
                        self.stage = Stage::PublicKey;
                        return Ok(MseStep::Continue(send));
                    }
                    let theirs = self.buf.split_to(KEY_LEN);
                    let (ours, secret) = key_exchange(&self.private, &theirs)?;
                    send.extend_from_slice(&ours);
                    send.extend_from_slice(&self.pad);
                    self.stage = Stage::Sync { secret };
                }
                Stage::Sync { secret } => {
                    if sync(&mut self.buf, &hash(&[b"req1", &secret[..]]))? {
                        self.stage = Stage::Negotiate { secret };
                    } else {
                        self.stage = Stage::Sync { secret };
                        return Ok(MseStep::Continue(send));
                    }
                }
                Stage::Negotiate { secret } => {
                    return match negotiate(&mut self.buf, &secret, torrents)? {
                        Some(mut done) => {
                            send.append(&mut done.reply);
                            Ok(MseStep::Established {
                                reply: send,
                                payload: done.payload,
                                info_hash: done.info_hash,
                                stream: done.stream,
                            })
                        }
                        None => {
                            self.stage = Stage::Negotiate { secret };
                            Ok(MseStep::Continue(send))
                        }
                    };
                }
                Stage::Done => return Ok(MseStep::Continue(send)),
            }
        }
    }
}

/// Our public key and the shared secret, from our private key and A's public key.
pub(crate) fn key_exchange(
    private: &[u8; 20],
    theirs: &[u8],
) -> Result<([u8; KEY_LEN], Box<[u8; KEY_LEN]>), MseError> {
    let prime = prime();
    let x = BigUint::from_bytes_be(private);
    let y = BigUint::from_bytes_be(theirs);
    let one = BigUint::from(1u8);
    if y <= one || y >= &prime - &one {
        return Err(MseError::BadPublicKey);
    }
    let secret = y.modpow(&x, &prime);
    Ok((public_key(private), Box::new(fixed(&secret))))
}

/// The public key of `private`: `2^private mod P`.
pub(crate) fn public_key(private: &[u8; 20]) -> [u8; KEY_LEN] {
    let x = BigUint::from_bytes_be(private);
    fixed(&BigUint::from(2u8).modpow(&x, &prime()))
}

/// The prime `P` of the key exchange.
fn prime() -> BigUint {
    BigUint::parse_bytes(PRIME_HEX, 16).expect("the prime is valid hex")
}

/// `n` as 96 big-endian bytes.
fn fixed(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0; KEY_LEN];
    out[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// The end of a handshake, from [`negotiate`].
struct Negotiated {
    reply: Vec<u8>,
    info_hash: InfoHash,
    payload: BytesMut,
    stream: Option<Box<MseStream>>,
}

/// The torrents an inbound encrypted handshake may name. The handshake names one by
/// `HASH("req2", info_hash)` ([`req2_of`]): a session with many torrents keeps them indexed
/// so, rather than hashing every info-hash at each handshake.
pub trait MseTorrents {
    /// The torrent whose `HASH("req2", info_hash)` is `req2`, if the peer may ask for it.
    fn named(&self, req2: &[u8; 20]) -> Option<InfoHash>;
}

/// `HASH("req2", info_hash)`: how an encrypted handshake names a torrent.
pub fn req2_of(info_hash: &InfoHash) -> [u8; 20] {
    hash(&[b"req2", &info_hash.0])
}

impl MseTorrents for [InfoHash] {
    fn named(&self, req2: &[u8; 20]) -> Option<InfoHash> {
        self.iter().copied().find(|ih| req2_of(ih) == *req2)
    }
}

impl<const N: usize> MseTorrents for [InfoHash; N] {
    fn named(&self, req2: &[u8; 20]) -> Option<InfoHash> {
        self.as_slice().named(req2)
    }
}

impl MseTorrents for Vec<InfoHash> {
    fn named(&self, req2: &[u8; 20]) -> Option<InfoHash> {
        self.as_slice().named(req2)
    }
}

/// Step 3 once `HASH("req1", S)` was consumed: `None` until all of it has arrived; then our
/// encrypted reply, the torrent and the (decrypted) bytes that follow. Consumes nothing until
/// then.
fn negotiate(
    buf: &mut BytesMut,
    secret: &[u8; KEY_LEN],
    torrents: &(impl MseTorrents + ?Sized),
) -> Result<Option<Negotiated>, MseError> {
    const FIXED: usize = 20 + 8 + 4 + 2;
    if buf.len() < FIXED {
        return Ok(None);
    }
    let req3 = hash(&[b"req3", &secret[..]]);
    let mut req2 = [0u8; 20];
    for (i, b) in req2.iter_mut().enumerate() {
        *b = buf[i] ^ req3[i];
    }
    let info_hash = torrents.named(&req2).ok_or(MseError::UnknownTorrent)?;
    let mut decrypt = cipher(b"keyA", secret, &info_hash);
    // Decrypt a copy: the stream is only consumed once it is complete.
    let mut head = [0u8; FIXED - 20];
    head.copy_from_slice(&buf[20..FIXED]);
    decrypt.apply_keystream(&mut head);
    if head[..8] != VC {
        return Err(MseError::BadVerification);
    }
    let provide = u32::from_be_bytes([head[8], head[9], head[10], head[11]]);
    let pad_c = usize::from(u16::from_be_bytes([head[12], head[13]]));
    if pad_c > MAX_PAD {
        return Err(MseError::PadTooLong(pad_c));
    }
    if buf.len() < FIXED + pad_c + 2 {
        return Ok(None);
    }
    let mut rest = [0u8; 2];
    let mut pad = buf[FIXED..FIXED + pad_c].to_vec();
    decrypt.apply_keystream(&mut pad);
    rest.copy_from_slice(&buf[FIXED + pad_c..FIXED + pad_c + 2]);
    decrypt.apply_keystream(&mut rest);
    let ia_len = usize::from(u16::from_be_bytes(rest));
    let start = FIXED + pad_c + 2;
    if buf.len() < start + ia_len {
        return Ok(None);
    }
    let select = if provide & CRYPTO_PLAINTEXT != 0 {
        CRYPTO_PLAINTEXT
    } else if provide & CRYPTO_RC4 != 0 {
        CRYPTO_RC4
    } else {
        return Err(MseError::NoCommonMethod(provide));
    };
    let _ = buf.split_to(start);
    let mut payload = std::mem::take(buf);
    decrypt.apply_keystream(&mut payload[..ia_len]);
    let mut reply = Vec::with_capacity(14);
    reply.extend_from_slice(&VC);
    reply.extend_from_slice(&select.to_be_bytes());
    reply.extend_from_slice(&0u16.to_be_bytes());
    let mut encrypt = cipher(b"keyB", secret, &info_hash);
    encrypt.apply_keystream(&mut reply);
    let stream = (select == CRYPTO_RC4).then(|| {
        decrypt.apply_keystream(&mut payload[ia_len..]);
        Box::new(MseStream { decrypt, encrypt })
    });
    Ok(Some(Negotiated {
        reply,
        info_hash,
        payload,
        stream,
    }))
}

/// The RC4 stream keyed `HASH(name, S, SKEY)`, past its first 1024 bytes.
pub(crate) fn cipher(name: &[u8], secret: &[u8; KEY_LEN], info_hash: &InfoHash) -> Rc4<U20> {
    let key = hash(&[name, &secret[..], &info_hash.0]);
    let mut rc4 = Rc4::<U20>::new(&key.into());
    rc4.apply_keystream(&mut [0u8; 1024]);
    rc4
}

/// SHA-1 of the concatenation of `parts`.
pub(crate) fn hash(parts: &[&[u8]]) -> [u8; 20] {
    sha1_digest(&parts.concat())
}

/// Looks for `marker` after the other side's padding (at most [`MAX_PAD`] bytes): consumes
/// the padding and the marker and returns `true` once found, `false` while it may still come,
/// [`MseError::NoSync`] once it cannot.
pub(crate) fn sync(buf: &mut BytesMut, marker: &[u8]) -> Result<bool, MseError> {
    match buf.windows(marker.len()).position(|w| w == marker) {
        Some(at) if at <= MAX_PAD => {
            let _ = buf.split_to(at + marker.len());
            Ok(true)
        }
        Some(_) => Err(MseError::NoSync),
        None if buf.len() >= MAX_PAD + marker.len() => Err(MseError::NoSync),
        None => Ok(false),
    }
}

#[cfg(test)]
#[path = "mse_tests.rs"]
pub(crate) mod tests;
