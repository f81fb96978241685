//! BEP 52 merkle-hash messages on a connection: our `hash request`s (bounded, matched to
//! their answers), the peer's requests handed to the owner, and our answers.
//!
//! Any of the three messages on a connection that does not speak v2 closes it
//! ([`ProtocolError::HashMessageWithoutV2`]), as libtorrent does. Otherwise the connection
//! checks only what it can see alone: an answer must match a request of ours
//! still in flight (else [`Misbehaviour::UnrequestedHashes`]), and the codec already checked
//! that it carries as many hashes as the request implies. Whether the hashes prove against the
//! file's root is the owner's to check.

use std::time::Instant;

use bytes::Bytes;

use super::{CloseReason, Connection, Event, Misbehaviour, UsageError};
use crate::wire::codec::ProtocolError;
use crate::wire::hashes::{HASH_LEN, HashRequest};
use crate::wire::message::Message;

/// The most hash requests of ours in flight on one connection (libtorrent keeps two).
pub const MAX_HASH_REQUESTS_OUT: usize = 4;

impl Connection {
    /// Whether the connection speaks v2: both handshakes named the torrent's truncated v2
    /// hash (a v2-only torrent, or a hybrid upgraded as BEP 52 says). Only such a peer may be
    /// sent hash requests (libtorrent drops any other that sends one).
    pub fn speaks_v2(&self) -> bool {
        self.speaks_v2
    }

    /// Our hash requests in flight.
    pub fn hash_requests_in_flight(&self) -> usize {
        self.hash_requests.len()
    }

    /// Sends a `hash request`; its answer comes back as [`Event::HashesReceived`] or
    /// [`Event::HashesRejected`]. At most [`MAX_HASH_REQUESTS_OUT`] may be in flight
    /// ([`UsageError::TooManyRequests`]); a request whose answer would be unbounded is
    /// [`UsageError::InvalidHashRequest`].
    pub fn request_hashes(&mut self, now: Instant, request: HashRequest) -> Result<(), UsageError> {
        self.ready()?;
        if request.hashes_in_reply().is_none() {
            return Err(UsageError::InvalidHashRequest);
        }
        if self.hash_requests.contains(&request) {
            return Ok(());
        }
        if self.hash_requests.len() >= MAX_HASH_REQUESTS_OUT {
            return Err(UsageError::TooManyRequests);
        }
        self.hash_requests.push(request);
        self.queue(now, &Message::HashRequest(request));
        Ok(())
    }

    /// Answers a peer's `hash request` with `hashes` (the requested ones, then the proof):
    /// exactly [`HashRequest::hashes_in_reply`] of them, else
    /// [`UsageError::InvalidHashRequest`].
    pub fn send_hashes(
        &mut self,
        now: Instant,
        request: HashRequest,
        hashes: &[[u8; HASH_LEN]],
    ) -> Result<(), UsageError> {
        self.ready()?;
        if request.hashes_in_reply() != u32::try_from(hashes.len()).ok() {
            return Err(UsageError::InvalidHashRequest);
        }
        let bytes = Bytes::from(hashes.concat());
        self.queue(
            now,
            &Message::Hashes {
                request,
                hashes: bytes,
            },
        );
        Ok(())
    }

    /// Refuses a peer's `hash request` (`hash reject`).
    pub fn reject_hashes(&mut self, now: Instant, request: HashRequest) -> Result<(), UsageError> {
        self.ready()?;
        self.queue(now, &Message::HashReject(request));
        Ok(())
    }

    /// A hash message from the peer; on a connection that does not speak v2 it closes the
    /// connection, as libtorrent does.
    pub(super) fn on_hash_message(&mut self, message: Message) {
        if !self.speaks_v2 {
            if let Some(id) = message.id() {
                self.close_with(CloseReason::Protocol(ProtocolError::HashMessageWithoutV2(
                    id,
                )));
            }
            return;
        }
        match message {
            Message::HashRequest(request) => {
                self.events.push_back(Event::HashRequestReceived(request));
            }
            Message::Hashes { request, hashes } => {
                if self.take_hash_request(&request) {
                    self.events
                        .push_back(Event::HashesReceived { request, hashes });
                } else {
                    self.misbehaved(Misbehaviour::UnrequestedHashes(request));
                }
            }
            // A reject of something we never asked is harmless: ignored.
            Message::HashReject(request) if self.take_hash_request(&request) => {
                self.events.push_back(Event::HashesRejected(request));
            }
            _ => {}
        }
    }

    fn take_hash_request(&mut self, request: &HashRequest) -> bool {
        match self.hash_requests.iter().position(|r| r == request) {
            Some(i) => {
                self.hash_requests.swap_remove(i);
                true
            }
            None => false,
        }
    }
}
