//! Two connections over an in-memory pipe with virtual time and latency (quinn's `Pair`).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::id::sha1_digest;

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
    b_pieces: PieceSet,
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
                v2: None,
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
            b_pieces: PieceSet::full(PIECES),
        }
    }

    /// Drains outputs of both sides into the pipe and the event logs; accepts b's handshake
    /// (then drains again, for what accepting queued).
    fn collect(&mut self) {
        for _ in 0..2 {
            for a_to_b in [true, false] {
                let (src, dst) = if a_to_b {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some(bytes) = src.conn.poll_transmit() {
                    if src.link_up {
                        dst.inbox.push_back((self.now + self.latency, bytes));
                    }
                }
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
                            v2: None,
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
    assert_eq!(
        pair.a.conn.peer_reqq(),
        crate::wire::limits::DEFAULT_MAX_REQUESTS_IN
    );
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

/// The connection has no request timer (the picker's is the one): an unanswered request
/// stays in flight, unreported, until the owner cancels it.
#[test]
fn unanswered_requests_stay_until_cancelled() {
    let mut pair = Pair::unchoked(true);
    let blocks = Pair::blocks_of(2);
    for &b in &blocks {
        pair.a.conn.request(pair.now, b).unwrap();
    }
    pair.drive();
    pair.advance(Duration::from_secs(170));
    assert!(pair.a_events().is_empty());
    assert_eq!(pair.a.conn.phase(), Phase::Established);
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
            v2: None,
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
            v2: None,
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

#[test]
fn metadata_size_learnt_late_is_sent_in_a_fresh_extended_handshake() {
    let mut pair = Pair::new(true, true);
    pair.drive();
    // a opened without metadata: its first extended handshake had no size.
    assert!(pair.b_events().iter().any(|e| matches!(e,
        Event::ExtendedHandshake(hs) if hs.metadata_size.is_none())));
    pair.a.conn.set_metadata_size(pair.now, 777).unwrap();
    pair.drive();
    let b = pair.b_events();
    assert!(
        b.iter().any(|e| matches!(e, Event::ExtendedHandshake(hs)
            if hs.metadata_size == Some(777) && hs.extensions.id(UT_METADATA).is_some())),
        "{b:?}"
    );
    assert_eq!(pair.b.conn.misbehaviour_score(), 0);
    assert!(pair.b.conn.peer_extensions().id(UT_METADATA).is_some());
    // The same size again sends nothing.
    pair.a.conn.set_metadata_size(pair.now, 777).unwrap();
    assert!(pair.a.conn.poll_transmit().is_none());
    // A closed connection refuses.
    pair.a.conn.close();
    assert_eq!(
        pair.a.conn.set_metadata_size(pair.now, 778),
        Err(UsageError::Closed)
    );
}
