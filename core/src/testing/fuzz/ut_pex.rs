//! Fuzz body: the ut_pex codec, and PEX pools fed the input as a message.

use std::net::SocketAddr;
use std::time::Instant;

use crate::extensions::pex::{
    MAX_ADDED_PER_MESSAGE, MAX_PEX_ENTRIES, PexConfig, PexFlags, PexMessage, PexPool,
};

/// Parses `data` as a `ut_pex` payload; a parsed message must re-encode and parse to itself
/// and hold at most [`MAX_PEX_ENTRIES`] per list. Then three sources send it to a small pool:
/// the pool stays within its bounds and never holds our address, a sender's address, port 0,
/// or a duplicate; a private pool stays empty. Finally every candidate is connected and a
/// sender's messages carry at most 50 added, never the peer itself or our address, and
/// eventually everything, each address once. `now` is the pools' time (the fuzz target passes
/// the current instant).
pub fn ut_pex(now: Instant, data: &[u8]) {
    let parsed = PexMessage::parse(data);
    let Ok(message) = parsed else { return };
    assert!(message.added.len() <= 2 * MAX_PEX_ENTRIES);
    assert!(message.dropped.len() <= 2 * MAX_PEX_ENTRIES);
    assert_eq!(PexMessage::parse(&message.encode()).as_ref(), Ok(&message));

    let own: SocketAddr = "127.0.0.1:6881".parse().expect("valid address");
    let mut config = PexConfig::new(false);
    config.max_candidates = 64;
    config.max_per_source = 32;
    let mut pool: PexPool<u8> = PexPool::new(config);
    pool.add_own_addr(own);
    let mut private: PexPool<u8> = PexPool::new(PexConfig::new(true));
    let sources: Vec<SocketAddr> = message
        .added
        .iter()
        .map(|p| p.addr)
        .take(2)
        .chain(["10.0.0.1:1".parse().expect("valid address")])
        .collect();
    for (i, from) in sources.iter().enumerate() {
        pool.handle_message(now, i as u8, *from, &message);
        assert_eq!(private.handle_payload(now, i as u8, *from, data), Ok(0));
        let held: Vec<_> = pool.candidates().collect();
        assert!(held.len() <= 64);
        for source in 0..=i as u8 {
            assert!(held.iter().filter(|c| c.source == source).count() <= 32);
        }
        for c in &held {
            assert_ne!(c.addr, own);
            assert_ne!(c.addr.port(), 0);
            assert!(
                sources[usize::from(c.source)] != c.addr,
                "a peer's own address"
            );
        }
    }
    assert_eq!(private.candidate_count(), 0);

    let peer: SocketAddr = "10.9.9.9:9".parse().expect("valid address");
    pool.peer_connected(peer, PexFlags::NONE);
    let mut expected = vec![];
    while let Some(c) = pool.pop_candidate() {
        pool.peer_connected(c.addr, c.flags);
        expected.push(c.addr);
    }
    assert_eq!(pool.candidate_count(), 0);
    let mut sender = pool.sender(now, peer).expect("public pool");
    let mut told = vec![];
    let mut t = now;
    while let Some(m) = pool.poll_message(t, &mut sender) {
        assert!(m.added.len() <= MAX_ADDED_PER_MESSAGE);
        assert!(m.dropped.is_empty());
        for p in &m.added {
            assert!(p.addr != peer && p.addr != own);
            told.push(p.addr);
        }
        assert_eq!(PexMessage::parse(&m.encode()).as_ref(), Ok(&m));
        t = sender.poll_timeout();
    }
    told.sort();
    expected.sort();
    assert_eq!(told, expected, "every connected peer told once");
    assert!(private.sender(now, peer).is_none());
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("ut_pex");
        assert!(!corpus.is_empty(), "fuzz/corpus/ut_pex is empty");
        for input in corpus {
            super::ut_pex(std::time::Instant::now(), &input);
        }
    }
}
