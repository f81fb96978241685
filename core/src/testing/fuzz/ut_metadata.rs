//! Fuzz body: the ut_metadata codec, and a [`MetadataFetcher`] driven by a script of peers
//! (honest, lying, rejecting, sending raw bytes) and timeouts.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::bencode::Encoder;
use crate::extensions::ut_metadata::{
    FetchEvent, FetcherConfig, METADATA_PIECE_LEN, MetadataFetcher, MetadataMessage, MetadataServer,
};
use crate::id::InfoHash;

/// Peers are `0..PEERS`.
const PEERS: u8 = 5;

/// Parses `data` as one message (a parsed message must re-encode to itself); then runs it from
/// `start` (the fuzz target passes the current instant; the fetcher only ever sees instants
/// derived from it) as a script: `0 p s` add peer `p` with size choice `s`, `1 p` remove, `2` honest answer to the
/// oldest request, `3 x` lying answer (a byte flipped by `x`), `4 p n bytes…` raw payload from
/// `p`, `5 s` advance `s` seconds and fire timers, `6` reject the oldest request.
/// Invariants: requests per peer stay within the limit, every request is for a piece of a
/// plausible size, held bytes stay within the cap, timers are never in the past after
/// `handle_timeout`, a completed fetch is exactly the real info bytes, and only peers that lied
/// (or sent raw bytes, or advertised a wrong size) are ever dropped.
pub fn ut_metadata(start: Instant, data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    if let Ok(message) = MetadataMessage::parse(&payload) {
        assert_eq!(
            MetadataMessage::parse(&message.encode()).as_ref(),
            Ok(&message),
            "round trip"
        );
    }
    let _ = run(start, data);
}

fn info() -> Bytes {
    let mut enc = Encoder::new();
    enc.dict();
    enc.bytes(b"length").int(2000 * 16384);
    enc.bytes(b"name").bytes(b"fuzz.bin");
    enc.bytes(b"piece length").int(16384);
    let hashes: Vec<u8> = (0..2000u32 * 20).map(|i| (i % 251) as u8).collect();
    enc.bytes(b"pieces").bytes(&hashes);
    enc.end();
    Bytes::from(enc.finish())
}

/// Runs the script; returns whether the fetch completed and which peers were dropped.
fn run(start: Instant, data: &[u8]) -> (bool, BTreeSet<u8>) {
    let info = info();
    let size = info.len() as u64;
    let honest = MetadataServer::with_info(info.clone()).expect("small info");
    let config = FetcherConfig::default();
    let per_peer = config.requests_per_peer;
    let mut f: MetadataFetcher<u8> = MetadataFetcher::new(InfoHash::of_info(&info), config);
    let mut now = start;
    let mut pending: VecDeque<(u8, u32)> = VecDeque::new();
    let mut dishonest: BTreeSet<u8> = BTreeSet::new();
    let mut bytes = data.iter().copied();
    let mut complete = false;
    let mut dropped = BTreeSet::new();
    while let Some(op) = bytes.next() {
        match op % 7 {
            0 => {
                let peer = bytes.next().unwrap_or(0) % PEERS;
                let choice = bytes.next().unwrap_or(0);
                let advertised = match choice % 6 {
                    0 | 1 => Some(size),
                    2 => Some(size + 1),
                    3 => Some(u64::from(choice) * 1000),
                    4 => Some(u64::MAX),
                    _ => None,
                };
                if advertised.is_some_and(|s| s != size) {
                    dishonest.insert(peer);
                }
                let _ = f.add_peer(now, peer, advertised);
            }
            1 => {
                let peer = bytes.next().unwrap_or(0) % PEERS;
                f.remove_peer(now, peer);
            }
            2 | 3 | 6 => {
                let Some((peer, piece)) = pending.pop_front() else {
                    continue;
                };
                let mut reply = honest.answer(piece);
                if op % 7 == 6 {
                    reply = MetadataMessage::Reject { piece };
                } else if op % 7 == 3 {
                    let x = bytes.next().unwrap_or(1) | 1;
                    if let MetadataMessage::Data { data, .. } = &mut reply {
                        let mut lie = data.to_vec();
                        if let Some(b) = lie.first_mut() {
                            *b ^= x;
                        }
                        *data = Bytes::from(lie);
                    }
                    dishonest.insert(peer);
                }
                f.handle_message(now, peer, &reply);
            }
            4 => {
                let peer = bytes.next().unwrap_or(0) % PEERS;
                let n = usize::from(bytes.next().unwrap_or(0));
                let raw: Vec<u8> = bytes.by_ref().take(n).collect();
                dishonest.insert(peer);
                let _ = f.handle_payload(now, peer, &Bytes::from(raw));
            }
            _ => {
                now += Duration::from_secs(u64::from(bytes.next().unwrap_or(0)));
                f.handle_timeout(now);
                assert!(
                    f.poll_timeout().is_none_or(|t| t > now),
                    "timer in the past"
                );
            }
        }
        while let Some((peer, payload)) = f.poll_transmit() {
            let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(&payload) else {
                panic!("the fetcher sent something other than a request");
            };
            assert!(
                u64::from(piece) * u64::from(METADATA_PIECE_LEN)
                    < FetcherConfig::default().max_metadata_size,
                "request past any plausible size"
            );
            pending.push_back((peer, piece));
        }
        while let Some(event) = f.poll_event() {
            match event {
                FetchEvent::Complete(got) => {
                    assert_eq!(got, info, "completed with other bytes");
                    complete = true;
                }
                FetchEvent::DropPeer { peer, fault } => {
                    assert!(
                        dishonest.contains(&peer),
                        "honest peer {peer} dropped: {fault}"
                    );
                    dropped.insert(peer);
                }
            }
        }
        for peer in 0..PEERS {
            assert!(f.requests_in_flight(peer) <= per_peer);
        }
        assert!(f.bytes_held() as u64 <= FetcherConfig::default().max_metadata_size);
        assert_eq!(f.is_complete(), complete);
    }
    (complete, dropped)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("ut_metadata");
        assert!(!corpus.is_empty(), "fuzz/corpus/ut_metadata is empty");
        for input in corpus {
            super::ut_metadata(Instant::now(), &input);
        }
    }

    #[test]
    fn scripts_complete_and_name_the_liar() {
        // Two honest peers, then honest answers (the info has 3 pieces).
        let (done, dropped) = super::run(Instant::now(), &[0, 0, 0, 0, 1, 0, 2, 2, 2]);
        assert!(done && dropped.is_empty());
        // Not enough answers: not complete.
        assert!(!super::run(Instant::now(), &[0, 0, 0, 0, 1, 0, 2, 2]).0);
        // Three peers; peer 0's first answer is a lie; then honest answers only.
        let mut script = vec![0, 0, 0, 0, 1, 0, 0, 2, 0, 3, 7];
        script.extend_from_slice(&[2; 20]);
        let (done, dropped) = super::run(Instant::now(), &script);
        assert!(done);
        assert_eq!(dropped.into_iter().collect::<Vec<_>>(), vec![0]);
    }
}
