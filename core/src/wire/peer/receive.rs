//! The receiving half of a connection: handshake, message dispatch and the peer's faults.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::{CloseReason, Connection, Event, Misbehaviour, Phase};
use crate::pieces::{BlockRef, PieceSet, bitfield_len};
use crate::wire::extension_handshake::ExtendedHandshake;
use crate::wire::handshake::Handshake;
use crate::wire::limits::{
    HANDSHAKE_LEN, MAX_ALLOWED_FAST_RECEIVED, MAX_BLOCK_LEN, MAX_MESSAGE_LEN,
};
use crate::wire::message::Message;

/// What the peer announced as its first message.
enum Announce {
    Bitfield(Bytes),
    All,
    None,
}

impl Connection {
    /// Appends `data` to the receive buffer without copying where it can (see
    /// [`Connection::handle_input_buf`]), handling each message completed on the way.
    pub(super) fn take_input(&mut self, now: Instant, mut data: BytesMut) {
        while !data.is_empty() && self.phase != Phase::Closed {
            if self.recv.is_empty() {
                self.recv = data;
                return;
            }
            if self.recv.as_ptr_range().end == data.as_ptr() {
                // The next read from the same allocation: `unsplit` joins in place.
                self.recv.unsplit(data);
                return;
            }
            // A new allocation: complete the message at the front in a buffer of its own
            // (exactly its size, so a block kept for writing pins nothing more), handle it,
            // and go on with the rest of `data`.
            let take = self.front_missing().clamp(1, data.len());
            let mut joined = BytesMut::with_capacity(self.recv.len() + take);
            joined.extend_from_slice(&self.recv);
            joined.extend_from_slice(&data.split_to(take));
            self.recv = joined;
            self.process(now);
        }
    }

    /// How many more bytes the message (or handshake) at the front of the receive buffer
    /// needs to be complete; at least 1 if the buffer cannot tell yet.
    fn front_missing(&self) -> usize {
        let have = self.recv.len();
        match self.phase {
            Phase::Handshaking => HANDSHAKE_LEN.saturating_sub(have),
            // Everything waits in the buffer until accepted (bounded by `process`).
            Phase::AwaitingAccept => usize::MAX,
            Phase::Established => match self.decoder.frame_len(&self.recv) {
                Ok(Some(frame)) => frame.saturating_sub(have),
                // The length prefix and the id byte.
                Ok(None) => 5usize.saturating_sub(have),
                // `process` closes the connection on it.
                Err(_) => 1,
            },
            Phase::Closed => 0,
        }
    }

    /// Decodes and handles everything complete in the receive buffer.
    pub(super) fn process(&mut self, now: Instant) {
        loop {
            match self.phase {
                Phase::Handshaking => match Handshake::decode(&self.recv) {
                    Err(e) => return self.close_with(CloseReason::Protocol(e)),
                    Ok(None) => return,
                    Ok(Some(hs)) => {
                        self.recv.advance(HANDSHAKE_LEN);
                        self.on_handshake(now, hs);
                    }
                },
                Phase::AwaitingAccept => {
                    if self.recv.len() > MAX_MESSAGE_LEN as usize + 4 {
                        self.close_with(CloseReason::TooMuchBeforeAccept);
                    }
                    return;
                }
                Phase::Established => match self.decoder.decode(&mut self.recv) {
                    Ok(Some(message)) => self.on_message(now, message),
                    Ok(None) => return,
                    Err(e) => return self.close_with(CloseReason::Protocol(e)),
                },
                Phase::Closed => return,
            }
        }
    }

    fn on_handshake(&mut self, now: Instant, hs: Handshake) {
        if hs.peer_id == self.config.peer_id {
            return self.close_with(CloseReason::ConnectedToSelf);
        }
        self.peer = Some(hs);
        match self.info_hash {
            // The peer answers with the v2 hash (a v2-only torrent, or BEP 52's upgrade of a
            // hybrid we named by its v1 hash).
            Some(_) if self.v2 == Some(hs.info_hash) => {
                self.upgrade(hs.info_hash);
                self.establish(now);
            }
            Some(expected) if expected != hs.info_hash => {
                self.close_with(CloseReason::InfoHashMismatch {
                    expected,
                    received: hs.info_hash,
                });
            }
            Some(_) => self.establish(now),
            None => {
                self.phase = Phase::AwaitingAccept;
                self.events.push_back(Event::HandshakeReceived {
                    info_hash: hs.info_hash,
                    peer_id: hs.peer_id,
                    reserved: hs.reserved,
                });
            }
        }
    }

    fn on_message(&mut self, now: Instant, message: Message) {
        if let Some(id) = message.id()
            && id.is_fast()
            && !self.fast
        {
            return self.misbehaved(Misbehaviour::FastNotNegotiated(id));
        }
        if !matches!(
            message,
            Message::KeepAlive
                | Message::Extended { .. }
                | Message::Port(_)
                | Message::AllowedFast(_)
                | Message::SuggestPiece(_)
                | Message::Bitfield(_)
                | Message::HaveAll
                | Message::HaveNone
                | Message::HashRequest(_)
                | Message::Hashes { .. }
                | Message::HashReject(_)
        ) {
            self.other_message_seen = true;
        }
        match message {
            Message::KeepAlive => {}
            Message::Choke => self.on_choke(now),
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.events.push_back(Event::Unchoked);
                }
            }
            Message::Interested => {
                if !self.peer_interested {
                    self.peer_interested = true;
                    self.events.push_back(Event::PeerInterested);
                }
            }
            Message::NotInterested => {
                if self.peer_interested {
                    self.peer_interested = false;
                    self.events.push_back(Event::PeerNotInterested);
                }
            }
            Message::Have(piece) => self.on_have(piece),
            Message::Bitfield(bytes) => self.on_announce(now, Announce::Bitfield(bytes)),
            Message::HaveAll => self.on_announce(now, Announce::All),
            Message::HaveNone => self.on_announce(now, Announce::None),
            Message::Request(block) => self.on_request(now, block),
            Message::Piece {
                piece,
                offset,
                data,
            } => self.on_piece(now, piece, offset, data),
            Message::Cancel(block) => {
                if let Some(i) = self.theirs.iter().position(|b| *b == block) {
                    self.theirs.remove(i);
                    if self.fast {
                        // BEP 6: a cancelled request is answered with a reject (or the piece).
                        self.queue(now, &Message::RejectRequest(block));
                    }
                    self.events.push_back(Event::RequestCancelled(block));
                }
            }
            Message::Port(port) => self.events.push_back(Event::DhtPort(port)),
            Message::SuggestPiece(piece) => {
                if self.piece_out_of_range(piece) {
                    self.misbehaved(Misbehaviour::InvalidSuggest(piece));
                } else {
                    self.events.push_back(Event::Suggested(piece));
                }
            }
            Message::RejectRequest(block) => {
                if self.ours.remove(block) {
                    self.events.push_back(Event::Rejected(block));
                } else if !self.ours.take_abandoned(block, now) {
                    self.misbehaved(Misbehaviour::RejectUnrequested(block));
                }
            }
            Message::AllowedFast(piece) => {
                if self.piece_out_of_range(piece) {
                    self.misbehaved(Misbehaviour::InvalidAllowedFast(piece));
                } else if !self.peer_allowed_fast.contains(&piece)
                    && self.peer_allowed_fast.len() < MAX_ALLOWED_FAST_RECEIVED
                {
                    self.peer_allowed_fast.push(piece);
                    self.events.push_back(Event::AllowedFast(piece));
                }
            }
            Message::Extended { id, payload } => self.on_extended(id, payload),
            Message::HashRequest(_) | Message::Hashes { .. } | Message::HashReject(_) => {
                self.on_hash_message(message);
            }
        }
    }

    fn on_choke(&mut self, now: Instant) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        self.events.push_back(Event::Choked);
        if !self.fast {
            // BEP 3: a choke discards every pending request. With Fast the peer rejects each.
            for block in std::mem::take(&mut self.ours.live) {
                self.ours.abandon(block, now);
                self.events.push_back(Event::Rejected(block));
            }
        }
    }

    fn piece_out_of_range(&self, piece: u32) -> bool {
        self.geometry.is_some_and(|g| piece >= g.piece_count())
    }

    fn on_have(&mut self, piece: u32) {
        if self.peer_pieces.known {
            if piece >= self.peer_pieces.bits.len() {
                self.misbehaved(Misbehaviour::InvalidHave(piece));
            } else if self.peer_pieces.bits.insert(piece) {
                self.events.push_back(Event::Have(piece));
            }
        } else if !self.peer_pieces.unknown_have(piece) {
            self.misbehaved(Misbehaviour::InvalidHave(piece));
        }
    }

    fn on_announce(&mut self, now: Instant, what: Announce) {
        if self.peer_pieces.announced {
            return self.misbehaved(Misbehaviour::DuplicateBitfield);
        }
        if self.other_message_seen {
            return self.misbehaved(Misbehaviour::BitfieldNotFirst);
        }
        self.peer_pieces.announced = true;
        let pieces = &mut self.peer_pieces;
        if pieces.known {
            let count = pieces.bits.len();
            let event = match what {
                Announce::Bitfield(bytes) => match PieceSet::from_bitfield(&bytes, count) {
                    Ok(bits) => {
                        pieces.bits = bits;
                        Event::Bitfield
                    }
                    Err(_) => {
                        // The decoder checked length and spare bits against the same count.
                        return self.misbehaved(Misbehaviour::BitfieldLength {
                            length: bytes.len() as u32,
                            expected: bitfield_len(count) as u32,
                        });
                    }
                },
                Announce::All => {
                    pieces.bits.insert_all();
                    Event::HaveAll
                }
                Announce::None => {
                    pieces.bits.clear();
                    Event::HaveNone
                }
            };
            self.events.push_back(event);
            return self.grant_allowed_fast(now);
        }
        match what {
            Announce::Bitfield(bytes) => {
                // The decoder capped the length at MAX_UNKNOWN_BITFIELD_LEN, so the bit count
                // fits; every bit is a valid piece until the count is known.
                let bits = bytes.len() as u32 * 8;
                if let Ok(b) = PieceSet::from_bitfield(&bytes, bits) {
                    pieces.bits = b;
                }
                pieces.bitfield_len = Some(bytes.len());
            }
            Announce::All => pieces.have_all = true,
            Announce::None => {}
        }
    }

    /// The peer announced its pieces: grant our allowed-fast set (BEP 6) if it is a starting
    /// peer, one with fewer pieces than the set is large, and only the pieces it lacks. A
    /// peer with more has pieces to trade for an unchoke; a seed needs nothing. Granting to
    /// every peer would let each new connection take its set while we choke it.
    fn grant_allowed_fast(&mut self, now: Instant) {
        let set = std::mem::take(&mut self.fast_to_grant);
        let bits = &self.peer_pieces.bits;
        if bits.count() >= self.config.allowed_fast() {
            return;
        }
        let lacking: Vec<u32> = set.into_iter().filter(|&p| !bits.contains(p)).collect();
        for piece in lacking {
            self.granted_fast.push(piece);
            self.queue(now, &Message::AllowedFast(piece));
        }
    }

    /// The piece count became known: check what the peer announced before and report it.
    pub(super) fn learn_piece_count(&mut self, count: u32) {
        let pieces = &mut self.peer_pieces;
        if pieces.known {
            return;
        }
        pieces.known = true;
        if pieces.have_all {
            pieces.have_all = false;
            pieces.bits = PieceSet::full(count);
            self.events.push_back(Event::HaveAll);
            return;
        }
        let fault = if let Some(len) = pieces.bitfield_len
            && len != bitfield_len(count)
        {
            Some(Misbehaviour::BitfieldLength {
                length: len as u32,
                expected: bitfield_len(count) as u32,
            })
        } else if let Some(last) = pieces.bits.last()
            && last >= count
        {
            Some(Misbehaviour::PieceBeyondCount(last))
        } else {
            None
        };
        pieces.bitfield_len = None;
        if let Some(fault) = fault {
            pieces.bits = PieceSet::new(count);
            return self.misbehaved(fault);
        }
        pieces.bits.resize(count);
        if pieces.bits.count() != 0 {
            self.events.push_back(Event::Bitfield);
        } else if pieces.announced {
            self.events.push_back(Event::HaveNone);
        }
    }

    fn on_request(&mut self, now: Instant, block: BlockRef) {
        let fault = if block.length > MAX_BLOCK_LEN {
            Some(Misbehaviour::RequestTooLarge(block))
        } else if !self.geometry.is_some_and(|g| g.is_valid_block(block)) {
            Some(Misbehaviour::RequestOutOfRange(block))
        } else if self.am_choking && !(self.fast && self.granted_fast.contains(&block.piece)) {
            // A request crossing our choke is normal: reject (Fast) or ignore (BEP 3).
            None
        } else if self.theirs.contains(&block) {
            return;
        } else if self.theirs.len() >= self.config.requests_in() {
            Some(Misbehaviour::RequestQueueOverflow(block))
        } else {
            self.theirs.push_back(block);
            self.events.push_back(Event::RequestReceived(block));
            return;
        };
        if self.fast {
            self.queue(now, &Message::RejectRequest(block));
        }
        if let Some(fault) = fault {
            self.misbehaved(fault);
        }
    }

    fn on_piece(&mut self, now: Instant, piece: u32, offset: u32, data: Bytes) {
        // The decoder bounds a block at MAX_BLOCK_LEN.
        let block = BlockRef::new(piece, offset, data.len() as u32);
        if self.ours.remove(block) || self.ours.take_abandoned(block, now) {
            self.events.push_back(Event::BlockReceived { block, data });
        } else {
            self.misbehaved(Misbehaviour::UnrequestedBlock(block));
        }
    }

    fn on_extended(&mut self, id: u8, payload: Bytes) {
        if !self.extended {
            return self.misbehaved(Misbehaviour::ExtendedNotNegotiated);
        }
        if id == 0 {
            match ExtendedHandshake::parse(&payload) {
                Ok(hs) => {
                    self.peer_extensions.update(&hs.extensions);
                    self.set_reqq(hs.reqq);
                    self.events
                        .push_back(Event::ExtendedHandshake(Box::new(hs)));
                }
                Err(e) => self.misbehaved(Misbehaviour::InvalidExtendedHandshake(e)),
            }
        } else if self.config.extensions.name(id).is_some() {
            self.events
                .push_back(Event::ExtendedMessage { id, payload });
        } else {
            self.misbehaved(Misbehaviour::UnknownExtendedMessage(id));
        }
    }
}
