//! The simulated network: TCP-like links between connections of different nodes, each
//! direction with a latency and a bandwidth (FIFO, no loss yet), and a queue of deliveries
//! ordered by virtual time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::session::ConnId;

/// One endpoint of a link: a node and its connection id.
pub type End = (usize, ConnId);

/// Something the network delivers at an instant.
#[derive(Debug)]
pub enum Delivery {
    /// A connect reached a listening node: it should accept.
    Syn {
        /// The dialling end.
        from: End,
        /// The dialler's (ephemeral) address, as the listener sees it.
        from_addr: SocketAddr,
        /// The listening node.
        to: usize,
    },
    /// The connect result reaches the dialler.
    Connected {
        /// The dialling end.
        end: End,
        /// The result.
        result: Result<(), std::io::ErrorKind>,
    },
    /// Bytes arrive.
    Data {
        /// The receiving end.
        to: End,
        /// The bytes.
        bytes: Bytes,
    },
    /// The other side closed.
    Fin {
        /// The receiving end.
        to: End,
    },
}

#[derive(Debug)]
struct Direction {
    peer: End,
    busy_until: Instant,
}

/// Link settings.
#[derive(Clone, Copy, Debug)]
pub struct LinkConfig {
    /// One-way latency.
    pub latency: Duration,
    /// Bytes per second per direction.
    pub bandwidth: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            bandwidth: 10 * 1024 * 1024,
        }
    }
}

/// The network.
#[derive(Debug)]
pub struct Net {
    /// Link settings for every link.
    pub link: LinkConfig,
    links: BTreeMap<End, Direction>,
    queue: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    next_port: u16,
    /// Bytes carried so far.
    pub bytes_carried: u64,
}

impl Net {
    /// An empty network.
    pub fn new(link: LinkConfig) -> Self {
        Self {
            link,
            links: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            next_port: 40000,
            bytes_carried: 0,
        }
    }

    /// Schedules a delivery at `at`.
    pub fn schedule(&mut self, at: Instant, d: Delivery) {
        self.seq += 1;
        self.queue.insert((at, self.seq), d);
    }

    /// A fresh ephemeral address for a dialler.
    pub fn ephemeral(&mut self) -> SocketAddr {
        self.next_port = self.next_port.wrapping_add(1).max(40000);
        SocketAddr::from(([127, 0, 0, 1], self.next_port))
    }

    /// Joins two ends (both directions idle from `now`).
    pub fn link(&mut self, a: End, b: End, now: Instant) {
        self.links.insert(
            a,
            Direction {
                peer: b,
                busy_until: now,
            },
        );
        self.links.insert(
            b,
            Direction {
                peer: a,
                busy_until: now,
            },
        );
    }

    /// Sends bytes from `from` to its peer (dropped if the link is gone).
    pub fn send(&mut self, now: Instant, from: End, bytes: Bytes) {
        let link = self.link;
        let Some(dir) = self.links.get_mut(&from) else {
            return;
        };
        let tx = Duration::from_secs_f64(bytes.len() as f64 / link.bandwidth as f64);
        let start = dir.busy_until.max(now);
        dir.busy_until = start + tx;
        let at = dir.busy_until + link.latency;
        let to = dir.peer;
        self.bytes_carried += bytes.len() as u64;
        self.schedule(at, Delivery::Data { to, bytes });
    }

    /// Closes `from`'s side: the peer sees end of stream after the bytes in flight.
    pub fn close(&mut self, now: Instant, from: End) {
        let Some(dir) = self.links.remove(&from) else {
            return;
        };
        let at = dir.busy_until.max(now) + self.link.latency;
        if let Some(back) = self.links.get(&dir.peer)
            && back.peer == from
        {
            self.links.remove(&dir.peer);
            self.schedule(at, Delivery::Fin { to: dir.peer });
        }
    }

    /// Closes every link of node `node` (it crashed): peers see end of stream.
    pub fn close_node(&mut self, now: Instant, node: usize) {
        let ends: Vec<End> = self.links.keys().filter(|e| e.0 == node).copied().collect();
        for end in ends {
            self.close(now, end);
        }
        self.queue.retain(|_, d| match d {
            Delivery::Data { to, .. } | Delivery::Fin { to } => to.0 != node,
            Delivery::Connected { end, .. } => end.0 != node,
            Delivery::Syn { from, to, .. } => from.0 != node && *to != node,
        });
    }

    /// Whether `end` has a live link.
    pub fn is_linked(&self, end: End) -> bool {
        self.links.contains_key(&end)
    }

    /// The earliest delivery time.
    pub fn next_at(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// Takes the earliest delivery if due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Delivery> {
        let (&key, _) = self.queue.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.queue.remove(&key)
    }
}
