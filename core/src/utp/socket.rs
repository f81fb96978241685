//! The socket-level demultiplexer: routes datagrams to connections by (remote address,
//! connection id), accepts connections on SYN within bounds, and answers strays with RESET.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::conn::{Config, ConnEvent, Connection};
use super::packet::{Header, Packet, PacketType};
use super::pool::BlockPool;
use super::seq::Seq;
use crate::io::{Dest, Transmit};
use crate::rng::Rng;

/// A connection of a [`UtpSocket`], allocated by the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtpConnId(pub u64);

/// Settings of a [`UtpSocket`].
#[derive(Clone, Debug)]
pub struct SocketConfig {
    /// Settings of each connection.
    pub conn: Config,
    /// Connections at most, open or closing.
    pub max_connections: usize,
    /// Accepted connections that have not yet sent anything after their SYN, at most: a SYN
    /// flood fills this and no more.
    pub max_half_open: usize,
    /// Whether SYNs from peers are accepted.
    pub accept: bool,
    /// ST_RESET answers to packets of unknown connections, at most per second.
    pub resets_per_second: u32,
    /// The MTU of the interface toward peers, once the runtime sent every datagram with
    /// don't-fragment: path MTU discovery then grows packets from
    /// [`Config::packet_size`] up to it (minus the IP and UDP headers, and never past
    /// [`MAX_LINK_MTU`]). `None`: packets stay at [`Config::packet_size`].
    pub link_mtu: Option<usize>,
}

/// The largest link MTU discovery uses: libtorrent reads datagrams into 1,500 bytes and
/// truncates longer ones, so larger probes are never sent.
pub const MAX_LINK_MTU: usize = 1500;

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            conn: Config::default(),
            max_connections: 1024,
            max_half_open: 64,
            accept: true,
            resets_per_second: 20,
            link_mtu: None,
        }
    }
}

/// What the socket tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A peer opened a connection to us.
    Accepted {
        /// The new connection.
        conn: UtpConnId,
        /// Its address.
        remote: SocketAddr,
    },
    /// Something happened on a connection.
    Conn {
        /// The connection.
        conn: UtpConnId,
        /// What happened.
        event: ConnEvent,
    },
}

/// Why [`UtpSocket::connect`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// [`SocketConfig::max_connections`] are open.
    TooManyConnections,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many uTP connections")
    }
}

impl std::error::Error for ConnectError {}

struct Entry {
    remote: SocketAddr,
    conn: Connection,
    /// The connection's deadline as filed in [`UtpSocket::timers`].
    deadline: Option<Instant>,
}

/// Every uTP connection on one UDP socket. Feed it the datagrams that
/// [`looks_like_utp`](super::looks_like_utp) accepts, with the current time; send what
/// [`UtpSocket::poll_transmit`] returns; arm a timer at [`UtpSocket::poll_timeout`]; read
/// [`UtpSocket::poll_event`]. Poll all three after every `handle_*` and every call on a
/// connection (connect, write, read, close, reset).
pub struct UtpSocket {
    config: SocketConfig,
    epoch: Instant,
    rng: Rng,
    next_id: u64,
    conns: BTreeMap<UtpConnId, Entry>,
    /// Each connection's deadline, earliest first: no scan of every connection per poll.
    timers: BTreeSet<(Instant, UtpConnId)>,
    by_key: HashMap<(SocketAddr, u16), UtpConnId>,
    ready: VecDeque<UtpConnId>,
    queued: HashSet<UtpConnId>,
    strays: VecDeque<Transmit>,
    resets_window: (Instant, u32),
    events: VecDeque<SocketEvent>,
    /// Blocks of received bytes, reused across connections.
    pool: BlockPool,
}

impl UtpSocket {
    /// A socket whose connection ids and sequence numbers come from `seed`.
    pub fn new(config: SocketConfig, now: Instant, seed: u64) -> Self {
        Self {
            config,
            epoch: now,
            rng: Rng::new(seed),
            next_id: 0,
            conns: BTreeMap::new(),
            timers: BTreeSet::new(),
            by_key: HashMap::new(),
            ready: VecDeque::new(),
            queued: HashSet::new(),
            strays: VecDeque::new(),
            resets_window: (now, 0),
            events: VecDeque::new(),
            pool: BlockPool::default(),
        }
    }

    /// Opens a connection to `remote` (its SYN goes out with the next transmits).
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<UtpConnId, ConnectError> {
        if self.conns.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let recv_id = loop {
            let id = self.rng.next_u32() as u16;
            if !self.by_key.contains_key(&(remote, id)) {
                break id;
            }
        };
        let seq = Seq(self.rng.next_u32() as u16);
        let conn = Connection::connect(self.conn_config(remote), self.epoch, now, recv_id, seq);
        Ok(self.insert(remote, conn))
    }

    /// A connection, for its state and statistics.
    pub fn conn(&self, id: UtpConnId) -> Option<&Connection> {
        self.conns.get(&id).map(|e| &e.conn)
    }

    /// The connections open or closing.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is open or closing.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Queues bytes on a connection; returns how many fit ([`Connection::write`]).
    pub fn write(&mut self, id: UtpConnId, data: &[u8]) -> usize {
        self.with(id, |c| c.write(data)).unwrap_or(0)
    }

    /// Reads from a connection ([`Connection::read`]); `None` also for an unknown id.
    pub fn read(&mut self, id: UtpConnId, buf: &mut [u8]) -> Option<usize> {
        self.with(id, |c| c.read(buf)).flatten()
    }

    /// Takes received bytes from a connection without a copy ([`Connection::read_bytes`]);
    /// `None` also for an unknown id.
    pub fn read_bytes(&mut self, id: UtpConnId, max: usize) -> Option<bytes::BytesMut> {
        self.with(id, |c| c.read_bytes(max)).flatten()
    }

    /// Closes a connection gracefully ([`Connection::close`]).
    pub fn close(&mut self, now: Instant, id: UtpConnId) {
        self.with(id, |c| c.close(now));
    }

    /// Resets a connection ([`Connection::reset`]).
    pub fn reset(&mut self, now: Instant, id: UtpConnId) {
        self.with(id, |c| c.reset(now));
    }

    /// Takes one datagram from `from`. Returns `false` if it is not uTP at all (the caller
    /// may route it elsewhere); malformed or stray uTP packets are dropped or answered here.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        let Ok(packet) = Packet::parse(datagram) else {
            return false;
        };
        let h = packet.header;
        if h.kind == PacketType::Syn {
            if let Some(&id) = self.by_key.get(&(from, h.connection_id.wrapping_add(1))) {
                self.deliver(now, id, &packet);
                return true;
            }
            self.accept(now, from, &packet);
            return true;
        }
        if let Some(&id) = self.by_key.get(&(from, h.connection_id)) {
            self.deliver(now, id, &packet);
        } else if h.kind != PacketType::Reset {
            self.stray(now, from, &h);
        }
        true
    }

    /// Runs the timers due at `now` and drops connections that finished.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due: Vec<UtpConnId> = self
            .timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect();
        due.sort_unstable();
        for id in due {
            self.with(id, |c| c.handle_timeout(now));
            let done = self.conns.get(&id).is_some_and(|e| e.conn.is_done(now));
            if done && let Some(e) = self.conns.remove(&id) {
                self.by_key.remove(&(e.remote, e.conn.recv_id()));
                if let Some(at) = e.deadline {
                    self.timers.remove(&(at, id));
                }
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if let Some(t) = self.strays.pop_front() {
            return Some(t);
        }
        while let Some(&id) = self.ready.front() {
            let Some(e) = self.conns.get_mut(&id) else {
                self.ready.pop_front();
                self.queued.remove(&id);
                continue;
            };
            if let Some(datagram) = e.conn.poll_transmit(now) {
                refile(&mut self.timers, id, e);
                let remote = e.remote;
                // Round robin: this connection goes to the back of the line.
                self.ready.rotate_left(1);
                return Some(Transmit {
                    dest: Dest::Udp(remote),
                    payload: Bytes::from(datagram),
                });
            }
            self.ready.pop_front();
            self.queued.remove(&id);
        }
        None
    }

    /// When [`UtpSocket::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.events.pop_front()
    }

    fn deliver(&mut self, now: Instant, id: UtpConnId, packet: &Packet<'_>) {
        let mut pool = std::mem::take(&mut self.pool);
        self.with(id, |c| c.handle_packet(now, packet, &mut pool));
        self.pool = pool;
    }

    fn accept(&mut self, now: Instant, from: SocketAddr, syn: &Packet<'_>) {
        let half_open = self
            .conns
            .values()
            .filter(|e| e.conn.is_half_open())
            .count();
        if !self.config.accept
            || self.conns.len() >= self.config.max_connections
            || half_open >= self.config.max_half_open
        {
            return;
        }
        let seq = Seq(self.rng.next_u32() as u16);
        let conn = Connection::accept(self.conn_config(from), self.epoch, now, syn, seq);
        let id = self.insert(from, conn);
        self.events.push_back(SocketEvent::Accepted {
            conn: id,
            remote: from,
        });
    }

    /// The settings of a connection to `remote`: the packet size ceiling from the link MTU.
    fn conn_config(&self, remote: SocketAddr) -> Config {
        let mut config = self.config.conn.clone();
        if let Some(mtu) = self.config.link_mtu {
            let ip_udp = if remote.is_ipv4() { 20 + 8 } else { 40 + 8 };
            let ceiling = mtu.min(MAX_LINK_MTU).saturating_sub(ip_udp);
            config.max_packet_size = ceiling.max(config.packet_size);
        }
        config
    }

    fn insert(&mut self, remote: SocketAddr, conn: Connection) -> UtpConnId {
        let id = UtpConnId(self.next_id);
        self.next_id += 1;
        self.by_key.insert((remote, conn.recv_id()), id);
        let deadline = conn.poll_timeout();
        if let Some(at) = deadline {
            self.timers.insert((at, id));
        }
        self.conns.insert(
            id,
            Entry {
                remote,
                conn,
                deadline,
            },
        );
        self.mark(id);
        id
    }

    fn with<T>(&mut self, id: UtpConnId, f: impl FnOnce(&mut Connection) -> T) -> Option<T> {
        let e = self.conns.get_mut(&id)?;
        let out = f(&mut e.conn);
        while let Some(event) = e.conn.poll_event() {
            self.events.push_back(SocketEvent::Conn { conn: id, event });
        }
        refile(&mut self.timers, id, e);
        self.mark(id);
        Some(out)
    }

    fn mark(&mut self, id: UtpConnId) {
        if self.queued.insert(id) {
            self.ready.push_back(id);
        }
    }

    fn stray(&mut self, now: Instant, from: SocketAddr, h: &Header) {
        let (start, count) = &mut self.resets_window;
        if now.saturating_duration_since(*start) >= Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        if *count >= self.config.resets_per_second {
            return;
        }
        *count += 1;
        let reset = Header {
            kind: PacketType::Reset,
            connection_id: h.connection_id,
            timestamp_us: 0,
            timestamp_diff_us: 0,
            wnd_size: 0,
            seq_nr: Seq(self.rng.next_u32() as u16),
            ack_nr: h.seq_nr,
        };
        self.strays.push_back(Transmit {
            dest: Dest::Udp(from),
            payload: Bytes::from(reset.encode(None, &[])),
        });
    }
}

/// Files the deadline of connection `id` anew after it changed.
fn refile(timers: &mut BTreeSet<(Instant, UtpConnId)>, id: UtpConnId, e: &mut Entry) {
    let deadline = e.conn.poll_timeout();
    if deadline != e.deadline {
        if let Some(at) = e.deadline {
            timers.remove(&(at, id));
        }
        if let Some(at) = deadline {
            timers.insert((at, id));
        }
        e.deadline = deadline;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filed deadline is the earliest of the connections' own.
    fn filed_is_earliest(s: &UtpSocket) -> bool {
        let scan = s.conns.values().filter_map(|e| e.conn.poll_timeout()).min();
        s.poll_timeout() == scan && s.timers.len() == s.conns.len()
    }

    #[test]
    fn the_earliest_deadline_follows_sends_timeouts_and_removals() {
        let t0 = Instant::now();
        let mut s = UtpSocket::new(SocketConfig::default(), t0, 7);
        let a = SocketAddr::from(([127, 0, 0, 1], 1));
        let b = SocketAddr::from(([127, 0, 0, 1], 2));
        s.connect(t0, a).unwrap();
        assert!(filed_is_earliest(&s));
        let t1 = t0 + Duration::from_millis(300);
        s.connect(t1, b).unwrap();
        while s.poll_transmit(t1).is_some() {}
        assert!(filed_is_earliest(&s));
        // The SYNs go unanswered: every retry moves a deadline, until both dials fail and
        // the connections are dropped.
        let mut now = t1;
        for _ in 0..100 {
            let Some(at) = s.poll_timeout() else {
                break;
            };
            now = now.max(at);
            s.handle_timeout(now);
            while s.poll_transmit(now).is_some() {}
            assert!(filed_is_earliest(&s));
        }
        assert!(s.is_empty());
        assert_eq!(s.poll_timeout(), None);
    }
}
