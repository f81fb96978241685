//! The peers other nodes announced to us: bounded per info-hash and in total, each entry
//! expiring [`PEER_TTL`] after its last announce.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::InfoHash;
use crate::rng::Rng;

/// How long an announced peer is kept.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);

/// Limits of a [`PeerStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most info-hashes tracked.
    pub max_torrents: usize,
    /// Most peers per info-hash (the one expiring soonest is replaced past this).
    pub max_peers_per_torrent: usize,
    /// Most peers over all info-hashes.
    pub max_peers: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_torrents: 5_000,
            max_peers_per_torrent: 500,
            max_peers: 50_000,
        }
    }
}

/// Announced peers by info-hash.
#[derive(Clone, Debug)]
pub struct PeerStore {
    swarms: BTreeMap<InfoHash, Vec<StoredPeer>>,
    total: usize,
    limits: StoreLimits,
}

/// One announced peer (public only so the benchmark can size it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredPeer {
    /// Where the peer listens.
    pub addr: SocketAddr,
    /// When the entry is dropped unless announced again.
    pub expires: Instant,
}

impl PeerStore {
    /// An empty store.
    pub fn new(limits: StoreLimits) -> Self {
        Self {
            swarms: BTreeMap::new(),
            total: 0,
            limits,
        }
    }

    /// Records that `addr` is a peer of `info_hash`; false if a limit refused it.
    pub fn announce(&mut self, now: Instant, info_hash: InfoHash, addr: SocketAddr) -> bool {
        let expires = now + PEER_TTL;
        if let Some(swarm) = self.swarms.get_mut(&info_hash) {
            if let Some(p) = swarm.iter_mut().find(|p| p.addr == addr) {
                p.expires = expires;
                return true;
            }
            if swarm.len() >= self.limits.max_peers_per_torrent
                || self.total >= self.limits.max_peers
            {
                // Replace the entry that would expire first.
                let Some(oldest) = swarm.iter_mut().min_by_key(|p| p.expires) else {
                    return false;
                };
                *oldest = StoredPeer { addr, expires };
                return true;
            }
            swarm.push(StoredPeer { addr, expires });
            self.total += 1;
            return true;
        }
        if self.swarms.len() >= self.limits.max_torrents || self.total >= self.limits.max_peers {
            self.expire(now);
            if self.swarms.len() >= self.limits.max_torrents || self.total >= self.limits.max_peers
            {
                return false;
            }
        }
        if self.limits.max_peers_per_torrent == 0 {
            return false;
        }
        self.swarms
            .insert(info_hash, vec![StoredPeer { addr, expires }]);
        self.total += 1;
        true
    }

    /// Up to `max` live peers of `info_hash` of one address family, a random choice when
    /// there are more.
    pub fn peers(
        &self,
        now: Instant,
        info_hash: &InfoHash,
        v6: bool,
        max: usize,
        rng: &mut Rng,
    ) -> Vec<SocketAddr> {
        let Some(swarm) = self.swarms.get(info_hash) else {
            return Vec::new();
        };
        let mut out: Vec<SocketAddr> = swarm
            .iter()
            .filter(|p| p.expires > now && p.addr.is_ipv6() == v6)
            .map(|p| p.addr)
            .collect();
        if out.len() > max {
            rng.shuffle(&mut out);
            out.truncate(max);
        }
        out
    }

    /// Drops expired entries and empty swarms.
    pub fn expire(&mut self, now: Instant) {
        let mut total = 0;
        self.swarms.retain(|_, swarm| {
            swarm.retain(|p| p.expires > now);
            total += swarm.len();
            !swarm.is_empty()
        });
        self.total = total;
    }

    /// The number of stored peers (expired ones included until [`PeerStore::expire`]).
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The number of info-hashes with peers.
    pub fn torrents(&self) -> usize {
        self.swarms.len()
    }

    /// An estimate of the heap bytes used: entries, vector capacity and B-tree nodes.
    pub fn approx_heap_bytes(&self) -> usize {
        // A B-tree leaf holds up to 11 keys and values; count ~1.5 slots per entry.
        let per_swarm = (size_of::<InfoHash>() + size_of::<Vec<StoredPeer>>()) * 3 / 2;
        let peers: usize = self
            .swarms
            .values()
            .map(|s| s.capacity() * size_of::<StoredPeer>())
            .sum();
        self.swarms.len() * per_swarm + peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 6881)
    }

    #[test]
    fn entries_expire_after_thirty_minutes() {
        let t0 = Instant::now();
        let mut store = PeerStore::new(StoreLimits::default());
        let mut rng = Rng::new(1);
        let ih = InfoHash([1; 20]);
        assert!(store.announce(t0, ih, addr(1)));
        assert!(store.announce(t0 + Duration::from_secs(600), ih, addr(2)));
        let at = |m: u64| t0 + Duration::from_secs(m * 60);
        assert_eq!(store.peers(at(29), &ih, false, 50, &mut rng).len(), 2);
        assert_eq!(store.peers(at(30), &ih, false, 50, &mut rng), vec![addr(2)]);
        assert!(store.peers(at(30), &ih, true, 50, &mut rng).is_empty());
        // Re-announcing refreshes.
        assert!(store.announce(at(39), ih, addr(2)));
        store.expire(at(41));
        assert_eq!(store.len(), 1);
        store.expire(at(69));
        assert_eq!((store.len(), store.torrents()), (0, 0));
    }

    #[test]
    fn caps_hold() {
        let t0 = Instant::now();
        let limits = StoreLimits {
            max_torrents: 3,
            max_peers_per_torrent: 4,
            max_peers: 10,
        };
        let mut store = PeerStore::new(limits);
        let mut rng = Rng::new(1);
        for i in 0..20 {
            store.announce(
                t0 + Duration::from_secs(u64::from(i)),
                InfoHash([0; 20]),
                addr(i),
            );
        }
        let peers = store.peers(t0, &InfoHash([0; 20]), false, 50, &mut rng);
        assert_eq!(store.len(), 4);
        assert_eq!(peers.len(), 4, "newest replace the soonest-expiring");
        assert!(peers.contains(&addr(19)) && !peers.contains(&addr(0)));
        for t in 1..10u8 {
            store.announce(t0, InfoHash([t; 20]), addr(100 + u32::from(t)));
        }
        assert_eq!(store.torrents(), 3);
        for i in 0..20 {
            store.announce(t0, InfoHash([1; 20]), addr(200 + i));
            store.announce(t0, InfoHash([2; 20]), addr(300 + i));
        }
        assert!(store.len() <= limits.max_peers);
        assert_eq!(
            store
                .peers(t0, &InfoHash([1; 20]), false, 2, &mut rng)
                .len(),
            2
        );
        // Once entries expire, new info-hashes fit again.
        assert!(store.announce(
            t0 + PEER_TTL + Duration::from_secs(60),
            InfoHash([9; 20]),
            addr(1)
        ));
        assert_eq!(store.torrents(), 1);
    }
}
