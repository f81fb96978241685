//! What the owner does to a connection once established: interest, choking, requests both
//! ways, haves, blocks and extension messages.

use std::time::Instant;

use bytes::Bytes;

use super::{Connection, Event, Phase, UsageError};
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::limits::MAX_EXTENDED_MESSAGE_LEN;
use crate::wire::message::Message;

impl Connection {
    /// Sends `interested` (no-op if already interested).
    pub fn send_interested(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if !self.am_interested {
            self.am_interested = true;
            self.queue(now, &Message::Interested);
        }
        Ok(())
    }

    /// Sends `not interested` (no-op if not interested).
    pub fn send_not_interested(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_interested {
            self.am_interested = false;
            self.queue(now, &Message::NotInterested);
        }
        Ok(())
    }

    /// Chokes the peer. Its queued requests are void ([`Event::RequestCancelled`]); with the
    /// Fast extension each is rejected, except those for allowed-fast pieces, which stay.
    pub fn choke(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_choking {
            return Ok(());
        }
        self.am_choking = true;
        self.queue(now, &Message::Choke);
        let queued = std::mem::take(&mut self.theirs);
        for block in queued {
            if self.fast && self.granted_fast.contains(&block.piece) {
                self.theirs.push_back(block);
                continue;
            }
            if self.fast {
                self.queue(now, &Message::RejectRequest(block));
            }
            self.events.push_back(Event::RequestCancelled(block));
        }
        Ok(())
    }

    /// Unchokes the peer (no-op if not choking).
    pub fn unchoke(&mut self, now: Instant) -> Result<(), UsageError> {
        self.ready()?;
        if self.am_choking {
            self.am_choking = false;
            self.queue(now, &Message::Unchoke);
        }
        Ok(())
    }

    /// Requests a block of a piece the peer has. Allowed when the peer unchokes us, or chokes
    /// us but allowed the piece fast; at most [`Connection::request_slots`] at once.
    pub fn request(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        let geometry = self.geometry.ok_or(UsageError::GeometryUnknown)?;
        if !geometry.is_valid_block(block) {
            return Err(UsageError::InvalidBlock(block));
        }
        if !self.peer_pieces.known || !self.peer_pieces.bits.contains(block.piece) {
            return Err(UsageError::PeerLacksPiece(block.piece));
        }
        if self.peer_choking && !(self.fast && self.peer_allowed_fast.contains(&block.piece)) {
            return Err(UsageError::Choked);
        }
        if self.ours.contains(block) {
            return Err(UsageError::DuplicateRequest(block));
        }
        if self.request_slots() == 0 {
            return Err(UsageError::TooManyRequests);
        }
        self.ours.push(block);
        self.queue(now, &Message::Request(block));
        Ok(())
    }

    /// Cancels one of our requests. A block that crosses the cancel on the wire is still
    /// reported as [`Event::BlockReceived`].
    pub fn cancel(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        if !self.ours.remove(block) {
            return Err(UsageError::NotRequested(block));
        }
        self.ours.abandon(block, now);
        self.queue(now, &Message::Cancel(block));
        Ok(())
    }

    /// Announces a piece we completed. Before the handshake is done it updates the bitfield we
    /// will send instead.
    pub fn send_have(&mut self, now: Instant, piece: u32) -> Result<(), UsageError> {
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        let geometry = self.geometry.ok_or(UsageError::GeometryUnknown)?;
        if piece >= geometry.piece_count() {
            return Err(UsageError::InvalidPiece(piece));
        }
        if self.phase == Phase::Established {
            self.queue(now, &Message::Have(piece));
        } else {
            let count = geometry.piece_count();
            self.our_pieces
                .get_or_insert_with(|| PieceSet::new(count))
                .insert(piece);
        }
        Ok(())
    }

    /// Serves a block the peer requested (it must still be queued: not cancelled, not choked
    /// away). `data` is sent as is, without a copy.
    pub fn send_block(
        &mut self,
        now: Instant,
        piece: u32,
        offset: u32,
        data: Bytes,
    ) -> Result<(), UsageError> {
        self.ready()?;
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let block = BlockRef::new(piece, offset, length);
        let Some(i) = self.theirs.iter().position(|b| *b == block) else {
            return Err(UsageError::NotRequested(block));
        };
        self.theirs.remove(i);
        self.send.block(piece, offset, data);
        self.last_sent = now;
        Ok(())
    }

    /// Declines a block the peer requested: a `reject request` with the Fast extension, silence
    /// without.
    pub fn reject(&mut self, now: Instant, block: BlockRef) -> Result<(), UsageError> {
        self.ready()?;
        let Some(i) = self.theirs.iter().position(|b| *b == block) else {
            return Err(UsageError::NotRequested(block));
        };
        self.theirs.remove(i);
        if self.fast {
            self.queue(now, &Message::RejectRequest(block));
        }
        Ok(())
    }

    /// Sends an extension message by extension name, under the id the peer advertised for it.
    pub fn send_extended(
        &mut self,
        now: Instant,
        name: &str,
        payload: Bytes,
    ) -> Result<(), UsageError> {
        self.ready()?;
        if !self.extended {
            return Err(UsageError::NotSupported);
        }
        let id = self
            .peer_extensions
            .id(name)
            .ok_or_else(|| UsageError::ExtensionNotSupported(name.into()))?;
        if payload.len() + 2 > MAX_EXTENDED_MESSAGE_LEN as usize {
            return Err(UsageError::PayloadTooLong(payload.len()));
        }
        self.queue(now, &Message::Extended { id, payload });
        Ok(())
    }
}
