//! A connection driven by raw messages from a scripted peer (h2-style), its output decoded.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::*;
use crate::wire::codec::ProtocolError;
use crate::wire::limits::{ABANDONED_BLOCK_GRACE, MAX_UNKNOWN_PIECE_COUNT};
use crate::wire::message::MessageId;

/// A connection (inbound, accepted) driven by raw messages from a scripted peer.
struct Scripted {
    conn: Connection,
    now: Instant,
    out: BytesMut,
    /// What the connection sent after its handshake, before the script started.
    opening: Vec<Message>,
}

impl Scripted {
    fn new(fast: bool, geometry: Option<PieceGeometry>, ours: Option<&PieceSet>) -> Self {
        Self::with_v2(fast, geometry, ours, false)
    }

    /// A connection of a torrent whose truncated v2 hash is the handshake's when `v2` (it
    /// speaks v2), else of a v1 torrent.
    fn with_v2(
        fast: bool,
        geometry: Option<PieceGeometry>,
        ours: Option<&PieceSet>,
        v2: bool,
    ) -> Self {
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
                v2: v2.then(hash),
            },
        )
        .unwrap();
        assert_eq!(conn.speaks_v2(), v2);
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
fn allowed_fast_is_granted_only_to_a_starting_peer_and_only_for_pieces_it_lacks() {
    let ours = PieceSet::full(PIECES);
    let granted = |announce: Message| {
        let mut s = Scripted::new(true, Some(geometry()), Some(&ours));
        assert!(
            !s.opening
                .iter()
                .any(|m| matches!(m, Message::AllowedFast(_))),
            "nothing is granted before the peer announces its pieces"
        );
        s.feed(&[announce]);
        let sent: Vec<u32> = s
            .sent()
            .into_iter()
            .filter_map(|m| match m {
                Message::AllowedFast(p) => Some(p),
                _ => None,
            })
            .collect();
        assert_eq!(sent, s.conn.granted_allowed_fast());
        sent
    };
    let set = granted(Message::HaveNone);
    assert_eq!(set.len(), 2, "the whole set to a peer with nothing");
    assert!(granted(Message::HaveAll).is_empty(), "a seed needs nothing");
    let bitfield = |pieces: &[u32]| {
        let mut bits = PieceSet::new(PIECES);
        pieces.iter().for_each(|&p| {
            bits.insert(p);
        });
        Message::Bitfield(Bytes::from(bits.to_bitfield()))
    };
    assert_eq!(
        granted(bitfield(&[set[0]])),
        vec![set[1]],
        "one piece, fewer than the set: the rest of the set"
    );
    assert!(
        granted(bitfield(&[0, 1])).is_empty(),
        "as many pieces as the set: not a starting peer"
    );
}

#[test]
fn scripted_peer_opening_messages() {
    let ours = PieceSet::full(PIECES);
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
    let mut ours = PieceSet::new(PIECES);
    ours.insert(1);
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
            v2: None,
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
    let ours = PieceSet::full(PIECES);
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
    let ours = PieceSet::full(PIECES);
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
                crate::wire::ExtendedHandshakeError::NotADictionary,
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
    assert_eq!(pieces.iter().collect::<Vec<_>>(), vec![0, 19]);
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
    // `owned`: fed as a runtime's reader does, with `handle_input_buf`: each chunk split off a
    // read buffer, a new buffer every three chunks.
    let run = |cuts: &[usize], owned: bool| {
        let now = Instant::now();
        let mut c = Connection::outbound(
            now,
            config(9, true),
            None,
            TorrentParams {
                info_hash: hash(),
                geometry: Some(geometry()),
                our_pieces: Some(&PieceSet::full(PIECES)),
                metadata_size: None,
                v2: None,
            },
        )
        .unwrap();
        let mut start = 0;
        let mut out = Vec::new();
        let ends: Vec<usize> = cuts
            .iter()
            .chain(std::iter::once(&stream.len()))
            .copied()
            .collect();
        for group in ends.chunks(3) {
            let mut buffer = BytesMut::from(&stream[start..*group.last().unwrap()]);
            for &end in group {
                let chunk = buffer.split_to(end - start);
                if owned {
                    c.handle_input_buf(now, chunk);
                } else {
                    c.handle_input(now, &chunk);
                }
                start = end;
            }
        }
        while let Some(b) = c.poll_transmit() {
            out.extend_from_slice(&b);
        }
        let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
        (events, out, c.peer_reqq())
    };
    let whole = run(&[], false);
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
    assert_eq!(run(&bytewise, false), whole);
    assert_eq!(run(&bytewise, true), whole);
    let mut rng = Rng::new(11);
    for _ in 0..200 {
        let mut cuts: Vec<usize> = (0..rng.index(30))
            .map(|_| rng.index(stream.len()))
            .collect();
        cuts.sort_unstable();
        assert_eq!(run(&cuts, false), whole);
        assert_eq!(run(&cuts, true), whole);
    }
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

/// Owned input hands blocks on as slices of the reader's buffer; a block that straddles two
/// buffers is copied into one of its own size (nothing else pinned by it).
#[test]
fn owned_input_passes_blocks_on_without_copying() {
    let mut s = Scripted::new(true, Some(geometry()), None);
    s.feed(&[Message::HaveAll, Message::Unchoke]);
    s.events();
    for offset in [0, BLOCK, 2 * BLOCK] {
        s.conn
            .request(s.now, BlockRef::new(0, offset, BLOCK))
            .unwrap();
    }
    let mut stream = Vec::new();
    for (i, offset) in [0, BLOCK, 2 * BLOCK].into_iter().enumerate() {
        Message::Piece {
            piece: 0,
            offset,
            data: Bytes::from(vec![i as u8; BLOCK as usize]),
        }
        .encode(&mut stream);
    }
    // Buffer one: the first block and half the second. Buffer two: the rest, read twice.
    let cut = stream.len() / 2;
    let one = BytesMut::from(&stream[..cut]);
    let mut two = BytesMut::from(&stream[cut..]);
    let (one_at, two_at) = (one.as_ptr_range(), two.as_ptr_range());
    s.conn.handle_input_buf(s.now, one);
    let first_read = two.split_to(100);
    s.conn.handle_input_buf(s.now, first_read);
    s.conn.handle_input_buf(s.now, two);
    let blocks: Vec<Bytes> = s
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::BlockReceived { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(blocks.len(), 3);
    for (i, b) in blocks.iter().enumerate() {
        assert!(b.iter().all(|&x| x == i as u8), "block {i} intact");
    }
    let inside = |b: &Bytes, r: &std::ops::Range<*const u8>| {
        r.contains(&b.as_ptr()) && b.as_ptr_range().end <= r.end
    };
    assert!(
        inside(&blocks[0], &one_at),
        "first block: a slice of buffer one"
    );
    assert!(
        !inside(&blocks[1], &one_at) && !inside(&blocks[1], &two_at),
        "the straddling block is copied"
    );
    assert!(
        inside(&blocks[2], &two_at),
        "third block: a slice of buffer two"
    );
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

/// A block we cancelled may still arrive for [`ABANDONED_BLOCK_GRACE`]: it is taken; later it
/// is unrequested.
#[test]
fn a_cancelled_block_is_taken_within_the_grace_only() {
    let mut s = Scripted::new(false, Some(geometry()), None);
    s.feed(&[
        Message::Bitfield(Bytes::from_static(&[0xf0])),
        Message::Unchoke,
    ]);
    s.events();
    let early = BlockRef::new(0, 0, BLOCK);
    let late = BlockRef::new(0, BLOCK, BLOCK);
    for b in [early, late] {
        s.conn.request(s.now, b).unwrap();
        s.conn.cancel(s.now, b).unwrap();
    }
    let piece = |b: BlockRef| Message::Piece {
        piece: b.piece,
        offset: b.offset,
        data: Bytes::from(vec![0; b.length as usize]),
    };
    s.now += ABANDONED_BLOCK_GRACE - Duration::from_secs(1);
    s.feed(&[piece(early)]);
    assert!(matches!(s.events()[..], [Event::BlockReceived { block, .. }] if block == early));
    assert_eq!(s.conn.misbehaviour_score(), 0);
    s.now += Duration::from_secs(2);
    s.feed(&[piece(late)]);
    assert!(
        !s.events()
            .iter()
            .any(|e| matches!(e, Event::BlockReceived { .. })),
        "taken after the grace"
    );
    assert!(s.conn.misbehaviour_score() > 0, "an unrequested block");
}

#[test]
fn hash_messages_reach_the_owner_and_unrequested_hashes_count_against_the_peer() {
    use crate::wire::hashes::HashRequest;
    let request = HashRequest {
        pieces_root: [7; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 1,
    };
    let mut s = Scripted::with_v2(true, Some(geometry()), None, true);
    s.feed(&[
        Message::HashRequest(request),
        Message::Hashes {
            request,
            hashes: Bytes::from(vec![1u8; 3 * 32]),
        },
        Message::HashReject(request),
        // Still a fresh connection: a bitfield after them is no protocol error.
        Message::HaveNone,
    ]);
    assert!(
        s.sent().is_empty(),
        "nothing answered on the owner's behalf"
    );
    let events = s.events();
    assert_eq!(events[0], Event::HashRequestReceived(request));
    assert_eq!(
        events[1],
        Event::Misbehaved(Misbehaviour::UnrequestedHashes(request))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Closed(_) | Event::HashesRejected(_))),
        "{events:?}"
    );
    assert!(!s.conn.is_closed());
    // The owner answers, or refuses; a wrong count is its mistake.
    let hashes = [[3u8; 32]; 3];
    assert_eq!(
        s.conn.send_hashes(s.now, request, &hashes[..2]),
        Err(UsageError::InvalidHashRequest)
    );
    s.conn.send_hashes(s.now, request, &hashes).unwrap();
    s.conn.reject_hashes(s.now, request).unwrap();
    let sent = s.sent();
    assert_eq!(
        sent,
        vec![
            Message::Hashes {
                request,
                hashes: Bytes::from(hashes.concat()),
            },
            Message::HashReject(request),
        ]
    );
}

#[test]
fn a_hash_message_on_a_connection_that_does_not_speak_v2_closes_it() {
    use crate::wire::hashes::HashRequest;
    let request = HashRequest {
        pieces_root: [7; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 1,
    };
    let hashes = Message::Hashes {
        request,
        hashes: Bytes::from(vec![1u8; 3 * 32]),
    };
    for (message, id) in [
        (Message::HashRequest(request), MessageId::HashRequest),
        (hashes, MessageId::Hashes),
        (Message::HashReject(request), MessageId::HashReject),
    ] {
        let mut s = Scripted::new(true, Some(geometry()), None);
        s.feed(&[message, Message::HaveNone]);
        assert!(s.sent().is_empty(), "nothing answered");
        let events = s.events();
        let reason = CloseReason::Protocol(ProtocolError::HashMessageWithoutV2(id));
        assert_eq!(events, vec![Event::Closed(reason)], "{id:?}");
        assert!(s.conn.is_closed());
    }
}

#[test]
fn our_hash_requests_are_bounded_and_matched_to_their_answers() {
    use crate::wire::hashes::HashRequest;
    let ask = |index| HashRequest {
        pieces_root: [9; 32],
        base_layer: 1,
        index,
        length: 4,
        proof_layers: 2,
    };
    let mut s = Scripted::with_v2(true, Some(geometry()), None, true);
    for i in 0..MAX_HASH_REQUESTS_OUT as u32 {
        s.conn.request_hashes(s.now, ask(4 * i)).unwrap();
    }
    assert_eq!(
        s.conn.request_hashes(s.now, ask(400)),
        Err(UsageError::TooManyRequests)
    );
    let unbounded = HashRequest {
        length: 9000,
        ..ask(0)
    };
    assert_eq!(
        s.conn.request_hashes(s.now, unbounded),
        Err(UsageError::InvalidHashRequest)
    );
    assert_eq!(s.sent().len(), MAX_HASH_REQUESTS_OUT);
    let answer = Bytes::from(vec![5u8; 32 * ask(0).hashes_in_reply().unwrap() as usize]);
    s.feed(&[
        Message::Hashes {
            request: ask(0),
            hashes: answer.clone(),
        },
        Message::HashReject(ask(4)),
        // The same answer again: no longer in flight.
        Message::Hashes {
            request: ask(0),
            hashes: answer.clone(),
        },
    ]);
    let events = s.events();
    assert_eq!(
        events,
        vec![
            Event::HashesReceived {
                request: ask(0),
                hashes: answer,
            },
            Event::HashesRejected(ask(4)),
            Event::Misbehaved(Misbehaviour::UnrequestedHashes(ask(0))),
        ]
    );
    assert_eq!(s.conn.hash_requests_in_flight(), MAX_HASH_REQUESTS_OUT - 2);
    s.conn.request_hashes(s.now, ask(400)).unwrap();
}
