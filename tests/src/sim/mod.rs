//! A deterministic in-memory simulation of sanstorrent swarms, with fault injection.
//!
//! [`Sim`] holds virtual time (`epoch` plus simulated advances), hosts ([`Node`]s: a `Session`
//! with in-memory storage per torrent, or an [`Agent`] such as a [`SimTracker`], a
//! [`DhtNode`] or a [`ScriptedPeer`]), a seeded [`Net`] (per-host latency, jitter, bandwidth,
//! datagram loss and reordering, connection resets, partitions) and a queue of disk and hash
//! job completions (each after its host's [`DiskModel`] delay, failing as its [`DiskFaults`]
//! say). [`Sim::step`] moves time to the earliest thing that can happen (a host's timer, a
//! delivery, a job completion), performs it, and drains the touched host's transmits, actions
//! and events. [`Sim::run_until`] steps until a predicate holds and fails on livelock after a
//! hard step limit.
//!
//! Everything is ordered by (instant, sequence number) and every random choice comes from the
//! seed: the same seed gives the same run, which [`Sim::log_hash`] checks. HTTP requests go to
//! the agent at the URL's address (host names through [`Sim::dns`]); one the session cancels
//! (`Action::CancelHttp`) before its answer comes is never answered; datagrams go to the host
//! with the destination address. A web seed's answer (`Action::WebSeedRequest`) takes its
//! length over the answering host's bandwidth, one answer at a time per host (the mirror's
//! uplink; the asking host's downlink is not shared with its peers' traffic).

mod agent;
mod disk_faults;
mod flood;
mod httpseed;
mod mirror;
mod net;
mod node;
mod scripted;
mod torrent;
mod tracker;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use agent::{Agent, DhtNode, Output};
pub use disk_faults::{DiskFaults, FaultyStorage};
pub use flood::{Hostile, Hostility};
pub use httpseed::SimHttpSeed;
pub use mirror::{MirrorBehaviour, SimMirror};
pub use net::{Delivery, End, LinkConfig, Net, NetStats};
pub use node::{DiskModel, Node};
use sanstorrent_core::metainfo::Metainfo;
use sanstorrent_core::session::{
    Action, Completion, Dest, DiskJobKind, Event, LoadError, RequestId, Session, SessionConfig,
    TorrentId, TorrentOptions, TorrentSource,
};
use sanstorrent_core::storage::{MemoryStorage, Storage};
use sanstorrent_core::tracker::{ResponseReader, TrackerError, TransportError};
pub use scripted::{Behaviour, Block, ConnFlood, DhtFlood, ScriptedPeer};
use std::io::ErrorKind;
pub use torrent::{TestFile, TestTorrent, numbered_info_hash, numbered_magnet};
pub use tracker::SimTracker;

/// How long an `Action::LoadMetainfo` takes (reading and parsing a small .torrent).
const LOAD_DELAY: Duration = Duration::from_millis(2);

/// The answer to an `Action::LoadMetainfo`.
type MetainfoAnswer = Result<Arc<Metainfo>, LoadError>;

/// How long an HTTP request to an unreachable (partitioned) host waits before failing.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// The simulation.
#[derive(Debug)]
pub struct Sim {
    /// Virtual time zero.
    pub epoch: Instant,
    /// Virtual now.
    pub now: Instant,
    /// The hosts, by index.
    pub nodes: Vec<Node>,
    /// The network.
    pub net: Net,
    /// The seed of the run (host `i`'s session seed is derived from it and `i`).
    pub seed: u64,
    /// Host names and their addresses, for `Action::Resolve` and HTTP tracker URLs.
    pub dns: BTreeMap<String, IpAddr>,
    /// Job completions due: (node, completion, bytes written by the job).
    jobs: BTreeMap<(Instant, u64), (usize, Completion, u64)>,
    /// Metainfo loads due: (node, torrent, answer).
    loads: BTreeMap<(Instant, u64), (usize, TorrentId, MetainfoAnswer)>,
    timers: BTreeSet<(Instant, usize)>,
    seq: u64,
    log: Vec<String>,
    /// Steps taken.
    pub steps: u64,
    /// Every datagram a session sent: (instant, node, destination, bytes), delivered or not
    /// (a test can check what a node's DHT said).
    pub datagrams: Vec<(Instant, usize, SocketAddr, Bytes)>,
    /// Per node, a function rewriting every chunk it sends to a peer (a man in the middle:
    /// makes an honest session look like a lying peer).
    pub tamper: BTreeMap<usize, fn(Bytes) -> Bytes>,
    /// Connections whose session paused reading (`Action::PauseReading`), with the stream
    /// deliveries held for them (as a kernel's socket buffer would) until it resumes.
    paused: BTreeMap<End, Vec<Delivery>>,
    /// The most bytes ever held for one paused connection.
    pub max_held_bytes: usize,
    /// Addresses whose connects are never answered (a SYN into the void): a session's dial to
    /// one hears nothing until it gives up.
    pub black_holes: BTreeSet<IpAddr>,
    /// Per host answering web seed requests, when its uplink is free again.
    http_busy: BTreeMap<usize, Instant>,
    /// The HTTP requests of each host sent and neither answered nor cancelled: an answer
    /// not in here (its request cancelled) is dropped, as a runtime drops the connection.
    http_in_flight: BTreeSet<(usize, RequestId)>,
    /// Session dials to a black hole.
    pub black_hole_dials: u64,
}

/// Figures of a finished scenario, printed by [`Sim::summary`].
#[derive(Clone, Debug)]
pub struct Summary {
    /// Virtual time since the start.
    pub virtual_time: Duration,
    /// Stream writes plus datagrams sent.
    pub messages: u64,
    /// Stream bytes carried.
    pub bytes: u64,
    /// Payload bytes received by sessions beyond the pieces they verified (duplicates and
    /// failed pieces).
    pub wasted: u64,
    /// Steps taken.
    pub steps: u64,
    /// The event-log hash.
    pub hash: u64,
}

impl Sim {
    /// An empty simulation whose hosts get `link` unless given their own.
    pub fn new(seed: u64, link: LinkConfig) -> Self {
        let epoch = Instant::now();
        Self {
            epoch,
            now: epoch,
            nodes: Vec::new(),
            net: Net::new(link, seed),
            seed,
            dns: BTreeMap::new(),
            jobs: BTreeMap::new(),
            loads: BTreeMap::new(),
            timers: BTreeSet::new(),
            seq: 0,
            log: Vec::new(),
            steps: 0,
            datagrams: Vec::new(),
            tamper: BTreeMap::new(),
            paused: BTreeMap::new(),
            max_held_bytes: 0,
            black_holes: BTreeSet::new(),
            black_hole_dials: 0,
            http_busy: BTreeMap::new(),
            http_in_flight: BTreeSet::new(),
        }
    }

    /// The address host `i` gets: 10.0.x.y:6881 (one IP per host).
    pub fn addr_of(i: usize) -> SocketAddr {
        let i = u32::try_from(i).expect("small index") + 1;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 6881)
    }

    /// Adds a session host with `config`.
    pub fn add_node(&mut self, config: SessionConfig) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node::new(Self::addr_of(i), config.clone()));
        self.start_session(i, config);
        i
    }

    /// Adds a session host with its own access link.
    pub fn add_node_with(&mut self, config: SessionConfig, link: LinkConfig) -> usize {
        let i = self.add_node(config);
        self.net.set_link(i, link);
        i
    }

    /// Adds a participant host.
    pub fn add_agent(&mut self, agent: Box<dyn Agent>) -> usize {
        let i = self.nodes.len();
        let mut node = Node::new(Self::addr_of(i), SessionConfig::default());
        node.agent = Some(agent);
        self.nodes.push(node);
        self.drain(i);
        i
    }

    /// Adds a participant host whose link has the one-way `latency` (a slow tracker answers
    /// an HTTP request after four of them).
    pub fn add_agent_with_latency(&mut self, agent: Box<dyn Agent>, latency: Duration) -> usize {
        let i = self.add_agent(agent);
        let link = LinkConfig {
            latency,
            ..LinkConfig::default()
        };
        self.net.set_link(i, link);
        i
    }

    /// (Re)starts host `i`'s session with `config` (after [`Sim::crash`] or a stop).
    pub fn start_session(&mut self, i: usize, config: SessionConfig) {
        let addr = self.nodes[i].addr;
        let seed = self.seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9);
        let mut s = Session::new(
            SessionConfig {
                listen_port: addr.port(),
                // The simulation reports sends (`Delivery::Sent`).
                send_accounting: true,
                ..config.clone()
            },
            self.now,
            seed ^ self.steps,
        );
        s.set_listen_addr(addr);
        self.nodes[i].config = config;
        self.nodes[i].session = Some(s);
        self.drain(i);
    }

    /// Drops host `i`'s session without any goodbye (a crash): its connections and HTTP
    /// requests die, its jobs in progress are lost, its storage and saved resume data stay.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].session = None;
        self.set_timer(i, None);
        self.nodes[i].disk_busy = None;
        self.net.close_host(self.now, i);
        self.jobs.retain(|_, (n, _, _)| *n != i);
        self.nodes[i].unwritten = 0;
        self.paused.retain(|&(n, _), _| n != i);
        self.http_in_flight.retain(|&(n, _)| n != i);
        self.nodes[i].announces_in_flight.clear();
        self.log(i, "crash".into());
    }

    /// Adds a torrent to host `i`; with `with_data`, its storage holds the whole content
    /// first (a seeder).
    pub fn add_torrent(
        &mut self,
        i: usize,
        t: &TestTorrent,
        with_data: bool,
        options: TorrentOptions,
    ) -> TorrentId {
        let storage = with_data.then(|| t.storage());
        self.add_source(i, TorrentSource::Metainfo(t.meta.clone()), storage, options)
    }

    /// Adds a torrent from any source, with an optional existing storage for it.
    pub fn add_source(
        &mut self,
        i: usize,
        source: TorrentSource,
        storage: Option<Rc<MemoryStorage>>,
        options: TorrentOptions,
    ) -> TorrentId {
        let now = self.now;
        let meta = match &source {
            TorrentSource::Metainfo(meta) => Some(Arc::clone(meta)),
            _ => None,
        };
        let id = self.nodes[i]
            .session()
            .add_torrent(now, source, options)
            .expect("add torrent");
        if let Some(meta) = meta {
            self.nodes[i].metainfo.insert(id, meta);
        }
        if let Some(s) = storage {
            self.nodes[i].preset.insert(id, s);
        }
        self.drain(i);
        id
    }

    /// Tells host `i` about peers of its torrent.
    pub fn add_peers(&mut self, i: usize, torrent: TorrentId, peers: &[SocketAddr]) {
        let now = self.now;
        self.nodes[i].session().add_peers(now, torrent, peers);
        self.drain(i);
    }

    /// Calls `f` on host `i`'s session at the current time, then drains it.
    pub fn with_session(&mut self, i: usize, f: impl FnOnce(&mut Session, Instant)) {
        let now = self.now;
        f(self.nodes[i].session(), now);
        self.drain(i);
    }

    /// Calls `f` on host `i`'s agent at the current time, then drains it.
    pub fn with_agent<T: 'static>(&mut self, i: usize, f: impl FnOnce(&mut T, Instant)) {
        let now = self.now;
        f(self.nodes[i].agent_mut::<T>(), now);
        self.drain(i);
    }

    /// The host listening at `addr`: a session on its port, an agent on any port of its IP.
    pub fn host_at(&self, addr: SocketAddr) -> Option<usize> {
        let i = self.nodes.iter().position(|n| n.addr.ip() == addr.ip())?;
        let n = &self.nodes[i];
        (n.agent.is_some() || (n.session.is_some() && n.addr.port() == addr.port())).then_some(i)
    }

    /// The earliest instant anything can happen.
    pub fn next_at(&self) -> Option<Instant> {
        let timer = self.timers.iter().next().map(|(t, _)| *t);
        let jobs = self.jobs.keys().next().map(|(t, _)| *t);
        let loads = self.loads.keys().next().map(|(t, _)| *t);
        timer
            .into_iter()
            .chain(self.net.next_at())
            .chain(jobs)
            .chain(loads)
            .min()
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
            // Send reports are bookkeeping, not events: they leave step budgets (and the
            // seeds of restarted sessions) as they were.
            if matches!(d, Delivery::Sent { .. }) {
                self.steps -= 1;
            }
            self.deliver(d);
            return true;
        }
        if let Some((&key, _)) = self.jobs.iter().next()
            && key.0 <= now
        {
            let (i, done, written) = self.jobs.remove(&key).expect("job present");
            self.nodes[i].unwritten -= written;
            if let Some(s) = self.nodes[i].session.as_mut() {
                s.handle_completion(now, done);
                self.drain(i);
            }
            return true;
        }
        if let Some((&key, _)) = self.loads.iter().next()
            && key.0 <= now
        {
            let (i, torrent, answer) = self.loads.remove(&key).expect("load present");
            if let Some(s) = self.nodes[i].session.as_mut() {
                s.handle_metainfo(now, torrent, answer);
                self.drain(i);
            }
            return true;
        }
        let due = self
            .timers
            .iter()
            .next()
            .filter(|(t, _)| *t <= now)
            .map(|(_, i)| *i);
        if let Some(i) = due {
            self.set_timer(i, None);
            let node = &mut self.nodes[i];
            if let Some(s) = node.session.as_mut() {
                s.handle_timeout(now);
            } else if let Some(a) = node.agent.as_mut() {
                a.timeout(now);
            }
            self.drain(i);
        }
        true
    }

    /// Steps until `pred` holds. Fails (with the seed in the message) when the simulation goes
    /// idle first, or after `max_steps` (livelock).
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
                    "seed {}: no progress after {max_steps} steps at t={:?}",
                    self.seed,
                    self.elapsed()
                ));
            }
            if !self.step() {
                return Err(format!(
                    "seed {}: idle at t={:?} before the goal",
                    self.seed,
                    self.elapsed()
                ));
            }
        }
    }

    /// Runs until virtual time `d` from now (or the step limit).
    pub fn run_for(&mut self, d: Duration, max_steps: u64) -> Result<u64, String> {
        let until = self.now + d;
        self.net.schedule_wake(until);
        let r = self.run_until(|s| s.now >= until, max_steps);
        r.map_err(|e| format!("{e} (running for {d:?})"))
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// A hash of every host's event log (with virtual times): equal for equal runs.
    pub fn log_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in &self.log {
            for b in line.bytes().chain(std::iter::once(b'\n')) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }

    /// The event log lines.
    pub fn log_lines(&self) -> &[String] {
        &self.log
    }

    /// Whether host `i`'s torrent `t` has emitted `TorrentComplete`.
    pub fn is_complete(&self, i: usize, t: TorrentId) -> bool {
        self.nodes[i]
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::TorrentComplete { torrent } if *torrent == t))
    }

    /// Whether host `i` has emitted an event matching `f`.
    pub fn saw(&self, i: usize, f: impl Fn(&Event) -> bool) -> bool {
        self.nodes[i].events.iter().any(|(_, e)| f(e))
    }

    /// Whether host `i`'s torrent `t` holds exactly `expected`'s content.
    pub fn has_content(&self, i: usize, t: TorrentId, expected: &TestTorrent) -> bool {
        let Some(s) = self.nodes[i].storages.get(&t) else {
            return false;
        };
        expected.files.iter().enumerate().all(|(f, want)| {
            expected.meta.files()[f].padding
                || want.is_empty()
                || s.file_data(f).is_some_and(|got| got == *want)
        })
    }

    /// The scenario's figures.
    pub fn summary(&mut self) -> Summary {
        let mut wasted = 0;
        for node in &mut self.nodes {
            let Some(s) = node.session.as_ref() else {
                continue;
            };
            for t in s.torrents() {
                let Some(stats) = s.torrent_stats(t) else {
                    continue;
                };
                let Some(storage) = node.storages.get(&t) else {
                    continue;
                };
                let layout = storage.layout();
                let verified: u64 = node
                    .verified(t)
                    .iter()
                    .map(|p| u64::from(layout.piece_len(*p)))
                    .sum();
                wasted += stats.downloaded.saturating_sub(verified);
            }
        }
        Summary {
            virtual_time: self.elapsed(),
            messages: self.net.stats.segments + self.net.stats.datagrams,
            bytes: self.net.stats.bytes,
            wasted,
            steps: self.steps,
            hash: self.log_hash(),
        }
    }

    /// Prints the scenario's figures (one line) and returns them.
    pub fn print_summary(&mut self, name: &str) -> Summary {
        let s = self.summary();
        eprintln!(
            "{name}: seed {} virtual {:.3}s, {} messages, {} bytes, {} bytes wasted \
             (duplicates, failed pieces), {} resets, {} steps, log {:016x}",
            self.seed,
            s.virtual_time.as_secs_f64(),
            s.messages,
            s.bytes,
            s.wasted,
            self.net.stats.resets,
            s.steps,
            s.hash
        );
        s
    }

    /// Re-arms host `i`'s timer (kept in an index, so a step does not scan every host).
    fn set_timer(&mut self, i: usize, at: Option<Instant>) {
        if let Some(old) = self.nodes[i].timer.take() {
            self.timers.remove(&(old, i));
        }
        if let Some(at) = at {
            self.timers.insert((at, i));
        }
        self.nodes[i].timer = at;
    }

    fn log(&mut self, i: usize, line: String) {
        let t = (self.now - self.epoch).as_micros();
        self.log.push(format!("{t} {i} {line}"));
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        let held_for = match &d {
            Delivery::Data { to, .. } | Delivery::Fin { to, .. } => Some(*to),
            _ => None,
        };
        if let Some(held) = held_for.and_then(|to| self.paused.get_mut(&to)) {
            held.push(d);
            let bytes = held
                .iter()
                .map(|d| match d {
                    Delivery::Data { bytes, .. } => bytes.len(),
                    _ => 0,
                })
                .sum();
            self.max_held_bytes = self.max_held_bytes.max(bytes);
            return;
        }
        match d {
            Delivery::Syn {
                from,
                from_addr,
                to,
            } => {
                let node = &mut self.nodes[to];
                let accepted = if let Some(s) = node.session.as_mut() {
                    s.handle_accept(now, from_addr)
                } else if let Some(a) = node.agent.as_mut() {
                    a.accept(now, from_addr)
                } else {
                    None
                };
                self.net.answer_syn(now, from, to, accepted);
                self.drain(to);
            }
            Delivery::Connected { end, result, .. } => {
                let node = &mut self.nodes[end.0];
                if let Some(s) = node.session.as_mut() {
                    s.handle_connected(now, end.1, result);
                } else if let Some(a) = node.agent.as_mut() {
                    a.connected(now, end.1, result.is_ok());
                }
                self.drain(end.0);
            }
            Delivery::Data { to, bytes, .. } => {
                let node = &mut self.nodes[to.0];
                if let Some(s) = node.session.as_mut() {
                    s.handle_peer_data(now, to.1, bytes::BytesMut::from(&bytes[..]));
                } else if let Some(a) = node.agent.as_mut() {
                    a.data(now, to.1, &bytes);
                }
                self.drain(to.0);
            }
            Delivery::Fin { to, .. } => {
                let node = &mut self.nodes[to.0];
                if let Some(s) = node.session.as_mut() {
                    s.handle_peer_closed(now, to.1);
                } else if let Some(a) = node.agent.as_mut() {
                    a.closed(now, to.1);
                }
                self.drain(to.0);
            }
            Delivery::Datagram {
                from_addr,
                to,
                bytes,
                ..
            } => {
                let node = &mut self.nodes[to];
                if let Some(s) = node.session.as_mut() {
                    s.handle_datagram(now, from_addr, &bytes);
                } else if let Some(a) = node.agent.as_mut() {
                    a.datagram(now, from_addr, &bytes);
                }
                self.drain(to);
            }
            Delivery::Http {
                to,
                id,
                response,
                limit,
            } => {
                if !self.http_in_flight.remove(&(to, RequestId(id))) {
                    return; // cancelled by the session: never answered
                }
                let result = response.map_err(TrackerError::Transport).and_then(|bytes| {
                    let mut r = ResponseReader::new(limit);
                    match r.push(&bytes) {
                        Ok(Some(resp)) => Ok(resp),
                        Ok(None) => r.eof().map_err(TrackerError::Http),
                        Err(e) => Err(TrackerError::Http(e)),
                    }
                });
                let node = &mut self.nodes[to];
                node.announces_in_flight.remove(&RequestId(id));
                if let Some(s) = node.session.as_mut() {
                    node.http_answered.push(RequestId(id));
                    s.handle_http_response(now, RequestId(id), result);
                    self.drain(to);
                }
            }
            Delivery::Dns { to, id, answer } => {
                if let Some(s) = self.nodes[to].session.as_mut() {
                    s.handle_resolved(now, RequestId(id), answer);
                    self.drain(to);
                }
            }
            Delivery::Sent { end, bytes } => {
                if let Some(s) = self.nodes[end.0].session.as_mut() {
                    s.handle_peer_sent(now, end.1, bytes);
                    self.drain(end.0);
                }
            }
            Delivery::Wake => {}
        }
    }

    /// Drains host `i`'s outputs into the network, the job queue and the logs, and refreshes
    /// its timer.
    pub fn drain(&mut self, i: usize) {
        if self.nodes[i].agent.is_some() {
            self.drain_agent(i);
            return;
        }
        let now = self.now;
        loop {
            let Some(s) = self.nodes[i].session.as_mut() else {
                self.set_timer(i, None);
                return;
            };
            let mut transmits = Vec::new();
            while let Some(t) = s.poll_transmit() {
                transmits.push(t);
            }
            let mut actions = Vec::new();
            while let Some(a) = s.poll_action() {
                actions.push(a);
            }
            let mut events = Vec::new();
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
            if transmits.is_empty() && actions.is_empty() && events.is_empty() {
                let t = s.poll_timeout();
                self.set_timer(i, t);
                return;
            }
            let from = self.nodes[i].addr;
            for t in transmits {
                match t.dest {
                    Dest::Peer(conn) => {
                        let bytes = t.payload.len();
                        let payload = match self.tamper.get(&i) {
                            Some(f) => f(t.payload),
                            None => t.payload,
                        };
                        // The socket takes the bytes as the uplink sends them.
                        if let Some(at) = self.net.send(now, (i, conn), payload) {
                            let end = (i, conn);
                            self.net.schedule(at, Delivery::Sent { end, bytes });
                        }
                    }
                    Dest::Udp(to) => {
                        self.datagrams.push((now, i, to, t.payload.clone()));
                        let target = self.host_at(to);
                        self.net.send_datagram(now, i, from, target, t.payload);
                    }
                    // No simulated node turns local discovery on: the network has no group.
                    Dest::LocalDiscovery(_) => {}
                }
            }
            for e in events {
                // Periodic stats are kept as the latest only (a log of them would make every
                // scan of the events quadratic over a long run).
                if let Event::Stats { torrent, stats } = e {
                    self.nodes[i].stats.insert(torrent, stats);
                    continue;
                }
                self.log(i, format!("{e:?}"));
                self.nodes[i].events.push((now, e));
            }
            for a in actions {
                self.perform(i, a);
            }
        }
    }

    fn drain_agent(&mut self, i: usize) {
        let now = self.now;
        let from = self.nodes[i].addr;
        loop {
            let Some(a) = self.nodes[i].agent.as_mut() else {
                return;
            };
            let Some(out) = a.poll_output() else {
                let t = a.poll_timeout();
                self.set_timer(i, t);
                return;
            };
            match out {
                Output::Send { conn, bytes } => {
                    let _ = self.net.send(now, (i, conn), bytes);
                }
                Output::Close { conn } => self.net.close(now, (i, conn)),
                Output::Connect { conn, addr } => {
                    let to = self.host_at(addr);
                    self.net.connect(now, (i, conn), from, to);
                }
                Output::Datagram { to, bytes } => {
                    let target = self.host_at(to);
                    self.net.send_datagram(now, i, from, target, bytes);
                }
                Output::DatagramFrom { port, to, bytes } => {
                    let target = self.host_at(to);
                    let from = SocketAddr::new(from.ip(), port);
                    self.net.send_datagram(now, i, from, target, bytes);
                }
                Output::Log(line) => self.log(i, line),
            }
        }
    }

    fn perform(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Connect { addr, .. } if self.black_holes.contains(&addr.ip()) => {
                self.black_hole_dials += 1;
            }
            Action::Connect { conn, addr } => {
                let to = self.host_at(addr);
                let from = self.nodes[i].addr;
                self.net.connect(now, (i, conn), from, to);
            }
            Action::Close { conn } => {
                self.paused.remove(&(i, conn));
                self.net.close(now, (i, conn));
            }
            Action::PauseReading { conn } => {
                self.paused.entry((i, conn)).or_default();
            }
            Action::ResumeReading { conn } => {
                for d in self.paused.remove(&(i, conn)).unwrap_or_default() {
                    self.net.schedule(now, d);
                }
            }
            Action::OpenStorage {
                torrent, layout, ..
            } => {
                let node = &mut self.nodes[i];
                let s = node
                    .preset
                    .remove(&torrent)
                    .or_else(|| node.storages.get(&torrent).cloned())
                    .unwrap_or_else(|| Rc::new(MemoryStorage::new(layout)));
                node.storages.insert(torrent, s);
            }
            Action::Disk(job) => {
                let node = &mut self.nodes[i];
                let written = match &job.kind {
                    DiskJobKind::Write { data, .. } => data.len() as u64,
                    _ => 0,
                };
                node.unwritten += written;
                node.max_unwritten = node.max_unwritten.max(node.unwritten);
                let (done, took) = node.run_job(job);
                let start = node.disk_busy.map_or(now, |b| b.max(now));
                let at = start + took;
                node.disk_busy = Some(at);
                self.seq += 1;
                self.jobs.insert((at, self.seq), (i, done, written));
            }
            Action::SaveResume { torrent, data } => {
                self.nodes[i].resume.insert(torrent, data);
            }
            Action::LoadMetainfo { torrent, .. } => {
                let node = &mut self.nodes[i];
                node.loads += 1;
                let answer = match node.metainfo.get(&torrent) {
                    _ if node.fail_loads => Err(LoadError::Source("failing on purpose".into())),
                    Some(meta) => Ok(Arc::clone(meta)),
                    None => Err(LoadError::Source("no such .torrent".into())),
                };
                self.seq += 1;
                self.loads
                    .insert((now + LOAD_DELAY, self.seq), (i, torrent, answer));
            }
            Action::HttpRequest { id, url, request } => {
                self.http_request(i, id, &url, &request, None);
            }
            Action::WebSeedRequest {
                id,
                url,
                request,
                max_response,
            } => {
                self.http_request(i, id, &url, &request, Some(max_response));
            }
            Action::CancelHttp { id } if self.http_in_flight.remove(&(i, id)) => {
                let node = &mut self.nodes[i];
                node.announces_in_flight.remove(&id);
                node.http_cancelled.push(id);
            }
            Action::Resolve { id, host, port } => {
                let answer = self
                    .dns
                    .get(&host)
                    .map(|ip| vec![SocketAddr::new(*ip, port)])
                    .ok_or(ErrorKind::NotFound);
                self.net.schedule(
                    now + Duration::from_millis(1),
                    Delivery::Dns {
                        to: i,
                        id: id.0,
                        answer,
                    },
                );
            }
            _ => {}
        }
    }
}

impl Sim {
    /// Host `i`'s HTTP request: answered by the agent at the URL's address after the round
    /// trips, a web seed's answer (`limit`: its cap) also after its length over the answering
    /// host's uplink, one answer at a time.
    fn http_request(
        &mut self,
        i: usize,
        id: RequestId,
        url: &sanstorrent_core::tracker::TrackerUrl,
        request: &[u8],
        limit: Option<usize>,
    ) {
        let now = self.now;
        self.http_in_flight.insert((i, id));
        let line = request.split(|&c| c == b'\r').next().unwrap_or_default();
        if limit.is_none() && !line.windows(8).any(|w| w == b"/scrape?") {
            let node = &mut self.nodes[i];
            node.announces_in_flight.insert(id);
            node.max_announces_in_flight = node
                .max_announces_in_flight
                .max(node.announces_in_flight.len());
        }
        let addr = url.socket_addr().or_else(|| {
            let ip = self.dns.get(&url.host_str())?;
            Some(SocketAddr::new(*ip, url.port()))
        });
        let target = addr.and_then(|a| self.host_at(a));
        let rtt = target.map_or(Duration::from_millis(1), |t| self.net.latency(i, t) * 2);
        let (at, response) = match target {
            None => (now + rtt, Err(refused())),
            Some(t) if self.net.is_cut(i, t) => (
                now + HTTP_TIMEOUT,
                Err(TransportError::Connect(ErrorKind::TimedOut)),
            ),
            Some(t) => {
                let from = self.nodes[i].addr;
                let answer = self.nodes[t]
                    .agent
                    .as_mut()
                    .and_then(|a| a.http(now, from, request));
                self.drain(t);
                match answer {
                    Some(bytes) if limit.is_some() => {
                        let bandwidth = self.net.link_of(t).bandwidth.max(1);
                        let nanos = (bytes.len() as u64).saturating_mul(1_000_000_000) / bandwidth;
                        let free = self.http_busy.get(&t).map_or(now, |b| (*b).max(now));
                        let sent = free + Duration::from_nanos(nanos);
                        self.http_busy.insert(t, sent);
                        (sent + rtt * 2, Ok(bytes))
                    }
                    Some(bytes) => (now + rtt * 2, Ok(bytes)),
                    None => (now + rtt, Err(refused())),
                }
            }
        };
        self.net.schedule(
            at,
            Delivery::Http {
                to: i,
                id: id.0,
                response,
                limit: limit.unwrap_or(1 << 20),
            },
        );
    }
}

/// The seeds a scenario sweeps: `SANSTORRENT_SIM_SEEDS=n` widens the sweep to `n` seeds (from
/// `first`, or from `SANSTORRENT_SIM_SEED` to replay a failure), the default is `default`
/// seeds (kept small so CI stays fast).
pub fn seeds(first: u64, default: u64) -> std::ops::Range<u64> {
    let first = std::env::var("SANSTORRENT_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(first);
    let n = std::env::var("SANSTORRENT_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    first..first + n
}

/// Runs `scenario` for each seed of [`seeds`], and the first seed twice to check that the
/// event log is the same; a failure names its seed. Returns each run's summary.
pub fn sweep(
    name: &str,
    first: u64,
    default: u64,
    scenario: impl Fn(u64) -> Summary,
) -> Vec<Summary> {
    let mut out = Vec::new();
    let range = seeds(first, default);
    let first = range.start;
    for seed in range {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scenario(seed)));
        match result {
            Ok(s) => out.push(s),
            Err(e) => {
                eprintln!(
                    "{name}: FAILED with seed {seed} \
                     (replay: SANSTORRENT_SIM_SEED={seed} SANSTORRENT_SIM_SEEDS=1)"
                );
                std::panic::resume_unwind(e);
            }
        }
    }
    let again = scenario(first);
    assert_eq!(
        out[0].hash, again.hash,
        "{name}: seed {first} gave two different event logs"
    );
    out
}

/// What a dial to a closed port gives.
fn refused() -> TransportError {
    TransportError::Connect(ErrorKind::ConnectionRefused)
}
