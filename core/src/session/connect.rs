//! Opening and closing connections: dialling candidates within the limits, accepting inbound
//! sockets, connect results, and removing a connection from everything that knows it (the
//! connection table's side, on [`Peers`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::SessionConfig;
use super::config::OutgoingEncryption;
use super::event::{Event, PeerCloseReason};
use super::io::{Action, ConnId, TorrentId};
use super::outputs::Outputs;
use super::peers::{Dialing, Peer, Peers};
use super::penalty::Penalties;
use super::smart_ban::DepartedPeer;
use super::torrent::candidates::{Source, Standing};
use super::torrent::table::Torrents;
use super::torrent::{Stage, Torrent};
use crate::rng::Rng;
use crate::wire::mse::{CRYPTO_PLAINTEXT, CRYPTO_RC4, MAX_PAD as MSE_MAX_PAD};
use crate::wire::{self, CloseReason, Connection};

/// What dialling for a torrent may do next (see [`Peers::dial_plan`]).
pub(crate) enum DialPlan {
    /// At the half-open limit: a dial past its patience may give way (see
    /// [`Peers::stale_for`]), else dial nothing more for this torrent.
    HalfOpen,
    /// Dial nothing more for this torrent.
    Next,
    /// Dial its next ready candidate, once room is made: first by closing the least useful
    /// connection of any torrent (`evict_any`: at the overall limit; if none can go, stop
    /// dialling), then of this torrent (`evict_own`: at its limit; if none can go, dial
    /// nothing more for it).
    Dial {
        /// At the overall connection limit.
        evict_any: bool,
        /// At the torrent's connection limit.
        evict_own: bool,
    },
}

/// Our own addresses, so that we never dial ourselves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OwnAddr {
    port: u16,
    listen_ip: Option<IpAddr>,
    announce_ip: Option<IpAddr>,
}

impl OwnAddr {
    /// Our addresses under `config`, listening on `listen_ip` if the runtime told us.
    pub(crate) fn new(config: &SessionConfig, listen_ip: Option<IpAddr>) -> Self {
        Self {
            port: config.listen_port,
            listen_ip,
            announce_ip: config.announce_ip,
        }
    }

    /// Whether `addr` is our own listen address (dialling it would connect to ourselves;
    /// opentracker returns our own address among the peers).
    pub(crate) fn is(&self, addr: SocketAddr) -> bool {
        if self.port == 0 || addr.port() != self.port {
            return false;
        }
        let ip = addr.ip();
        ip.is_loopback()
            || ip.is_unspecified()
            || Some(ip) == self.listen_ip
            || Some(ip) == self.announce_ip
    }

    /// Our own listen address, when the runtime told us where it listens.
    pub(crate) fn listen_addr(&self) -> Option<SocketAddr> {
        let ip = self.listen_ip.filter(|ip| !ip.is_unspecified())?;
        (self.port != 0).then(|| SocketAddr::new(ip, self.port))
    }
}

impl Torrent {
    /// The most connections of the torrent: its own limit, else the session's.
    pub(crate) fn peer_limit(&self, config: &SessionConfig) -> usize {
        self.limits()
            .max_connections
            .unwrap_or(config.max_connections_per_torrent)
    }

    /// Adds addresses to the torrent's candidates, if active (our own address excluded).
    pub(crate) fn add_candidates(&mut self, peers: &[SocketAddr], source: Source, own: OwnAddr) {
        if !self.is_active() || self.is_released() {
            return;
        }
        for addr in peers {
            if !own.is(*addr) {
                self.candidates.add(*addr, source);
            }
        }
    }
}

/// What opening a connection uses of the session: its settings, the wire settings every
/// connection shares, and the random source (MSE keys and padding).
pub(crate) struct ConnCx<'a> {
    /// The session's settings.
    pub(crate) config: &'a SessionConfig,
    /// The wire settings.
    pub(crate) wire: &'a Arc<wire::Config>,
    /// The session's random source.
    pub(crate) rng: &'a mut Rng,
}

impl Peers {
    /// Whether another connection to `addr`'s IP is allowed (loopback is exempt: local swarms
    /// and tests run every peer on 127.0.0.1).
    fn ip_allows(&self, addr: SocketAddr, config: &SessionConfig) -> bool {
        addr.ip().is_loopback() || self.to_ip(addr.ip()) < config.max_connections_per_ip
    }

    /// What dialling for torrent `id` may do next under the limits.
    pub(crate) fn dial_plan(
        &self,
        now: Instant,
        id: TorrentId,
        torrents: &Torrents,
        config: &SessionConfig,
    ) -> DialPlan {
        let Some(t) = torrents.get(&id) else {
            return DialPlan::Next;
        };
        let dialable = matches!(t.stage, Stage::Running | Stage::Metadata);
        if !dialable || t.options.no_outbound || t.is_released() {
            return DialPlan::Next;
        }
        if self.half_open() >= config.max_half_open {
            return DialPlan::HalfOpen;
        }
        let evict_any = self.total() >= config.max_connections;
        let evict_own = self.of_torrent(id) >= t.peer_limit(config);
        if (evict_any || evict_own) && !t.candidates.has_ready(now, t.is_seed()) {
            return DialPlan::Next;
        }
        DialPlan::Dial {
            evict_any,
            evict_own,
        }
    }

    /// At the half-open limit: the dial past its patience that torrent `id`'s best waiting
    /// candidate replaces (see [`Peers::stale_dial`]), if any.
    pub(crate) fn stale_for(
        &self,
        now: Instant,
        id: TorrentId,
        torrents: &Torrents,
        config: &SessionConfig,
    ) -> Option<ConnId> {
        let t = torrents.get(&id)?;
        let waiting = t.candidates.next_standing(now, t.is_seed())?;
        let standing = |d: &Dialing| {
            let t = torrents.get(&d.torrent)?;
            t.candidates.standing_of(d.addr)
        };
        self.stale_dial(now, config, waiting, standing)
    }

    /// Dials the next candidate of torrent `id` (`t`), if the per-IP limit allows it (`false`:
    /// it refused, and the candidate is put back as closed). `None`: no candidate is ready.
    pub(crate) fn dial_next(
        &mut self,
        now: Instant,
        id: TorrentId,
        t: &mut Torrent,
        config: &SessionConfig,
        out: &mut Outputs,
    ) -> Option<bool> {
        let addr = t.candidates.next(now, t.is_seed())?;
        if !self.ip_allows(addr, config) {
            t.candidates.closed(now, addr, false, false);
            return Some(false);
        }
        {
            let conn = self.alloc_conn();
            self.start_dial(
                conn,
                Dialing {
                    addr,
                    torrent: id,
                    since: now,
                    woken: None,
                },
            );
            out.action(Action::Connect { conn, addr });
        }
        Some(true)
    }

    /// Whether an inbound socket from `remote` may be taken at all (a penalised address, or
    /// one with too many connections, is refused).
    pub(crate) fn may_accept(
        &self,
        now: Instant,
        remote: SocketAddr,
        config: &SessionConfig,
    ) -> bool {
        !self.penalties.is_refused(remote.ip(), now) && self.ip_allows(remote, config)
    }

    /// An inbound socket taken: a connection waiting for the peer's handshake.
    pub(crate) fn open_inbound(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        cx: ConnCx<'_>,
    ) -> ConnId {
        let id = self.alloc_conn();
        let key = self.alloc_key();
        let mut conn = Connection::inbound(now, cx.wire.clone(), Some(remote.ip()));
        let (private, pad) = mse_secrets(cx.rng);
        conn.answer_encrypted(private, pad);
        let peer = Peer::new(conn, remote, None, key, false, now);
        self.insert(id, peer);
        id
    }

    /// The result of a connect: the connection opens (drive it: `true`), or the dial failed.
    pub(crate) fn connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
        torrents: &mut Torrents,
        out: &mut Outputs,
        cx: ConnCx<'_>,
    ) -> bool {
        let Some(dialing) = self.end_dial(conn) else {
            return false;
        };
        let addr = dialing.addr;
        let id = dialing.torrent;
        let active = torrents.get(&id).is_some_and(|t| t.is_active());
        if let Some(t) = torrents.get_mut(&id) {
            t.candidates.dial_ended(addr, result.is_ok());
        }
        if let Err(kind) = result {
            if let Some(t) = torrents.get_mut(&id) {
                t.candidates.closed(now, addr, true, false);
            }
            out.event(Event::PeerClosed {
                torrent: Some(id),
                addr,
                reason: PeerCloseReason::ConnectFailed(kind),
            });
            return false;
        }
        if !active {
            out.action(Action::Close { conn });
            return false;
        }
        let Some(t) = torrents.get(&id) else {
            return false;
        };
        let Ok(mut c) = Connection::outbound(now, cx.wire.clone(), Some(addr.ip()), t.params())
        else {
            out.action(Action::Close { conn });
            return false;
        };
        if dial_encrypted(t, addr, cx.config) {
            // The wire connection's handshake waits in it until MSE ends.
            let (private, pad) = mse_secrets(cx.rng);
            c.open_encrypted(private, pad, CRYPTO_PLAINTEXT | CRYPTO_RC4);
        }
        let key = self.alloc_key();
        let mut peer = Peer::new(c, addr, Some(id), key, true, now);
        peer.listen_addr = Some(addr);
        self.insert(conn, peer);
        true
    }

    /// The dials that took too long by `now`, among the connections due. The others due are
    /// dials whose patience ran out (see [`Self::stale_dial`]): their deadline moves to the
    /// next one.
    pub(crate) fn expired_dials(
        &mut self,
        due: Vec<ConnId>,
        now: Instant,
        config: &SessionConfig,
    ) -> Vec<ConnId> {
        let mut expired = due;
        expired.retain(|conn| {
            let Some(d) = self.dial(*conn) else {
                return false;
            };
            if now >= d.since + config.connect_timeout {
                return true;
            }
            self.dial_woken(*conn, now);
            false
        });
        expired
    }

    /// The runtime saw a dial's socket close: the dial failed. `false`: not a dial.
    pub(crate) fn dial_closed(
        &mut self,
        now: Instant,
        conn: ConnId,
        torrents: &mut Torrents,
    ) -> bool {
        let Some(d) = self.end_dial(conn) else {
            return false;
        };
        if let Some(t) = torrents.get_mut(&d.torrent) {
            t.candidates.dial_ended(d.addr, false);
            t.candidates.closed(now, d.addr, true, false);
        }
        true
    }

    /// The dial to give up at the half-open limit so that a candidate ready to dial, of
    /// standing `waiting`, can take its place: the oldest one in progress for at least
    /// `config.dial_patience`, or `config.dial_patience_outranked` if `waiting` ranks better
    /// than the standing of its address (`standing`; see [`Standing`]). An honest peer
    /// answers a connect within a round trip or two; a black hole never does.
    pub(crate) fn stale_dial(
        &self,
        now: Instant,
        config: &SessionConfig,
        waiting: Standing,
        standing: impl Fn(&Dialing) -> Option<Standing>,
    ) -> Option<ConnId> {
        self.dialing()
            .filter(|(_, d)| {
                let age = now.saturating_duration_since(d.since);
                age >= config.dial_patience
                    || (age >= config.dial_patience_outranked
                        && standing(d).is_some_and(|s| waiting < s))
            })
            .min_by_key(|(id, d)| (d.since, *id))
            .map(|(id, _)| id)
    }

    /// Removes an open connection from the table and from its torrent's picker and
    /// candidates, and tells the application. Returns what its torrent is left to do, if it
    /// had one.
    pub(crate) fn drop_conn(
        &mut self,
        now: Instant,
        conn: ConnId,
        reason: PeerCloseReason,
        torrents: &mut Torrents,
        config: &SessionConfig,
        out: &mut Outputs,
    ) -> Option<Dropped> {
        let peer = self.remove(conn)?;
        let penalties = Penalties::of(config);
        if is_strike(&peer, &reason) {
            self.penalties.strike(peer.addr.ip(), now, penalties);
        } else if !peer.outbound && reason == PeerCloseReason::Limit {
            self.penalties
                .refused_at_limit(peer.addr.ip(), now, penalties);
        }
        let failed = !peer.established
            || matches!(
                reason,
                PeerCloseReason::Wire(
                    CloseReason::Protocol(_)
                        | CloseReason::Misbehaved(_)
                        | CloseReason::HandshakeTimeout
                )
            );
        let peer_was_seed = peer
            .conn
            .peer_pieces()
            .is_some_and(|p| !p.is_empty() && p.is_full());
        let mut rechoke = false;
        if let Some(id) = peer.torrent
            && let Some(t) = torrents.get_mut(&id)
        {
            if let Some(d) = t.data.as_mut()
                && peer.in_picker
            {
                d.picker.remove_peer(peer.key);
                let who = DepartedPeer {
                    addr: peer.listen_addr.unwrap_or(peer.addr),
                    peer_id: peer.conn.peer_id(),
                };
                t.peering
                    .make(t.private)
                    .departed
                    .peer_closed(&d.picker, peer.key, who);
            }
            rechoke = t.choker.is_unchoked(peer.key);
            if let Some(listen) = peer.listen_addr {
                match reason {
                    PeerCloseReason::SelfConnection => t.candidates.remove(listen),
                    _ => t.candidates.closed(now, listen, failed, peer_was_seed),
                }
                let encryption = config.outgoing_encryption;
                if peer.outbound
                    && peer.conn.peer_id().is_none()
                    && encryption != OutgoingEncryption::Never
                {
                    t.candidates.handshake_failed(now, listen);
                }
            }
        }
        out.event(Event::PeerClosed {
            torrent: peer.torrent,
            addr: peer.addr,
            reason,
        });
        Some(Dropped {
            torrent: peer.torrent?,
            listen_addr: peer.listen_addr,
            rechoke,
        })
    }
}

/// A connection of a torrent was removed: what the torrent is left to do.
pub(crate) struct Dropped {
    /// The torrent.
    pub(crate) torrent: TorrentId,
    /// Where the peer listens, if known (it leaves the peer exchange).
    pub(crate) listen_addr: Option<SocketAddr>,
    /// It was unchoked: its slot is free.
    pub(crate) rechoke: bool,
}

/// Whether closing `peer` for `reason` is a strike against its address: an inbound
/// connection that never sent a message and was closed for it (handshake or first-message
/// timeout, replaced by a newcomer, a malformed handshake). Replacing one that traded
/// nothing is one too (see `Session::evict`), and so is a refusal at a limit right after
/// another (see [`PenaltyBox::refused_at_limit`](super::penalty::PenaltyBox)).
fn is_strike(peer: &Peer, reason: &PeerCloseReason) -> bool {
    let useless = matches!(
        reason,
        PeerCloseReason::Evicted
            | PeerCloseReason::Silent
            | PeerCloseReason::Wire(CloseReason::HandshakeTimeout | CloseReason::Protocol(_))
    );
    !peer.outbound && peer.useful_at.is_none() && useless
}

/// A fresh MSE private key and padding (0–512 bytes) from the session's random source.
fn mse_secrets(rng: &mut Rng) -> ([u8; 20], Vec<u8>) {
    let mut private = [0; 20];
    rng.fill(&mut private);
    let mut pad = vec![0; rng.index(MSE_MAX_PAD + 1)];
    rng.fill(&mut pad);
    (private, pad)
}

/// Whether to dial `addr` of torrent `t` with the encrypted handshake.
fn dial_encrypted(t: &Torrent, addr: SocketAddr, config: &SessionConfig) -> bool {
    let other = t.candidates.other_handshake(addr);
    match config.outgoing_encryption {
        OutgoingEncryption::Never => false,
        OutgoingEncryption::Fallback => other,
        OutgoingEncryption::Prefer => !other,
    }
}

#[cfg(test)]
#[path = "connect_mse_tests.rs"]
mod mse_tests;

#[cfg(test)]
#[path = "dial_patience_tests.rs"]
mod dial_patience_tests;
