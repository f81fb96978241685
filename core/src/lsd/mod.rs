//! Local Service Discovery (BEP 14): peers of the same torrents on the local network, found by
//! multicast announces without a tracker or the DHT.
//!
//! [`Lsd`] decides what to announce and when, and what a received announce means; it does no
//! I/O. The runtime owns a UDP socket per group (one for each address family it listens on:
//! both for a dual-stack client) bound to [`LSD_PORT`] with address reuse (so several clients
//! on one host can listen), joined to the group on the listening interface, with multicast
//! loop on; it sends each datagram of [`Lsd::poll_transmit`] from the socket of its group and
//! hands what it receives to [`Lsd::handle_datagram`]. The [`Session`](crate::Session) owns
//! one when [`SessionConfig::local_discovery`](crate::session::SessionConfig) is on, and
//! keeps private torrents out of it.
//!
//! Announces are paced: each torrent once when it starts and then every
//! [`LsdConfig::interval`], at most one datagram per [`LsdConfig::send_gap`] (a datagram
//! carries every torrent due that fits). What arrives is hostile: bounded in size, parsed
//! strictly, our own announces (our cookie) ignored, and at most
//! [`LsdConfig::peers_per_second`] peers taken from it.

mod message;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

pub use message::{Announce, AnnounceError, MAX_ANNOUNCE};

use crate::id::InfoHash;
use crate::rng::Rng;

/// The port every client sends announces to and listens on.
pub const LSD_PORT: u16 = 6771;
/// The IPv4 group (organisation-local scope).
pub const GROUP_V4: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(239, 192, 152, 143)), LSD_PORT);
/// The IPv6 group (site-local scope).
pub const GROUP_V6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0, 0xefc0, 0x988f)),
    LSD_PORT,
);

/// The groups that serve a client listening on `ip`: the IPv4 group for an IPv4 address, the
/// IPv6 group for an IPv6 one, both for the unspecified IPv6 address (a dual-stack socket).
pub fn groups_for(ip: IpAddr) -> &'static [SocketAddr] {
    match ip {
        IpAddr::V4(_) => &[GROUP_V4],
        IpAddr::V6(ip) if ip.is_unspecified() => &[GROUP_V4, GROUP_V6],
        IpAddr::V6(_) => &[GROUP_V6],
    }
}

/// How often local discovery speaks and how much it believes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LsdConfig {
    /// How often each torrent is announced again (libtorrent and BEP 14 practice: 5 minutes).
    pub interval: Duration,
    /// The least time between two datagrams we send.
    pub send_gap: Duration,
    /// The most peers taken from received announces per second (the rest are dropped).
    pub peers_per_second: u32,
}

impl Default for LsdConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            send_gap: Duration::from_secs(1),
            peers_per_second: 50,
        }
    }
}

/// A peer an announce told us about, for one of our torrents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalPeer {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Where the peer accepts connections (the datagram's source address, the announced
    /// port).
    pub addr: SocketAddr,
}

/// The local discovery machine: the torrents to announce and when.
#[derive(Debug)]
pub struct Lsd {
    config: LsdConfig,
    groups: Vec<SocketAddr>,
    port: u16,
    cookie: String,
    /// Each torrent's next announce.
    next: BTreeMap<InfoHash, Instant>,
    /// The same deadlines ordered by instant.
    order: BTreeSet<(Instant, InfoHash)>,
    /// The earliest instant the next datagram may go.
    next_send: Instant,
    /// Datagrams built and not yet polled, each with its group.
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    /// The second peers are being counted in, and how many were taken in it.
    window: (Instant, u32),
}

impl Lsd {
    /// A machine announcing our listening `port` to `groups` (see [`groups_for`]), its cookie
    /// drawn from `rng`.
    pub fn new(
        config: LsdConfig,
        groups: &[SocketAddr],
        port: u16,
        rng: &mut Rng,
        now: Instant,
    ) -> Self {
        let cookie = format!("{:08x}", rng.next_u64() as u32);
        Self {
            config,
            groups: groups.to_vec(),
            port,
            cookie,
            next: BTreeMap::new(),
            order: BTreeSet::new(),
            next_send: now,
            out: VecDeque::new(),
            window: (now, 0),
        }
    }

    /// The runtime's listening address changed: announce `port` to `groups` from now on.
    pub fn set_listen(&mut self, groups: &[SocketAddr], port: u16) {
        self.groups = groups.to_vec();
        self.port = port;
    }

    /// Where the datagrams go.
    pub fn groups(&self) -> &[SocketAddr] {
        &self.groups
    }

    /// Starts announcing `info_hash` (at the next send slot).
    pub fn add(&mut self, now: Instant, info_hash: InfoHash) {
        if self.next.contains_key(&info_hash) {
            return;
        }
        self.next.insert(info_hash, now);
        self.order.insert((now, info_hash));
    }

    /// Stops announcing `info_hash` and taking peers for it.
    pub fn remove(&mut self, info_hash: InfoHash) {
        if let Some(at) = self.next.remove(&info_hash) {
            self.order.remove(&(at, info_hash));
        }
    }

    /// The torrents announced.
    pub fn len(&self) -> usize {
        self.next.len()
    }

    /// Whether no torrent is announced.
    pub fn is_empty(&self) -> bool {
        self.next.is_empty()
    }

    /// When to call [`Lsd::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.groups.is_empty() {
            return None;
        }
        let (first, _) = self.order.first()?;
        Some((*first).max(self.next_send))
    }

    /// Builds the datagram for the torrents due at `now`, if the pacing allows one.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.next_send {
            return;
        }
        let Some(fit) = (self.groups.iter())
            .map(|group| Announce::fit(*group, self.port, &self.cookie))
            .min()
        else {
            return;
        };
        let mut due = Vec::new();
        while due.len() < fit
            && let Some(&(at, hash)) = self.order.first()
            && at <= now
        {
            self.order.pop_first();
            let again = now + self.config.interval;
            self.next.insert(hash, again);
            self.order.insert((again, hash));
            due.push(hash);
        }
        if due.is_empty() {
            return;
        }
        for group in &self.groups {
            if let Some(datagram) = Announce::encode(*group, self.port, &self.cookie, &due).pop() {
                self.out.push_back((*group, datagram));
            }
        }
        self.next_send = now + self.config.send_gap;
    }

    /// The next datagram to send, and the group it goes to (one of [`Lsd::groups`]).
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    /// A datagram received from `from` on the discovery socket: the peers it announces for
    /// torrents we announce too (none for our own announces or when the rate is spent).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<Vec<LocalPeer>, AnnounceError> {
        let announce = Announce::parse(data)?;
        if announce.cookie.as_deref() == Some(self.cookie.as_str()) {
            return Ok(Vec::new());
        }
        if now.saturating_duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        // A link-local source keeps its scope (the interface it came in on).
        let mut addr = from;
        addr.set_port(announce.port);
        let mut found = Vec::new();
        for info_hash in announce.info_hashes {
            if !self.next.contains_key(&info_hash) {
                continue;
            }
            if self.window.1 >= self.config.peers_per_second {
                break;
            }
            self.window.1 += 1;
            found.push(LocalPeer { info_hash, addr });
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> InfoHash {
        InfoHash([byte; 20])
    }

    fn machine(now: Instant) -> Lsd {
        Lsd::new(
            LsdConfig::default(),
            &[GROUP_V4],
            6881,
            &mut Rng::new(7),
            now,
        )
    }

    fn sent(lsd: &mut Lsd) -> Vec<InfoHash> {
        let mut hashes = Vec::new();
        while let Some((_, datagram)) = lsd.poll_transmit() {
            hashes.extend(Announce::parse(&datagram).unwrap().info_hashes);
        }
        hashes
    }

    #[test]
    fn a_torrent_is_announced_at_once_and_again_after_the_interval() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        assert_eq!(lsd.poll_timeout(), None);
        lsd.add(t0, hash(1));
        assert_eq!(lsd.poll_timeout(), Some(t0));
        lsd.handle_timeout(t0);
        assert_eq!(sent(&mut lsd), vec![hash(1)]);
        assert_eq!(lsd.poll_timeout(), Some(t0 + Duration::from_secs(300)));
        lsd.handle_timeout(t0 + Duration::from_secs(299));
        assert!(sent(&mut lsd).is_empty());
        lsd.handle_timeout(t0 + Duration::from_secs(300));
        assert_eq!(sent(&mut lsd), vec![hash(1)]);
    }

    #[test]
    fn datagrams_are_paced_and_carry_every_torrent_due_that_fits() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        for b in 0..60 {
            lsd.add(t0, hash(b));
        }
        let mut seen = Vec::new();
        let mut datagrams = 0;
        let mut now = t0;
        while seen.len() < 60 {
            let at = lsd.poll_timeout().unwrap();
            assert!(at >= now);
            now = at;
            lsd.handle_timeout(now);
            let got = sent(&mut lsd);
            assert!(!got.is_empty());
            datagrams += 1;
            seen.extend(got);
        }
        assert!(datagrams >= 2, "60 hashes do not fit one datagram");
        assert!(
            now - t0 >= Duration::from_secs(datagrams - 1),
            "one datagram per second"
        );
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 60);
    }

    #[test]
    fn a_removed_torrent_is_neither_announced_nor_answered() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        lsd.add(t0, hash(1));
        lsd.remove(hash(1));
        assert_eq!(lsd.poll_timeout(), None);
        let theirs = &Announce::encode(GROUP_V4, 5000, "other", &[hash(1)])[0];
        let from: SocketAddr = "192.168.1.9:6771".parse().unwrap();
        assert_eq!(lsd.handle_datagram(t0, from, theirs), Ok(vec![]));
    }

    #[test]
    fn another_clients_announce_gives_its_address_with_the_announced_port() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        lsd.add(t0, hash(1));
        let theirs = &Announce::encode(GROUP_V4, 5000, "other", &[hash(1), hash(2)])[0];
        let from: SocketAddr = "192.168.1.9:40000".parse().unwrap();
        let found = lsd.handle_datagram(t0, from, theirs).unwrap();
        assert_eq!(
            found,
            vec![LocalPeer {
                info_hash: hash(1),
                addr: "192.168.1.9:5000".parse().unwrap()
            }]
        );
    }

    #[test]
    fn our_own_announce_looped_back_is_ignored() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        lsd.add(t0, hash(1));
        lsd.handle_timeout(t0);
        let (_, ours) = lsd.poll_transmit().unwrap();
        let from: SocketAddr = "192.168.1.2:6771".parse().unwrap();
        assert_eq!(lsd.handle_datagram(t0, from, &ours), Ok(vec![]));
    }

    #[test]
    fn a_dual_stack_client_announces_to_both_groups_with_each_groups_host() {
        let t0 = Instant::now();
        let groups = groups_for(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(groups, [GROUP_V4, GROUP_V6]);
        let mut lsd = Lsd::new(LsdConfig::default(), groups, 6881, &mut Rng::new(7), t0);
        lsd.add(t0, hash(1));
        lsd.handle_timeout(t0);
        let mut to = Vec::new();
        while let Some((group, datagram)) = lsd.poll_transmit() {
            let text = String::from_utf8(datagram.clone()).unwrap();
            assert!(text.contains(&format!("Host: {group}\r\n")), "{text}");
            assert_eq!(Announce::parse(&datagram).unwrap().info_hashes, [hash(1)]);
            to.push(group);
        }
        assert_eq!(to, [GROUP_V4, GROUP_V6]);
        assert_eq!(groups_for("10.0.0.1".parse().unwrap()), [GROUP_V4]);
        assert_eq!(groups_for("fd77::1".parse().unwrap()), [GROUP_V6]);
    }

    #[test]
    fn a_link_local_announcer_keeps_its_scope() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        lsd.add(t0, hash(1));
        let theirs = &Announce::encode(GROUP_V6, 5000, "other", &[hash(1)])[0];
        let from: SocketAddr = "[fe80::1%3]:6771".parse().unwrap();
        let found = lsd.handle_datagram(t0, from, theirs).unwrap();
        assert_eq!(found[0].addr, "[fe80::1%3]:5000".parse().unwrap());
    }

    #[test]
    fn a_flood_of_announces_yields_a_bounded_number_of_peers() {
        let t0 = Instant::now();
        let mut lsd = machine(t0);
        lsd.add(t0, hash(1));
        let mut taken = 0;
        for i in 0..1000u32 {
            let theirs = &Announce::encode(GROUP_V4, 5000, &i.to_string(), &[hash(1)])[0];
            let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 6771);
            taken += lsd.handle_datagram(t0, from, theirs).unwrap().len();
        }
        assert_eq!(taken, 50);
        let theirs = &Announce::encode(GROUP_V4, 5000, "late", &[hash(1)])[0];
        let from: SocketAddr = "10.9.9.9:6771".parse().unwrap();
        let later = t0 + Duration::from_secs(1);
        assert_eq!(lsd.handle_datagram(later, from, theirs).unwrap().len(), 1);
    }
}
