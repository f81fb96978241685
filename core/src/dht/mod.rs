//! A Mainline DHT node (BEP 5) as a Sans-IO state machine.
//!
//! [`Dht`] opens no socket and reads no clock. The runtime owns one UDP socket and:
//! - passes every received datagram that [`looks_like_krpc`] to [`Dht::handle_datagram`];
//! - sends what [`Dht::poll_transmit`] returns until it returns `None`;
//! - arms a timer at [`Dht::poll_timeout`] and calls [`Dht::handle_timeout`] when it fires;
//! - reads [`Dht::poll_event`] for peers found, finished lookups and bootstrap.
//!
//! Poll all three after each `handle_*` call and after each operation ([`Dht::bootstrap`],
//! [`Dht::get_peers`], [`Dht::announce`]). Host names of bootstrap routers are resolved by the
//! runtime. Between runs, save [`Dht::saved_state`] and start again with its id in
//! [`Config::node_id`] and its nodes passed to [`Dht::bootstrap`].
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use sanstorrent_core::dht::{Config, Dht, DhtEvent, looks_like_krpc};
//! use sanstorrent_core::Dest;
//!
//! let sock = UdpSocket::bind("0.0.0.0:6881")?;
//! let mut dht = Dht::new(Config::default(), Instant::now(), 42);
//! dht.bootstrap(Instant::now(), &["67.215.246.10:6881".parse()?]); // resolved by the runtime
//! let mut buf = [0u8; 2048];
//! loop {
//!     while let Some(t) = dht.poll_transmit() {
//!         if let Dest::Udp(to) = t.dest {
//!             sock.send_to(&t.payload, to)?;
//!         }
//!     }
//!     while let Some(event) = dht.poll_event() {
//!         if let DhtEvent::Peers { peers, .. } = event { /* connect to them */ }
//!     }
//!     let now = Instant::now();
//!     let wait = dht.poll_timeout().map_or(Duration::from_secs(1), |t| t - now.min(t));
//!     sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
//!     if let Ok((n, from)) = sock.recv_from(&mut buf) {
//!         if looks_like_krpc(&buf[..n]) {
//!             dht.handle_datagram(Instant::now(), from, &buf[..n]);
//!         } // else: a UDP tracker's answer, routed elsewhere
//!     }
//!     dht.handle_timeout(Instant::now());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Serving follows BEP 5 (with BEP 32 `nodes6`, the BEP 42 `ip` field and BEP 43 read-only
//! mode): every query type is answered, tokens rotate every five minutes, announced peers are
//! kept thirty minutes in a bounded store, and queries are rate-limited per address and over
//! all addresses. Under a flood of queries from new ids, only answers prove a node (a flood
//! cannot push out nodes that answer), the pings that verify new queriers take at most a
//! quarter of the query slots, and answers never take the queue room our own queries need, so
//! our lookups keep working.

pub mod krpc;
pub mod lookup;
pub mod node_id;
pub mod peer_store;
pub mod persist;
pub mod rate;
pub mod routing;
pub mod token;

pub use krpc::{
    Body, ErrorBody, KrpcError, Message, Method, NodeInfo, Query, Response, Want, code,
    decode_nodes, decode_peer, encode_nodes, encode_peer, looks_like_krpc,
};
pub use lookup::{ALPHA, LookupId, LookupKind};
pub use node_id::{Distance, NodeId, bep42_prefix};
pub use peer_store::{PEER_TTL, PeerStore, StoreLimits, StoredPeer};
pub use persist::{MAX_SAVED_NODES, PersistError, SavedState};
pub use rate::{RateLimit, RateLimiter};
pub use routing::{GOOD_FOR, K, MAX_FAILURES, Node, NodeState, REFRESH_EVERY, RoutingTable};
pub use token::{ROTATE_EVERY, TOKEN_LEN, Tokens};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::id::InfoHash;
use crate::io::{Dest, Transmit};
use crate::rng::Rng;
use lookup::{Lookup, Phase};
use routing::{Observed, Seen};

/// How often maintenance runs: token rotation, peer expiry, pings, bucket refresh.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
/// Questionable nodes pinged per maintenance round.
const PINGS_PER_ROUND: usize = 8;
/// The most peers put in one `get_peers` answer (keeps it under ~1,000 bytes).
const MAX_VALUES_PER_REPLY: usize = 50;
/// The most datagrams queued for the runtime; answers past it are dropped.
pub const MAX_QUEUED_TRANSMITS: usize = 1024;
/// Queue room only our own queries may use, so a flood's answers never crowd them out.
const RESERVED_FOR_QUERIES: usize = 256;
/// The share of `max_in_flight` that pings verifying new queriers may take (one in this
/// many), so a flood of new ids cannot hold every query slot our lookups need.
const VERIFY_SHARE: usize = 4;
/// The most events queued for the application; the oldest are dropped past it.
pub const MAX_QUEUED_EVENTS: usize = 4096;
/// The most bootstrap addresses remembered.
const MAX_ROUTERS: usize = 64;
/// How often an empty routing table bootstraps again from the remembered routers.
const REBOOTSTRAP_EVERY: Duration = Duration::from_secs(60);
/// Responses naming the same external IP before we believe it.
const IP_VOTES_NEEDED: u32 = 5;

/// Settings of a [`Dht`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id; `None` draws one from the seed. Pass the saved id to keep our place.
    pub node_id: Option<NodeId>,
    /// Our external IP if the runtime knows it: a drawn id is then BEP 42 secure for it.
    pub external_ip: Option<IpAddr>,
    /// BEP 43: send `ro=1`, answer no queries, stay out of others' routing tables.
    pub read_only: bool,
    /// How long to wait for an answer to one query.
    pub query_timeout: Duration,
    /// The most queries in flight at once (lookups wait past it).
    pub max_in_flight: usize,
    /// Ask for and use IPv6 nodes (BEP 32 `want n6`).
    pub ipv6: bool,
    /// Limits of the announced-peer store.
    pub store: StoreLimits,
    /// Per-address rate limit of incoming queries.
    pub rate_limit: RateLimit,
    /// The client version sent as `v` (`None`: omitted).
    pub version: Option<[u8; 4]>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            node_id: None,
            external_ip: None,
            read_only: false,
            query_timeout: Duration::from_secs(2),
            max_in_flight: 256,
            ipv6: false,
            store: StoreLimits::default(),
            rate_limit: RateLimit::default(),
            version: Some(*b"ST\x00\x01"),
        }
    }
}

/// What the DHT tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DhtEvent {
    /// A bootstrap finished; `nodes` are now in the routing table.
    Bootstrapped {
        /// Nodes in the routing table.
        nodes: usize,
    },
    /// New peers of a lookup's info-hash, reported as they arrive.
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: InfoHash,
        /// Peers not reported before by this lookup.
        peers: Vec<SocketAddr>,
    },
    /// A `get_peers` or announce lookup finished.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// The torrent.
        info_hash: InfoHash,
        /// Distinct peers found.
        peers: usize,
        /// Queries sent.
        queries: u32,
        /// For an announce: nodes that accepted our `announce_peer`.
        announced: usize,
    },
    /// Several nodes agree on our external IP (BEP 42 `ip`).
    ExternalAddress {
        /// The IP.
        ip: IpAddr,
        /// Whether our node id satisfies BEP 42 for it.
        secure_id: bool,
    },
}

/// Counters for monitoring and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries answered.
    pub queries_answered: u64,
    /// Queries dropped by the rate limiter.
    pub rate_limited: u64,
    /// Datagrams that were not valid KRPC.
    pub malformed: u64,
    /// Responses and errors matching no transaction of ours (or from the wrong address).
    pub unsolicited: u64,
    /// Queries we sent.
    pub queries_sent: u64,
    /// Our queries that timed out.
    pub timeouts: u64,
    /// Datagrams dropped because the runtime did not poll them.
    pub dropped_transmits: u64,
}

#[derive(Clone, Copy, Debug)]
enum Purpose {
    Ping,
    Lookup(LookupId),
    Announce(LookupId),
}

#[derive(Clone, Copy, Debug)]
struct Transaction {
    to: SocketAddr,
    id: Option<NodeId>,
    purpose: Purpose,
    deadline: Instant,
}

#[derive(Debug)]
struct Running {
    lookup: Lookup,
    /// Bootstrap or refresh: no events but `Bootstrapped`.
    internal: bool,
    bootstrap: bool,
}

/// A DHT node. See the [module docs](self) for the run loop.
#[derive(Debug)]
pub struct Dht {
    config: Config,
    id: NodeId,
    rng: Rng,
    table: RoutingTable,
    tokens: Tokens,
    store: PeerStore,
    limiter: RateLimiter,
    transactions: BTreeMap<u32, Transaction>,
    deadlines: BinaryHeap<Reverse<(Instant, u32)>>,
    next_tid: u32,
    lookups: BTreeMap<LookupId, Running>,
    next_lookup: u64,
    routers: Vec<SocketAddr>,
    /// Addresses with a ping in flight (at most `max_in_flight`).
    pinging: BTreeSet<SocketAddr>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<DhtEvent>,
    next_maintenance: Instant,
    next_expiry: Instant,
    next_rebootstrap: Instant,
    ip_votes: BTreeMap<IpAddr, u32>,
    external_ip: Option<IpAddr>,
    stats: Stats,
}

impl Dht {
    /// A node with `config`, its randomness (id, tokens, transaction ids) drawn from `seed`.
    pub fn new(config: Config, now: Instant, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let id = match (config.node_id, config.external_ip) {
            (Some(id), _) => id,
            (None, Some(ip)) => NodeId::secure(ip, &mut rng),
            (None, None) => NodeId::random(&mut rng),
        };
        let tokens = Tokens::new(now, &mut rng);
        let next_tid = rng.next_u32();
        Self {
            table: RoutingTable::new(id, now),
            store: PeerStore::new(config.store),
            limiter: RateLimiter::new(config.rate_limit, now),
            config,
            id,
            rng,
            tokens,
            transactions: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
            next_tid,
            lookups: BTreeMap::new(),
            next_lookup: 1,
            routers: Vec::new(),
            pinging: BTreeSet::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_maintenance: now + MAINTENANCE_EVERY,
            next_expiry: now + Duration::from_secs(60),
            next_rebootstrap: now + REBOOTSTRAP_EVERY,
            ip_votes: BTreeMap::new(),
            external_ip: None,
            stats: Stats::default(),
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The routing table (read-only).
    pub fn routing_table(&self) -> &RoutingTable {
        &self.table
    }

    /// The rate limiter of incoming queries (its table of addresses is bounded).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Our queries awaiting an answer, plus datagrams and events not yet polled (each
    /// bounded).
    pub fn queued(&self) -> usize {
        self.transactions.len() + self.transmits.len() + self.events.len()
    }

    /// The announced-peer store (read-only).
    pub fn peer_store(&self) -> &PeerStore {
        &self.store
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Lookups running (internal ones included).
    pub fn lookups_running(&self) -> usize {
        self.lookups.len()
    }

    /// The external IP agreed on by answering nodes, if any.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external_ip
    }

    /// Our external IP as the gateway told it (port mapping): believed at once, without
    /// votes. If our id is not BEP 42 secure for it, we take a secure one (as libtorrent does
    /// when its address changes) and file the known nodes again under the new id, so that
    /// nodes enforcing BEP 42 keep us in their tables.
    pub fn set_external_ip(&mut self, now: Instant, ip: IpAddr) {
        self.ip_votes.clear();
        if self.external_ip == Some(ip) {
            return;
        }
        self.external_ip = Some(ip);
        if !self.id.is_secure_for(ip) {
            self.id = NodeId::secure(ip, &mut self.rng);
            let nodes: Vec<NodeInfo> = self.table.nodes().map(Node::info).collect();
            self.table = RoutingTable::new(self.id, now);
            for n in nodes {
                self.table.observe(now, n.id, n.addr, Seen::Responded);
            }
        }
        self.push_event(DhtEvent::ExternalAddress {
            ip,
            secure_id: self.id.is_secure_for(ip),
        });
    }

    /// Our id and the good nodes of the routing table, to save for the next run.
    pub fn saved_state(&self, now: Instant) -> SavedState {
        let mut nodes = self.table.good_nodes(now);
        nodes.truncate(MAX_SAVED_NODES);
        SavedState { id: self.id, nodes }
    }

    /// Joins the DHT through `nodes` (resolved router addresses, or the saved nodes of a
    /// previous run): a `find_node` lookup of our own id. They are remembered and used again
    /// whenever the routing table is empty. Emits [`DhtEvent::Bootstrapped`] when done.
    pub fn bootstrap(&mut self, now: Instant, nodes: &[SocketAddr]) {
        for addr in nodes {
            if self.routers.len() < MAX_ROUTERS && !self.routers.contains(addr) {
                self.routers.push(*addr);
            }
        }
        let seeds: Vec<SocketAddr> = nodes.iter().take(MAX_ROUTERS).copied().collect();
        self.start_lookup(now, self.id, LookupKind::FindNode, &seeds, true, true);
    }

    /// Starts a `get_peers` lookup for `info_hash`: [`DhtEvent::Peers`] as they arrive, then
    /// [`DhtEvent::LookupDone`].
    pub fn get_peers(&mut self, now: Instant, info_hash: InfoHash) -> LookupId {
        let seeds = self.fallback_seeds();
        self.start_lookup(
            now,
            info_hash.into(),
            LookupKind::GetPeers,
            &seeds,
            false,
            false,
        )
    }

    /// Announces that we serve `info_hash` on TCP `port`: a `get_peers` lookup (peers are
    /// reported as for [`Dht::get_peers`]) then `announce_peer` to the closest nodes with their
    /// tokens; [`DhtEvent::LookupDone`] says how many accepted.
    pub fn announce(&mut self, now: Instant, info_hash: InfoHash, port: u16) -> LookupId {
        let seeds = self.fallback_seeds();
        let kind = LookupKind::Announce(Some(port));
        self.start_lookup(now, info_hash.into(), kind, &seeds, false, false)
    }

    /// Like [`Dht::announce`] with `implied_port`: nodes take the port our UDP datagrams come
    /// from (useful behind NAT, or for uTP on the DHT socket).
    pub fn announce_implied_port(&mut self, now: Instant, info_hash: InfoHash) -> LookupId {
        let seeds = self.fallback_seeds();
        let kind = LookupKind::Announce(None);
        self.start_lookup(now, info_hash.into(), kind, &seeds, false, false)
    }

    /// Handles one UDP datagram from `from`. Malformed input is counted and dropped.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(msg) = Message::decode(bytes) else {
            self.stats.malformed += 1;
            return;
        };
        match msg.body {
            Body::Query(query) => self.serve(now, from, msg.tid, query, msg.read_only),
            Body::Response(resp) => self.on_response(now, from, &msg.tid, &resp, msg.ip),
            Body::Error(_) => self.on_error(now, from, &msg.tid),
        }
    }

    /// Expires queries past their timeout and runs periodic maintenance. Extra calls do
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, tid))) = self.deadlines.peek() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let Some(tx) = self.transactions.get(&tid) else {
                continue;
            };
            if tx.deadline != deadline {
                continue;
            }
            let tx = *tx;
            self.transactions.remove(&tid);
            self.stats.timeouts += 1;
            self.on_failure(now, tx);
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_EVERY;
            self.maintain(now);
        }
        self.drive_all(now);
    }

    /// The next datagram to send. Poll after every `handle_*` call and operation.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// When [`Dht::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let query = self.deadlines.peek().map(|Reverse((t, _))| *t);
        Some(query.map_or(self.next_maintenance, |t| t.min(self.next_maintenance)))
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DhtEvent> {
        self.events.pop_front()
    }

    fn fallback_seeds(&self) -> Vec<SocketAddr> {
        if self.table.len() < K {
            self.routers.clone()
        } else {
            Vec::new()
        }
    }

    fn start_lookup(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
        seeds: &[SocketAddr],
        internal: bool,
        bootstrap: bool,
    ) -> LookupId {
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let closest = self.table.closest(now, &target, K);
        let lookup = Lookup::new(target, kind, self.id, &closest, seeds);
        self.lookups.insert(
            id,
            Running {
                lookup,
                internal,
                bootstrap,
            },
        );
        self.drive(now, id);
        id
    }

    fn serve(&mut self, now: Instant, from: SocketAddr, tid: Vec<u8>, query: Query, ro: bool) {
        if self.config.read_only {
            return; // BEP 43: a read-only node answers nothing
        }
        if !self.limiter.allow(now, from.ip()) {
            self.stats.rate_limited += 1;
            return;
        }
        let verify = !ro
            && self.table.observe(now, query.id, from, Seen::Queried) == Observed::Unverified
            && self.table.has_room(now, &query.id);
        let mut resp = Response {
            id: self.id,
            ..Response::default()
        };
        let body = match query.method {
            Method::Ping => Body::Response(resp),
            Method::FindNode { target, want } => {
                self.fill_nodes(now, &mut resp, &target, want, from);
                Body::Response(resp)
            }
            Method::GetPeers { info_hash, want } => {
                resp.token = Some(self.tokens.make(from.ip()).to_vec());
                resp.values = self.store.peers(
                    now,
                    &info_hash,
                    from.is_ipv6(),
                    MAX_VALUES_PER_REPLY,
                    &mut self.rng,
                );
                self.fill_nodes(now, &mut resp, &info_hash.into(), want, from);
                Body::Response(resp)
            }
            Method::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if self.tokens.check(from.ip(), &token) {
                    let port = if implied_port { from.port() } else { port };
                    if port != 0 {
                        self.store
                            .announce(now, info_hash, SocketAddr::new(from.ip(), port));
                    }
                    Body::Response(resp)
                } else {
                    Body::Error(ErrorBody {
                        code: code::PROTOCOL,
                        message: "bad token".into(),
                    })
                }
            }
            Method::Unknown(_) => Body::Error(ErrorBody {
                code: code::METHOD_UNKNOWN,
                message: "method unknown".into(),
            }),
        };
        self.stats.queries_answered += 1;
        let msg = Message {
            tid,
            body,
            read_only: false,
            ip: Some(from),
            version: self.config.version.map(|v| v.to_vec()),
        };
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS - RESERVED_FOR_QUERIES {
            self.stats.dropped_transmits += 1;
        } else {
            self.send(from, &msg);
        }
        if verify && self.pinging.len() < (self.config.max_in_flight / VERIFY_SHARE).max(1) {
            // A new node with a slot waiting: it enters the table if it answers a ping.
            self.ping(now, from, Some(query.id));
        }
    }

    fn ping(&mut self, now: Instant, to: SocketAddr, id: Option<NodeId>) {
        if self.transactions.len() < self.config.max_in_flight && self.pinging.insert(to) {
            self.query(now, to, id, Method::Ping, Purpose::Ping);
        }
    }

    fn fill_nodes(
        &self,
        now: Instant,
        resp: &mut Response,
        target: &NodeId,
        want: Want,
        from: SocketAddr,
    ) {
        let none = !want.v4 && !want.v6;
        let (v4, v6) = (
            want.v4 || (none && from.is_ipv4()),
            want.v6 || (none && from.is_ipv6()),
        );
        let closest = self.table.closest(now, target, 4 * K);
        if v4 {
            resp.nodes = closest
                .iter()
                .filter(|n| n.addr.is_ipv4())
                .take(K)
                .copied()
                .collect();
        }
        if v6 {
            resp.nodes6 = closest
                .iter()
                .filter(|n| n.addr.is_ipv6())
                .take(K)
                .copied()
                .collect();
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        tid: &[u8],
        resp: &Response,
        ip: Option<SocketAddr>,
    ) {
        let Some(tx) = self.take_transaction(from, tid) else {
            return;
        };
        if tx.id.is_some_and(|id| id != resp.id) {
            // Another node answers at that address now: count it as a failure of the old one.
            self.on_failure(now, tx);
            return;
        }
        self.table.observe(now, resp.id, from, Seen::Responded);
        if let Some(ip) = ip {
            self.vote_ip(ip.ip());
        }
        match tx.purpose {
            Purpose::Ping => {
                self.pinging.remove(&from);
            }
            Purpose::Lookup(id) => {
                let resp = self.filter_families(resp);
                let Some(run) = self.lookups.get_mut(&id) else {
                    return;
                };
                let fresh = run.lookup.on_response(from, &resp);
                if !fresh.is_empty() && !run.internal {
                    let info_hash = InfoHash(run.lookup.target().0);
                    self.push_event(DhtEvent::Peers {
                        lookup: id,
                        info_hash,
                        peers: fresh,
                    });
                }
                self.drive(now, id);
            }
            Purpose::Announce(id) => {
                if let Some(run) = self.lookups.get_mut(&id) {
                    run.lookup.on_announce_result(true);
                    self.drive(now, id);
                }
            }
        }
    }

    fn on_error(&mut self, now: Instant, from: SocketAddr, tid: &[u8]) {
        let Some(tx) = self.take_transaction(from, tid) else {
            return;
        };
        // The node is alive but refused: the lookup moves on without it.
        if let Some(id) = tx.id {
            self.table.observe(now, id, from, Seen::Responded);
        }
        self.fail_purpose(now, tx);
    }

    fn on_failure(&mut self, now: Instant, tx: Transaction) {
        if let Some(id) = tx.id {
            self.table.failed(now, &id, tx.to);
        }
        self.fail_purpose(now, tx);
    }

    fn fail_purpose(&mut self, now: Instant, tx: Transaction) {
        match tx.purpose {
            Purpose::Ping => {
                self.pinging.remove(&tx.to);
            }
            Purpose::Lookup(id) => {
                if let Some(run) = self.lookups.get_mut(&id) {
                    run.lookup.on_failure(tx.to);
                    self.drive(now, id);
                }
            }
            Purpose::Announce(id) => {
                if let Some(run) = self.lookups.get_mut(&id) {
                    run.lookup.on_announce_result(false);
                    self.drive(now, id);
                }
            }
        }
    }

    fn take_transaction(&mut self, from: SocketAddr, tid: &[u8]) -> Option<Transaction> {
        let key = <[u8; 4]>::try_from(tid).ok().map(u32::from_be_bytes);
        let found = key.and_then(|k| self.transactions.get(&k).map(|tx| (k, *tx)));
        match found {
            Some((k, tx)) if tx.to == from => {
                self.transactions.remove(&k);
                Some(tx)
            }
            _ => {
                self.stats.unsolicited += 1;
                None
            }
        }
    }

    /// Drops nodes of a family we do not use (IPv6 unless configured).
    fn filter_families(&self, resp: &Response) -> Response {
        let mut resp = resp.clone();
        if !self.config.ipv6 {
            resp.nodes6.clear();
        }
        resp
    }

    fn vote_ip(&mut self, ip: IpAddr) {
        if self.external_ip == Some(ip) {
            return;
        }
        if !self.ip_votes.contains_key(&ip) && self.ip_votes.len() >= 16 {
            return;
        }
        let votes = self.ip_votes.entry(ip).or_insert(0);
        *votes += 1;
        if *votes >= IP_VOTES_NEEDED {
            self.ip_votes.clear();
            self.external_ip = Some(ip);
            self.push_event(DhtEvent::ExternalAddress {
                ip,
                secure_id: self.id.is_secure_for(ip),
            });
        }
    }

    fn drive_all(&mut self, now: Instant) {
        let ids: Vec<LookupId> = self.lookups.keys().copied().collect();
        for id in ids {
            self.drive(now, id);
        }
    }

    /// Sends what a lookup wants sent and finishes it when it is done.
    fn drive(&mut self, now: Instant, id: LookupId) {
        let want = self.want();
        loop {
            if self.transactions.len() >= self.config.max_in_flight {
                break;
            }
            let Some(run) = self.lookups.get_mut(&id) else {
                return;
            };
            let Some((node_id, addr)) = run.lookup.next_query() else {
                break;
            };
            let target = run.lookup.target();
            let method = match run.lookup.kind() {
                LookupKind::FindNode => Method::FindNode { target, want },
                LookupKind::GetPeers | LookupKind::Announce(_) => Method::GetPeers {
                    info_hash: InfoHash(target.0),
                    want,
                },
            };
            self.query(now, addr, node_id, method, Purpose::Lookup(id));
        }
        let Some(run) = self.lookups.get_mut(&id) else {
            return;
        };
        if run.lookup.phase() == Phase::Searching && run.lookup.search_done() {
            let targets = run.lookup.finish_search();
            let info_hash = InfoHash(run.lookup.target().0);
            if let LookupKind::Announce(port) = run.lookup.kind() {
                for (node, token) in targets {
                    let method = Method::AnnouncePeer {
                        info_hash,
                        port: port.unwrap_or(0),
                        implied_port: port.is_none(),
                        token,
                    };
                    self.query(now, node.addr, Some(node.id), method, Purpose::Announce(id));
                }
            }
        }
        let Some(run) = self.lookups.get(&id) else {
            return;
        };
        if run.lookup.phase() == Phase::Done {
            let Some(run) = self.lookups.remove(&id) else {
                return;
            };
            if run.bootstrap {
                self.push_event(DhtEvent::Bootstrapped {
                    nodes: self.table.len(),
                });
            }
            if !run.internal {
                self.push_event(DhtEvent::LookupDone {
                    lookup: id,
                    info_hash: InfoHash(run.lookup.target().0),
                    peers: run.lookup.peer_count(),
                    queries: run.lookup.queries(),
                    announced: run.lookup.announced(),
                });
            }
        }
    }

    fn want(&self) -> Want {
        if self.config.ipv6 {
            Want { v4: true, v6: true }
        } else {
            Want::default()
        }
    }

    fn query(
        &mut self,
        now: Instant,
        to: SocketAddr,
        id: Option<NodeId>,
        method: Method,
        purpose: Purpose,
    ) {
        let mut tid = self.next_tid;
        while self.transactions.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let deadline = now + self.config.query_timeout;
        self.transactions.insert(
            tid,
            Transaction {
                to,
                id,
                purpose,
                deadline,
            },
        );
        self.deadlines.push(Reverse((deadline, tid)));
        let msg = Message {
            tid: tid.to_be_bytes().to_vec(),
            body: Body::Query(Query {
                id: self.id,
                method,
            }),
            read_only: self.config.read_only,
            ip: None,
            version: self.config.version.map(|v| v.to_vec()),
        };
        self.stats.queries_sent += 1;
        self.send(to, &msg);
    }

    fn send(&mut self, to: SocketAddr, msg: &Message) {
        if self.transmits.len() >= MAX_QUEUED_TRANSMITS {
            self.stats.dropped_transmits += 1;
            return;
        }
        self.transmits.push_back(Transmit {
            dest: Dest::Udp(to),
            payload: Bytes::from(msg.encode()),
        });
    }

    fn push_event(&mut self, event: DhtEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn maintain(&mut self, now: Instant) {
        self.tokens.handle_timeout(now, &mut self.rng);
        self.limiter.expire(now);
        if now >= self.next_expiry {
            self.next_expiry = now + Duration::from_secs(60);
            self.store.expire(now);
        }
        for node in self.table.take_pings(now, PINGS_PER_ROUND) {
            self.ping(now, node.addr, Some(node.id));
        }
        for target in self.table.take_refreshes(now, &mut self.rng) {
            self.start_lookup(now, target, LookupKind::FindNode, &[], true, false);
        }
        let bootstrapping = self.lookups.values().any(|r| r.bootstrap);
        if self.table.is_empty()
            && !self.routers.is_empty()
            && !bootstrapping
            && now >= self.next_rebootstrap
        {
            self.next_rebootstrap = now + REBOOTSTRAP_EVERY;
            let routers = self.routers.clone();
            self.start_lookup(now, self.id, LookupKind::FindNode, &routers, true, true);
        }
    }
}

#[cfg(test)]
mod flood_tests;
#[cfg(test)]
mod tests;
