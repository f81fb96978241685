//! Connection tests: a quinn-style `Pair` (two connections over an in-memory pipe with virtual
//! time and latency) and a scripted peer (raw messages in, decoded messages out).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::extensions::UT_METADATA;
use crate::id::sha1_digest;
use crate::rng::Rng;
use crate::wire::codec::ProtocolError;
use crate::wire::limits::MAX_UNKNOWN_PIECE_COUNT;
use crate::wire::message::MessageId;

const PIECE_LEN: u32 = 64 * 1024;
const PIECES: u32 = 4;
const BLOCK: u32 = 16 * 1024;

fn hash() -> InfoHash {
    InfoHash([0x42; 20])
}

fn geometry() -> PieceGeometry {
    PieceGeometry::new(PIECE_LEN, u64::from(PIECE_LEN * PIECES) - 1000).unwrap()
}

fn data() -> Bytes {
    let mut rng = Rng::new(7);
    let mut d = vec![0u8; (PIECE_LEN * PIECES) as usize - 1000];
    rng.fill(&mut d);
    Bytes::from(d)
}

fn config(seed: u64, fast: bool) -> Arc<Config> {
    let mut c = Config::new(PeerId::generate(&mut Rng::new(seed)));
    c.fast = fast;
    c.extensions.register(UT_METADATA);
    // Two of the four pieces are allowed fast, so tests see both kinds.
    c.allowed_fast_count = 2;
    Arc::new(c)
}

/// One side of a pair: its connection, events seen, bytes on their way to it.
struct Side {
    conn: Connection,
    events: Vec<Event>,
    inbox: VecDeque<(Instant, Bytes)>,
    /// Whether bytes this side sends reach the other side.
    link_up: bool,
}

/// Two connections over an in-memory pipe: `a` dialled `b`; `b` accepts automatically.
struct Pair {
    now: Instant,
    latency: Duration,
    a: Side,
    b: Side,
    b_pieces: Bitfield,
}

impl Pair {
    fn new(fast_a: bool, fast_b: bool) -> Self {
        let now = Instant::now();
        let a = Connection::outbound(
            now,
            config(1, fast_a),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
            TorrentParams {
                info_hash: hash(),
                geometry: Some(geometry()),
                our_pieces: None,
                metadata_size: None,
            },
        )
        .unwrap();
        let b = Connection::inbound(
            now,
            config(2, fast_b),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        );
        let side = |conn| Side {
            conn,
            events: Vec::new(),
            inbox: VecDeque::new(),
            link_up: true,
        };
        Self {
            now,
            latency: Duration::from_millis(25),
            a: side(a),
            b: side(b),
            b_pieces: Bitfield::full(PIECES),
        }
    }

    /// Drains outputs of both sides into the pipe and the event logs; accepts b's handshake.
    fn collect(&mut self) {
        for _ in 0..2 {
            for (from, to) in [(0, 1), (1, 0)] {
                let (src, dst) = if from == 0 {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(bytes) = src.conn.poll_transmit() {
                    if src.link_up {
                        dst.inbox.push_back((self.now + self.latency, bytes));
                    }
                }
                let _ = to;
                while let Some(e) = src.conn.poll_event() {
                    src.events.push(e);
                }
            }
            if self.b.conn.phase() == Phase::AwaitingAccept {
                self.b
                    .conn
                    .accept(
                        self.now,
                        TorrentParams {
                            info_hash: hash(),
                            geometry: Some(geometry()),
                            our_pieces: Some(&self.b_pieces),
                            metadata_size: Some(1234),
                        },
                    )
                    .unwrap();
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.a.conn.poll_timeout(),
            self.b.conn.poll_timeout(),
            self.a.inbox.front().map(|(t, _)| *t),
            self.b.inbox.front().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Delivers what is due at `now` and fires due timers.
    fn deliver(&mut self) {
        for side in [&mut self.a, &mut self.b] {
            while side.inbox.front().is_some_and(|(t, _)| *t <= self.now) {
                let (_, bytes) = side.inbox.pop_front().unwrap();
                side.conn.handle_input(self.now, &bytes);
            }
            side.conn.handle_timeout(self.now);
        }
        self.collect();
    }

    /// Runs until no bytes are in flight (timers further away are left alone).
    fn drive(&mut self) {
        self.collect();
        for _ in 0..10_000 {
            let in_flight = [&self.a.inbox, &self.b.inbox]
                .into_iter()
                .filter_map(|q| q.front().map(|(t, _)| *t))
                .min();
            let Some(t) = in_flight else { return };
            self.now = self.now.max(t);
            self.deliver();
        }
        panic!("livelock: still busy after 10000 steps");
    }

    /// Moves time forward by `d`, firing every timer and delivery on the way.
    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        self.collect();
        for _ in 0..100_000 {
            match self.next_wakeup() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.deliver();
                }
                _ => break,
            }
        }
        self.now = target;
        self.deliver();
    }

    fn a_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.a.events)
    }

    fn b_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.b.events)
    }

    /// b serves every request it has queued from `data`.
    fn serve(&mut self, data: &Bytes) {
        let requests: Vec<BlockRef> = self.b.conn.requests_in().collect();
        for r in requests {
            let start = (r.piece * PIECE_LEN + r.offset) as usize;
            let block = data.slice(start..start + r.length as usize);
            self.b
                .conn
                .send_block(self.now, r.piece, r.offset, block)
                .unwrap();
        }
        self.collect();
    }

    fn blocks_of(piece: u32) -> Vec<BlockRef> {
        let len = geometry().piece_len(piece).unwrap();
        (0..len.div_ceil(BLOCK))
            .map(|i| BlockRef::new(piece, i * BLOCK, (len - i * BLOCK).min(BLOCK)))
            .collect()
    }

    /// Handshakes, interest and unchoke: a is ready to request.
    fn unchoked(fast: bool) -> Self {
        let mut pair = Self::new(fast, fast);
        pair.drive();
        pair.a.conn.send_interested(pair.now).unwrap();
        pair.drive();
        assert!(pair.b.conn.peer_interested());
        pair.b.conn.unchoke(pair.now).unwrap();
        pair.drive();
        assert!(!pair.a.conn.peer_choking());
        pair.a_events();
        pair.b_events();
        pair
    }
}

#[test]
fn pair_moves_a_whole_piece() {
    let data = data();
    let mut pair = Pair::new(true, true);
    pair.drive();
    let a = pair.a_events();
    assert!(matches!(a[0], Event::Established { .. }), "{a:?}");
    assert!(a.contains(&Event::HaveAll), "{a:?}");
    assert!(a.iter().any(|e| matches!(e, Event::ExtendedHandshake(hs)
        if hs.metadata_size == Some(1234) && hs.extensions.id(UT_METADATA).is_some()
            && hs.your_ip == Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))))));
    let b = pair.b_events();
    assert!(matches!(b[0], Event::HandshakeReceived { info_hash, .. } if info_hash == hash()));
    assert!(pair.a.conn.fast() && pair.a.conn.extension_protocol());
    assert!(pair.a.conn.peer_pieces().unwrap().is_full());
    assert_eq!(pair.a.conn.peer_reqq(), 250);
    // b granted a its allowed-fast set (b has every piece).
    assert_eq!(
        pair.a.conn.peer_allowed_fast(),
        pair.b.conn.granted_allowed_fast()
    );

    pair.a.conn.send_interested(pair.now).unwrap();
    pair.drive();
    assert_eq!(pair.b_events(), vec![Event::PeerInterested]);
    pair.b.conn.unchoke(pair.now).unwrap();
    pair.drive();
    assert_eq!(pair.a_events(), vec![Event::Unchoked]);

    let piece = PIECES - 1; // the short last piece
    for block in Pair::blocks_of(piece) {
        pair.a.conn.request(pair.now, block).unwrap();
    }
    assert_eq!(
        pair.a.conn.request(pair.now, Pair::blocks_of(piece)[0]),
        Err(UsageError::DuplicateRequest(Pair::blocks_of(piece)[0]))
    );
    pair.drive();
    let b = pair.b_events();
    assert_eq!(b.len(), Pair::blocks_of(piece).len());
    assert!(b.iter().all(|e| matches!(e, Event::RequestReceived(_))));
    pair.serve(&data);
    pair.drive();
    let mut assembled = vec![0u8; geometry().piece_len(piece).unwrap() as usize];
    for e in pair.a_events() {
        let Event::BlockReceived { block, data } = e else {
            panic!("unexpected {e:?}")
        };
        assembled[block.offset as usize..][..data.len()].copy_from_slice(&data);
    }
    let start = (piece * PIECE_LEN) as usize;
    assert_eq!(
        sha1_digest(&assembled),
        sha1_digest(&data[start..start + assembled.len()])
    );
    assert_eq!(pair.a.conn.requests_out().count(), 0);
    assert_eq!(pair.b.conn.requests_in().count(), 0);
    assert_eq!(pair.a.conn.misbehaviour_score(), 0);
    assert_eq!(pair.b.conn.misbehaviour_score(), 0);
}

#[test]
fn choke_rejects_pending_requests_under_fast() {
    let mut pair = Pair::unchoked(true);
    let granted = pair.b.conn.granted_allowed_fast().to_vec();
    assert_eq!(granted.len(), 2);
    let plain = (0..PIECES).find(|p| !granted.contains(p)).unwrap();
    let fast = granted[0];
    let blocks = Pair::blocks_of(plain);
    let kept = Pair::blocks_of(fast)[0];
    for &b in blocks.iter().chain([&kept]) {
        pair.a.conn.request(pair.now, b).unwrap();
    }
    pair.drive();
    assert_eq!(pair.b.conn.requests_in().count(), blocks.len() + 1);
    pair.b_events();
    pair.b.conn.choke(pair.now).unwrap();
    pair.drive();
    // The allowed-fast request survives the choke; the others are rejected.
    assert_eq!(pair.b.conn.requests_in().collect::<Vec<_>>(), vec![kept]);
    assert_eq!(
        pair.b_events(),
        blocks
            .iter()
            .map(|b| Event::RequestCancelled(*b))
            .collect::<Vec<_>>()
    );
    let mut expected = vec![Event::Choked];
    expected.extend(blocks.iter().map(|b| Event::Rejected(*b)));
    assert_eq!(pair.a_events(), expected);
    assert_eq!(pair.a.conn.requests_out().collect::<Vec<_>>(), vec![kept]);
    assert_eq!(
        pair.a.conn.request(pair.now, blocks[0]),
        Err(UsageError::Choked)
    );
    assert_eq!(pair.a.conn.misbehaviour_score(), 0);
    assert_eq!(pair.b.conn.misbehaviour_score(), 0);
}

#[test]
fn choke_drops_requests_without_fast() {
    let mut pair = Pair::unchoked(false);
    assert!(!pair.a.conn.fast());
    for b in Pair::blocks_of(1) {
        pair.a.conn.request(pair.now, b).unwrap();
    }
    pair.drive();
    pair.b.conn.choke(pair.now).unwrap();
    pair.drive();
    let a = pair.a_events();
    assert_eq!(a[0], Event::Choked);
    assert_eq!(a.len(), 5, "every request dropped: {a:?}");
    assert_eq!(pair.a.conn.requests_out().count(), 0);
    assert_eq!(pair.b.conn.requests_in().count(), 0);
}

#[test]
fn allowed_fast_pieces_can_be_requested_while_choked() {
    let data = data();
    let mut pair = Pair::new(true, true);
    pair.drive();
    pair.a_events();
    pair.b_events();
    let allowed = pair.a.conn.peer_allowed_fast().to_vec();
    assert!(!allowed.is_empty());
    let piece = allowed[0];
    assert!(pair.a.conn.peer_choking());
    let block = Pair::blocks_of(piece)[0];
    pair.a.conn.request(pair.now, block).unwrap();
    pair.drive();
    assert_eq!(pair.b_events(), vec![Event::RequestReceived(block)]);
    pair.serve(&data);
    pair.drive();
    assert!(matches!(&pair.a_events()[..], [Event::BlockReceived { block: b, .. }] if *b == block));
}

#[test]
fn keepalives_keep_an_idle_connection_open() {
    let mut pair = Pair::unchoked(true);
    pair.advance(Duration::from_secs(600));
    assert_eq!(pair.a.conn.phase(), Phase::Established);
    assert_eq!(pair.b.conn.phase(), Phase::Established);
    assert!(pair.a_events().is_empty());
    assert!(pair.b_events().is_empty());
}

#[test]
fn keepalive_is_sent_after_two_idle_minutes() {
    let mut s = Scripted::new(true, Some(geometry()), None);
    let sent_at = s.now;
    assert_eq!(
        s.conn.poll_timeout(),
        Some(sent_at + Duration::from_secs(120))
    );
    s.conn.handle_timeout(sent_at + Duration::from_secs(119));
    assert_eq!(s.sent(), Vec::new(), "early timeout does nothing");
    s.conn.handle_timeout(sent_at + Duration::from_secs(120));
    assert_eq!(s.sent(), vec![Message::KeepAlive]);
    s.conn.handle_timeout(sent_at + Duration::from_secs(120));
    assert_eq!(s.sent(), Vec::new(), "a repeated call does nothing");
    // The peer was silent since the start: the idle close is next, at 180 s.
    assert_eq!(
        s.conn.poll_timeout(),
        Some(sent_at + Duration::from_secs(180))
    );
    s.conn.handle_timeout(sent_at + Duration::from_secs(180));
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::Idle)]);
}

#[test]
fn requests_need_a_piece_the_peer_has() {
    let mut s = Scripted::new(true, Some(geometry()), None);
    s.feed(&[
        Message::Bitfield(Bytes::from_static(&[0x40])),
        Message::Unchoke,
    ]);
    s.events();
    assert_eq!(
        s.conn.request(s.now, BlockRef::new(0, 0, BLOCK)),
        Err(UsageError::PeerLacksPiece(0))
    );
    assert_eq!(s.conn.request(s.now, BlockRef::new(1, 0, BLOCK)), Ok(()));
    assert_eq!(
        s.conn.request(s.now, BlockRef::new(1, 1, BLOCK)),
        Ok(()),
        "any valid range"
    );
    assert_eq!(
        s.conn
            .request(s.now, BlockRef::new(1, PIECE_LEN - 10, BLOCK)),
        Err(UsageError::InvalidBlock(BlockRef::new(
            1,
            PIECE_LEN - 10,
            BLOCK
        )))
    );
}

#[test]
fn silence_closes_after_the_idle_timeout() {
    let mut pair = Pair::unchoked(true);
    pair.b.link_up = false; // b's bytes, keep-alives included, are lost
    let start = pair.now;
    pair.advance(Duration::from_secs(179));
    assert_eq!(pair.a.conn.phase(), Phase::Established);
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.a_events(), vec![Event::Closed(CloseReason::Idle)]);
    assert!(pair.now - start >= Duration::from_secs(180));
    assert_eq!(pair.a.conn.poll_timeout(), None);
}

#[test]
fn requests_time_out_once_and_stay_until_cancelled() {
    let mut pair = Pair::unchoked(true);
    let blocks = Pair::blocks_of(2);
    for &b in &blocks {
        pair.a.conn.request(pair.now, b).unwrap();
    }
    pair.drive();
    pair.advance(Duration::from_secs(59));
    assert!(pair.a_events().is_empty());
    pair.advance(Duration::from_secs(2));
    assert_eq!(
        pair.a_events(),
        blocks
            .iter()
            .map(|b| Event::RequestTimedOut(*b))
            .collect::<Vec<_>>()
    );
    pair.advance(Duration::from_secs(100));
    assert!(pair.a_events().is_empty(), "reported twice");
    assert_eq!(pair.a.conn.requests_out().count(), 4);
    assert_eq!(pair.b_events().len(), 4, "the requests");
    for &b in &blocks {
        pair.a.conn.cancel(pair.now, b).unwrap();
    }
    pair.drive();
    // b answers each cancel with a reject (Fast); a takes them quietly.
    assert_eq!(pair.b_events().len(), 4);
    assert!(pair.a_events().is_empty());
    assert_eq!(pair.a.conn.misbehaviour_score(), 0);
}

#[test]
fn handshake_times_out() {
    let mut pair = Pair::new(true, true);
    pair.a.link_up = false;
    pair.advance(Duration::from_secs(21));
    assert_eq!(
        pair.a_events(),
        vec![Event::Closed(CloseReason::HandshakeTimeout)]
    );
    assert_eq!(
        pair.b_events(),
        vec![Event::Closed(CloseReason::HandshakeTimeout)]
    );
}

#[test]
fn extension_messages_use_the_receivers_ids() {
    let mut pair = Pair::unchoked(true);
    pair.a
        .conn
        .send_extended(
            pair.now,
            UT_METADATA,
            Bytes::from_static(b"d8:msg_typei0e5:piecei0ee"),
        )
        .unwrap();
    assert!(matches!(
        pair.a
            .conn
            .send_extended(pair.now, "lt_donthave", Bytes::new()),
        Err(UsageError::ExtensionNotSupported(_))
    ));
    pair.drive();
    let id = pair.b.conn.config.extensions.id(UT_METADATA).unwrap();
    assert_eq!(
        pair.b_events(),
        vec![Event::ExtendedMessage {
            id,
            payload: Bytes::from_static(b"d8:msg_typei0e5:piecei0ee")
        }]
    );
}

#[test]
fn wrong_torrent_and_self_connections_close() {
    let now = Instant::now();
    let cfg = config(1, true);
    let mut a = Connection::outbound(
        now,
        cfg.clone(),
        None,
        TorrentParams {
            info_hash: hash(),
            geometry: None,
            our_pieces: None,
            metadata_size: None,
        },
    )
    .unwrap();
    let mut me = Connection::inbound(now, cfg, None);
    let hs = a.poll_transmit().unwrap();
    me.handle_input(now, &hs);
    assert_eq!(
        me.poll_event(),
        Some(Event::Closed(CloseReason::ConnectedToSelf))
    );

    let mut b = Connection::inbound(now, config(3, true), None);
    b.handle_input(now, &hs);
    assert!(matches!(
        b.poll_event(),
        Some(Event::HandshakeReceived { .. })
    ));
    let other = InfoHash([1; 20]);
    b.accept(
        now,
        TorrentParams {
            info_hash: other,
            geometry: None,
            our_pieces: None,
            metadata_size: None,
        },
    )
    .unwrap();
    assert_eq!(
        b.poll_event(),
        Some(Event::Closed(CloseReason::InfoHashMismatch {
            expected: other,
            received: hash()
        }))
    );
    assert_eq!(b.poll_transmit(), None);
}

/// A connection (inbound, accepted) driven by raw messages from a scripted peer.
struct Scripted {
    conn: Connection,
    now: Instant,
    out: BytesMut,
    /// What the connection sent after its handshake, before the script started.
    opening: Vec<Message>,
}

impl Scripted {
    fn new(fast: bool, geometry: Option<PieceGeometry>, ours: Option<&Bitfield>) -> Self {
        let now = Instant::now();
        let mut conn = Connection::inbound(
            now,
            config(2, fast),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        );
        let mut reserved = Reserved::EXTENSION_PROTOCOL;
        if fast {
            reserved = reserved.union(Reserved::FAST);
        }
        let hs = Handshake {
            reserved,
            info_hash: hash(),
            peer_id: PeerId(*b"-XX0001-scriptedpeer"),
        };
        conn.handle_input(now, &hs.to_bytes());
        conn.accept(
            now,
            TorrentParams {
                info_hash: hash(),
                geometry,
                our_pieces: ours,
                metadata_size: None,
            },
        )
        .unwrap();
        let mut s = Self {
            conn,
            now,
            out: BytesMut::new(),
            opening: Vec::new(),
        };
        while let Some(b) = s.conn.poll_transmit() {
            s.out.extend_from_slice(&b);
        }
        assert_eq!(&s.out[..20], b"\x13BitTorrent protocol");
        let _ = s.out.split_to(68);
        s.opening = s.sent();
        s.events();
        s
    }

    /// A piece we did not grant as allowed fast.
    fn plain_piece(&self) -> u32 {
        (0..PIECES)
            .find(|p| !self.conn.granted_allowed_fast().contains(p))
            .unwrap()
    }

    fn feed(&mut self, messages: &[Message]) {
        let mut bytes = Vec::new();
        for m in messages {
            m.encode(&mut bytes);
        }
        self.conn.handle_input(self.now, &bytes);
    }

    fn sent(&mut self) -> Vec<Message> {
        while let Some(b) = self.conn.poll_transmit() {
            self.out.extend_from_slice(&b);
        }
        let dec = Decoder::new(PieceCount::Unknown);
        let mut out = Vec::new();
        while let Ok(Some(m)) = dec.decode(&mut self.out) {
            out.push(m);
        }
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }
}

#[test]
fn scripted_peer_opening_messages() {
    let ours = Bitfield::full(PIECES);
    let s = Scripted::new(true, Some(geometry()), Some(&ours));
    assert_eq!(s.opening[0], Message::HaveAll);
    assert!(matches!(s.opening[1], Message::Extended { id: 0, .. }));
    assert_eq!(
        s.opening[2..],
        s.conn
            .granted_allowed_fast()
            .iter()
            .map(|p| Message::AllowedFast(*p))
            .collect::<Vec<_>>()
    );
    let s = Scripted::new(true, None, None);
    assert_eq!(s.opening[0], Message::HaveNone);
    assert_eq!(s.opening.len(), 2);

    // Without Fast, some pieces: a bitfield that includes a have queued before the handshake.
    let mut ours = Bitfield::new(PIECES);
    ours.set(1);
    let now = Instant::now();
    let mut conn = Connection::outbound(
        now,
        config(5, false),
        None,
        TorrentParams {
            info_hash: hash(),
            geometry: Some(geometry()),
            our_pieces: Some(&ours),
            metadata_size: None,
        },
    )
    .unwrap();
    conn.send_have(now, 2).unwrap();
    let peer = Handshake {
        reserved: Reserved::EXTENSION_PROTOCOL,
        info_hash: hash(),
        peer_id: PeerId([9; 20]),
    };
    conn.handle_input(now, &peer.to_bytes());
    let mut out = BytesMut::new();
    while let Some(b) = conn.poll_transmit() {
        out.extend_from_slice(&b);
    }
    let _ = out.split_to(68);
    let dec = Decoder::new(PieceCount::Known(PIECES));
    assert_eq!(
        dec.decode(&mut out),
        Ok(Some(Message::Bitfield(Bytes::from_static(&[0b0110_0000]))))
    );
    assert!(matches!(
        dec.decode(&mut out),
        Ok(Some(Message::Extended { id: 0, .. }))
    ));
    assert_eq!(dec.decode(&mut out), Ok(None));
}

#[test]
fn scripted_peer_requests_are_checked() {
    let ours = Bitfield::full(PIECES);
    let mut s = Scripted::new(true, Some(geometry()), Some(&ours));
    let ok = BlockRef::new(s.plain_piece(), 0, BLOCK);
    // Choked: rejected without a fault.
    s.feed(&[Message::Request(ok)]);
    assert_eq!(s.sent(), vec![Message::RejectRequest(ok)]);
    assert!(s.events().is_empty());
    s.conn.unchoke(s.now).unwrap();
    s.sent();
    s.events();
    let too_big = BlockRef::new(0, 0, BLOCK + 1);
    let outside = BlockRef::new(PIECES, 0, BLOCK);
    let past_end = BlockRef::new(PIECES - 1, PIECE_LEN - 1000, BLOCK);
    s.feed(&[
        Message::Request(too_big),
        Message::Request(outside),
        Message::Request(past_end),
    ]);
    assert_eq!(
        s.sent(),
        vec![
            Message::RejectRequest(too_big),
            Message::RejectRequest(outside),
            Message::RejectRequest(past_end)
        ]
    );
    assert_eq!(
        s.events(),
        vec![
            Event::Misbehaved(Misbehaviour::RequestTooLarge(too_big)),
            Event::Misbehaved(Misbehaviour::RequestOutOfRange(outside)),
            Event::Misbehaved(Misbehaviour::RequestOutOfRange(past_end)),
        ]
    );
    assert_eq!(s.conn.misbehaviour_score(), 60);
    // Cancel of a queued request: removed, rejected (Fast), reported.
    s.feed(&[Message::Request(ok), Message::Cancel(ok)]);
    assert_eq!(
        s.events(),
        vec![Event::RequestReceived(ok), Event::RequestCancelled(ok)]
    );
    assert_eq!(s.sent(), vec![Message::RejectRequest(ok)]);
    assert_eq!(
        s.conn
            .send_block(s.now, ok.piece, 0, Bytes::from(vec![0; BLOCK as usize])),
        Err(UsageError::NotRequested(ok))
    );
}

#[test]
fn request_flood_beyond_reqq_closes() {
    let ours = Bitfield::full(PIECES);
    let mut s = Scripted::new(true, Some(geometry()), Some(&ours));
    s.conn.unchoke(s.now).unwrap();
    s.sent();
    let reqq = s.conn.config.max_requests_in;
    let mut flood = Vec::new();
    'outer: for piece in 0..PIECES {
        for offset in 0..PIECE_LEN - 1000 {
            flood.push(Message::Request(BlockRef::new(piece, offset, 1)));
            if flood.len() as u32 == reqq + 20 {
                break 'outer;
            }
        }
    }
    s.feed(&flood);
    let events = s.events();
    let received = events
        .iter()
        .filter(|e| matches!(e, Event::RequestReceived(_)))
        .count();
    assert_eq!(received, reqq as usize);
    assert!(matches!(
        events.last(),
        Some(Event::Closed(CloseReason::Misbehaved(
            Misbehaviour::RequestQueueOverflow(_)
        )))
    ));
    assert_eq!(s.conn.requests_in().count(), 0, "state released on close");
}

/// Each hostile message, fed to a fresh established connection, and what it must cause.
#[test]
fn hostile_messages_table() {
    use CloseReason as C;
    use Misbehaviour as M;
    let severe = |m: M| Event::Closed(C::Misbehaved(m));
    let block = BlockRef::new(0, 0, 10);
    let cases: Vec<(&str, bool, Vec<Message>, Event)> = vec![
        (
            "have past the end",
            true,
            vec![Message::Have(PIECES)],
            severe(M::InvalidHave(PIECES)),
        ),
        (
            "bitfield after have",
            true,
            vec![
                Message::Have(0),
                Message::Bitfield(Bytes::from_static(&[0x80])),
            ],
            severe(M::BitfieldNotFirst),
        ),
        (
            "two bitfields",
            true,
            vec![Message::HaveNone, Message::HaveAll],
            severe(M::DuplicateBitfield),
        ),
        (
            "have all without fast",
            false,
            vec![Message::HaveAll],
            severe(M::FastNotNegotiated(MessageId::HaveAll)),
        ),
        (
            "reject without fast",
            false,
            vec![Message::RejectRequest(block)],
            severe(M::FastNotNegotiated(MessageId::RejectRequest)),
        ),
        (
            "extended handshake not a dictionary",
            true,
            vec![Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"i1e"),
            }],
            severe(M::InvalidExtendedHandshake(
                crate::extensions::ExtendedHandshakeError::NotADictionary,
            )),
        ),
        (
            "ten unrequested blocks",
            true,
            (0..10)
                .map(|i| Message::Piece {
                    piece: 0,
                    offset: i,
                    data: Bytes::from_static(b"x"),
                })
                .collect(),
            severe(M::UnrequestedBlock(BlockRef::new(0, 9, 1))),
        ),
        (
            "bitfield of the wrong length",
            true,
            vec![Message::Bitfield(Bytes::from_static(&[0, 0]))],
            Event::Closed(C::Protocol(ProtocolError::BitfieldLength {
                length: 2,
                expected: 1,
            })),
        ),
        (
            "bitfield with spare bits",
            true,
            vec![Message::Bitfield(Bytes::from_static(&[0x08]))],
            Event::Closed(C::Protocol(ProtocolError::BitfieldSpareBits)),
        ),
    ];
    for (name, fast, messages, expected) in cases {
        let mut s = Scripted::new(fast, Some(geometry()), None);
        s.feed(&messages);
        let events = s.events();
        assert_eq!(events.last(), Some(&expected), "{name}: {events:?}");
        assert!(s.conn.is_closed(), "{name}");
        assert_eq!(s.conn.poll_timeout(), None, "{name}");
        assert_eq!(s.conn.poll_transmit(), None, "{name}: output after close");
        // Nothing more happens after the close.
        s.feed(&[Message::Unchoke]);
        assert!(s.events().is_empty(), "{name}");
    }
    // Minor faults are counted, not fatal.
    let mut s = Scripted::new(true, Some(geometry()), None);
    s.feed(&[
        Message::RejectRequest(block),
        Message::SuggestPiece(PIECES),
        Message::Extended {
            id: 99,
            payload: Bytes::new(),
        },
    ]);
    assert_eq!(
        s.events(),
        vec![
            Event::Misbehaved(M::RejectUnrequested(block)),
            Event::Misbehaved(M::InvalidSuggest(PIECES)),
            Event::Misbehaved(M::UnknownExtendedMessage(99)),
        ]
    );
    assert_eq!(s.conn.misbehaviour_score(), 35);
    assert!(!s.conn.is_closed());
}

#[test]
fn magnet_connection_checks_pieces_once_the_count_is_known() {
    // 20 pieces: 3 bytes of bitfield, 4 spare bits.
    let g = PieceGeometry::new(16384, 20 * 16384).unwrap();
    let mut s = Scripted::new(true, None, None);
    assert_eq!(s.sent(), Vec::new());
    s.feed(&[
        Message::Bitfield(Bytes::from_static(&[0x80, 0, 0])),
        Message::Have(19),
        Message::Have(MAX_UNKNOWN_PIECE_COUNT - 1),
    ]);
    assert!(
        s.events().is_empty(),
        "nothing reported before the count is known"
    );
    assert!(s.conn.peer_pieces().is_none());
    assert_eq!(
        s.conn.request(s.now, BlockRef::new(0, 0, 1)),
        Err(UsageError::GeometryUnknown)
    );
    s.conn.set_geometry(s.now, g).unwrap();
    assert_eq!(
        s.events(),
        vec![
            Event::Misbehaved(Misbehaviour::PieceBeyondCount(MAX_UNKNOWN_PIECE_COUNT - 1)),
            Event::Closed(CloseReason::Misbehaved(Misbehaviour::PieceBeyondCount(
                MAX_UNKNOWN_PIECE_COUNT - 1
            )))
        ]
    );

    let mut s = Scripted::new(true, None, None);
    s.feed(&[
        Message::Bitfield(Bytes::from_static(&[0x80, 0, 0])),
        Message::Have(19),
    ]);
    s.conn.set_geometry(s.now, g).unwrap();
    assert_eq!(s.events(), vec![Event::Bitfield]);
    let pieces = s.conn.peer_pieces().unwrap();
    assert_eq!(pieces.len(), 20);
    assert_eq!(pieces.iter_ones().collect::<Vec<_>>(), vec![0, 19]);
    assert_eq!(
        s.conn.set_geometry(s.now, g),
        Err(UsageError::GeometryKnown)
    );
    s.feed(&[Message::Have(20)]);
    assert!(s.conn.is_closed());

    let mut s = Scripted::new(true, None, None);
    s.feed(&[Message::Bitfield(Bytes::from_static(&[0xff, 0xff]))]);
    s.conn.set_geometry(s.now, g).unwrap();
    assert_eq!(
        s.events().last(),
        Some(&Event::Closed(CloseReason::Misbehaved(
            Misbehaviour::BitfieldLength {
                length: 2,
                expected: 3
            }
        )))
    );

    let mut s = Scripted::new(true, None, None);
    s.feed(&[Message::HaveAll]);
    s.conn.set_geometry(s.now, g).unwrap();
    assert_eq!(s.events(), vec![Event::HaveAll]);
    assert!(s.conn.peer_pieces().unwrap().is_full());
}

/// The same bytes in any chunking give the same events and the same output.
#[test]
fn connection_is_chunking_independent() {
    let mut stream = Vec::new();
    Handshake {
        reserved: Reserved::FAST.union(Reserved::EXTENSION_PROTOCOL),
        info_hash: hash(),
        peer_id: PeerId([3; 20]),
    }
    .to_bytes()
    .iter()
    .for_each(|b| stream.push(*b));
    let messages = [
        Message::Bitfield(Bytes::from_static(&[0xa0])),
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"d1:md6:ut_pexi3ee4:reqqi7ee"),
        },
        Message::Interested,
        Message::Unchoke,
        Message::Have(1),
        Message::AllowedFast(2),
        Message::Request(BlockRef::new(0, 0, 100)),
        Message::KeepAlive,
        Message::Piece {
            piece: 1,
            offset: 0,
            data: Bytes::from_static(b"zz"),
        },
    ];
    for m in &messages {
        m.encode(&mut stream);
    }
    let run = |cuts: &[usize]| {
        let now = Instant::now();
        let mut c = Connection::outbound(
            now,
            config(9, true),
            None,
            TorrentParams {
                info_hash: hash(),
                geometry: Some(geometry()),
                our_pieces: Some(&Bitfield::full(PIECES)),
                metadata_size: None,
            },
        )
        .unwrap();
        let mut start = 0;
        let mut out = Vec::new();
        for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
            c.handle_input(now, &stream[start..end]);
            start = end;
        }
        while let Some(b) = c.poll_transmit() {
            out.extend_from_slice(&b);
        }
        let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        (events, out, c.peer_reqq())
    };
    let whole = run(&[]);
    assert_eq!(whole.2, 7);
    assert!(whole.0.contains(&Event::Have(1)));
    assert!(
        whole
            .0
            .contains(&Event::Misbehaved(Misbehaviour::UnrequestedBlock(
                BlockRef::new(1, 0, 2)
            )))
    );
    let bytewise: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(run(&bytewise), whole);
    let mut rng = Rng::new(11);
    for _ in 0..200 {
        let mut cuts: Vec<usize> = (0..rng.index(30))
            .map(|_| rng.index(stream.len()))
            .collect();
        cuts.sort_unstable();
        assert_eq!(run(&cuts), whole);
    }
}
