use super::*;
use crate::id::PeerId;
use crate::tracker::AnnounceEvent;

fn tracker(remote: &str, base_secs: u64, max: u32) -> UdpTracker {
    let config = UdpConfig {
        retransmit_base: Duration::from_secs(base_secs),
        max_retransmits: max,
        connection_ttl: Duration::from_secs(60),
    };
    UdpTracker::new(remote.parse().unwrap(), config, Rng::new(7))
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0x11; 20]),
        peer_id: PeerId([0x22; 20]),
        port: 6881,
        uploaded: 3,
        downloaded: 4,
        left: 5,
        event: AnnounceEvent::Started,
        numwant: None,
        key: 0x0102_0304,
        ip: Some("10.1.2.3".parse().unwrap()),
        tracker_id: None,
    }
}

fn tid_of(p: &[u8]) -> u32 {
    read_u32(p, 12).unwrap()
}

fn connect_answer(tid: u32, id: u64) -> Vec<u8> {
    [
        &0u32.to_be_bytes()[..],
        &tid.to_be_bytes(),
        &id.to_be_bytes(),
    ]
    .concat()
}

fn announce_answer(tid: u32, peers: &[u8]) -> Vec<u8> {
    [
        &1u32.to_be_bytes()[..],
        &tid.to_be_bytes(),
        &1800u32.to_be_bytes(),
        &5u32.to_be_bytes(),
        &9u32.to_be_bytes(),
        peers,
    ]
    .concat()
}

/// Connects `t` at `now` with connection id 0xC0FFEE; returns the announce datagram sent next.
fn connect(t: &mut UdpTracker, now: Instant) -> Bytes {
    let c = t.poll_transmit().expect("connect sent");
    assert_eq!(c.payload.len(), 16);
    assert_eq!(read_u64(&c.payload, 0), Some(PROTOCOL_ID));
    assert_eq!(read_u32(&c.payload, 8), Some(ACTION_CONNECT));
    let tid = tid_of(&c.payload);
    let answer = connect_answer(tid, 0xC0FFEE);
    assert!(t.matches(t.remote(), &answer));
    t.handle_datagram(now, &answer).unwrap();
    t.poll_transmit().expect("request sent").payload
}

#[test]
fn connect_then_announce_round_trip() {
    let now = Instant::now();
    let mut t = tracker("127.0.0.1:6969", 15, 8);
    let op = t.announce(now, request());
    let a = connect(&mut t, now);
    assert_eq!(a.len(), 98);
    assert_eq!(read_u64(&a, 0), Some(0xC0FFEE));
    assert_eq!(read_u32(&a, 8), Some(ACTION_ANNOUNCE));
    assert_eq!(&a[16..36], &[0x11; 20]);
    assert_eq!(&a[36..56], &[0x22; 20]);
    assert_eq!(read_u64(&a, 56), Some(4)); // downloaded
    assert_eq!(read_u64(&a, 64), Some(5)); // left
    assert_eq!(read_u64(&a, 72), Some(3)); // uploaded
    assert_eq!(read_u32(&a, 80), Some(2)); // started
    assert_eq!(&a[84..88], &[10, 1, 2, 3]);
    assert_eq!(read_u32(&a, 88), Some(0x0102_0304));
    assert_eq!(read_u32(&a, 92), Some(u32::MAX)); // numwant -1
    assert_eq!(&a[96..98], &6881u16.to_be_bytes());

    let answer = announce_answer(tid_of(&a), &[127, 0, 0, 1, 0x1a, 0xe1]);
    t.handle_datagram(now, &answer).unwrap();
    assert_eq!(
        t.poll_event(),
        Some(UdpEvent::Announced {
            op,
            response: AnnounceResponse {
                interval: Some(Duration::from_secs(1800)),
                complete: Some(9),
                incomplete: Some(5),
                peers: vec!["127.0.0.1:6881".parse().unwrap()],
                ..AnnounceResponse::default()
            }
        })
    );
    assert!(t.is_idle());
    assert_eq!(t.poll_timeout(), None);
    // A duplicate answer is now unknown.
    assert_eq!(
        t.handle_datagram(now, &answer),
        Err(UdpError::UnknownTransaction(tid_of(&a)))
    );
}

#[test]
fn retransmits_connect_at_base_times_two_to_the_n_then_gives_up() {
    let start = Instant::now();
    let mut t = tracker("127.0.0.1:6969", 15, 3);
    let op = t.announce(start, request());
    let first = t.poll_transmit().unwrap();
    let mut sent_at = vec![0u64];
    let mut now = start;
    while let Some(deadline) = t.poll_timeout() {
        // Nothing fires a moment early.
        t.handle_timeout(deadline - Duration::from_millis(1));
        assert!(t.poll_transmit().is_none());
        now = deadline;
        t.handle_timeout(now);
        while let Some(tx) = t.poll_transmit() {
            assert_eq!(
                tx.payload, first.payload,
                "a retransmission repeats the request"
            );
            sent_at.push((now - start).as_secs());
        }
    }
    // 15, 30, 60 s between sends, then 120 s of silence before giving up.
    assert_eq!(sent_at, vec![0, 15, 45, 105]);
    assert_eq!((now - start).as_secs(), 225);
    assert_eq!(
        t.poll_event(),
        Some(UdpEvent::Failed {
            op,
            error: UdpError::TimedOut(3)
        })
    );
    assert!(t.is_idle());
}

#[test]
fn retransmits_announce_and_reconnects_when_the_id_expired() {
    let start = Instant::now();
    let mut t = tracker("127.0.0.1:6969", 40, 8);
    let _op = t.announce(start, request());
    let a = connect(&mut t, start);
    // First retransmission at 40 s: connection id still valid, same request, new tid.
    assert_eq!(t.poll_timeout(), Some(start + Duration::from_secs(40)));
    t.handle_timeout(start + Duration::from_secs(40));
    let b = t.poll_transmit().unwrap().payload;
    assert_eq!(read_u32(&b, 8), Some(ACTION_ANNOUNCE));
    assert_eq!(&a[16..], &b[16..]);
    assert_ne!(tid_of(&a), tid_of(&b));
    // Second at 40 + 80 = 120 s: the id (received at 0) expired at 60 s, so reconnect first.
    assert_eq!(t.poll_timeout(), Some(start + Duration::from_secs(120)));
    t.handle_timeout(start + Duration::from_secs(120));
    let c = t.poll_transmit().unwrap().payload;
    assert_eq!(c.len(), 16);
    assert_eq!(read_u64(&c, 0), Some(PROTOCOL_ID));
}

#[test]
fn connection_id_is_reused_for_a_minute() {
    let start = Instant::now();
    let mut t = tracker("127.0.0.1:6969", 15, 8);
    t.announce(start, request());
    let a = connect(&mut t, start);
    t.handle_datagram(start, &announce_answer(tid_of(&a), &[]))
        .unwrap();
    let at = start + Duration::from_secs(59);
    t.announce(at, request());
    let b = t.poll_transmit().unwrap().payload;
    assert_eq!(read_u64(&b, 0), Some(0xC0FFEE), "reused the connection id");
    t.handle_datagram(at, &announce_answer(tid_of(&b), &[]))
        .unwrap();
    let later = start + Duration::from_secs(60);
    t.announce(later, request());
    let c = t.poll_transmit().unwrap().payload;
    assert_eq!(read_u64(&c, 0), Some(PROTOCOL_ID), "expired: connect again");
}

#[test]
fn scrape_round_trip_and_ipv6_peers() {
    let now = Instant::now();
    let mut t = tracker("[::1]:6969", 15, 8);
    let hashes = vec![InfoHash([1; 20]), InfoHash([2; 20])];
    let op = t.scrape(now, hashes.clone()).unwrap();
    let s = connect(&mut t, now);
    assert_eq!(s.len(), 16 + 40);
    assert_eq!(read_u32(&s, 8), Some(ACTION_SCRAPE));
    let mut answer = [&2u32.to_be_bytes()[..], &tid_of(&s).to_be_bytes()].concat();
    for v in [3u32, 4, 5, 6, 7, 8] {
        answer.extend_from_slice(&v.to_be_bytes());
    }
    t.handle_datagram(now, &answer).unwrap();
    let want = vec![
        ScrapeStats {
            info_hash: hashes[0],
            complete: 3,
            downloaded: 4,
            incomplete: 5,
            downloaders: None,
        },
        ScrapeStats {
            info_hash: hashes[1],
            complete: 6,
            downloaded: 7,
            incomplete: 8,
            downloaders: None,
        },
    ];
    assert_eq!(t.poll_event(), Some(UdpEvent::Scraped { op, stats: want }));

    let op = t.announce(now, request());
    let a = t.poll_transmit().unwrap().payload;
    let mut peer = [0u8; 18];
    peer[15] = 1;
    peer[16..].copy_from_slice(&80u16.to_be_bytes());
    t.handle_datagram(now, &announce_answer(tid_of(&a), &peer))
        .unwrap();
    let Some(UdpEvent::Announced { op: got, response }) = t.poll_event() else {
        panic!("no announce event")
    };
    assert_eq!(got, op);
    assert_eq!(response.peers, vec!["[::1]:80".parse().unwrap()]);
    assert_eq!(t.scrape(now, Vec::new()), Err(UdpError::ScrapeCount(0)));
    assert_eq!(
        t.scrape(now, vec![InfoHash([0; 20]); 75]),
        Err(UdpError::ScrapeCount(75))
    );
}

/// Builds an answer datagram for a transaction id.
type AnswerFn = Box<dyn Fn(u32) -> Vec<u8>>;

/// Hostile datagrams: each gives its exact error, and unknown ones change nothing.
#[test]
fn hostile_datagrams_give_exact_errors() {
    let now = Instant::now();
    let remote: SocketAddr = "127.0.0.1:6969".parse().unwrap();

    // Before the connect answer.
    let mut t = tracker("127.0.0.1:6969", 15, 8);
    let op = t.announce(now, request());
    let c = t.poll_transmit().unwrap().payload;
    let tid = tid_of(&c);
    let wrong = connect_answer(tid.wrapping_add(1), 1);
    assert!(!t.matches(remote, &wrong));
    assert!(!t.matches("127.0.0.1:1".parse().unwrap(), &connect_answer(tid, 1)));
    assert!(!t.matches(remote, &[0, 0, 0]));
    assert_eq!(
        t.handle_datagram(now, &wrong),
        Err(UdpError::UnknownTransaction(tid.wrapping_add(1)))
    );
    assert_eq!(
        t.handle_datagram(now, &[0, 0, 0, 0, 1]),
        Err(UdpError::TooShort { action: 0, len: 5 })
    );
    assert_eq!(t.poll_event(), None, "dropped datagrams change nothing");
    // A connect answer without the id fails the waiting announce.
    assert_eq!(
        t.handle_datagram(now, &connect_answer(tid, 1)[..12]),
        Err(UdpError::TooShort { action: 0, len: 12 })
    );
    assert_eq!(
        t.poll_event(),
        Some(UdpEvent::Failed {
            op,
            error: UdpError::TooShort { action: 0, len: 12 }
        })
    );

    // Error action on connect.
    let op = t.announce(now, request());
    let c = t.poll_transmit().unwrap().payload;
    let err = [
        &3u32.to_be_bytes()[..],
        &tid_of(&c).to_be_bytes(),
        b"banned",
    ]
    .concat();
    let want = UdpError::Tracker("banned".into());
    assert_eq!(t.handle_datagram(now, &err), Err(want.clone()));
    assert_eq!(t.poll_event(), Some(UdpEvent::Failed { op, error: want }));

    // After connecting: each hostile answer to an announce.
    let announce_cases: Vec<(&str, AnswerFn, UdpError)> = vec![
        (
            "peers not a multiple of 6",
            Box::new(|tid| announce_answer(tid, &[1, 2, 3, 4, 5, 6, 7])),
            UdpError::PeersLength(7),
        ),
        (
            "truncated header",
            Box::new(|tid| announce_answer(tid, &[])[..19].to_vec()),
            UdpError::TooShort { action: 1, len: 19 },
        ),
        (
            "scrape action to an announce",
            Box::new(|tid| [&2u32.to_be_bytes()[..], &tid.to_be_bytes()].concat()),
            UdpError::UnexpectedAction {
                expected: 1,
                got: 2,
            },
        ),
        (
            "unknown action",
            Box::new(|tid| [&77u32.to_be_bytes()[..], &tid.to_be_bytes()].concat()),
            UdpError::UnexpectedAction {
                expected: 1,
                got: 77,
            },
        ),
        (
            "error action, invalid UTF-8",
            Box::new(|tid| [&3u32.to_be_bytes()[..], &tid.to_be_bytes(), b"a\xffb"].concat()),
            UdpError::Tracker("a\u{fffd}b".into()),
        ),
    ];
    let mut connected = false;
    for (name, make, want) in announce_cases {
        let op = t.announce(now, request());
        let a = if connected {
            t.poll_transmit().unwrap().payload
        } else {
            connected = true;
            connect(&mut t, now)
        };
        assert_eq!(
            t.handle_datagram(now, &make(tid_of(&a))),
            Err(want.clone()),
            "{name}"
        );
        assert_eq!(
            t.poll_event(),
            Some(UdpEvent::Failed { op, error: want }),
            "{name}"
        );
    }

    // Scrape answers with more entries than asked, or a ragged length.
    for (extra, want) in [
        (24usize, UdpError::ScrapeLength(24)),
        (5, UdpError::ScrapeLength(5)),
    ] {
        let op = t.scrape(now, vec![InfoHash([1; 20])]).unwrap();
        let s = t.poll_transmit().unwrap().payload;
        let answer = [
            &2u32.to_be_bytes()[..],
            &tid_of(&s).to_be_bytes(),
            &vec![0; extra],
        ]
        .concat();
        assert_eq!(t.handle_datagram(now, &answer), Err(want.clone()));
        assert_eq!(t.poll_event(), Some(UdpEvent::Failed { op, error: want }));
    }
}

#[test]
fn cancel_and_deterministic_transaction_ids() {
    let now = Instant::now();
    let run = || {
        let mut t = tracker("127.0.0.1:6969", 15, 8);
        t.announce(now, request());
        t.poll_transmit().unwrap().payload
    };
    assert_eq!(run(), run(), "same seed, same datagrams");
    let mut t = tracker("127.0.0.1:6969", 15, 8);
    let op = t.announce(now, request());
    assert!(t.cancel(op));
    assert!(!t.cancel(op));
    assert_eq!(
        t.poll_event(),
        Some(UdpEvent::Failed {
            op,
            error: UdpError::Cancelled
        })
    );
    assert_eq!(t.poll_timeout(), None, "nothing left to retransmit");
}
