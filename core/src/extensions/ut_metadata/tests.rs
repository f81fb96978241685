//! Codec tables, the server, and virtual-time fetches from scripted peers (honest, lying,
//! rejecting, silent).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::bencode::{DecodeErrorKind, Encoder};
use crate::id::InfoHash;
use crate::metainfo::Metainfo;
use crate::rng::Rng;

/// A valid single-file info dictionary of roughly `pieces * 20` bytes.
fn info_dict(pieces: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut hashes = vec![0u8; pieces * 20];
    rng.fill(&mut hashes);
    let mut enc = Encoder::new();
    enc.dict();
    enc.bytes(b"length").int(pieces as i64 * 16384);
    enc.bytes(b"name").bytes(b"test.bin");
    enc.bytes(b"piece length").int(16384);
    enc.bytes(b"pieces").bytes(&hashes);
    enc.end();
    enc.finish()
}

#[test]
fn codec_round_trips() {
    let data = Bytes::from_static(b"\x00\x01 raw bytes, any content e");
    for msg in [
        MetadataMessage::Request { piece: 0 },
        MetadataMessage::Request { piece: u32::MAX },
        MetadataMessage::Reject { piece: 7 },
        MetadataMessage::Data {
            piece: 3,
            total_size: 70_000,
            data: data.clone(),
        },
        MetadataMessage::Data {
            piece: 0,
            total_size: 1,
            data: Bytes::new(),
        },
    ] {
        let bytes = msg.encode();
        assert_eq!(MetadataMessage::parse(&bytes), Ok(msg.clone()), "{bytes:?}");
    }
    assert_eq!(
        &MetadataMessage::Request { piece: 2 }.encode()[..],
        b"d8:msg_typei0e5:piecei2ee"
    );
    assert_eq!(
        &MetadataMessage::Data {
            piece: 1,
            total_size: 20000,
            data: Bytes::from_static(b"xyz"),
        }
        .encode()[..],
        b"d8:msg_typei1e5:piecei1e10:total_sizei20000eexyz"
    );
}

#[test]
fn codec_accepts_what_libtorrent_sends() {
    // Unsorted keys and unknown keys are fine; data is a slice of the payload.
    let payload = Bytes::from_static(b"d5:piecei0e10:total_sizei5e8:msg_typei1e3:fooi9eeHELLO");
    let Ok(MetadataMessage::Data { data, .. }) = MetadataMessage::parse(&payload) else {
        panic!("not data");
    };
    assert_eq!(&data[..], b"HELLO");
    assert_eq!(
        data.as_ptr(),
        payload[payload.len() - 5..].as_ptr(),
        "copied"
    );
}

#[test]
fn hostile_messages() {
    use MetadataMessageError as E;
    let big = [
        b"d8:msg_typei1e5:piecei0e10:total_sizei9ee".as_slice(),
        &[0u8; 16385],
    ]
    .concat();
    let table: &[(&[u8], E)] = &[
        (b"le", E::NotADictionary),
        (b"i1e", E::NotADictionary),
        (b"de", E::MissingMessageType),
        (b"d8:msg_type1:0e", E::MissingMessageType),
        (b"d8:msg_typei3e5:piecei0ee", E::UnknownMessageType(3)),
        (b"d8:msg_typei-1e5:piecei0ee", E::UnknownMessageType(-1)),
        (b"d8:msg_typei0ee", E::MissingPiece),
        (b"d8:msg_typei0e5:piece1:0e", E::MissingPiece),
        (b"d8:msg_typei0e5:piecei-1ee", E::PieceOutOfRange(-1)),
        (
            b"d8:msg_typei0e5:piecei4294967296ee",
            E::PieceOutOfRange(4_294_967_296),
        ),
        (b"d8:msg_typei1e5:piecei0ee", E::MissingTotalSize),
        (
            b"d8:msg_typei1e5:piecei0e10:total_sizei0ee",
            E::TotalSizeOutOfRange(0),
        ),
        (
            b"d8:msg_typei1e5:piecei0e10:total_sizei-5ee",
            E::TotalSizeOutOfRange(-5),
        ),
        (&big, E::DataTooLong(16385)),
        (b"d8:msg_typei0e5:piecei0eeXY", E::TrailingData(2)),
        (b"d8:msg_typei2e5:piecei0eeX", E::TrailingData(1)),
    ];
    for (input, expected) in table {
        let got = MetadataMessage::parse(&Bytes::copy_from_slice(input));
        assert_eq!(
            got.as_ref(),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(!got.unwrap_err().to_string().is_empty());
    }
    let Err(E::Bencode(e)) = MetadataMessage::parse(&Bytes::from_static(b"d8:msg_type")) else {
        panic!("truncated accepted");
    };
    assert_eq!(e.kind, DecodeErrorKind::UnexpectedEof);
    let deep = [&b"d1:x"[..], &[b'l'; 10], &[b'e'; 10], b"e"].concat();
    assert!(matches!(
        MetadataMessage::parse(&Bytes::from(deep)),
        Err(E::Bencode(_))
    ));
    assert!(E::UnknownMessageType(5).is_ignorable());
    assert!(!E::MissingPiece.is_ignorable());
}

#[test]
fn piece_arithmetic() {
    assert_eq!(metadata_piece_count(1), 1);
    assert_eq!(metadata_piece_count(16384), 1);
    assert_eq!(metadata_piece_count(16385), 2);
    assert_eq!(metadata_piece_len(16385, 0), Some(16384));
    assert_eq!(metadata_piece_len(16385, 1), Some(1));
    assert_eq!(metadata_piece_len(16385, 2), None);
    assert_eq!(metadata_piece_len(u64::MAX, u32::MAX), Some(16384));
}

#[test]
fn server_rejects_before_and_out_of_range() {
    let mut server = MetadataServer::new();
    assert_eq!(server.metadata_size(), None);
    assert_eq!(server.answer(0), MetadataMessage::Reject { piece: 0 });
    let req = MetadataMessage::Request { piece: 0 }.encode();
    let reply = server
        .handle_message(&MetadataMessage::parse(&req).unwrap())
        .unwrap();
    assert_eq!(&reply[..], b"d8:msg_typei2e5:piecei0ee");
    let info = Bytes::from(info_dict(1000, 1));
    server.set_info(info.clone()).unwrap();
    assert_eq!(server.metadata_size(), Some(info.len() as u64));
    let MetadataMessage::Data {
        piece,
        total_size,
        data,
    } = server.answer(1)
    else {
        panic!("no data");
    };
    assert_eq!((piece, total_size), (1, info.len() as u64));
    assert_eq!(data, info.slice(16384..info.len()));
    assert_eq!(server.answer(2), MetadataMessage::Reject { piece: 2 });
    assert_eq!(
        server.answer(u32::MAX),
        MetadataMessage::Reject { piece: u32::MAX }
    );
    assert_eq!(
        server.handle_message(&MetadataMessage::Reject { piece: 0 }),
        None
    );
    assert_eq!(server.set_info(Bytes::new()), Err(MetadataTooLarge(0)));
    let huge = Bytes::from(vec![0u8; DEFAULT_MAX_METADATA_SIZE as usize + 1]);
    assert!(MetadataServer::with_info(huge).is_err());
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Sends its own corrupted copy (one byte flipped in every piece).
    Liar,
    Rejecter,
    Silent,
}

struct SimPeer {
    id: u32,
    behaviour: Behaviour,
    server: MetadataServer,
}

struct Sim {
    now: Instant,
    fetcher: MetadataFetcher<u32>,
    peers: Vec<SimPeer>,
    /// Replies in flight: (arrival, peer, payload).
    net: VecDeque<(Instant, u32, Bytes)>,
    requests: Vec<(u32, u32)>,
    events: Vec<FetchEvent<u32>>,
}

const LATENCY: Duration = Duration::from_millis(30);

impl Sim {
    fn new(info: &[u8]) -> Self {
        Self {
            now: Instant::now(),
            fetcher: MetadataFetcher::new(InfoHash::of_info(info), FetcherConfig::default()),
            peers: Vec::new(),
            net: VecDeque::new(),
            requests: Vec::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self, id: u32, behaviour: Behaviour, info: &[u8]) {
        let mut bytes = info.to_vec();
        if behaviour == Behaviour::Liar {
            for chunk in bytes.chunks_mut(METADATA_PIECE_LEN as usize) {
                let last = chunk.len() - 1;
                chunk[last] ^= 0x55;
            }
        }
        self.peers.push(SimPeer {
            id,
            behaviour,
            server: MetadataServer::with_info(Bytes::from(bytes)).unwrap(),
        });
        self.fetcher
            .add_peer(self.now, id, Some(info.len() as u64))
            .unwrap();
    }

    /// Runs until complete or idle; returns the verified bytes, if any.
    fn run(&mut self) -> Option<Bytes> {
        for _ in 0..100_000 {
            while let Some((peer, payload)) = self.fetcher.poll_transmit() {
                let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(&payload)
                else {
                    panic!("fetcher sent a non-request");
                };
                self.requests.push((peer, piece));
                let sim = self.peers.iter().find(|p| p.id == peer).expect("known");
                let reply = match sim.behaviour {
                    Behaviour::Honest | Behaviour::Liar => sim.server.answer(piece),
                    Behaviour::Rejecter => MetadataMessage::Reject { piece },
                    Behaviour::Silent => continue,
                };
                self.net
                    .push_back((self.now + LATENCY, peer, reply.encode()));
            }
            while let Some(event) = self.fetcher.poll_event() {
                let done = matches!(event, FetchEvent::Complete(_));
                self.events.push(event.clone());
                if let FetchEvent::DropPeer { peer, .. } = event {
                    // The session closes it; the fetcher already forgot it.
                    self.fetcher.remove_peer(self.now, peer);
                }
                if done {
                    return self.fetcher.info_bytes().cloned();
                }
            }
            let next_net = self.net.front().map(|(t, _, _)| *t);
            let next_timer = self.fetcher.poll_timeout();
            match (next_net, next_timer) {
                (Some(n), t) if t.is_none_or(|t| n <= t) => {
                    let (at, peer, payload) = self.net.pop_front().expect("front");
                    self.now = self.now.max(at);
                    self.fetcher
                        .handle_payload(self.now, peer, &payload)
                        .expect("valid payload");
                }
                (_, Some(t)) => {
                    self.now = self.now.max(t);
                    self.fetcher.handle_timeout(self.now);
                }
                _ => return None,
            }
            assert!(self.fetcher.bytes_held() <= DEFAULT_MAX_METADATA_SIZE as usize);
        }
        panic!("no progress after 100000 steps");
    }

    fn drops(&self) -> Vec<(u32, MetadataFault)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                FetchEvent::DropPeer { peer, fault } => Some((*peer, fault.clone())),
                FetchEvent::Complete(_) => None,
            })
            .collect()
    }
}

#[test]
fn single_honest_peer() {
    let info = info_dict(5000, 2);
    let mut sim = Sim::new(&info);
    sim.add(1, Behaviour::Honest, &info);
    let got = sim.run().expect("complete");
    assert_eq!(&got[..], &info[..]);
    let meta = Metainfo::from_info_bytes(&got).unwrap();
    assert_eq!(meta.info_hash(), InfoHash::of_info(&info));
    assert_eq!(
        sim.requests.len(),
        metadata_piece_count(info.len() as u64) as usize
    );
    assert!(sim.drops().is_empty());
    assert!(sim.fetcher.is_complete());
    assert_eq!(sim.fetcher.poll_timeout(), None);
}

#[test]
fn four_peers_one_liar() {
    let info = info_dict(5000, 3); // 7 pieces
    let pieces = metadata_piece_count(info.len() as u64);
    assert_eq!(pieces, 7);
    let mut sim = Sim::new(&info);
    for id in 1..=4 {
        let b = if id == 3 {
            Behaviour::Liar
        } else {
            Behaviour::Honest
        };
        sim.add(id, b, &info);
    }
    let got = sim.run().expect("complete despite the liar");
    assert_eq!(&got[..], &info[..]);
    let drops = sim.drops();
    assert_eq!(drops.len(), 1, "{drops:?}");
    assert_eq!(drops[0].0, 3);
    assert!(matches!(drops[0].1, MetadataFault::BadPiece(_)));
    // Requests were spread: every peer was asked in the first round.
    for id in 1..=4 {
        assert!(
            sim.requests[..7].iter().any(|(p, _)| *p == id),
            "{:?}",
            sim.requests
        );
    }
    // The liar's pieces were asked of others afterwards.
    let liar_pieces: Vec<u32> = sim
        .requests
        .iter()
        .filter(|(p, _)| *p == 3)
        .map(|(_, piece)| *piece)
        .collect();
    for piece in liar_pieces {
        assert!(
            sim.requests
                .iter()
                .filter(|(p, q)| *q == piece && *p != 3)
                .count()
                >= 2,
            "piece {piece}: {:?}",
            sim.requests
        );
    }
}

#[test]
fn liar_alone_first_then_honest_peers() {
    let info = info_dict(2000, 4); // 3 pieces
    let mut sim = Sim::new(&info);
    sim.add(9, Behaviour::Liar, &info);
    assert_eq!(sim.run(), None, "a lone liar cannot complete it");
    assert!(sim.drops().is_empty(), "nothing proven yet");
    sim.add(1, Behaviour::Honest, &info);
    sim.add(2, Behaviour::Honest, &info);
    let got = sim.run().expect("complete");
    assert_eq!(&got[..], &info[..]);
    assert_eq!(sim.drops(), vec![(9, MetadataFault::BadPiece(0))]);
}

#[test]
fn rejects_and_timeouts_are_asked_elsewhere() {
    let info = info_dict(5000, 5);
    let mut sim = Sim::new(&info);
    sim.add(1, Behaviour::Rejecter, &info);
    sim.add(2, Behaviour::Silent, &info);
    sim.add(3, Behaviour::Honest, &info);
    let start = sim.now;
    let got = sim.run().expect("complete");
    assert_eq!(&got[..], &info[..]);
    assert!(sim.drops().is_empty(), "rejecting or slow is not lying");
    assert!(sim.requests.iter().any(|(p, _)| *p == 1));
    assert!(sim.requests.iter().any(|(p, _)| *p == 2));
    // Silent peer's requests waited for the request timeout.
    assert!(sim.now - start >= FetcherConfig::default().request_timeout);
    // Every piece was eventually served by peer 3.
    for piece in 0..7 {
        assert!(sim.requests.contains(&(3, piece)), "{:?}", sim.requests);
    }
}

#[test]
fn disconnect_reasks_elsewhere() {
    let info = info_dict(5000, 6);
    let mut sim = Sim::new(&info);
    sim.add(1, Behaviour::Silent, &info);
    let (_, first) = sim.fetcher.poll_transmit().expect("a request");
    assert_eq!(
        MetadataMessage::parse(&first),
        Ok(MetadataMessage::Request { piece: 0 })
    );
    assert_eq!(sim.fetcher.requests_in_flight(1), 2);
    let _ = sim.fetcher.poll_transmit();
    sim.add(2, Behaviour::Honest, &info);
    sim.fetcher.remove_peer(sim.now, 1);
    let got = sim.run().expect("complete");
    assert_eq!(&got[..], &info[..]);
    assert!(sim.requests.contains(&(2, 0)));
}

#[test]
fn size_majority_wins_and_wrong_size_is_named() {
    let info = info_dict(5000, 7);
    let fake = info_dict(3000, 8);
    let mut sim = Sim::new(&info);
    // Peer 5 claims another size (its own bogus metadata) and arrives first.
    sim.peers.push(SimPeer {
        id: 5,
        behaviour: Behaviour::Honest,
        server: MetadataServer::with_info(Bytes::from(fake.clone())).unwrap(),
    });
    sim.fetcher
        .add_peer(sim.now, 5, Some(fake.len() as u64))
        .unwrap();
    sim.add(1, Behaviour::Honest, &info);
    sim.add(2, Behaviour::Honest, &info);
    let got = sim.run().expect("complete");
    assert_eq!(&got[..], &info[..]);
    assert_eq!(
        sim.drops(),
        vec![(
            5,
            MetadataFault::WrongSize {
                advertised: fake.len() as u64,
                actual: info.len() as u64
            }
        )]
    );
}

#[test]
fn consistent_liars_with_another_size_are_outlasted() {
    let info = info_dict(3000, 10);
    let fake = info_dict(1000, 11);
    let mut sim = Sim::new(&info);
    // Three peers agree on a fake info dictionary of another size: a majority.
    for id in [1, 2, 3] {
        sim.peers.push(SimPeer {
            id,
            behaviour: Behaviour::Honest,
            server: MetadataServer::with_info(Bytes::from(fake.clone())).unwrap(),
        });
        sim.fetcher
            .add_peer(sim.now, id, Some(fake.len() as u64))
            .unwrap();
    }
    sim.add(4, Behaviour::Honest, &info);
    let got = sim.run().expect("complete from the lone honest peer");
    assert_eq!(&got[..], &info[..]);
    let dropped: Vec<u32> = sim.drops().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![1, 2, 3]);
    assert!(
        sim.drops()
            .iter()
            .all(|d| matches!(d.1, MetadataFault::WrongSize { .. }))
    );
}

#[test]
fn colluding_liars_wait_for_enough_honest_votes() {
    let info = info_dict(2000, 12);
    let mut sim = Sim::new(&info);
    for id in [1, 2, 3] {
        sim.add(id, Behaviour::Liar, &info); // all three tell the same lie
    }
    assert_eq!(sim.run(), None, "the liars cannot complete it");
    let asked = sim.requests.len();
    assert_eq!(sim.run(), None, "and it does not loop");
    assert_eq!(sim.requests.len(), asked);
    for id in [4, 5, 6, 7] {
        sim.add(id, Behaviour::Honest, &info);
    }
    let got = sim.run().expect("complete once honest votes outnumber");
    assert_eq!(&got[..], &info[..]);
    let dropped: Vec<u32> = sim.drops().iter().map(|d| d.0).collect();
    assert_eq!(dropped, vec![1, 2, 3]);
}

#[test]
fn implausible_sizes_are_refused() {
    let mut f: MetadataFetcher<u8> =
        MetadataFetcher::new(InfoHash([1; 20]), FetcherConfig::default());
    let now = Instant::now();
    assert_eq!(f.add_peer(now, 1, None), Err(PeerRefusal::NoMetadataSize));
    assert_eq!(f.add_peer(now, 1, Some(0)), Err(PeerRefusal::EmptyMetadata));
    assert_eq!(
        f.add_peer(now, 1, Some(u64::MAX)),
        Err(PeerRefusal::TooLarge(u64::MAX))
    );
    assert_eq!(
        f.add_peer(now, 1, Some(DEFAULT_MAX_METADATA_SIZE + 1)),
        Err(PeerRefusal::TooLarge(DEFAULT_MAX_METADATA_SIZE + 1))
    );
    assert_eq!(f.peer_count(), 0);
    assert!(f.poll_transmit().is_none());
    assert_eq!(f.bytes_held(), 0);
    f.add_peer(now, 1, Some(DEFAULT_MAX_METADATA_SIZE)).unwrap();
    assert_eq!(f.progress_pieces(), (0, 512));
}

#[test]
fn inconsistent_data_drops_the_peer() {
    let now = Instant::now();
    let config = FetcherConfig {
        requests_per_peer: 1,
        ..FetcherConfig::default()
    };
    let mut f: MetadataFetcher<u8> = MetadataFetcher::new(InfoHash([1; 20]), config);
    f.add_peer(now, 1, Some(20_000)).unwrap();
    f.add_peer(now, 2, Some(20_000)).unwrap();
    while f.poll_transmit().is_some() {}
    // Unrequested data (piece 1 was asked of peer 2) is ignored.
    let data = |piece, total, len| MetadataMessage::Data {
        piece,
        total_size: total,
        data: Bytes::from(vec![7u8; len]),
    };
    f.handle_message(now, 1, &data(1, 20_000, 3616));
    assert_eq!(f.poll_event(), None);
    assert_eq!(f.bytes_held(), 0);
    f.handle_message(now, 1, &data(0, 30_000, 16384));
    assert_eq!(
        f.poll_event(),
        Some(FetchEvent::DropPeer {
            peer: 1,
            fault: MetadataFault::TotalSizeMismatch {
                advertised: 20_000,
                claimed: 30_000
            }
        })
    );
    f.handle_message(now, 2, &data(1, 20_000, 16384));
    assert_eq!(
        f.poll_event(),
        Some(FetchEvent::DropPeer {
            peer: 2,
            fault: MetadataFault::WrongPieceLength {
                piece: 1,
                expected: 3616,
                got: 16384
            }
        })
    );
    assert_eq!(f.peer_count(), 0);
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn same_inputs_same_outputs() {
    let info = info_dict(7000, 9);
    let run = || {
        let mut sim = Sim::new(&info);
        sim.add(4, Behaviour::Honest, &info);
        sim.add(2, Behaviour::Liar, &info);
        sim.add(7, Behaviour::Rejecter, &info);
        sim.add(1, Behaviour::Honest, &info);
        sim.add(3, Behaviour::Honest, &info);
        let start = sim.now;
        let got = sim.run();
        let drops = sim.drops();
        (got, sim.requests, drops, sim.now - start)
    };
    let a = run();
    assert!(a.0.is_some());
    assert_eq!(a.2.iter().map(|d| d.0).collect::<Vec<_>>(), vec![2]);
    assert_eq!(a, run());
}
