//! The simulated network, a seeded Sans-IO netem: TCP-like streams between connections of
//! different hosts and UDP datagrams between hosts, each host behind an access link with its
//! own latency, jitter, bandwidth, datagram loss and reordering, and a rate of connection
//! resets. Partitions cut hosts apart (stream bytes wait for the heal, datagrams and connects
//! are lost) until [`Net::heal`].
//!
//! Streams are reliable and ordered: a segment is never delivered before an earlier one of the
//! same direction, whatever the jitter. A host's upload bandwidth is shared fairly by its
//! connections that are sending (each write goes at `bandwidth / active` as TCP flows share a
//! bottleneck); a connection is also limited by the receiver's bandwidth (downlinks are not
//! shared: the model keeps uplinks as the bottleneck, as on the internet).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::ConnId;

/// One endpoint of a stream: a host (node index) and its connection id.
pub type End = (usize, ConnId);

/// Something the network delivers at an instant.
#[derive(Debug)]
pub enum Delivery {
    /// A connect reached a listening host: it should accept.
    Syn {
        /// The dialling end.
        from: End,
        /// The dialler's (ephemeral) address, as the listener sees it.
        from_addr: SocketAddr,
        /// The listening host.
        to: usize,
    },
    /// The connect result reaches the dialler.
    Connected {
        /// The dialling end.
        end: End,
        /// The host that answered (or the dialler itself for a local failure).
        from: usize,
        /// The result.
        result: Result<(), std::io::ErrorKind>,
    },
    /// Stream bytes arrive.
    Data {
        /// The sending host.
        from: usize,
        /// The receiving end.
        to: End,
        /// The bytes.
        bytes: Bytes,
    },
    /// The other side closed (end of stream) or the connection was reset.
    Fin {
        /// The sending host.
        from: usize,
        /// The receiving end.
        to: End,
    },
    /// A datagram arrives.
    Datagram {
        /// The sending host.
        from: usize,
        /// The sender's address.
        from_addr: SocketAddr,
        /// The receiving host.
        to: usize,
        /// The payload.
        bytes: Bytes,
    },
    /// The answer to an HTTP request reaches the host that made it.
    Http {
        /// The host that asked.
        to: usize,
        /// The session's request id.
        id: u64,
        /// The response bytes, or why there is none.
        response: Result<Vec<u8>, sanstorrent_core::tracker::TransportError>,
        /// The most response bytes read (head and body): more is an error.
        limit: usize,
    },
    /// A DNS answer reaches the host that asked.
    Dns {
        /// The host that asked.
        to: usize,
        /// The session's request id.
        id: u64,
        /// The addresses, or why there are none.
        answer: Result<Vec<SocketAddr>, std::io::ErrorKind>,
    },
    /// A host's uplink finished putting a segment on the wire: its socket took those bytes
    /// (the simulation reports them with `handle_peer_sent`). Scheduled by the simulation from
    /// what [`Net::send`] returns.
    Sent {
        /// The sending end.
        end: End,
        /// Bytes of the segment.
        bytes: usize,
    },
    /// Nothing: wakes the simulation at an instant (see [`Net::schedule_wake`]).
    Wake,
}

impl Delivery {
    /// (from host, to host) of this delivery, when it crosses the network.
    fn hosts(&self) -> Option<(usize, usize)> {
        match self {
            Self::Syn { from, to, .. } => Some((from.0, *to)),
            Self::Connected { end, from, .. } => Some((*from, end.0)),
            Self::Data { from, to, .. } | Self::Fin { from, to } => Some((*from, to.0)),
            Self::Datagram { from, to, .. } => Some((*from, *to)),
            Self::Http { .. } | Self::Dns { .. } | Self::Sent { .. } | Self::Wake => None,
        }
    }

    /// The host this delivery goes to.
    pub fn target(&self) -> usize {
        match self {
            Self::Syn { to, .. } | Self::Datagram { to, .. } => *to,
            Self::Connected { end, .. } => end.0,
            Self::Data { to, .. } | Self::Fin { to, .. } => to.0,
            Self::Http { to, .. } | Self::Dns { to, .. } => *to,
            Self::Sent { end, .. } => end.0,
            Self::Wake => usize::MAX,
        }
    }
}

/// A host's access link.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// One-way latency (a path takes the larger of its two hosts').
    pub latency: Duration,
    /// Up to this much extra delay per segment or datagram, drawn from the seed.
    pub jitter: Duration,
    /// Bytes per second, each way.
    pub bandwidth: u64,
    /// Chance that a datagram is lost.
    pub loss: f64,
    /// Chance that a datagram is held back (delivered after later ones).
    pub reorder: f64,
    /// Chance per stream write that the connection is reset instead.
    pub reset: f64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            bandwidth: 10 * 1024 * 1024,
            loss: 0.0,
            reorder: 0.0,
            reset: 0.0,
        }
    }
}

impl LinkConfig {
    /// A link with this latency and bandwidth, no faults.
    pub fn new(latency: Duration, bandwidth: u64) -> Self {
        Self {
            latency,
            bandwidth,
            ..Self::default()
        }
    }
}

#[derive(Debug)]
struct Direction {
    peer: End,
    /// When this direction's path (at the slower of the two hosts' bandwidths) is free.
    busy: Instant,
    /// The last delivery instant of this direction (streams stay ordered).
    last: Instant,
}

fn transfer_time(len: u64, bytes_per_sec: u64) -> Duration {
    Duration::from_nanos(len.saturating_mul(1_000_000_000) / bytes_per_sec)
}

/// Counters of what the network carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Stream writes (one per transmit).
    pub segments: u64,
    /// Stream bytes.
    pub bytes: u64,
    /// Datagrams sent.
    pub datagrams: u64,
    /// Datagrams lost (loss or partition).
    pub datagrams_lost: u64,
    /// Connections reset.
    pub resets: u64,
    /// Connects sent.
    pub connects: u64,
}

impl Net {
    /// Stream bytes host `h` sent that reached their receiver.
    pub fn delivered_from(&self, h: usize) -> u64 {
        self.delivered.get(&h).copied().unwrap_or(0)
    }

    /// Stream bytes host `a` sent that reached host `b`.
    pub fn delivered_between(&self, a: usize, b: usize) -> u64 {
        self.pairs.get(&(a, b)).copied().unwrap_or(0)
    }
}

/// The network.
#[derive(Debug)]
pub struct Net {
    /// The access link of hosts without their own.
    pub default_link: LinkConfig,
    hosts_link: BTreeMap<usize, LinkConfig>,
    links: BTreeMap<End, Direction>,
    queue: BTreeMap<(Instant, u64), Delivery>,
    /// Deliveries waiting for a partition to heal.
    held: Vec<Delivery>,
    cut: BTreeSet<(usize, usize)>,
    rng: Rng,
    seq: u64,
    next_port: u16,
    /// What was carried.
    pub stats: NetStats,
    delivered: BTreeMap<usize, u64>,
    pairs: BTreeMap<(usize, usize), u64>,
}

impl Net {
    /// An empty network whose faults are drawn from `seed`.
    pub fn new(default_link: LinkConfig, seed: u64) -> Self {
        Self {
            default_link,
            hosts_link: BTreeMap::new(),
            links: BTreeMap::new(),
            queue: BTreeMap::new(),
            held: Vec::new(),
            cut: BTreeSet::new(),
            rng: Rng::new(seed ^ 0x6e65_7465_6d00),
            seq: 0,
            next_port: 40000,
            stats: NetStats::default(),
            delivered: BTreeMap::new(),
            pairs: BTreeMap::new(),
        }
    }

    /// Gives host `h` its own access link.
    pub fn set_link(&mut self, h: usize, link: LinkConfig) {
        self.hosts_link.insert(h, link);
    }

    /// Host `h`'s access link.
    pub fn link_of(&self, h: usize) -> LinkConfig {
        self.hosts_link
            .get(&h)
            .copied()
            .unwrap_or(self.default_link)
    }

    /// The one-way latency between two hosts (without jitter).
    pub fn latency(&self, a: usize, b: usize) -> Duration {
        self.link_of(a).latency.max(self.link_of(b).latency)
    }

    fn path_delay(&mut self, a: usize, b: usize) -> Duration {
        let (la, lb) = (self.link_of(a), self.link_of(b));
        let jitter = la.jitter.max(lb.jitter);
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_micros(self.rng.below(jitter.as_micros() as u64 + 1))
        };
        la.latency.max(lb.latency) + extra
    }

    /// Schedules a delivery at `at`.
    pub fn schedule(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.insert((at, self.seq), d);
    }

    /// Makes sure the simulation has something to do at `at` (so time can run to it).
    pub fn schedule_wake(&mut self, at: Instant) {
        self.schedule(at, Delivery::Wake);
    }

    /// Schedules a connect from `from` to host `to` (or a refusal when `to` is `None`).
    pub fn connect(&mut self, now: Instant, from: End, from_ip: SocketAddr, to: Option<usize>) {
        self.stats.connects += 1;
        let from_addr = self.ephemeral(from_ip);
        match to {
            Some(to) => {
                let at = now + self.path_delay(from.0, to);
                self.schedule(
                    at,
                    Delivery::Syn {
                        from,
                        from_addr,
                        to,
                    },
                );
            }
            None => {
                let at = now + self.link_of(from.0).latency * 2;
                self.schedule(
                    at,
                    Delivery::Connected {
                        end: from,
                        from: from.0,
                        result: Err(std::io::ErrorKind::ConnectionRefused),
                    },
                );
            }
        }
    }

    /// A fresh ephemeral address on the dialler's IP.
    fn ephemeral(&mut self, ip: SocketAddr) -> SocketAddr {
        self.next_port = self.next_port.wrapping_add(1).max(40000);
        SocketAddr::new(ip.ip(), self.next_port)
    }

    /// Answers a delivered `Syn`: joins the two ends and tells the dialler, or refuses.
    pub fn answer_syn(&mut self, now: Instant, from: End, to: usize, conn: Option<ConnId>) {
        let at = now + self.path_delay(to, from.0);
        match conn {
            Some(conn) => {
                self.join(from, (to, conn), now);
                self.schedule(
                    at,
                    Delivery::Connected {
                        end: from,
                        from: to,
                        result: Ok(()),
                    },
                );
            }
            None => self.schedule(
                at,
                Delivery::Connected {
                    end: from,
                    from: to,
                    result: Err(std::io::ErrorKind::ConnectionRefused),
                },
            ),
        }
    }

    fn join(&mut self, a: End, b: End, now: Instant) {
        self.links.insert(
            a,
            Direction {
                peer: b,
                busy: now,
                last: now,
            },
        );
        self.links.insert(
            b,
            Direction {
                peer: a,
                busy: now,
                last: now,
            },
        );
    }

    /// Writes bytes from `from` to its peer (dropped if the link is gone). May reset the
    /// connection instead (the link's reset rate). Returns when the uplink finishes sending
    /// them (`None`: dropped).
    pub fn send(&mut self, now: Instant, from: End, bytes: Bytes) -> Option<Instant> {
        let peer = self.links.get(&from).map(|d| d.peer)?;
        let reset = self.link_of(from.0).reset.max(self.link_of(peer.0).reset);
        if reset > 0.0 && self.rng.chance(reset) {
            self.reset(now, from);
            return None;
        }
        let len = bytes.len() as u64;
        // Fair share: the uplink is split among this host's connections that are sending.
        let up = self.link_of(from.0).bandwidth.max(1);
        let active = self
            .links
            .range((from.0, ConnId(0))..=(from.0, ConnId(u64::MAX)))
            .filter(|(e, d)| **e == from || d.busy > now)
            .count()
            .max(1) as u64;
        let rate = (up / active)
            .max(1)
            .min(self.link_of(peer.0).bandwidth.max(1));
        let delay = self.path_delay(from.0, peer.0);
        let dir = self.links.get_mut(&from)?;
        let done = dir.busy.max(now) + transfer_time(len, rate);
        dir.busy = done;
        let at = (done + delay).max(dir.last);
        dir.last = at;
        self.stats.segments += 1;
        self.stats.bytes += len;
        self.schedule(
            at,
            Delivery::Data {
                from: from.0,
                to: peer,
                bytes,
            },
        );
        Some(done)
    }

    /// Closes `from`'s side: the peer sees end of stream after the bytes in flight.
    pub fn close(&mut self, now: Instant, from: End) {
        let Some(dir) = self.links.remove(&from) else {
            return;
        };
        let at = dir.last.max(now) + self.latency(from.0, dir.peer.0);
        if let Some(back) = self.links.get(&dir.peer)
            && back.peer == from
        {
            self.links.remove(&dir.peer);
            self.schedule(
                at,
                Delivery::Fin {
                    from: from.0,
                    to: dir.peer,
                },
            );
        }
    }

    /// Resets the connection of `end`: bytes in flight either way are lost and both ends see
    /// the connection closed now.
    pub fn reset(&mut self, now: Instant, end: End) {
        let Some(dir) = self.links.remove(&end) else {
            return;
        };
        self.stats.resets += 1;
        let peer = dir.peer;
        self.links.remove(&peer);
        self.queue.retain(|_, d| match d {
            Delivery::Data { to, .. } | Delivery::Fin { to, .. } => *to != end && *to != peer,
            Delivery::Sent { end: e, .. } => *e != end && *e != peer,
            _ => true,
        });
        self.held.retain(|d| match d {
            Delivery::Data { to, .. } | Delivery::Fin { to, .. } => *to != end && *to != peer,
            _ => true,
        });
        self.schedule(
            now,
            Delivery::Fin {
                from: peer.0,
                to: end,
            },
        );
        self.schedule(
            now,
            Delivery::Fin {
                from: end.0,
                to: peer,
            },
        );
    }

    /// Resets a random live connection of host `h` (if any); returns whether one was reset.
    pub fn reset_random(&mut self, now: Instant, h: usize) -> bool {
        let ends: Vec<End> = self.links.keys().filter(|e| e.0 == h).copied().collect();
        if ends.is_empty() {
            return false;
        }
        let end = ends[self.rng.index(ends.len())];
        self.reset(now, end);
        true
    }

    /// Sends a datagram; it may be lost or reordered.
    pub fn send_datagram(
        &mut self,
        now: Instant,
        from: usize,
        from_addr: SocketAddr,
        to: Option<usize>,
        bytes: Bytes,
    ) {
        self.stats.datagrams += 1;
        let Some(to) = to else {
            self.stats.datagrams_lost += 1;
            return;
        };
        let (lf, lt) = (self.link_of(from), self.link_of(to));
        let loss = lf.loss.max(lt.loss);
        if loss > 0.0 && self.rng.chance(loss) {
            self.stats.datagrams_lost += 1;
            return;
        }
        let mut at = now + self.path_delay(from, to);
        let reorder = lf.reorder.max(lt.reorder);
        if reorder > 0.0 && self.rng.chance(reorder) {
            at += self.latency(from, to) * 2;
        }
        self.schedule(
            at,
            Delivery::Datagram {
                from,
                from_addr,
                to,
                bytes,
            },
        );
    }

    /// Closes every link of host `h` (it crashed): peers see end of stream; what was on its
    /// way to `h` is lost.
    pub fn close_host(&mut self, now: Instant, h: usize) {
        let ends: Vec<End> = self.links.keys().filter(|e| e.0 == h).copied().collect();
        for end in ends {
            self.close(now, end);
        }
        self.queue.retain(|_, d| d.target() != h);
        self.held.retain(|d| d.target() != h);
    }

    /// Cuts every host of `a` off from every host of `b`.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.cut.insert((x.min(y), x.max(y)));
            }
        }
    }

    /// Removes every cut: held stream bytes go on in order.
    pub fn heal(&mut self, now: Instant) {
        self.cut.clear();
        let held = std::mem::take(&mut self.held);
        for (k, d) in held.into_iter().enumerate() {
            let at = now + Duration::from_micros(k as u64);
            if let Some((a, b)) = d.hosts() {
                let at = at + self.latency(a, b);
                self.schedule(at, d);
            }
        }
    }

    /// Whether hosts `a` and `b` are cut apart.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// Whether `end` has a live link.
    pub fn is_linked(&self, end: End) -> bool {
        self.links.contains_key(&end)
    }

    /// Live stream ends of host `h`.
    pub fn ends_of(&self, h: usize) -> usize {
        self.links.keys().filter(|e| e.0 == h).count()
    }

    /// The earliest delivery time.
    pub fn next_at(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// Takes the earliest delivery if due at `now`. Deliveries across a cut are held (stream
    /// bytes and connect results) or lost (connects and datagrams).
    pub fn pop_due(&mut self, now: Instant) -> Option<Delivery> {
        loop {
            let (&key, _) = self.queue.iter().next()?;
            if key.0 > now {
                return None;
            }
            let d = self.queue.remove(&key)?;
            let Some((a, b)) = d.hosts() else {
                return Some(d);
            };
            if !self.is_cut(a, b) {
                if let Delivery::Data { from, bytes, to } = &d {
                    *self.delivered.entry(*from).or_default() += bytes.len() as u64;
                    *self.pairs.entry((*from, to.0)).or_default() += bytes.len() as u64;
                }
                return Some(d);
            }
            match d {
                Delivery::Syn { .. } => {}
                Delivery::Datagram { .. } => self.stats.datagrams_lost += 1,
                other => self.held.push(other),
            }
        }
    }
}
