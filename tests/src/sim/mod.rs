//! A deterministic in-memory simulation of sanstorrent sessions.
//!
//! [`Sim`] holds virtual time (`epoch` plus simulated advances), several [`Node`]s (each a
//! `Session` with in-memory storage per torrent), a [`Net`] that carries bytes between
//! connections with a per-link latency and bandwidth, and a queue of disk job completions
//! (each completes `disk_delay` after it was asked for). [`Sim::step`] moves time to the
//! earliest thing that can happen (a node's `poll_timeout`, a delivery, a job completion),
//! performs it, and drains the touched node's transmits, actions and events.
//! [`Sim::run_until`] steps until a predicate holds and fails on livelock.
//!
//! Everything is ordered by (instant, sequence number): the same seed gives the same run,
//! which [`Sim::log_hash`] checks.

mod net;
mod node;
mod torrent;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use net::{Delivery, End, LinkConfig, Net};
pub use node::Node;
use sanstorrent_core::session::{
    Action, Completion, Dest, Event, Session, SessionConfig, TorrentId, TorrentOptions,
    TorrentSource,
};
use sanstorrent_core::storage::{MemoryStorage, Storage};
use sanstorrent_core::tracker::TrackerError;
pub use torrent::{TestFile, TestTorrent};

/// The simulation.
#[derive(Debug)]
pub struct Sim {
    /// Virtual time zero.
    pub epoch: Instant,
    /// Virtual now.
    pub now: Instant,
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    /// The network.
    pub net: Net,
    /// Time a disk job takes.
    pub disk_delay: Duration,
    /// The seed of the run (node `i`'s session gets `seed + i`).
    pub seed: u64,
    jobs: BTreeMap<(Instant, u64), (usize, Completion)>,
    seq: u64,
    log: Vec<String>,
    /// Steps taken.
    pub steps: u64,
    /// Every datagram a node sent: (instant, node, destination, bytes). Datagrams are not
    /// delivered; the log lets a test check what a node's DHT said.
    pub datagrams: Vec<(Instant, usize, SocketAddr, Bytes)>,
    /// Per node, a function rewriting every chunk it sends to a peer (a man in the middle:
    /// makes an honest session look like a lying peer).
    pub tamper: BTreeMap<usize, fn(Bytes) -> Bytes>,
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            now: epoch,
            nodes: Vec::new(),
            net: Net::new(link),
            disk_delay: Duration::from_micros(200),
            seed,
            jobs: BTreeMap::new(),
            seq: 0,
            log: Vec::new(),
            steps: 0,
            datagrams: Vec::new(),
            tamper: BTreeMap::new(),
        }
    }

    /// Adds a node listening on 127.0.0.1:(6881 + index) with `config`.
    pub fn add_node(&mut self, config: SessionConfig) -> usize {
        let i = self.nodes.len();
        let addr = SocketAddr::from(([127, 0, 0, 1], 6881 + i as u16));
        self.nodes.push(Node {
            session: None,
            addr,
            storages: BTreeMap::new(),
            preset: BTreeMap::new(),
            resume: BTreeMap::new(),
            events: Vec::new(),
            jobs_run: BTreeMap::new(),
        });
        self.start_session(i, config);
        i
    }

    /// (Re)starts node `i`'s session (after [`Sim::crash`] or a stop).
    pub fn start_session(&mut self, i: usize, config: SessionConfig) {
        let addr = self.nodes[i].addr;
        let seed = self.seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9);
        let mut s = Session::new(
            SessionConfig {
                listen_port: addr.port(),
                ..config
            },
            self.now,
            seed,
        );
        s.set_listen_addr(addr);
        self.nodes[i].session = Some(s);
    }

    /// Drops node `i`'s session without any goodbye (a crash): its connections die, its
    /// storage stays as written.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].session = None;
        self.net.close_node(self.now, i);
        self.jobs.retain(|_, (n, _)| *n != i);
    }

    /// Adds a torrent to node `i`; with `data`, its storage is filled with the torrent's
    /// content first (a seeder).
    pub fn add_torrent(
        &mut self,
        i: usize,
        t: &TestTorrent,
        with_data: bool,
        options: TorrentOptions,
    ) -> TorrentId {
        let storage = if with_data {
            let s = MemoryStorage::new(t.meta.layout().clone());
            for (f, bytes) in t.files.iter().enumerate() {
                if !t.meta.files()[f].padding && !bytes.is_empty() {
                    s.write_file(f, 0, bytes).expect("memory write");
                }
            }
            Some(Arc::new(s))
        } else {
            None
        };
        self.add_source(i, TorrentSource::Metainfo(t.meta.clone()), storage, options)
    }

    /// Adds a torrent from any source, with an optional existing storage for it.
    pub fn add_source(
        &mut self,
        i: usize,
        source: TorrentSource,
        storage: Option<Arc<MemoryStorage>>,
        options: TorrentOptions,
    ) -> TorrentId {
        let now = self.now;
        let id = self.nodes[i]
            .session()
            .add_torrent(now, source, options)
            .expect("add torrent");
        if let Some(s) = storage {
            self.nodes[i].preset.insert(id, s);
        }
        self.drain(i);
        id
    }

    /// Tells node `i` about peers of its torrent.
    pub fn add_peers(&mut self, i: usize, torrent: TorrentId, peers: &[SocketAddr]) {
        let now = self.now;
        self.nodes[i].session().add_peers(now, torrent, peers);
        self.drain(i);
    }

    /// Calls `f` on node `i`'s session at the current time, then drains it.
    pub fn with_session(&mut self, i: usize, f: impl FnOnce(&mut Session, Instant)) {
        let now = self.now;
        f(self.nodes[i].session(), now);
        self.drain(i);
    }

    /// The earliest instant anything can happen.
    pub fn next_at(&self) -> Option<Instant> {
        let nodes = self
            .nodes
            .iter()
            .filter_map(|n| n.session.as_ref()?.poll_timeout());
        let jobs = self.jobs.keys().next().map(|(t, _)| *t);
        nodes.chain(self.net.next_at()).chain(jobs).min()
    }

    /// Performs the earliest thing; `false` when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_at() else {
            return false;
        };
        self.steps += 1;
        self.now = self.now.max(at);
        let now = self.now;
        if let Some(d) = self.net.pop_due(now) {
            self.deliver(d);
            return true;
        }
        if let Some((&key, _)) = self.jobs.iter().next()
            && key.0 <= now
        {
            let (i, done) = self.jobs.remove(&key).expect("job present");
            if let Some(s) = self.nodes[i].session.as_mut() {
                s.handle_completion(now, done);
                self.drain(i);
            }
            return true;
        }
        for i in 0..self.nodes.len() {
            let due = self.nodes[i]
                .session
                .as_ref()
                .and_then(Session::poll_timeout)
                .is_some_and(|t| t <= now);
            if due {
                self.nodes[i].session().handle_timeout(now);
                self.drain(i);
            }
        }
        true
    }

    /// Steps until `pred` holds. Fails when the simulation goes idle first, or after
    /// `max_steps` (livelock).
    pub fn run_until(
        &mut self,
        mut pred: impl FnMut(&Self) -> bool,
        max_steps: u64,
    ) -> Result<u64, String> {
        let start = self.steps;
        loop {
            if pred(self) {
                return Ok(self.steps - start);
            }
            if self.steps - start >= max_steps {
                return Err(format!(
                    "no progress after {max_steps} steps at t={:?}",
                    self.elapsed()
                ));
            }
            if !self.step() {
                return Err(format!("idle at t={:?} before the goal", self.elapsed()));
            }
        }
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// A hash of every node's event log (with virtual times): equal for equal runs.
    pub fn log_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in &self.log {
            for b in line.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }

    /// Whether node `i`'s torrent `t` has emitted `TorrentComplete`.
    pub fn is_complete(&self, i: usize, t: TorrentId) -> bool {
        self.nodes[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TorrentComplete { torrent } if *torrent == t))
    }

    /// Whether node `i` has emitted an event matching `f`.
    pub fn saw(&self, i: usize, f: impl Fn(&Event) -> bool) -> bool {
        self.nodes[i].events.iter().any(|(_, e)| f(e))
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        match d {
            Delivery::Syn {
                from,
                from_addr,
                to,
            } => {
                let accepted = self.nodes[to]
                    .session
                    .as_mut()
                    .and_then(|s| s.handle_accept(now, from_addr));
                let at = now + self.net.link.latency;
                match accepted {
                    Some(conn) => {
                        self.net.link(from, (to, conn), at);
                        self.net.schedule(
                            at,
                            Delivery::Connected {
                                end: from,
                                result: Ok(()),
                            },
                        );
                        self.drain(to);
                    }
                    None => self.net.schedule(
                        at,
                        Delivery::Connected {
                            end: from,
                            result: Err(std::io::ErrorKind::ConnectionRefused),
                        },
                    ),
                }
            }
            Delivery::Connected { end, result } => {
                if let Some(s) = self.nodes[end.0].session.as_mut() {
                    s.handle_connected(now, end.1, result);
                    self.drain(end.0);
                }
            }
            Delivery::Data { to, bytes } => {
                if let Some(s) = self.nodes[to.0].session.as_mut() {
                    s.handle_peer_data(now, to.1, &bytes);
                    self.drain(to.0);
                }
            }
            Delivery::Fin { to } => {
                if let Some(s) = self.nodes[to.0].session.as_mut() {
                    s.handle_peer_closed(now, to.1);
                    self.drain(to.0);
                }
            }
        }
    }

    /// Drains node `i`'s outputs into the network, the job queue and the logs.
    pub fn drain(&mut self, i: usize) {
        let now = self.now;
        loop {
            let Some(s) = self.nodes[i].session.as_mut() else {
                return;
            };
            let mut progressed = false;
            while let Some(t) = s.poll_transmit() {
                progressed = true;
                match t.dest {
                    Dest::Peer(conn) => {
                        let payload = match self.tamper.get(&i) {
                            Some(f) => f(t.payload),
                            None => t.payload,
                        };
                        self.net.send(now, (i, conn), payload);
                    }
                    Dest::Udp(to) => self.datagrams.push((now, i, to, t.payload)),
                }
            }
            let mut actions = Vec::new();
            while let Some(a) = s.poll_action() {
                actions.push(a);
            }
            let mut events = Vec::new();
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
            progressed |= !actions.is_empty() || !events.is_empty();
            for e in events {
                let t = (now - self.epoch).as_micros();
                self.log.push(format!("{t} {i} {e:?}"));
                self.nodes[i].events.push((now, e));
            }
            for a in actions {
                self.perform(i, a);
            }
            if !progressed {
                return;
            }
        }
    }

    fn perform(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Connect { conn, addr } => {
                let target = self
                    .nodes
                    .iter()
                    .position(|n| n.addr == addr && n.session.is_some());
                let from_addr = self.net.ephemeral();
                match target {
                    Some(to) => self.net.schedule(
                        now + self.net.link.latency,
                        Delivery::Syn {
                            from: (i, conn),
                            from_addr,
                            to,
                        },
                    ),
                    None => self.net.schedule(
                        now + self.net.link.latency,
                        Delivery::Connected {
                            end: (i, conn),
                            result: Err(std::io::ErrorKind::ConnectionRefused),
                        },
                    ),
                }
            }
            Action::Close { conn } => self.net.close(now, (i, conn)),
            Action::OpenStorage {
                torrent, layout, ..
            } => {
                let node = &mut self.nodes[i];
                let s = node
                    .preset
                    .remove(&torrent)
                    .or_else(|| node.storages.get(&torrent).cloned())
                    .unwrap_or_else(|| Arc::new(MemoryStorage::new(layout)));
                node.storages.insert(torrent, s);
            }
            Action::Disk(job) => {
                let done = self.nodes[i].run_job(job);
                self.seq += 1;
                self.jobs
                    .insert((now + self.disk_delay, self.seq), (i, done));
            }
            Action::SaveResume { torrent, data } => {
                self.nodes[i].resume.insert(torrent, data);
            }
            Action::HttpRequest { id, .. } => {
                if let Some(s) = self.nodes[i].session.as_mut() {
                    s.handle_http_response(
                        now,
                        id,
                        Err(TrackerError::Transport(
                            "no tracker in the simulation".into(),
                        )),
                    );
                }
            }
            Action::Resolve { id, .. } => {
                if let Some(s) = self.nodes[i].session.as_mut() {
                    s.handle_resolved(now, id, Err("no DNS in the simulation".into()));
                }
            }
            _ => {}
        }
    }
}
