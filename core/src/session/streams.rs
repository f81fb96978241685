//! uTP peer connections (BEP 29) beside the runtime's TCP ones: the session's byte streams
//! over its own [`UtpSocket`], so that the rest of the session sees one kind of connection.
//!
//! The part sits between the session's queues and the runtime. It takes the outputs meant
//! for its connections out of the queues (`route`): a dial (`Action::Connect`) becomes a uTP
//! connect when the transport allows, a peer transmit is written to the connection (what
//! does not fit waits here, as it would in the runtime's write queue), close and read pauses
//! act on the connection. What the connections do comes back as the same inputs the runtime
//! reports for TCP ([`StreamInput`]): connected, data, bytes sent, closed, accepted. The
//! socket's datagrams join the session's transmits; its deadlines, the session's timer.
//!
//! Dial policy: with [`Transport::Both`] a dial goes out over uTP and falls back to TCP (the
//! same connection id, a plain `Action::Connect` to the runtime) when the peer refuses it or
//! has not answered within [`SessionConfig::utp_fallback`]; with [`Transport::Utp`] a failed
//! uTP dial is a failed connect. What is known of the address ([`UtpHints`]) changes the
//! first: an address known to speak uTP gets [`KNOWN_FALLBACK_FACTOR`] times longer to answer
//! (a slow path is not a missing uTP), one whose uTP dial fell back before is dialled over
//! TCP at once.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use super::config::{SessionConfig, Transport};
use super::io::{Action, ConnId, Dest};
use super::outputs::Outputs;
use super::utp_hints::UtpHints;
use crate::utp::{
    CloseReason, ConnEvent, SocketConfig, SocketEvent, UtpConnId, UtpSocket, looks_like_utp,
};

/// The most bytes handed to the session per read.
const READ_CHUNK: usize = 64 * 1024;

/// How many times [`SessionConfig::utp_fallback`] a uTP dial to an address known to speak uTP
/// waits before falling back to TCP.
const KNOWN_FALLBACK_FACTOR: u32 = 4;

/// What a uTP connection reports to the session: the inputs a runtime reports for TCP.
#[derive(Debug)]
pub(crate) enum StreamInput {
    /// A dial ended (see `Session::handle_connected`).
    Connected(ConnId, Result<(), ErrorKind>),
    /// Bytes read (see `Session::handle_peer_data`).
    Data(ConnId, BytesMut),
    /// Bytes the connection took from its write queue (see `Session::handle_peer_sent`).
    Sent(ConnId, usize),
    /// The stream ended or failed (see `Session::handle_peer_closed`).
    Closed(ConnId),
    /// A peer opened a connection: the session accepts it ([`Streams::bind`]) or not
    /// ([`Streams::refuse`]).
    Accepted(UtpConnId, SocketAddr),
}

#[derive(Debug)]
struct Link {
    utp: UtpConnId,
    addr: SocketAddr,
    /// Dialling: `Some(fallback)`, when to fall back to TCP (`None`: never).
    dialing: Option<Option<Instant>>,
    /// Transmits the connection has not taken yet.
    pending: VecDeque<Bytes>,
    paused: bool,
    /// The session closed it: FIN once `pending` is written.
    closing: bool,
    /// The connection ended: what is left is read, then the session is told.
    ended: bool,
}

/// The session's uTP connections: see the [module docs](self).
pub(crate) struct Streams {
    socket: UtpSocket,
    links: HashMap<ConnId, Link>,
    by_utp: HashMap<UtpConnId, ConnId>,
    /// Dials that fell back to TCP: their `Connect` goes to the runtime.
    tcp: HashSet<ConnId>,
    /// Links that may have bytes (or their end) to read.
    readable: BTreeSet<ConnId>,
    inputs: VecDeque<StreamInput>,
    hints: UtpHints,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("links", &self.links.len())
            .field("utp", &self.socket.len())
            .finish_non_exhaustive()
    }
}

impl Streams {
    /// No connections yet; ids and sequence numbers drawn from `seed`.
    pub(crate) fn new(config: &SessionConfig, now: Instant, seed: u64) -> Self {
        let socket = SocketConfig {
            accept: config.transport.utp(),
            link_mtu: config.utp_link_mtu,
            ..SocketConfig::default()
        };
        Self {
            socket: UtpSocket::new(socket, now, seed),
            links: HashMap::new(),
            by_utp: HashMap::new(),
            tcp: HashSet::new(),
            readable: BTreeSet::new(),
            inputs: VecDeque::new(),
            hints: UtpHints::default(),
        }
    }

    /// Takes a datagram if it is uTP (`false`: route it elsewhere). Without uTP in the
    /// transport every datagram goes elsewhere.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        config: &SessionConfig,
    ) -> bool {
        config.transport.utp()
            && looks_like_utp(data)
            && self.socket.handle_datagram(now, from, data)
    }

    /// Takes the session's outputs for uTP connections out of its queues and acts on them.
    pub(crate) fn route(&mut self, now: Instant, out: &mut Outputs, config: &SessionConfig) {
        let links = &self.links;
        let transmits =
            out.take_transmits(|t| matches!(t.dest, Dest::Peer(c) if links.contains_key(&c)));
        for t in transmits {
            if let Dest::Peer(conn) = t.dest
                && let Some(link) = self.links.get_mut(&conn)
            {
                link.pending.push_back(t.payload);
                self.flush(now, conn);
            }
        }
        let utp = config.transport.utp();
        let (links, tcp) = (&self.links, &self.tcp);
        let actions = out.take_actions(|a| match a {
            Action::Connect { conn, .. } => utp && !tcp.contains(conn),
            Action::Close { conn }
            | Action::PauseReading { conn }
            | Action::ResumeReading { conn } => links.contains_key(conn),
            _ => false,
        });
        for action in actions {
            match action {
                Action::Connect { conn, addr } => self.dial(now, conn, addr, out, config),
                Action::Close { conn } => self.close(now, conn),
                Action::PauseReading { conn } => self.set_paused(conn, true),
                Action::ResumeReading { conn } => self.set_paused(conn, false),
                _ => {}
            }
        }
        if !self.tcp.is_empty() {
            self.tcp.retain(|c| {
                out.actions()
                    .any(|a| matches!(a, Action::Connect { conn, .. } if conn == c))
            });
        }
    }

    /// The next input for the session (after routing its outputs: a pause it just asked for
    /// stops the reads).
    pub(crate) fn next_input(
        &mut self,
        now: Instant,
        out: &mut Outputs,
        config: &SessionConfig,
    ) -> Option<StreamInput> {
        loop {
            self.poll_socket(now, out, config);
            if let Some(input) = self.inputs.pop_front() {
                return Some(input);
            }
            let links = &self.links;
            let conn = *self
                .readable
                .iter()
                .find(|c| links.get(c).is_some_and(|l| !l.paused))?;
            if let Some(input) = self.read(conn) {
                return Some(input);
            }
        }
    }

    /// uTP connections open or closing on the socket.
    pub(crate) fn utp_connections(&self) -> usize {
        self.socket.len()
    }

    /// Whether `conn` runs over uTP (a dial that fell back to TCP no longer does).
    pub(crate) fn is_utp(&self, conn: ConnId) -> bool {
        self.links.contains_key(&conn)
    }

    /// Records that `addr` speaks uTP (a peer's PEX flag, or the listen address a uTP peer's
    /// extended handshake named).
    pub(crate) fn learn_speaks_utp(&mut self, addr: SocketAddr) {
        self.hints.learn(addr, true);
    }

    /// The session accepted a connection a peer opened: it is `conn` from now on.
    pub(crate) fn bind(&mut self, conn: ConnId, utp: UtpConnId, addr: SocketAddr) {
        self.links.insert(conn, Link::new(utp, addr, None));
        self.by_utp.insert(utp, conn);
        self.readable.insert(conn);
    }

    /// The session refused a connection a peer opened.
    pub(crate) fn refuse(&mut self, now: Instant, utp: UtpConnId) {
        self.socket.reset(now, utp);
    }

    /// Runs the socket's timers and the fallbacks due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, out: &mut Outputs) {
        if self.socket.poll_timeout().is_some_and(|t| t <= now) {
            self.socket.handle_timeout(now);
        }
        let due: Vec<ConnId> = self
            .links
            .iter()
            .filter(|(_, l)| l.dialing.flatten().is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        for conn in due {
            if let Some(link) = self.unlink(conn) {
                self.socket.reset(now, link.utp);
                self.hints.learn(link.addr, false);
                self.fall_back(conn, link.addr, out);
            }
        }
    }

    /// When [`Streams::handle_timeout`] is due next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let fallback = self
            .links
            .values()
            .filter_map(|l| l.dialing.flatten())
            .min();
        [self.socket.poll_timeout(), fallback]
            .into_iter()
            .flatten()
            .min()
    }

    /// Moves the socket's datagrams to the session's transmits.
    pub(crate) fn transmit(&mut self, now: Instant, out: &mut Outputs) {
        while let Some(t) = self.socket.poll_transmit(now) {
            out.transmit(t);
        }
    }

    fn dial(
        &mut self,
        now: Instant,
        conn: ConnId,
        addr: SocketAddr,
        out: &mut Outputs,
        config: &SessionConfig,
    ) {
        let both = config.transport == Transport::Both;
        let known = self.hints.speaks(addr);
        if both && known == Some(false) {
            return self.fall_back(conn, addr, out);
        }
        match self.socket.connect(now, addr) {
            Ok(utp) => {
                let wait = match known {
                    Some(true) => config.utp_fallback * KNOWN_FALLBACK_FACTOR,
                    _ => config.utp_fallback,
                };
                let fallback = both.then(|| now + wait);
                self.links
                    .insert(conn, Link::new(utp, addr, Some(fallback)));
                self.by_utp.insert(utp, conn);
            }
            Err(_) if both => self.fall_back(conn, addr, out),
            Err(_) => {
                let failed = StreamInput::Connected(conn, Err(ErrorKind::OutOfMemory));
                self.inputs.push_back(failed);
            }
        }
    }

    fn fall_back(&mut self, conn: ConnId, addr: SocketAddr, out: &mut Outputs) {
        self.tcp.insert(conn);
        out.action(Action::Connect { conn, addr });
    }

    fn close(&mut self, now: Instant, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if link.dialing.is_some() || link.pending.is_empty() {
            let utp = link.utp;
            let dialing = link.dialing.is_some();
            self.unlink(conn);
            if dialing {
                self.socket.reset(now, utp);
            } else {
                self.socket.close(now, utp);
            }
        } else {
            link.closing = true;
        }
    }

    fn set_paused(&mut self, conn: ConnId, paused: bool) {
        if let Some(link) = self.links.get_mut(&conn) {
            link.paused = paused;
            if !paused {
                self.readable.insert(conn);
            }
        }
    }

    /// Writes what waits for `conn` as far as its send buffer takes it.
    fn flush(&mut self, now: Instant, conn: ConnId) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        let mut sent = 0;
        while let Some(front) = link.pending.front_mut() {
            let n = self.socket.write(link.utp, front);
            sent += n;
            if n < front.len() {
                front.advance(n);
                break;
            }
            link.pending.pop_front();
        }
        if sent > 0 {
            self.inputs.push_back(StreamInput::Sent(conn, sent));
        }
        if link.closing && link.pending.is_empty() {
            let utp = link.utp;
            self.unlink(conn);
            self.socket.close(now, utp);
        }
    }

    /// Reads one chunk of `conn`: data, its end, or nothing (it leaves the readable set).
    fn read(&mut self, conn: ConnId) -> Option<StreamInput> {
        let link = self.links.get(&conn)?;
        match self.socket.read_bytes(link.utp, READ_CHUNK) {
            Some(buf) if !buf.is_empty() => Some(StreamInput::Data(conn, buf)),
            Some(_) => {
                self.unlink(conn);
                Some(StreamInput::Closed(conn))
            }
            None if link.ended => {
                self.unlink(conn);
                Some(StreamInput::Closed(conn))
            }
            None => {
                self.readable.remove(&conn);
                None
            }
        }
    }

    /// Turns the socket's events into inputs.
    fn poll_socket(&mut self, now: Instant, out: &mut Outputs, config: &SessionConfig) {
        while let Some(event) = self.socket.poll_event() {
            let (utp, event) = match event {
                SocketEvent::Accepted { conn, remote } => {
                    self.hints.learn(remote, true);
                    self.inputs.push_back(StreamInput::Accepted(conn, remote));
                    continue;
                }
                SocketEvent::Conn { conn, event } => (conn, event),
            };
            let Some(&conn) = self.by_utp.get(&utp) else {
                continue;
            };
            match event {
                ConnEvent::Connected => {
                    if let Some(link) = self.links.get_mut(&conn) {
                        link.dialing = None;
                        self.hints.learn(link.addr, true);
                    }
                    self.inputs.push_back(StreamInput::Connected(conn, Ok(())));
                }
                ConnEvent::Readable => {
                    self.readable.insert(conn);
                }
                ConnEvent::Writable => self.flush(now, conn),
                ConnEvent::Closed(reason) => self.ended(conn, reason, out, config),
            }
        }
    }

    fn ended(&mut self, conn: ConnId, reason: CloseReason, out: &mut Outputs, cfg: &SessionConfig) {
        let Some(link) = self.links.get_mut(&conn) else {
            return;
        };
        if link.dialing.is_none() {
            link.ended = true;
            self.readable.insert(conn);
            return;
        }
        let addr = link.addr;
        self.unlink(conn);
        if cfg.transport == Transport::Both {
            self.hints.learn(addr, false);
            self.fall_back(conn, addr, out);
        } else {
            let kind = match reason {
                CloseReason::Reset => ErrorKind::ConnectionRefused,
                CloseReason::TimedOut => ErrorKind::TimedOut,
                _ => ErrorKind::ConnectionAborted,
            };
            self.inputs
                .push_back(StreamInput::Connected(conn, Err(kind)));
        }
    }

    fn unlink(&mut self, conn: ConnId) -> Option<Link> {
        let link = self.links.remove(&conn)?;
        self.by_utp.remove(&link.utp);
        self.readable.remove(&conn);
        Some(link)
    }
}

impl Link {
    fn new(utp: UtpConnId, addr: SocketAddr, dialing: Option<Option<Instant>>) -> Self {
        Self {
            utp,
            addr,
            dialing,
            pending: VecDeque::new(),
            paused: false,
            closing: false,
            ended: false,
        }
    }
}
