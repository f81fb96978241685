//! Codec tables and PEX pools passing addresses between simulated peers.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::bencode::{DecodeErrorKind, Decoder};

fn v4(a: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port)
}

fn v6(a: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a)),
        port,
    )
}

#[test]
fn round_trip_keeps_flags_and_families() {
    let msg = PexMessage {
        added: vec![
            PexPeer {
                addr: v4(1, 6881),
                flags: PexFlags::SEED.union(PexFlags::OUTGOING),
            },
            PexPeer {
                addr: v4(2, 51413),
                flags: PexFlags(0xff),
            },
            PexPeer {
                addr: v6(3, 443),
                flags: PexFlags::UTP
                    .union(PexFlags::HOLEPUNCH)
                    .union(PexFlags::ENCRYPTION),
            },
        ],
        dropped: vec![v4(9, 1), v6(8, 2)],
    };
    let bytes = msg.encode();
    assert!(
        Decoder::new(&bytes).strict(true).decode().is_ok(),
        "canonical"
    );
    assert_eq!(PexMessage::parse(&bytes), Ok(msg.clone()));
    assert!(msg.added[0].flags.contains(PexFlags::SEED));
    assert!(!msg.added[0].flags.contains(PexFlags::UTP));
    let empty = PexMessage::default();
    assert_eq!(
        &empty.encode()[..],
        b"d5:added0:7:added.f0:6:added60:8:added6.f0:7:dropped0:8:dropped60:e"
    );
    assert!(PexMessage::parse(&empty.encode()).unwrap().is_empty());
}

#[test]
fn libtorrent_style_message() {
    // libtorrent sends only the keys it has; no `.f` means no flags.
    let payload =
        b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x1a\xe27:added.f2:\x10\x02e";
    let msg = PexMessage::parse(payload).unwrap();
    assert_eq!(
        msg.added,
        vec![
            PexPeer {
                addr: "127.0.0.1:6881".parse().unwrap(),
                flags: PexFlags::OUTGOING
            },
            PexPeer {
                addr: "127.0.0.1:6882".parse().unwrap(),
                flags: PexFlags::SEED
            },
        ]
    );
    let msg = PexMessage::parse(b"d7:dropped6:\x0a\x00\x00\x01\x00\x50e").unwrap();
    assert_eq!(msg.dropped, vec![v4(1, 80)]);
    assert!(msg.added.is_empty());
    let no_flags = PexMessage::parse(b"d5:added6:\x0a\x00\x00\x02\x00\x51e").unwrap();
    assert_eq!(no_flags.added[0].flags, PexFlags::NONE);
}

#[test]
fn hostile_messages() {
    let many = [b"d5:added1206:".as_slice(), &[1u8; 1206], b"e".as_slice()].concat();
    let many6 = [b"d8:dropped63618:".as_slice(), &[1u8; 3618], b"e"].concat();
    let table: &[(&[u8], PexError)] = &[
        (b"le", PexError::NotADictionary),
        (b"d5:addedi1ee", PexError::NotAString("added")),
        (
            b"d7:dropped1:xe",
            PexError::RaggedLength {
                key: "dropped",
                len: 1,
            },
        ),
        (
            b"d5:added7:1234567e",
            PexError::RaggedLength {
                key: "added",
                len: 7,
            },
        ),
        (
            b"d6:added66:123456e",
            PexError::RaggedLength {
                key: "added6",
                len: 6,
            },
        ),
        (
            b"d8:dropped619:1234567890123456789e",
            PexError::RaggedLength {
                key: "dropped6",
                len: 19,
            },
        ),
        (
            b"d5:added6:1234567:added.f2:xxe",
            PexError::FlagsMismatch {
                key: "added.f",
                peers: 1,
                flags: 2,
            },
        ),
        (
            b"d6:added60:8:added6.f1:xe",
            PexError::FlagsMismatch {
                key: "added6.f",
                peers: 0,
                flags: 1,
            },
        ),
        (
            &many,
            PexError::TooManyEntries {
                key: "added",
                count: 201,
            },
        ),
        (
            &many6,
            PexError::TooManyEntries {
                key: "dropped6",
                count: 201,
            },
        ),
    ];
    for (input, expected) in table {
        let got = PexMessage::parse(input);
        assert_eq!(
            got.as_ref(),
            Err(expected),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert!(!got.unwrap_err().to_string().is_empty());
    }
    let Err(PexError::Bencode(e)) = PexMessage::parse(b"d5:added") else {
        panic!("truncated accepted");
    };
    assert_eq!(e.kind, DecodeErrorKind::UnexpectedEof);
    assert!(matches!(
        PexMessage::parse(b"d5:added0:eXX"),
        Err(PexError::Bencode(_))
    ));
    // Exactly the cap is fine.
    let at_cap = [b"d5:added1200:".as_slice(), &[1u8; 1200], b"e"].concat();
    assert_eq!(
        PexMessage::parse(&at_cap).unwrap().added.len(),
        MAX_PEX_ENTRIES
    );
}

#[test]
fn pool_filters_dedupes_and_bounds() {
    let now = Instant::now();
    let mut config = PexConfig::new(false);
    config.max_candidates = 5;
    config.max_per_source = 3;
    let mut pool: PexPool<u32> = PexPool::new(config);
    let own = v4(100, 6881);
    pool.add_own_addr(own);
    pool.peer_connected(v4(50, 1000), PexFlags::NONE);
    let added = |addrs: &[SocketAddr]| PexMessage {
        added: addrs
            .iter()
            .map(|a| PexPeer {
                addr: *a,
                flags: PexFlags::SEED,
            })
            .collect(),
        dropped: vec![],
    };
    let from = v4(51, 2000);
    let msg = added(&[
        own,
        from,
        v4(50, 1000),
        v4(0, 0),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 80),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), 80),
        v4(1, 1),
        v4(1, 1),
        v4(2, 2),
    ]);
    assert_eq!(pool.handle_message(now, 7, from, &msg), 2);
    // Per-source cap: source 7 may add one more.
    assert_eq!(
        pool.handle_message(now, 7, from, &added(&[v4(3, 3), v4(4, 4)])),
        1
    );
    // Total cap: 5.
    assert_eq!(
        pool.handle_message(now, 8, v4(52, 1), &added(&[v4(5, 5), v4(6, 6), v4(7, 7)])),
        2
    );
    assert_eq!(pool.candidate_count(), 5);
    // Dropped only counts from the peer that gave the address.
    let drop = |addr| PexMessage {
        added: vec![],
        dropped: vec![addr],
    };
    pool.handle_message(now, 8, v4(52, 1), &drop(v4(1, 1)));
    assert_eq!(pool.candidate_count(), 5);
    pool.handle_message(now, 7, from, &drop(v4(1, 1)));
    assert_eq!(pool.candidate_count(), 4);
    // Connecting to a candidate removes it; popping is oldest first with the source recorded.
    pool.peer_connected(v4(2, 2), PexFlags::NONE);
    let c = pool.pop_candidate().unwrap();
    assert_eq!((c.addr, c.source, c.flags), (v4(3, 3), 7, PexFlags::SEED));
    pool.forget_source(8);
    assert_eq!(pool.candidate_count(), 0);
    assert_eq!(pool.pop_candidate(), None);
    // Room again for source 7.
    assert_eq!(pool.handle_message(now, 7, from, &added(&[v4(9, 9)])), 1);
}

#[test]
fn sender_reports_changes_once_a_minute() {
    let t0 = Instant::now();
    let mut pool: PexPool<u32> = PexPool::new(PexConfig::new(false));
    let own = v4(100, 6881);
    let peer = v4(1, 1);
    pool.add_own_addr(own);
    pool.peer_connected(own, PexFlags::NONE); // a connection to ourselves: never sent
    pool.peer_connected(peer, PexFlags::NONE);
    for i in 0..60u16 {
        pool.peer_connected(v6(i, 7000 + i), PexFlags::UTP);
    }
    let mut sender = pool.sender(t0, peer).unwrap();
    let first = pool.poll_message(t0, &mut sender).unwrap();
    assert_eq!(first.added.len(), MAX_ADDED_PER_MESSAGE);
    assert!(first.added.iter().all(|p| p.addr != peer && p.addr != own));
    assert_eq!(
        pool.poll_message(t0 + Duration::from_secs(59), &mut sender),
        None
    );
    pool.peer_disconnected(first.added[0].addr);
    let t1 = t0 + Duration::from_secs(60);
    assert_eq!(sender.poll_timeout(), t1);
    let second = pool.poll_message(t1, &mut sender).unwrap();
    assert_eq!(second.added.len(), 10, "the rest");
    assert_eq!(second.dropped, vec![first.added[0].addr]);
    assert_eq!(sender.told_count(), 59);
    // Nothing changed: nothing to send, next turn a minute later.
    let t2 = t1 + Duration::from_secs(60);
    assert_eq!(pool.poll_message(t2, &mut sender), None);
    assert_eq!(sender.poll_timeout(), t2 + Duration::from_secs(60));
}

/// Three peers A, B, C, each with its own pool: B is connected to A and C; A learns of C only
/// through B's message, over the codec.
#[test]
fn a_learns_of_c_through_b() {
    let now = Instant::now();
    let (a, b, c) = (v4(1, 6881), v4(2, 6882), v4(3, 6883));
    let mut pools: Vec<PexPool<SocketAddr>> = (0..3)
        .map(|_| PexPool::new(PexConfig::new(false)))
        .collect();
    for (i, own) in [a, b, c].into_iter().enumerate() {
        pools[i].add_own_addr(own);
    }
    // Connections: A–B, B–C.
    pools[0].peer_connected(b, PexFlags::NONE);
    pools[1].peer_connected(a, PexFlags::NONE);
    pools[1].peer_connected(c, PexFlags::SEED.union(PexFlags::OUTGOING));
    pools[2].peer_connected(b, PexFlags::NONE);
    let mut b_to_a = pools[1].sender(now, a).unwrap();
    let mut b_to_c = pools[1].sender(now, c).unwrap();
    let mut a_to_b = pools[0].sender(now, b).unwrap();

    let to_a = pools[1].poll_message(now, &mut b_to_a).unwrap().encode();
    let to_c = pools[1].poll_message(now, &mut b_to_c).unwrap().encode();
    // A only knows B: nothing new to tell it.
    assert_eq!(pools[0].poll_message(now, &mut a_to_b), None);

    assert_eq!(pools[0].handle_payload(now, b, b, &to_a), Ok(1));
    assert_eq!(pools[2].handle_payload(now, b, b, &to_c), Ok(1));
    let learned = pools[0].pop_candidate().unwrap();
    assert_eq!(learned.addr, c);
    assert_eq!(learned.source, b);
    assert!(learned.flags.contains(PexFlags::SEED));
    assert_eq!(pools[2].pop_candidate().unwrap().addr, a);
    // A connects to C; B's next message to A says nothing new, C's own message tells A of B,
    // which A is connected to already.
    pools[0].peer_connected(c, PexFlags::NONE);
    pools[2].peer_connected(a, PexFlags::NONE);
    let mut c_to_a = pools[2].sender(now, a).unwrap();
    let from_c = pools[2].poll_message(now, &mut c_to_a).unwrap().encode();
    assert_eq!(pools[0].handle_payload(now, c, c, &from_c), Ok(0));
    assert_eq!(pools[0].candidate_count(), 0);
}

#[test]
fn private_torrent_has_no_pex() {
    let now = Instant::now();
    let mut pool: PexPool<u32> = PexPool::new(PexConfig::new(true));
    assert!(!pool.is_enabled());
    pool.peer_connected(v4(1, 1), PexFlags::NONE);
    pool.peer_connected(v4(2, 2), PexFlags::NONE);
    assert!(pool.sender(now, v4(1, 1)).is_none(), "no sender can exist");
    // A sender from a public pool cannot make the private one speak either.
    let public: PexPool<u32> = PexPool::new(PexConfig::new(false));
    let mut sender = public.sender(now, v4(1, 1)).unwrap();
    assert_eq!(pool.poll_message(now, &mut sender), None);
    let payload = PexMessage {
        added: vec![PexPeer {
            addr: v4(3, 3),
            flags: PexFlags::NONE,
        }],
        dropped: vec![],
    }
    .encode();
    assert_eq!(pool.handle_payload(now, 1, v4(1, 1), &payload), Ok(0));
    assert_eq!(pool.handle_payload(now, 1, v4(1, 1), b"garbage"), Ok(0));
    assert_eq!(pool.candidate_count(), 0);
    assert_eq!(pool.connected().count(), 0);
}
