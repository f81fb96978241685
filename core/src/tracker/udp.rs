//! The UDP tracker protocol (BEP 15) as a Sans-IO state machine for one tracker address.
//!
//! A [`UdpTracker`] connects (getting a 64-bit connection id it reuses for a minute), then sends
//! announces and scrapes, retransmitting after `base · 2^n` (BEP 15: 15 s, up to n = 8). Each
//! request has a transaction id from the seeded [`Rng`]; answers with an unknown id are dropped.
//!
//! ## Run loop
//! Call [`UdpTracker::announce`] or [`UdpTracker::scrape`]; then, after every call to one of
//! them, [`UdpTracker::handle_datagram`] or [`UdpTracker::handle_timeout`], drain
//! [`UdpTracker::poll_transmit`] and [`UdpTracker::poll_event`] and re-arm the timer from
//! [`UdpTracker::poll_timeout`].
//!
//! ## Sharing a socket with the DHT
//! The session reads one UDP socket for the DHT and every UDP tracker. Tracker answers start with
//! a big-endian action 0..=3 (first byte 0) while KRPC messages are bencoded dictionaries (first
//! byte `d`); [`UdpTracker::matches`] tells whether a datagram is an answer this machine waits
//! for (same remote address and a pending transaction id).

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{AnnounceRequest, AnnounceResponse, ScrapeStats, compact_v4, compact_v6};
use crate::id::InfoHash;
use crate::io::{Dest, Transmit};
use crate::rng::Rng;

/// The magic constant of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// The most info-hashes one UDP scrape may carry.
pub const MAX_SCRAPE_HASHES: usize = 74;

const ACTION_CONNECT: u32 = 0;
const ACTION_ANNOUNCE: u32 = 1;
const ACTION_SCRAPE: u32 = 2;
const ACTION_ERROR: u32 = 3;

/// Timing of the UDP tracker protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// The first retransmission timeout; the n-th waits `base · 2^n` (BEP 15: 15 s).
    pub retransmit_base: Duration,
    /// Retransmissions before giving up (BEP 15: 8, i.e. n goes up to 8).
    pub max_retransmits: u32,
    /// How long a connection id may be used after it was received (BEP 15: one minute).
    pub connection_ttl: Duration,
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            retransmit_base: Duration::from_secs(15),
            max_retransmits: 8,
            connection_ttl: Duration::from_secs(60),
        }
    }
}

/// Identifies one announce or scrape on a [`UdpTracker`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// What a [`UdpTracker`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpEvent {
    /// An announce was answered.
    Announced {
        /// Which announce.
        op: OpId,
        /// The answer.
        response: AnnounceResponse,
    },
    /// A scrape was answered (the stats of the hashes in request order; the tracker may give
    /// fewer than asked).
    Scraped {
        /// Which scrape.
        op: OpId,
        /// One entry per answered info-hash.
        stats: Vec<ScrapeStats>,
    },
    /// An announce or scrape failed.
    Failed {
        /// Which operation.
        op: OpId,
        /// Why.
        error: UdpError,
    },
}

/// Why a UDP tracker operation failed, or why a datagram was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UdpError {
    /// The tracker answered with the `error` action and this message.
    Tracker(String),
    /// No answer after this many retransmissions.
    TimedOut(u32),
    /// The datagram is shorter than its action needs.
    TooShort {
        /// The action it claimed.
        action: u32,
        /// Its length.
        len: usize,
    },
    /// The datagram's transaction id matches no request in flight.
    UnknownTransaction(u32),
    /// The action does not answer the request with that transaction id.
    UnexpectedAction {
        /// The action of the request.
        expected: u32,
        /// The action received.
        got: u32,
    },
    /// The peer list is not a whole number of 6-byte (IPv4) or 18-byte (IPv6) entries.
    PeersLength(usize),
    /// The scrape answer is not a whole number of 12-byte entries, or has more than asked.
    ScrapeLength(usize),
    /// A scrape asked for more than [`MAX_SCRAPE_HASHES`] (or no) info-hashes.
    ScrapeCount(usize),
    /// The operation was cancelled by the caller.
    Cancelled,
}

/// The BEP 15 client state machine for one tracker address.
#[derive(Clone, Debug)]
pub struct UdpTracker {
    remote: SocketAddr,
    config: UdpConfig,
    rng: Rng,
    next_op: u64,
    connection: Connection,
    ops: Vec<Op>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<UdpEvent>,
}

#[derive(Clone, Debug)]
enum Connection {
    None,
    Connecting {
        tid: u32,
        attempt: u32,
        deadline: Instant,
    },
    Connected {
        id: u64,
        expires: Instant,
    },
}

#[derive(Clone, Debug)]
struct Op {
    id: OpId,
    kind: OpKind,
    state: OpState,
    attempt: u32,
}

#[derive(Clone, Debug)]
enum OpKind {
    Announce(Box<AnnounceRequest>),
    Scrape(Vec<InfoHash>),
}

#[derive(Clone, Copy, Debug)]
enum OpState {
    WaitingConnection,
    Sent { tid: u32, deadline: Instant },
}

impl UdpTracker {
    /// A machine for the tracker at `remote`; `rng` gives transaction ids (fork it from the
    /// session's seeded generator).
    pub fn new(remote: SocketAddr, config: UdpConfig, rng: Rng) -> Self {
        Self {
            remote,
            config,
            rng,
            next_op: 0,
            connection: Connection::None,
            ops: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The tracker's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Starts an announce; its outcome comes as [`UdpEvent::Announced`] or [`UdpEvent::Failed`].
    pub fn announce(&mut self, now: Instant, request: AnnounceRequest) -> OpId {
        self.start(now, OpKind::Announce(Box::new(request)))
    }

    /// Starts a scrape of 1..=[`MAX_SCRAPE_HASHES`] torrents.
    pub fn scrape(&mut self, now: Instant, info_hashes: Vec<InfoHash>) -> Result<OpId, UdpError> {
        if info_hashes.is_empty() || info_hashes.len() > MAX_SCRAPE_HASHES {
            return Err(UdpError::ScrapeCount(info_hashes.len()));
        }
        Ok(self.start(now, OpKind::Scrape(info_hashes)))
    }

    /// Abandons an operation (a [`UdpEvent::Failed`] with [`UdpError::Cancelled`] follows);
    /// `false` if it is not in flight.
    pub fn cancel(&mut self, op: OpId) -> bool {
        let Some(i) = self.ops.iter().position(|o| o.id == op) else {
            return false;
        };
        self.ops.remove(i);
        self.events.push_back(UdpEvent::Failed {
            op,
            error: UdpError::Cancelled,
        });
        if self.ops.is_empty() && matches!(self.connection, Connection::Connecting { .. }) {
            self.connection = Connection::None;
        }
        true
    }

    /// Whether `bytes` from `from` answers a request of this machine (same address, a
    /// transaction id in flight). Use it to route datagrams from a shared socket.
    pub fn matches(&self, from: SocketAddr, bytes: &[u8]) -> bool {
        if from != self.remote {
            return false;
        }
        read_u32(bytes, 4).is_some_and(|tid| self.knows(tid))
    }

    /// Handles a datagram from the tracker. `Err` says why it was dropped or why it failed the
    /// operation it answered (which then also gets a [`UdpEvent::Failed`]).
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UdpError> {
        let (Some(action), Some(tid)) = (read_u32(bytes, 0), read_u32(bytes, 4)) else {
            return Err(UdpError::TooShort {
                action: read_u32(bytes, 0).unwrap_or(u32::MAX),
                len: bytes.len(),
            });
        };
        if let Connection::Connecting { tid: want, .. } = self.connection
            && want == tid
        {
            return self.on_connect_answer(now, action, bytes);
        }
        let Some(i) = self
            .ops
            .iter()
            .position(|o| matches!(o.state, OpState::Sent { tid: t, .. } if t == tid))
        else {
            return Err(UdpError::UnknownTransaction(tid));
        };
        let op = self.ops.remove(i);
        let result = match (&op.kind, action) {
            (_, ACTION_ERROR) => Err(UdpError::Tracker(error_message(bytes))),
            (OpKind::Announce(_), ACTION_ANNOUNCE) => {
                self.parse_announce(bytes)
                    .map(|response| UdpEvent::Announced {
                        op: op.id,
                        response,
                    })
            }
            (OpKind::Scrape(hashes), ACTION_SCRAPE) => {
                parse_scrape(bytes, hashes).map(|stats| UdpEvent::Scraped { op: op.id, stats })
            }
            (OpKind::Announce(_), got) => Err(UdpError::UnexpectedAction {
                expected: ACTION_ANNOUNCE,
                got,
            }),
            (OpKind::Scrape(_), got) => Err(UdpError::UnexpectedAction {
                expected: ACTION_SCRAPE,
                got,
            }),
        };
        match result {
            Ok(event) => {
                self.events.push_back(event);
                Ok(())
            }
            Err(error) => {
                self.events.push_back(UdpEvent::Failed {
                    op: op.id,
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    /// Fires every expired retransmission timer; extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Connection::Connecting {
            tid,
            attempt,
            deadline,
        } = self.connection
            && deadline <= now
        {
            let attempt = attempt + 1;
            if attempt > self.config.max_retransmits {
                self.connection = Connection::None;
                let waiting: Vec<OpId> = self
                    .ops
                    .iter()
                    .filter(|o| matches!(o.state, OpState::WaitingConnection))
                    .map(|o| o.id)
                    .collect();
                self.fail_ops(&waiting, &UdpError::TimedOut(self.config.max_retransmits));
            } else {
                self.connection = Connection::Connecting {
                    tid,
                    attempt,
                    deadline: now + self.backoff(attempt),
                };
                self.send_connect(tid);
            }
        }
        let mut expired = Vec::new();
        let mut timed_out = Vec::new();
        for op in &mut self.ops {
            if let OpState::Sent { deadline, .. } = op.state
                && deadline <= now
            {
                op.attempt += 1;
                if op.attempt > self.config.max_retransmits {
                    timed_out.push(op.id);
                } else {
                    expired.push(op.id);
                }
            }
        }
        self.fail_ops(&timed_out, &UdpError::TimedOut(self.config.max_retransmits));
        for id in expired {
            if let Some(op) = self.ops.iter_mut().find(|o| o.id == id) {
                op.state = OpState::WaitingConnection;
            }
        }
        self.drive(now);
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<UdpEvent> {
        self.events.pop_front()
    }

    /// When to call [`Self::handle_timeout`] next, if anything is in flight.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connect = match self.connection {
            Connection::Connecting { deadline, .. } => Some(deadline),
            _ => None,
        };
        let ops = self.ops.iter().filter_map(|o| match o.state {
            OpState::Sent { deadline, .. } => Some(deadline),
            OpState::WaitingConnection => None,
        });
        connect.into_iter().chain(ops).min()
    }

    /// Whether no operation is in flight.
    pub fn is_idle(&self) -> bool {
        self.ops.is_empty()
    }

    fn start(&mut self, now: Instant, kind: OpKind) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        self.ops.push(Op {
            id,
            kind,
            state: OpState::WaitingConnection,
            attempt: 0,
        });
        self.drive(now);
        id
    }

    /// Sends every waiting operation if connected, or connects.
    fn drive(&mut self, now: Instant) {
        if !self
            .ops
            .iter()
            .any(|o| matches!(o.state, OpState::WaitingConnection))
        {
            return;
        }
        match self.connection {
            Connection::Connected { id, expires } if expires > now => {
                for i in 0..self.ops.len() {
                    if matches!(self.ops[i].state, OpState::WaitingConnection) {
                        let tid = self.new_tid();
                        let deadline = now + self.backoff(self.ops[i].attempt);
                        self.ops[i].state = OpState::Sent { tid, deadline };
                        let payload = request_bytes(id, tid, &self.ops[i].kind);
                        self.transmits.push_back(Transmit {
                            dest: Dest::Udp(self.remote),
                            payload: Bytes::from(payload),
                        });
                    }
                }
            }
            Connection::Connecting { .. } => {}
            Connection::None | Connection::Connected { .. } => {
                let tid = self.new_tid();
                self.connection = Connection::Connecting {
                    tid,
                    attempt: 0,
                    deadline: now + self.backoff(0),
                };
                self.send_connect(tid);
            }
        }
    }

    fn on_connect_answer(
        &mut self,
        now: Instant,
        action: u32,
        bytes: &[u8],
    ) -> Result<(), UdpError> {
        let waiting: Vec<OpId> = self
            .ops
            .iter()
            .filter(|o| matches!(o.state, OpState::WaitingConnection))
            .map(|o| o.id)
            .collect();
        let error = match action {
            ACTION_CONNECT => match read_u64(bytes, 8) {
                Some(id) => {
                    self.connection = Connection::Connected {
                        id,
                        expires: now + self.config.connection_ttl,
                    };
                    self.drive(now);
                    return Ok(());
                }
                None => UdpError::TooShort {
                    action,
                    len: bytes.len(),
                },
            },
            ACTION_ERROR => UdpError::Tracker(error_message(bytes)),
            got => UdpError::UnexpectedAction {
                expected: ACTION_CONNECT,
                got,
            },
        };
        self.connection = Connection::None;
        self.fail_ops(&waiting, &error);
        Err(error)
    }

    fn fail_ops(&mut self, ids: &[OpId], error: &UdpError) {
        for id in ids {
            self.ops.retain(|o| o.id != *id);
            self.events.push_back(UdpEvent::Failed {
                op: *id,
                error: error.clone(),
            });
        }
    }

    fn parse_announce(&self, bytes: &[u8]) -> Result<AnnounceResponse, UdpError> {
        let (Some(interval), Some(leechers), Some(seeders)) =
            (read_u32(bytes, 8), read_u32(bytes, 12), read_u32(bytes, 16))
        else {
            return Err(UdpError::TooShort {
                action: ACTION_ANNOUNCE,
                len: bytes.len(),
            });
        };
        let list = &bytes[20..];
        // BEP 15: the address family of the peers is that of the tracker connection.
        let peers = match self.remote.ip() {
            IpAddr::V4(_) => compact_v4(list),
            IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some() => compact_v4(list),
            IpAddr::V6(_) => compact_v6(list),
        };
        let peers = peers.ok_or(UdpError::PeersLength(list.len()))?;
        Ok(AnnounceResponse {
            interval: Some(Duration::from_secs(u64::from(interval))),
            min_interval: None,
            complete: Some(seeders),
            incomplete: Some(leechers),
            warning: None,
            tracker_id: None,
            peers,
        })
    }

    fn knows(&self, tid: u32) -> bool {
        matches!(self.connection, Connection::Connecting { tid: t, .. } if t == tid)
            || self
                .ops
                .iter()
                .any(|o| matches!(o.state, OpState::Sent { tid: t, .. } if t == tid))
    }

    fn new_tid(&mut self) -> u32 {
        loop {
            let tid = self.rng.next_u32();
            if !self.knows(tid) {
                return tid;
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.config
            .retransmit_base
            .saturating_mul(1u32 << attempt.min(16))
    }

    fn send_connect(&mut self, tid: u32) {
        let mut p = Vec::with_capacity(16);
        p.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
        p.extend_from_slice(&ACTION_CONNECT.to_be_bytes());
        p.extend_from_slice(&tid.to_be_bytes());
        self.transmits.push_back(Transmit {
            dest: Dest::Udp(self.remote),
            payload: Bytes::from(p),
        });
    }
}

fn request_bytes(connection_id: u64, tid: u32, kind: &OpKind) -> Vec<u8> {
    let mut p = Vec::with_capacity(98);
    p.extend_from_slice(&connection_id.to_be_bytes());
    match kind {
        OpKind::Announce(r) => {
            p.extend_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
            p.extend_from_slice(&tid.to_be_bytes());
            p.extend_from_slice(&r.info_hash.0);
            p.extend_from_slice(&r.peer_id.0);
            p.extend_from_slice(&r.downloaded.to_be_bytes());
            p.extend_from_slice(&r.left.to_be_bytes());
            p.extend_from_slice(&r.uploaded.to_be_bytes());
            p.extend_from_slice(&(r.event as u32).to_be_bytes());
            let ip = match r.ip {
                Some(IpAddr::V4(ip)) => ip.octets(),
                _ => [0; 4],
            };
            p.extend_from_slice(&ip);
            p.extend_from_slice(&r.key.to_be_bytes());
            let numwant = r
                .numwant
                .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
            p.extend_from_slice(&numwant.to_be_bytes());
            p.extend_from_slice(&r.port.to_be_bytes());
        }
        OpKind::Scrape(hashes) => {
            p.extend_from_slice(&ACTION_SCRAPE.to_be_bytes());
            p.extend_from_slice(&tid.to_be_bytes());
            for h in hashes {
                p.extend_from_slice(&h.0);
            }
        }
    }
    p
}

fn parse_scrape(bytes: &[u8], hashes: &[InfoHash]) -> Result<Vec<ScrapeStats>, UdpError> {
    let body = &bytes[8..];
    if !body.len().is_multiple_of(12) || body.len() / 12 > hashes.len() {
        return Err(UdpError::ScrapeLength(body.len()));
    }
    Ok(body
        .chunks_exact(12)
        .zip(hashes)
        .map(|(c, h)| ScrapeStats {
            info_hash: *h,
            complete: u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
            downloaded: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            incomplete: u32::from_be_bytes([c[8], c[9], c[10], c[11]]),
            downloaders: None,
        })
        .collect())
}

/// The message of an `error` answer, lossily decoded, at most 1 KiB.
fn error_message(bytes: &[u8]) -> String {
    let msg = bytes.get(8..).unwrap_or_default();
    String::from_utf8_lossy(&msg[..msg.len().min(1024)]).into_owned()
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_be_bytes(a))
}

impl fmt::Display for UdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tracker(m) => write!(f, "UDP tracker error: {m}"),
            Self::TimedOut(n) => write!(f, "UDP tracker silent after {n} retransmissions"),
            Self::TooShort { action, len } => {
                write!(
                    f,
                    "UDP tracker datagram of {len} bytes too short for action {action}"
                )
            }
            Self::UnknownTransaction(t) => {
                write!(
                    f,
                    "UDP tracker datagram has unknown transaction id {t:#010x}"
                )
            }
            Self::UnexpectedAction { expected, got } => {
                write!(
                    f,
                    "UDP tracker answered action {got} to a request of action {expected}"
                )
            }
            Self::PeersLength(n) => {
                write!(f, "UDP tracker peer list of {n} bytes is not whole entries")
            }
            Self::ScrapeLength(n) => {
                write!(
                    f,
                    "UDP tracker scrape answer of {n} bytes does not fit the request"
                )
            }
            Self::ScrapeCount(n) => {
                write!(
                    f,
                    "a UDP scrape takes 1..={MAX_SCRAPE_HASHES} info-hashes, not {n}"
                )
            }
            Self::Cancelled => write!(f, "UDP tracker operation cancelled"),
        }
    }
}

impl std::error::Error for UdpError {}

#[cfg(test)]
mod tests;
