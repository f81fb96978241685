//! Fuzz body: a connection fed arbitrary bytes, well-formed messages, owner actions and
//! timeouts never panics, and its state invariants hold after every step.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::extensions::{UT_METADATA, UT_PEX};
use crate::id::{InfoHash, PeerId};
use crate::pieces::{BlockRef, PieceSet};
use crate::wire::limits::{HANDSHAKE_LEN, MAX_MESSAGE_LEN};
use crate::wire::{
    Config, Connection, Decoder, Event, Handshake, Message, PieceCount, PieceGeometry, Reserved,
    TorrentParams,
};

const INFO_HASH: InfoHash = InfoHash([0x42; 20]);
const PIECE_LEN: u32 = 32 * 1024;
const PIECES: u32 = 10;

/// Runs the script in `data` against one connection starting at `start` (the fuzz target
/// passes the current instant; the connection only ever sees instants derived from it).
///
/// `data[0]` holds flags (bit 0 Fast, 1 extension protocol, 2 outbound, 3 magnet, 4 we
/// seed); then each op byte is followed by its operands (see [`Script::step`]).
/// Returns what the script reached, so tests can check the corpus exercises the machine.
pub fn peer_connection(start: Instant, data: &[u8]) -> Reached {
    let Some((&flags, ops)) = data.split_first() else {
        return Reached::default();
    };
    let mut script = Script::new(start, flags, ops);
    while script.step() {
        script.check();
    }
    script.check();
    script.reached
}

/// How far a script got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reached {
    /// Both handshakes finished.
    pub established: bool,
    /// Blocks received.
    pub blocks_received: usize,
    /// Requests received.
    pub requests_received: usize,
    /// Events seen in all.
    pub events: usize,
}

struct Script<'a> {
    ops: &'a [u8],
    now: Instant,
    conn: Connection,
    geometry: PieceGeometry,
    magnet: bool,
    ours: PieceSet,
    config: Arc<Config>,
    out: BytesMut,
    handshake_seen: bool,
    closed: bool,
    /// Requests in flight at the last check: more than the peer's `reqq` only if it lowered
    /// its `reqq` (a later extended handshake) while they were out.
    requests_out: usize,
    reached: Reached,
}

impl<'a> Script<'a> {
    fn new(now: Instant, flags: u8, ops: &'a [u8]) -> Self {
        let mut config = Config::new(PeerId(*b"-ST0100-fuzzfuzzfuzz"));
        config.fast = flags & 1 != 0;
        config.extension_protocol = flags & 2 != 0;
        config.dht_port = Some(6881);
        config.max_requests_in = 8;
        config.allowed_fast_count = 3;
        config.extensions.register(UT_METADATA);
        let config = Arc::new(config);
        let geometry = PieceGeometry::new(PIECE_LEN, u64::from(PIECE_LEN * PIECES) - 777)
            .expect("a valid constant geometry");
        let magnet = flags & 8 != 0;
        let ours = if flags & 16 != 0 {
            PieceSet::full(PIECES)
        } else {
            PieceSet::new(PIECES)
        };
        let ip = Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 9)));
        let conn = if flags & 4 != 0 {
            Connection::outbound(now, config.clone(), ip, params(magnet, geometry, &ours))
                .expect("our bitfield matches the geometry")
        } else {
            Connection::inbound(now, config.clone(), ip)
        };
        let mut s = Self {
            ops,
            now,
            conn,
            geometry,
            magnet,
            ours,
            config,
            out: BytesMut::new(),
            handshake_seen: false,
            requests_out: 0,
            closed: false,
            reached: Reached::default(),
        };
        s.drain();
        s
    }

    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.ops.split_first()?;
        self.ops = rest;
        Some(b)
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.ops.len());
        let (head, rest) = self.ops.split_at(n);
        self.ops = rest;
        head
    }

    /// A small block reference: mostly valid, sometimes not.
    fn block(&mut self) -> BlockRef {
        let piece = u32::from(self.byte().unwrap_or(0) % 12);
        let offset = u32::from(self.byte().unwrap_or(0)) * 1024;
        let length = match self.byte().unwrap_or(0) {
            0..=200 => 16384,
            n => u32::from(n) * 100,
        };
        BlockRef::new(piece, offset, length)
    }

    /// One op; `false` when the script is over.
    fn step(&mut self) -> bool {
        let Some(op) = self.byte() else {
            return false;
        };
        let now = self.now;
        match op % 8 {
            0 => {
                let n = usize::from(self.byte().unwrap_or(0));
                let chunk = self.take(n);
                self.conn.handle_input(now, chunk);
            }
            1 => {
                let mut bytes = Vec::new();
                self.message().encode(&mut bytes);
                self.conn.handle_input(now, &bytes);
            }
            2 => {
                let hs = Handshake {
                    reserved: Reserved(*b"\0\0\0\0\0\x10\0\x05"),
                    info_hash: INFO_HASH,
                    peer_id: PeerId([self.byte().unwrap_or(7); 20]),
                };
                self.conn.handle_input(now, &hs.to_bytes());
            }
            3 => {
                let secs = u64::from(self.byte().unwrap_or(0));
                self.now += Duration::from_millis(secs * 997);
                self.conn.handle_timeout(self.now);
            }
            4 => {
                if let Some(t) = self.conn.poll_timeout() {
                    self.now = self.now.max(t);
                    self.conn.handle_timeout(self.now);
                }
            }
            5 => self.action(),
            6 => self.conn.handle_eof(now),
            _ => {
                let n = usize::from(self.byte().unwrap_or(0)) * 64;
                let chunk = self.take(n);
                self.conn.handle_input(now, chunk);
            }
        }
        self.drain();
        true
    }

    fn message(&mut self) -> Message {
        match self.byte().unwrap_or(0) % 18 {
            0 => Message::KeepAlive,
            1 => Message::Choke,
            2 => Message::Unchoke,
            3 => Message::Interested,
            4 => Message::NotInterested,
            5 => Message::Have(u32::from(self.byte().unwrap_or(0) % 12)),
            6 => {
                let n = usize::from(self.byte().unwrap_or(2) % 4);
                Message::Bitfield(Bytes::copy_from_slice(self.take(n)))
            }
            7 => Message::Request(self.block()),
            8 => {
                let b = self.block();
                let len = b.length.min(16384) as usize;
                Message::Piece {
                    piece: b.piece,
                    offset: b.offset,
                    data: Bytes::from(vec![0xab; len]),
                }
            }
            9 => Message::Cancel(self.block()),
            10 => Message::Port(6881),
            11 => Message::SuggestPiece(u32::from(self.byte().unwrap_or(0) % 12)),
            12 => Message::HaveAll,
            13 => Message::HaveNone,
            14 => Message::RejectRequest(self.block()),
            15 => Message::AllowedFast(u32::from(self.byte().unwrap_or(0) % 12)),
            16 => Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:md11:ut_metadatai3e6:ut_pexi4ee4:reqqi3ee"),
            },
            _ => {
                let id = self.byte().unwrap_or(1);
                let n = usize::from(self.byte().unwrap_or(0));
                Message::Extended {
                    id,
                    payload: Bytes::copy_from_slice(self.take(n)),
                }
            }
        }
    }

    /// An owner action; errors are fine (the state may not allow it), panics are not.
    fn action(&mut self) {
        let now = self.now;
        let c = &mut self.conn;
        match self.ops.first().copied().unwrap_or(0) % 14 {
            0 => {
                let _ = c.send_interested(now);
            }
            1 => {
                let _ = c.send_not_interested(now);
            }
            2 => {
                let _ = c.choke(now);
            }
            3 => {
                let _ = c.unchoke(now);
            }
            4 => {
                self.byte();
                let b = self.block();
                let _ = self.conn.request(now, b);
                return;
            }
            5 => {
                let first = c.requests_out().next();
                if let Some(b) = first {
                    let _ = c.cancel(now, b);
                }
            }
            6 => {
                let first = c.requests_in().next();
                if let Some(b) = first {
                    let data = Bytes::from(vec![1u8; b.length as usize]);
                    let _ = c.send_block(now, b.piece, b.offset, data);
                }
            }
            7 => {
                let first = c.requests_in().next();
                if let Some(b) = first {
                    let _ = c.reject(now, b);
                }
            }
            8 => {
                let _ = c.send_have(now, 3);
            }
            9 => {
                let _ = c.set_geometry(now, self.geometry);
            }
            10 => {
                let _ = c.send_extended(now, UT_PEX, Bytes::from_static(b"de"));
            }
            11 => c.close(),
            12 => {
                if let Some(info_hash) = c.info_hash() {
                    let mut p = params(self.magnet, self.geometry, &self.ours);
                    p.info_hash = info_hash;
                    let _ = c.accept(now, p);
                }
            }
            _ => {
                let first = c.requests_out().next();
                if let Some(block) = first {
                    // A stale block: sending it must be refused, not panic.
                    let _ = c.send_block(now, block.piece, block.offset, Bytes::new());
                }
            }
        }
        self.byte();
    }

    fn drain(&mut self) {
        while let Some(bytes) = self.conn.poll_transmit() {
            assert!(!bytes.is_empty(), "empty transmit");
            self.out.extend_from_slice(&bytes);
        }
        if !self.handshake_seen && self.out.len() >= HANDSHAKE_LEN {
            let hs = Handshake::decode(&self.out)
                .expect("our handshake is valid")
                .expect("68 bytes are a whole handshake");
            assert_eq!(hs.peer_id, self.config.peer_id);
            let _ = self.out.split_to(HANDSHAKE_LEN);
            self.handshake_seen = true;
        }
        if self.handshake_seen {
            let dec = Decoder::new(PieceCount::Unknown);
            while let Some(m) = dec.decode(&mut self.out).expect("we send valid messages") {
                if let Message::Bitfield(b) = m {
                    assert_eq!(b.len(), self.ours.bitfield_len());
                }
            }
        }
        while let Some(event) = self.conn.poll_event() {
            assert!(!self.closed, "event after Closed: {event:?}");
            self.reached.events += 1;
            match event {
                Event::Established { .. } => self.reached.established = true,
                Event::Closed(_) => self.closed = true,
                Event::BlockReceived { block, data } => {
                    assert_eq!(data.len(), block.length as usize);
                    self.reached.blocks_received += 1;
                    assert!(self.geometry.is_valid_block(block));
                }
                Event::RequestReceived(block) => {
                    self.reached.requests_received += 1;
                    assert!(self.geometry.is_valid_block(block));
                }
                _ => {}
            }
        }
    }

    fn check(&mut self) {
        let c = &self.conn;
        assert_eq!(c.is_closed(), self.closed, "closed without an event");
        if c.is_closed() {
            assert_eq!(c.poll_timeout(), None);
            assert_eq!(c.requests_in().count(), 0);
            assert_eq!(c.requests_out().count(), 0);
            assert_eq!(c.recv_buffered(), 0);
            assert_eq!(c.send_buffered(), 0);
            return;
        }
        assert!(c.poll_timeout().is_some(), "an open connection has a timer");
        assert!(c.recv_buffered() <= MAX_MESSAGE_LEN as usize + 4);
        assert!(c.requests_in().count() <= self.config.max_requests_in as usize);
        assert!(c.requests_out().count() <= self.config.max_requests_out as usize);
        let out = c.requests_out().count();
        assert!(
            out <= c.peer_reqq() as usize || out <= self.requests_out,
            "a request sent beyond the peer's reqq"
        );
        if let Some(p) = c.peer_pieces() {
            assert_eq!(p.len(), PIECES);
            assert!(p.iter().all(|i| i < PIECES));
        }
        if !c.fast() {
            assert!(c.peer_allowed_fast().is_empty());
        }
        self.requests_out = out;
    }
}

fn params(magnet: bool, geometry: PieceGeometry, ours: &PieceSet) -> TorrentParams<'_> {
    TorrentParams {
        info_hash: INFO_HASH,
        geometry: (!magnet).then_some(geometry),
        our_pieces: (!magnet).then_some(ours),
        metadata_size: None,
        v2: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("peer_connection");
        assert!(!corpus.is_empty(), "fuzz/corpus/peer_connection is empty");
        let mut total = super::Reached::default();
        for input in corpus {
            let r = super::peer_connection(Instant::now(), &input);
            total.established |= r.established;
            total.blocks_received += r.blocks_received;
            total.requests_received += r.requests_received;
        }
        assert!(total.established && total.blocks_received > 0 && total.requests_received > 0);
    }

    /// Structured pseudo-random scripts: a cheap stand-in for a fuzzing run.
    #[test]
    fn random_scripts_hold_the_invariants() {
        let mut rng = crate::rng::Rng::new(99);
        let mut established = 0;
        for _ in 0..3000 {
            let mut data = vec![rng.next_u32() as u8, 2, 9];
            if data[0] & 4 == 0 {
                data.extend_from_slice(&[5, 12]); // accept
            }
            for _ in 0..rng.index(60) {
                let op = [0u8, 1, 1, 1, 1, 3, 4, 5, 5, 5, 6, 7][rng.index(12)];
                data.push(op);
                for _ in 0..rng.index(5) {
                    data.push(rng.next_u32() as u8 % 24);
                }
            }
            let r = super::peer_connection(Instant::now(), &data);
            established += usize::from(r.established);
        }
        assert!(
            established > 1000,
            "only {established} scripts got established"
        );
    }
}
