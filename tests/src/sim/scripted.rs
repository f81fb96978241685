//! Scripted peers (h2-style mocks): participants that speak just enough of the peer wire
//! protocol to misbehave in one precise way, and flooders that open connections or send DHT
//! queries in bulk.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use sanstorrent_core::bencode::{Encoder, decode};
use sanstorrent_core::merkle::sha256;
use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::ConnId;
use sanstorrent_core::wire::hashes::HashRequest;
use sanstorrent_core::{InfoHash, PeerId};

use super::agent::{Agent, Output};
use super::torrent::TestTorrent;

/// How a [`ScriptedPeer`] misbehaves. Each claims to have every piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behaviour {
    /// Serves every request, with one byte of each block flipped.
    Corrupt,
    /// After the handshake, sends random bytes.
    Garbage,
    /// After the bitfield, sends a message header claiming 2 GiB.
    Oversized,
    /// Never unchokes (keeps the connection alive with keep-alives).
    NeverUnchoke,
    /// Unchokes and serves this many blocks, then stalls mid-piece forever (keep-alives only).
    Slowloris(u32),
    /// Unchokes and never answers a request: it claimed pieces it does not have.
    Liar,
    /// Serves honestly but drops the connection after this many blocks.
    Flaky(u32),
    /// Serves like [`Behaviour::Corrupt`] but drops the connection after this many blocks
    /// (it is gone before its bad blocks can be proven).
    CorruptFlaky(u32),
    /// Serves every request with the right bytes (the honest other side of a scenario).
    Honest,
    /// Serves honestly but for the block it serves after this many others, which it sends
    /// with one byte flipped (see [`ScriptedPeer::corrupted`]).
    CorruptOne(u32),
    /// Serves honestly, sets the BitTorrent v2 handshake bit and answers hash requests for
    /// the leaves (layer 0, no proof) of a single-file v2 torrent; rejects any other.
    HonestV2,
}

/// A block named by a request or cancel: piece, offset, length.
pub type Block = (u32, u32, u32);

#[derive(Debug, Default)]
struct Conn {
    buf: Vec<u8>,
    handshaken: bool,
    served: u32,
}

/// A misbehaving peer that listens for the victim's connections.
#[derive(Debug)]
pub struct ScriptedPeer {
    /// The behaviour.
    pub behaviour: Behaviour,
    /// Requests received.
    pub requests: u64,
    /// Each request received, with when.
    pub requested: Vec<(Instant, Block)>,
    /// Each cancel received, with when.
    pub cancelled: Vec<(Instant, Block)>,
    /// Blocks sent.
    pub blocks_sent: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections the victim closed.
    pub closed: u64,
    /// The blocks sent corrupted.
    pub corrupted: Vec<Block>,
    /// Hash requests received (BEP 52), with when.
    pub hash_requests: Vec<(Instant, HashRequest)>,
    info_hash: InfoHash,
    /// The `pieces root` of the torrent's first file (a v2 torrent).
    root: Option<[u8; 32]>,
    peer_id: PeerId,
    piece_count: u32,
    piece_length: u64,
    content: Vec<u8>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    rng: Rng,
    out: VecDeque<Output>,
    next_keepalive: Option<Instant>,
}

impl ScriptedPeer {
    /// A scripted peer for `torrent`.
    pub fn new(torrent: &TestTorrent, behaviour: Behaviour, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let meta = &torrent.meta;
        Self {
            behaviour,
            requests: 0,
            requested: Vec::new(),
            cancelled: Vec::new(),
            blocks_sent: 0,
            accepted: 0,
            closed: 0,
            corrupted: Vec::new(),
            hash_requests: Vec::new(),
            info_hash: meta.info_hash(),
            root: meta.pieces_root(0).copied(),
            peer_id: PeerId::generate(&mut rng),
            piece_count: meta.piece_count(),
            piece_length: u64::from(meta.layout().piece_len(0)),
            content: torrent.files.iter().flatten().copied().collect(),
            conns: BTreeMap::new(),
            next_conn: 0,
            rng,
            out: VecDeque::new(),
            next_keepalive: None,
        }
    }

    fn send(&mut self, conn: ConnId, bytes: Vec<u8>) {
        self.out.push_back(Output::Send {
            conn,
            bytes: Bytes::from(bytes),
        });
    }

    fn greet(&mut self, now: Instant, conn: ConnId) {
        let mut hs = Vec::with_capacity(68);
        hs.push(19);
        hs.extend_from_slice(b"BitTorrent protocol");
        let v2 = if self.behaviour == Behaviour::HonestV2 {
            0x10
        } else {
            0
        };
        hs.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, v2]);
        hs.extend_from_slice(&self.info_hash.0);
        hs.extend_from_slice(&self.peer_id.0);
        self.send(conn, hs);
        if self.behaviour == Behaviour::Garbage {
            let mut junk = vec![0u8; 300];
            self.rng.fill(&mut junk);
            self.send(conn, junk);
            return;
        }
        let n = self.piece_count as usize;
        let mut bits = vec![0u8; n.div_ceil(8)];
        for i in 0..n {
            bits[i / 8] |= 0x80 >> (i % 8);
        }
        let mut m = Vec::new();
        m.put_u32(1 + bits.len() as u32);
        m.put_u8(5);
        m.extend_from_slice(&bits);
        self.send(conn, m);
        match self.behaviour {
            Behaviour::Oversized => self.send(conn, vec![0x7f, 0xff, 0xff, 0xff, 7, 0, 0, 0]),
            Behaviour::NeverUnchoke => {}
            _ => self.send(conn, vec![0, 0, 0, 1, 1]),
        }
        self.next_keepalive
            .get_or_insert(now + Duration::from_secs(30));
    }

    fn request(&mut self, now: Instant, conn: ConnId, piece: u32, offset: u32, len: u32) {
        self.requests += 1;
        self.requested.push((now, (piece, offset, len)));
        // A connection this peer dropped (Flaky) serves nothing more.
        let Some(served) = self.conns.get(&conn).map(|c| c.served) else {
            return;
        };
        match self.behaviour {
            Behaviour::Liar | Behaviour::NeverUnchoke => return,
            Behaviour::Slowloris(n) if served >= n => return,
            Behaviour::Flaky(n) | Behaviour::CorruptFlaky(n) if served >= n => {
                self.out.push_back(Output::Close { conn });
                self.conns.remove(&conn);
                return;
            }
            _ => {}
        }
        let start = u64::from(piece) * self.piece_length + u64::from(offset);
        let end = start + u64::from(len);
        let Some(block) = self.content.get(start as usize..end as usize) else {
            return;
        };
        let mut block = block.to_vec();
        let corrupt = match self.behaviour {
            Behaviour::Corrupt | Behaviour::CorruptFlaky(_) => true,
            Behaviour::CorruptOne(n) => self.blocks_sent == u64::from(n),
            _ => false,
        };
        if corrupt && let Some(b) = block.first_mut() {
            *b ^= 0xff;
            self.corrupted.push((piece, offset, len));
        }
        let mut m = BytesMut::with_capacity(13 + block.len());
        m.put_u32(9 + len);
        m.put_u8(7);
        m.put_u32(piece);
        m.put_u32(offset);
        m.extend_from_slice(&block);
        self.blocks_sent += 1;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.served += 1;
        }
        self.out.push_back(Output::Send {
            conn,
            bytes: m.freeze(),
        });
    }

    /// A BEP 52 `hash request` (its 48 bytes): a [`Behaviour::HonestV2`] peer answers one for
    /// leaves of the first file without proof; any other is rejected.
    fn hash_request(&mut self, now: Instant, conn: ConnId, body: &[u8]) {
        let word = |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        let mut pieces_root = [0; 32];
        pieces_root.copy_from_slice(&body[..32]);
        let request = HashRequest {
            pieces_root,
            base_layer: word(32),
            index: word(36),
            length: word(40),
            proof_layers: word(44),
        };
        self.hash_requests.push((now, request));
        let served = self.behaviour == Behaviour::HonestV2
            && self.root == Some(pieces_root)
            && request.base_layer == 0
            && request.proof_layers == 0
            && (2..=8192).contains(&request.length);
        let mut m = BytesMut::new();
        if served {
            let block = 16 * 1024usize;
            m.put_u32(1 + body.len() as u32 + 32 * request.length);
            m.put_u8(22);
            m.extend_from_slice(body);
            for i in request.index..request.index + request.length {
                let start = i as usize * block;
                let leaf = match self.content.get(start..) {
                    Some(rest) if !rest.is_empty() => sha256(&rest[..rest.len().min(block)]),
                    _ => [0; 32],
                };
                m.extend_from_slice(&leaf);
            }
        } else {
            m.put_u32(1 + body.len() as u32);
            m.put_u8(23);
            m.extend_from_slice(body);
        }
        self.out.push_back(Output::Send {
            conn,
            bytes: m.freeze(),
        });
    }
}

impl Agent for ScriptedPeer {
    fn accept(&mut self, _now: Instant, _remote: SocketAddr) -> Option<ConnId> {
        self.next_conn += 1;
        self.accepted += 1;
        let id = ConnId(self.next_conn);
        self.conns.insert(id, Conn::default());
        Some(id)
    }

    fn data(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.buf.extend_from_slice(bytes);
        if !c.handshaken {
            if c.buf.len() < 68 {
                return;
            }
            c.buf.drain(..68);
            c.handshaken = true;
            self.greet(now, conn);
        }
        let mut requests = Vec::new();
        let mut cancels = Vec::new();
        let mut hash_requests = Vec::new();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        loop {
            if c.buf.len() < 4 {
                break;
            }
            let len = u32::from_be_bytes([c.buf[0], c.buf[1], c.buf[2], c.buf[3]]) as usize;
            if c.buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = c.buf.drain(..4 + len).skip(4).collect();
            if msg.len() == 49 && msg[0] == 21 {
                hash_requests.push(msg[1..].to_vec());
                continue;
            }
            if msg.len() == 13 && (msg[0] == 6 || msg[0] == 8) {
                let word =
                    |i: usize| u32::from_be_bytes([msg[i], msg[i + 1], msg[i + 2], msg[i + 3]]);
                let block = (word(1), word(5), word(9));
                match msg[0] {
                    6 => requests.push(block),
                    _ => cancels.push(block),
                }
            }
        }
        self.cancelled.extend(cancels.into_iter().map(|b| (now, b)));
        for body in hash_requests {
            self.hash_request(now, conn, &body);
        }
        for (piece, offset, len) in requests {
            self.request(now, conn, piece, offset, len);
        }
    }

    fn closed(&mut self, _now: Instant, conn: ConnId) {
        if self.conns.remove(&conn).is_some() {
            self.closed += 1;
        }
    }

    fn timeout(&mut self, now: Instant) {
        if self.next_keepalive.is_some_and(|t| t <= now) {
            let conns: Vec<ConnId> = self.conns.keys().copied().collect();
            for conn in conns {
                self.send(conn, vec![0, 0, 0, 0]);
            }
            self.next_keepalive = (!self.conns.is_empty()).then(|| now + Duration::from_secs(30));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next_keepalive
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Opens `count` connections to `target` (one every `every`), each handshaking for
/// `info_hash` with its own peer id and then idling; counts what the target refused.
#[derive(Debug)]
pub struct ConnFlood {
    /// Connections attempted.
    pub attempted: u64,
    /// Connections the target accepted (connect succeeded).
    pub established: u64,
    /// Connections the target closed.
    pub closed: u64,
    target: SocketAddr,
    info_hash: InfoHash,
    count: u64,
    every: Duration,
    next: Option<Instant>,
    rng: Rng,
    out: VecDeque<Output>,
}

impl ConnFlood {
    /// A flood of `count` connects to `target`, starting at `start`.
    pub fn new(
        target: SocketAddr,
        info_hash: InfoHash,
        count: u64,
        start: Instant,
        seed: u64,
    ) -> Self {
        Self {
            attempted: 0,
            established: 0,
            closed: 0,
            target,
            info_hash,
            count,
            every: Duration::from_millis(5),
            next: Some(start),
            rng: Rng::new(seed),
            out: VecDeque::new(),
        }
    }
}

impl Agent for ConnFlood {
    fn connected(&mut self, _now: Instant, conn: ConnId, ok: bool) {
        if !ok {
            return;
        }
        self.established += 1;
        let mut hs = Vec::with_capacity(68);
        hs.push(19);
        hs.extend_from_slice(b"BitTorrent protocol");
        hs.extend_from_slice(&[0; 8]);
        hs.extend_from_slice(&self.info_hash.0);
        hs.extend_from_slice(&PeerId::generate(&mut self.rng).0);
        self.out.push_back(Output::Send {
            conn,
            bytes: Bytes::from(hs),
        });
    }

    fn closed(&mut self, _now: Instant, _conn: ConnId) {
        self.closed += 1;
    }

    fn timeout(&mut self, now: Instant) {
        while self.next.is_some_and(|t| t <= now) {
            self.attempted += 1;
            self.out.push_back(Output::Connect {
                conn: ConnId(self.attempted),
                addr: self.target,
            });
            self.next = (self.attempted < self.count).then(|| now + self.every);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Sends `count` DHT queries to `target` (one every millisecond): `get_peers` for random
/// info-hashes, and once a response gave it a write token, `announce_peer`s of random
/// info-hashes with that token (each valid: the store must bound itself), each from a fresh
/// random node id.
#[derive(Debug)]
pub struct DhtFlood {
    /// Queries sent.
    pub sent: u64,
    /// Answers received.
    pub answers: u64,
    /// Announces sent with a valid token.
    pub announces: u64,
    target: SocketAddr,
    count: u64,
    every: Duration,
    next: Option<Instant>,
    token: Option<Vec<u8>>,
    rng: Rng,
    out: VecDeque<Output>,
}

impl DhtFlood {
    /// A flood of `count` queries to `target`, starting at `start`.
    pub fn new(target: SocketAddr, count: u64, start: Instant, seed: u64) -> Self {
        Self {
            sent: 0,
            answers: 0,
            announces: 0,
            target,
            count,
            every: Duration::from_millis(1),
            next: Some(start),
            token: None,
            rng: Rng::new(seed),
            out: VecDeque::new(),
        }
    }

    /// Sends one query every `every` (1 ms unless set).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    fn query(&mut self) -> Vec<u8> {
        let mut id = [0u8; 20];
        self.rng.fill(&mut id);
        let mut hash = [0u8; 20];
        self.rng.fill(&mut hash);
        let tid = (self.sent as u16).to_be_bytes();
        let announce = self.token.clone().filter(|_| self.sent.is_multiple_of(2));
        let mut e = Encoder::new();
        e.dict();
        e.bytes(b"a").dict();
        e.bytes(b"id").bytes(&id);
        if announce.is_some() {
            e.bytes(b"implied_port").int(1);
        }
        e.bytes(b"info_hash").bytes(&hash);
        if let Some(token) = &announce {
            e.bytes(b"port").int(6881);
            e.bytes(b"token").bytes(token);
        }
        e.end();
        e.bytes(b"q").bytes(if announce.is_some() {
            b"announce_peer".as_slice()
        } else {
            b"get_peers".as_slice()
        });
        e.bytes(b"t").bytes(&tid);
        e.bytes(b"y").bytes(b"q");
        e.end();
        if announce.is_some() {
            self.announces += 1;
        }
        e.finish()
    }
}

impl Agent for DhtFlood {
    fn datagram(&mut self, _now: Instant, _from: SocketAddr, bytes: &[u8]) {
        self.answers += 1;
        let token = decode(bytes).ok().and_then(|v| {
            let r = v.as_dict()?.dict(b"r")?;
            r.bytes(b"token").map(<[u8]>::to_vec)
        });
        if token.is_some() {
            self.token = token;
        }
    }

    fn timeout(&mut self, now: Instant) {
        while self.next.is_some_and(|t| t <= now) {
            self.sent += 1;
            let q = self.query();
            self.out.push_back(Output::Datagram {
                to: self.target,
                bytes: Bytes::from(q),
            });
            self.next = (self.sent < self.count).then(|| now + self.every);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
