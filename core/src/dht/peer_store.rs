//! The peers other nodes announced to us: bounded per info-hash, per announcing address and
//! in total, each entry expiring [`PEER_TTL`] after its last announce.
//!
//! An entry's address is the announcer's IP with the port it gave, so one IP (which needs a
//! valid token, so its own address) can still announce many info-hashes or many ports. Past
//! [`StoreLimits::max_peers_per_ip`] entries, or [`StoreLimits::max_ports_per_ip`] in one
//! swarm, its new entry replaces its own entry that expires soonest: one address churns only
//! its own entries and never pushes out anyone else's.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
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
    /// Most entries with one IP over all info-hashes.
    pub max_peers_per_ip: usize,
    /// Most entries with one IP (different ports) in one info-hash.
    pub max_ports_per_ip: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_torrents: 5_000,
            max_peers_per_torrent: 500,
            max_peers: 50_000,
            max_peers_per_ip: 16,
            max_ports_per_ip: 2,
        }
    }
}

/// Announced peers by info-hash.
#[derive(Clone, Debug)]
pub struct PeerStore {
    swarms: BTreeMap<InfoHash, Vec<StoredPeer>>,
    /// Each IP's entries: the info-hash and port of each (as many as it has in `swarms`).
    by_ip: BTreeMap<IpAddr, Vec<(InfoHash, u16)>>,
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
            by_ip: BTreeMap::new(),
            total: 0,
            limits,
        }
    }

    /// Records that `addr` is a peer of `info_hash`; false if a limit refused it.
    pub fn announce(&mut self, now: Instant, info_hash: InfoHash, addr: SocketAddr) -> bool {
        let expires = now + PEER_TTL;
        if let Some(p) = self
            .swarms
            .get_mut(&info_hash)
            .and_then(|s| s.iter_mut().find(|p| p.addr == addr))
        {
            p.expires = expires;
            return true;
        }
        let ip = addr.ip();
        if self.limits.max_peers_per_ip == 0 || self.limits.max_ports_per_ip == 0 {
            return false;
        }
        let own = self.by_ip.get(&ip).map_or(&[][..], Vec::as_slice);
        let own_here = own.iter().filter(|(h, _)| *h == info_hash).count();
        let full = own.len() >= self.limits.max_peers_per_ip;
        if own_here >= self.limits.max_ports_per_ip || full {
            // Its own entry that expires soonest (in this swarm if it has its most ports
            // here) makes room.
            let here = own_here >= self.limits.max_ports_per_ip;
            let soonest = self.soonest_of(ip, |h| !here || h == info_hash);
            let Some((hash, old)) = soonest else {
                return false;
            };
            if hash == info_hash {
                let p = self
                    .swarms
                    .get_mut(&hash)
                    .and_then(|s| s.iter_mut().find(|p| p.addr == old));
                if let Some(p) = p {
                    *p = StoredPeer { addr, expires };
                }
                self.unindex(hash, old);
                self.index(hash, addr);
                return true;
            }
            self.remove(hash, old);
        }
        if let Some(swarm) = self.swarms.get_mut(&info_hash) {
            if swarm.len() >= self.limits.max_peers_per_torrent
                || self.total >= self.limits.max_peers
            {
                // Replace the entry that would expire first.
                let Some(oldest) = swarm.iter_mut().min_by_key(|p| p.expires) else {
                    return false;
                };
                let old = std::mem::replace(oldest, StoredPeer { addr, expires });
                self.unindex(info_hash, old.addr);
                self.index(info_hash, addr);
                return true;
            }
            swarm.push(StoredPeer { addr, expires });
            self.total += 1;
            self.index(info_hash, addr);
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
        self.index(info_hash, addr);
        true
    }

    /// `ip`'s entry that expires soonest among the info-hashes `which` accepts.
    fn soonest_of(
        &self,
        ip: IpAddr,
        which: impl Fn(InfoHash) -> bool,
    ) -> Option<(InfoHash, SocketAddr)> {
        self.by_ip
            .get(&ip)?
            .iter()
            .filter(|(h, _)| which(*h))
            .filter_map(|&(h, port)| {
                let old = SocketAddr::new(ip, port);
                let p = self.swarms.get(&h)?.iter().find(|p| p.addr == old)?;
                Some((p.expires, h, old))
            })
            .min()
            .map(|(_, h, old)| (h, old))
    }

    /// Drops one entry (and its swarm, if that empties it).
    fn remove(&mut self, info_hash: InfoHash, addr: SocketAddr) {
        let Some(swarm) = self.swarms.get_mut(&info_hash) else {
            return;
        };
        let before = swarm.len();
        swarm.retain(|p| p.addr != addr);
        if swarm.len() == before {
            return;
        }
        self.total -= 1;
        if swarm.is_empty() {
            self.swarms.remove(&info_hash);
        }
        self.unindex(info_hash, addr);
    }

    fn index(&mut self, info_hash: InfoHash, addr: SocketAddr) {
        self.by_ip
            .entry(addr.ip())
            .or_default()
            .push((info_hash, addr.port()));
    }

    fn unindex(&mut self, info_hash: InfoHash, addr: SocketAddr) {
        let ip = addr.ip();
        if let Some(own) = self.by_ip.get_mut(&ip) {
            own.retain(|e| *e != (info_hash, addr.port()));
            if own.is_empty() {
                self.by_ip.remove(&ip);
            }
        }
    }

    /// The number of entries with `ip` over all info-hashes.
    pub fn of_ip(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).map_or(0, Vec::len)
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
        let swarms = &self.swarms;
        self.by_ip.retain(|ip, own| {
            own.retain(|&(h, port)| {
                let addr = SocketAddr::new(*ip, port);
                swarms
                    .get(&h)
                    .is_some_and(|s| s.iter().any(|p| p.addr == addr))
            });
            !own.is_empty()
        });
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
        let per_ip = (size_of::<IpAddr>() + size_of::<Vec<(InfoHash, u16)>>()) * 3 / 2;
        let index: usize = self
            .by_ip
            .values()
            .map(|v| per_ip + v.capacity() * size_of::<(InfoHash, u16)>())
            .sum();
        self.swarms.len() * per_swarm + peers + index
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
            ..StoreLimits::default()
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

    /// Every stored entry, checked against the per-IP index and the total.
    fn consistent(store: &PeerStore) {
        let mut count = 0;
        for (h, swarm) in &store.swarms {
            for p in swarm {
                count += 1;
                let own = &store.by_ip[&p.addr.ip()];
                assert!(own.contains(&(*h, p.addr.port())), "{p:?} not indexed");
            }
        }
        assert_eq!(count, store.total);
        let indexed: usize = store.by_ip.values().map(Vec::len).sum();
        assert_eq!(indexed, count, "the index holds stale entries");
    }

    #[test]
    fn one_address_cannot_fill_the_store() {
        let t0 = Instant::now();
        let limits = StoreLimits {
            max_peers_per_ip: 8,
            max_ports_per_ip: 2,
            ..StoreLimits::default()
        };
        let mut store = PeerStore::new(limits);
        let mut rng = Rng::new(1);
        let ih = |n: u32| {
            let mut h = [0u8; 20];
            h[..4].copy_from_slice(&n.to_be_bytes());
            InfoHash(h)
        };
        let hostile = |port: u16| SocketAddr::new(std::net::Ipv4Addr::new(6, 6, 6, 6).into(), port);
        // Honest peers first, one each in a few swarms.
        for n in 0..4 {
            assert!(store.announce(t0, ih(n), addr(n)));
        }
        // One IP announces 1,000 info-hashes, each with 50 ports, one a second.
        let mut at = t0;
        for n in 0..1_000 {
            for port in 0..50 {
                at += Duration::from_millis(20);
                assert!(store.announce(at, ih(n), hostile(1000 + port)));
            }
        }
        consistent(&store);
        let ip = hostile(0).ip();
        assert_eq!(store.of_ip(ip), 8, "at most 8 entries from one IP");
        assert_eq!(store.len(), 4 + 8);
        // Its newest entries stayed: the last four info-hashes, two ports each (the last two).
        for n in 996..1_000 {
            let peers = store.peers(at, &ih(n), false, 50, &mut rng);
            assert_eq!(peers.len(), 2, "info-hash {n}: {peers:?}");
            assert!(peers.contains(&hostile(1049)) && peers.contains(&hostile(1048)));
        }
        assert!(store.peers(at, &ih(995), false, 50, &mut rng).is_empty());
        // The honest entries were never pushed out; they still refresh and expire normally.
        for n in 0..4 {
            assert!(
                store
                    .peers(at, &ih(n), false, 50, &mut rng)
                    .contains(&addr(n))
            );
        }
        assert!(store.announce(at, ih(0), addr(0)));
        store.expire(t0 + PEER_TTL + Duration::from_secs(1));
        consistent(&store);
        assert_eq!(store.of_ip(addr(1).ip()), 0);
        assert!(store.peers(at, &ih(1), false, 50, &mut rng).is_empty());
        assert_eq!(store.of_ip(addr(0).ip()), 1, "refreshed");
        assert_eq!(store.of_ip(ip), 8, "its entries are younger");
        store.expire(at + PEER_TTL);
        consistent(&store);
        assert_eq!(
            (store.len(), store.torrents(), store.by_ip.len()),
            (0, 0, 0)
        );
    }

    #[test]
    fn per_address_caps_of_zero_store_nothing() {
        let t0 = Instant::now();
        let mut store = PeerStore::new(StoreLimits {
            max_ports_per_ip: 0,
            ..StoreLimits::default()
        });
        assert!(!store.announce(t0, InfoHash([1; 20]), addr(1)));
        assert!(store.is_empty());
    }

    #[test]
    fn full_swarm_replacement_keeps_the_index() {
        let t0 = Instant::now();
        let mut store = PeerStore::new(StoreLimits {
            max_peers_per_torrent: 3,
            ..StoreLimits::default()
        });
        for i in 0..10u32 {
            store.announce(
                t0 + Duration::from_secs(u64::from(i)),
                InfoHash([1; 20]),
                addr(i),
            );
            consistent(&store);
        }
        assert_eq!(store.len(), 3);
        assert_eq!(store.of_ip(addr(0).ip()), 0);
        assert_eq!(store.of_ip(addr(9).ip()), 1);
    }
}
