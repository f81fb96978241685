//! Fuzz body: a UDP tracker machine driven by a script of operations, datagrams and timeouts.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::{InfoHash, PeerId};
use crate::io::Dest;
use crate::rng::Rng;
use crate::tracker::udp::{OpId, UdpConfig, UdpEvent, UdpTracker};
use crate::tracker::{AnnounceEvent, AnnounceRequest};

/// Interprets `data` as a script run from `start` (the fuzz target passes the current instant;
/// the tracker only ever sees instants derived from it): `0` announce, `1` scrape (next byte: count), `2` advance the
/// clock (next byte: seconds) and fire timers, `3 len bytes…` a datagram, `4 len bytes…` a
/// datagram whose transaction id is replaced by the last one sent (to reach deep states).
/// Invariants: every operation ends with exactly one event; datagrams that match nothing change
/// nothing; transmits go to the tracker with a well-formed length; timers never fire in the
/// past; once time runs on, every operation finishes.
pub fn tracker_udp(start: Instant, data: &[u8]) {
    let _ = run(start, data);
}

/// How many operations ended which way.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcomes {
    announced: usize,
    scraped: usize,
    failed: usize,
}

fn run(start: Instant, data: &[u8]) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let remote: SocketAddr = if data.first().is_some_and(|b| b & 1 == 1) {
        "[::1]:6969".parse().expect("valid address")
    } else {
        "127.0.0.1:6969".parse().expect("valid address")
    };
    let config = UdpConfig {
        retransmit_base: Duration::from_secs(1),
        max_retransmits: 3,
        connection_ttl: Duration::from_secs(60),
    };
    let mut t = UdpTracker::new(remote, config, Rng::new(1));
    let mut now = start;
    let mut open: BTreeSet<OpId> = BTreeSet::new();
    let mut last_tid = [0u8; 4];
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        match op % 5 {
            0 => {
                open.insert(t.announce(now, request()));
            }
            1 => {
                let n = usize::from(bytes.next().unwrap_or(1));
                if let Ok(id) = t.scrape(now, vec![InfoHash([9; 20]); n]) {
                    open.insert(id);
                }
            }
            2 => {
                now += Duration::from_secs(u64::from(bytes.next().unwrap_or(0)));
                t.handle_timeout(now);
            }
            code => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let mut datagram: Vec<u8> = bytes.by_ref().take(len).collect();
                if code == 4 && datagram.len() >= 8 {
                    datagram[4..8].copy_from_slice(&last_tid);
                }
                let matched = t.matches(remote, &datagram);
                let result = t.handle_datagram(now, &datagram);
                if !matched {
                    assert!(result.is_err(), "an unmatched datagram was accepted");
                    assert!(
                        t.poll_event().is_none(),
                        "an unmatched datagram changed state"
                    );
                }
            }
        }
        drain(&mut t, remote, &mut open, &mut last_tid, &mut outcomes);
        if let Some(deadline) = t.poll_timeout() {
            assert!(deadline > now, "a timer is due in the past");
        }
    }
    // Let time run: everything must finish (max 3 retransmissions of connect then request).
    for _ in 0..64 + 16 * open.len() {
        let Some(deadline) = t.poll_timeout() else {
            break;
        };
        now = deadline;
        t.handle_timeout(now);
        drain(&mut t, remote, &mut open, &mut last_tid, &mut outcomes);
    }
    assert!(t.is_idle(), "operations never finished");
    assert!(open.is_empty(), "operations without an outcome: {open:?}");
    outcomes
}

fn drain(
    t: &mut UdpTracker,
    remote: SocketAddr,
    open: &mut BTreeSet<OpId>,
    tid: &mut [u8; 4],
    outcomes: &mut Outcomes,
) {
    while let Some(tx) = t.poll_transmit() {
        assert_eq!(tx.dest, Dest::Udp(remote));
        let len = tx.payload.len();
        assert!(
            len == 16 || len == 98 || (len > 16 && (len - 16) % 20 == 0),
            "length {len}"
        );
        tid.copy_from_slice(&tx.payload[12..16]);
    }
    while let Some(event) = t.poll_event() {
        let op = match event {
            UdpEvent::Announced { op, .. } => {
                outcomes.announced += 1;
                op
            }
            UdpEvent::Scraped { op, .. } => {
                outcomes.scraped += 1;
                op
            }
            UdpEvent::Failed { op, .. } => {
                outcomes.failed += 1;
                op
            }
        };
        assert!(open.remove(&op), "a second outcome for {op:?}");
    }
}

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event: AnnounceEvent::Started,
        numwant: None,
        key: 0,
        ip: None,
        tracker_id: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("tracker_udp");
        assert!(!corpus.is_empty(), "fuzz/corpus/tracker_udp is empty");
        for input in corpus {
            super::tracker_udp(Instant::now(), &input);
        }
    }

    #[test]
    fn seeds_reach_the_answers() {
        let dir = super::super::corpus_dir("tracker_udp");
        let start = Instant::now();
        let run = |name: &str| super::run(start, &std::fs::read(dir.join(name)).unwrap());
        let ok = |announced, scraped, failed| super::Outcomes {
            announced,
            scraped,
            failed,
        };
        assert_eq!(run("announce_ok"), ok(1, 0, 0));
        assert_eq!(run("scrape_ok"), ok(0, 1, 0));
        assert_eq!(run("ipv6_peers"), ok(1, 0, 1));
        assert_eq!(run("error_action"), ok(0, 0, 1));
        assert_eq!(run("timeouts"), ok(0, 0, 1));
        assert_eq!(run("bad_peers"), ok(0, 0, 1));
        assert_eq!(run("expired_connection"), ok(1, 0, 1));
    }
}
