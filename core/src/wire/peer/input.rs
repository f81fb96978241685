//! Bytes in: plain input (copied or owned), raw input through the transport (MSE), the
//! transport's set-up, and the socket's end.

use std::time::Instant;

use bytes::BytesMut;

use super::{CloseReason, Connection, Phase};
use crate::wire::mse::MseTorrents;
use crate::wire::transport::{Transport, Unwrapped};

impl Connection {
    /// Feeds bytes read from the socket (copied into the receive buffer). Then drain the
    /// polls.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        self.last_received = now;
        self.recv.extend_from_slice(data);
        self.process(now);
    }

    /// Feeds bytes read from the socket, owned, usually without copying them: read into a
    /// `BytesMut` and hand over what was read (`split_to`), and blocks are passed on as slices
    /// of that buffer. Consecutive reads from one allocation join in place; at an allocation
    /// boundary only the message that straddles it is copied. Then drain the polls.
    pub fn handle_input_buf(&mut self, now: Instant, data: BytesMut) {
        if self.phase == Phase::Closed || data.is_empty() {
            return;
        }
        self.last_received = now;
        self.take_input(now, data);
        self.process(now);
    }

    /// Raw bytes read from the socket, through the [`Transport`] (see
    /// [`Connection::answer_encrypted`] and [`Connection::open_encrypted`]): what reaches the
    /// plain stream goes on as with [`Connection::handle_input_buf`]. `torrents` finds the
    /// torrents an inbound encrypted handshake may ask for: read only while
    /// [`Connection::needs_torrents`]. Then drain the polls.
    pub fn handle_raw_input(
        &mut self,
        now: Instant,
        data: BytesMut,
        torrents: &(impl MseTorrents + ?Sized),
    ) {
        if self.phase == Phase::Closed {
            return;
        }
        match self.link.receive(data, torrents) {
            Unwrapped::Plain(Some(plain)) => self.handle_input_buf(now, plain),
            Unwrapped::Plain(None) => {}
            Unwrapped::Failed(e) => self.close_with(CloseReason::EncryptedHandshake(e)),
        }
    }

    /// An inbound connection that answers the encrypted handshake (MSE) if its first bytes
    /// open one, or plain BitTorrent otherwise. `private` (160 random bits) and `pad`
    /// (random, at most 512 bytes) come from the caller.
    pub fn answer_encrypted(&mut self, private: [u8; 20], pad: Vec<u8>) {
        self.link.answer(private, pad);
    }

    /// An outbound connection that opens with the encrypted handshake (MSE), offering the
    /// payload modes `provide` ([`CRYPTO_PLAINTEXT`](crate::wire::mse::CRYPTO_PLAINTEXT),
    /// [`CRYPTO_RC4`](crate::wire::mse::CRYPTO_RC4)); our BitTorrent handshake waits for its
    /// end. Does nothing without a torrent (inbound).
    pub fn open_encrypted(&mut self, private: [u8; 20], pad: Vec<u8>, provide: u32) {
        if let Some(info_hash) = self.info_hash {
            self.link.open(private, pad, info_hash, provide);
        }
    }

    /// Whether the bytes given to [`Connection::handle_raw_input`] may be an encrypted
    /// handshake asking for one of our torrents.
    pub fn needs_torrents(&self) -> bool {
        self.link.is_answering()
    }

    /// What the connection's bytes travel over now.
    pub fn transport(&self) -> &Transport {
        self.link.transport()
    }

    /// The socket reached end of stream or failed: the connection closes.
    pub fn handle_eof(&mut self, _now: Instant) {
        self.close_with(CloseReason::RemoteClosed);
    }

    /// The owner did not read this connection's socket until `now` (it paused reading):
    /// the peer's silence since was ours, so the idle timer counts from `now`.
    pub fn restart_receive_clocks(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }
}
