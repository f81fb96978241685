//! Fuzz body: local service discovery (BEP 14) datagrams.

use std::net::SocketAddr;
use std::time::Instant;

use crate::id::InfoHash;
use crate::lsd::{Announce, GROUP_V4, Lsd, LsdConfig, MAX_ANNOUNCE};
use crate::rng::Rng;

/// Parses `data` as an announce and feeds it to a machine announcing two torrents.
/// Invariants: nothing panics; what parses is within [`MAX_ANNOUNCE`], has a port and a
/// hash, and re-encodes to datagrams that parse to the same port and hashes; the machine
/// reports only torrents it announces, at the datagram's address, never more than its rate.
pub fn lsd_announce(now: Instant, data: &[u8]) {
    if let Ok(a) = Announce::parse(data) {
        assert!(data.len() <= MAX_ANNOUNCE);
        assert!(a.port != 0 && !a.info_hashes.is_empty());
        let mut again = Vec::new();
        for d in Announce::encode(GROUP_V4, a.port, "c", &a.info_hashes) {
            let b = Announce::parse(&d).expect("our own encoding parses");
            assert_eq!(b.port, a.port);
            again.extend(b.info_hashes);
        }
        assert_eq!(again, a.info_hashes);
    }
    let ours = [InfoHash([1; 20]), InfoHash([2; 20])];
    let config = LsdConfig::default();
    let mut lsd = Lsd::new(config.clone(), &[GROUP_V4], 6881, &mut Rng::new(1), now);
    for hash in ours {
        lsd.add(now, hash);
    }
    let from: SocketAddr = "192.168.1.9:6771".parse().expect("an address");
    let mut taken = 0;
    for _ in 0..3 {
        if let Ok(found) = lsd.handle_datagram(now, from, data) {
            for peer in found {
                assert!(ours.contains(&peer.info_hash));
                assert_eq!(peer.addr.ip(), from.ip());
                taken += 1;
            }
        }
    }
    assert!(taken <= config.peers_per_second as usize);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("lsd_announce");
        assert!(!corpus.is_empty(), "fuzz/corpus/lsd_announce is empty");
        for input in corpus {
            super::lsd_announce(std::time::Instant::now(), &input);
        }
    }
}
