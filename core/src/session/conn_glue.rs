//! A connection's life, dispatched: the peers part drains a connection (its transmits out,
//! its next event), and each event goes to the part that owns it (handshake matching in
//! `handshake`, availability, choking and blocks in `download`, requests from the peer in
//! `upload`, interest in us in `choke`, extension messages in `metadata` and `pex`); its
//! timers fire in id order; connect results, accepts, dials and closes go to the connection
//! table (`connect`); dialling after
//! each input visits the torrents of the dial set while the limits allow. Handling an
//! event may close or drive other connections, so these steps take the whole session; the
//! decisions are the parts'.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

use super::Session;
use super::connect::{ConnCx, DialPlan};
use super::download::Synced;
use super::event::PeerCloseReason;
use super::evict::{Graces, Worth};
use super::handshake::{Established, Inbound};
use super::io::{Action, ConnId, TorrentId};
use super::peers::{DialStages, Peer};
use super::penalty::Penalties;
use super::streams::StreamInput;
use super::timers::first_message_deadline;
use super::torrent::work::Rest;
use super::{choke, download, hashes, pex, upload};
use crate::extensions::{UT_METADATA, UT_PEX};
use crate::id::{InfoHash, PeerId};
use crate::wire::{CloseReason, Event as WireEvent, ExtendedHandshake};

impl Session {
    /// Drains a connection's transmits into the session's queue and handles its events.
    pub(super) fn drive(&mut self, now: Instant, conn: ConnId) {
        while let Some(event) = self
            .peers
            .next_event(now, conn, &self.config, &mut self.out)
        {
            self.on_wire_event(now, conn, event);
        }
    }

    fn on_wire_event(&mut self, now: Instant, conn: ConnId, event: WireEvent) {
        match event {
            WireEvent::HandshakeReceived {
                info_hash, peer_id, ..
            } => self.on_inbound_handshake(now, conn, info_hash, peer_id),
            WireEvent::Established { peer_id, .. } => self.on_established(now, conn, peer_id),
            WireEvent::ExtendedHandshake(h) => {
                let own = self.own_addr();
                self.peers
                    .extended_handshake(conn, &h, &mut self.torrents, own);
                self.meta(now, |cx| cx.metadata_handshake(now, conn, &h));
                self.pex_handshake(now, conn, &h);
            }
            WireEvent::ExtendedMessage { id, payload } => match self.wire.extensions.name(id) {
                Some(UT_METADATA) => self.meta(now, |cx| cx.metadata_message(now, conn, &payload)),
                Some(UT_PEX) => self.pex_message(now, conn, &payload),
                _ => {}
            },
            WireEvent::Bitfield | WireEvent::HaveAll | WireEvent::HaveNone => {
                self.sync_availability(now, conn);
            }
            WireEvent::Have(piece) => self.on_have(now, conn, piece),
            WireEvent::Choked => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    let _ = d.picker.peer_choked(key);
                }
                if let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) {
                    self.fill_all(now, id);
                }
            }
            WireEvent::Unchoked => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.peer_unchoked(now, key);
                }
                self.fill(now, conn);
            }
            WireEvent::AllowedFast(piece) => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.allowed_fast(key, piece);
                }
                self.fill(now, conn);
            }
            WireEvent::PeerInterested | WireEvent::PeerNotInterested => {
                self.interest_changed(now, conn);
            }
            WireEvent::BlockReceived { block, data } => self.on_block(now, conn, block, data),
            WireEvent::Rejected(block) => {
                if let Some((d, key)) = download::picker_of(conn, &self.peers, &mut self.torrents) {
                    d.picker.request_rejected(key, block);
                }
            }
            WireEvent::RequestReceived(_) => self.serve(now, conn),
            WireEvent::HashRequestReceived(request) => {
                let (peers, torrents) = (&mut self.peers, &mut self.torrents);
                if let Some((id, piece)) = hashes::serve(now, conn, request, peers, torrents) {
                    self.meta(now, |cx| cx.read_block_hashes(id, piece, conn, request));
                }
            }
            WireEvent::HashesReceived { request, hashes } => {
                self.meta(now, |cx| cx.hashes_received(now, conn, request, &hashes));
            }
            WireEvent::HashesRejected(request) => {
                self.meta(now, |cx| cx.hashes_rejected(now, conn, request));
            }
            WireEvent::Closed(CloseReason::EncryptedHandshake(e)) => {
                self.close_conn(now, conn, PeerCloseReason::EncryptedHandshake(e));
            }
            WireEvent::Closed(reason) => {
                self.close_conn(now, conn, PeerCloseReason::Wire(reason));
            }
            // Timeouts are the picker's; cancelled requests are skipped when their read
            // completes.
            _ => {}
        }
    }

    /// Routes the outputs for uTP connections to them and feeds what they report back, as a
    /// runtime does for TCP (see [`Streams`](super::streams::Streams)); then their datagrams
    /// go out.
    pub(super) fn pump_streams(&mut self, now: Instant) {
        loop {
            self.streams.route(now, &mut self.out, &self.config);
            let Some(input) = self.streams.next_input(now, &mut self.out, &self.config) else {
                break;
            };
            match input {
                StreamInput::Connected(conn, result) => self.connected(now, conn, result),
                StreamInput::Data(conn, data) => self.peer_data(now, conn, data),
                StreamInput::Sent(conn, bytes) => self.peer_sent(now, conn, bytes),
                StreamInput::Closed(conn) => self.socket_closed(now, conn),
                StreamInput::Accepted(utp, remote) => match self.accept(now, remote) {
                    Some(conn) => self.streams.bind(conn, utp, remote),
                    None => self.streams.refuse(now, utp),
                },
            }
        }
        self.streams.transmit(now, &mut self.out);
    }

    /// Raw bytes of a connection (see [`Peers::raw_input`](super::peers::Peers::raw_input)),
    /// then its transmits and events.
    pub(super) fn peer_data(&mut self, now: Instant, conn: ConnId, data: BytesMut) {
        self.peers.raw_input(now, conn, data, &self.torrents);
        self.drive(now, conn);
    }

    /// An inbound connection's handshake named a torrent by info-hash: the connection joins
    /// it (making room at its limit, unless its address has strikes or was just refused so)
    /// or closes.
    fn on_inbound_handshake(
        &mut self,
        now: Instant,
        conn: ConnId,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) {
        let (torrents, config) = (&self.torrents, &self.config);
        let id = match self
            .peers
            .inbound(conn, info_hash, peer_id, self.peer_id, torrents, config)
        {
            Inbound::Refuse(reason) => return self.close_conn(now, conn, reason),
            Inbound::Join(id) => id,
            Inbound::Full(id) => {
                let penalties = Penalties::of(&self.config);
                let strikes = &self.peers.penalties;
                let only_free = self
                    .peers
                    .get(conn)
                    .is_some_and(|p| strikes.takes_only_free_slots(p.addr.ip(), now, penalties));
                if only_free || !self.evict(now, |other, p| other != conn && p.torrent == Some(id))
                {
                    return self.close_conn(now, conn, PeerCloseReason::Limit);
                }
                id
            }
        };
        if self.hold_inbound(now, conn, id) {
            return;
        }
        self.join_inbound(now, conn, id);
    }

    /// An inbound connection joins torrent `id`: our side of the handshake goes out (or it
    /// closes: the torrent is gone, or full since it was held for a load).
    pub(super) fn join_inbound(&mut self, now: Instant, conn: ConnId, id: TorrentId) {
        let Some(t) = self.torrents.get(&id) else {
            return self.close_conn(now, conn, PeerCloseReason::UnknownTorrent);
        };
        if self.peers.of_torrent(id) >= t.peer_limit(&self.config) {
            return self.close_conn(now, conn, PeerCloseReason::Limit);
        }
        if let Err(reason) = self.peers.join(now, conn, id, t) {
            self.close_conn(now, conn, reason);
        }
    }

    /// A connection's handshake finished: refused, or established in its torrent (joining
    /// the picker and the peer exchange).
    fn on_established(&mut self, now: Instant, conn: ConnId, peer_id: PeerId) {
        match self
            .peers
            .established(conn, peer_id, self.peer_id, &self.torrents)
        {
            Established::Gone => return,
            Established::Refuse(reason) => return self.close_conn(now, conn, reason),
            Established::Keep { twin: Some(twin) } => {
                self.close_conn(now, twin, PeerCloseReason::Duplicate);
            }
            Established::Keep { twin: None } => {}
        }
        let utp = self.streams.is_utp(conn);
        if self
            .peers
            .establish(now, conn, utp, &mut self.torrents, &mut self.out)
            .is_none()
        {
            return;
        }
        self.register_with_picker(now, conn);
        let own = self.own_addr();
        pex::connected(&self.peers, &mut self.torrents, own, conn, utp);
        self.learn_listen_utp(conn);
        if let Some(id) = self.peers.get(conn).and_then(|p| p.torrent) {
            self.meta(now, |cx| cx.pump_layers(now, id));
        }
    }

    /// A peer connected over uTP whose listen address is known speaks uTP there: a later
    /// dial to it goes over uTP first (see [`Streams`](super::streams::Streams)).
    fn learn_listen_utp(&mut self, conn: ConnId) {
        if !self.streams.is_utp(conn) {
            return;
        }
        if let Some(listen) = self.peers.get(conn).and_then(|p| p.listen_addr) {
            self.streams.learn_speaks_utp(listen);
        }
    }

    /// The result of a connect.
    pub(super) fn connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        result: Result<(), std::io::ErrorKind>,
    ) {
        let cx = ConnCx {
            config: &self.config,
            wire: &self.wire,
            rng: &mut self.rng,
        };
        let (torrents, out) = (&mut self.torrents, &mut self.out);
        if self.peers.connected(now, conn, result, torrents, out, cx) {
            self.drive(now, conn);
        }
    }

    /// The connections' timers due at `now`, in id order, each checked when its turn comes:
    /// wire timeouts, a silent peer's first-message deadline, an unused unchoke.
    pub(super) fn conn_timeouts(&mut self, now: Instant) {
        let mut last: Option<ConnId> = None;
        loop {
            self.peers.refresh_deadlines(&self.torrents, &self.config);
            let Some(conn) = self
                .peers
                .due(now)
                .into_iter()
                .find(|c| last.is_none_or(|l| *c > l))
            else {
                break;
            };
            last = Some(conn);
            if let Some(p) = self.peers.get_mut(conn)
                && p.conn.poll_timeout().is_some_and(|t| t <= now)
            {
                p.conn.handle_timeout(now);
                self.drive(now, conn);
            }
            if self
                .peers
                .get(conn)
                .and_then(|p| first_message_deadline(p, &self.config))
                .is_some_and(|at| at <= now)
            {
                self.close_conn(now, conn, PeerCloseReason::Silent);
            }
            self.unchoke_wasted(now, conn);
        }
    }

    /// Connects that took too long.
    pub(super) fn expire_dials(&mut self, now: Instant) {
        let due = self.peers.due_now(now, &self.torrents, &self.config);
        for conn in self.peers.expired_dials(due, now, &self.config) {
            self.out.action(Action::Close { conn });
            self.connected(now, conn, Err(std::io::ErrorKind::TimedOut));
        }
    }

    /// The runtime saw the socket close.
    pub(super) fn socket_closed(&mut self, now: Instant, conn: ConnId) {
        if self.peers.dial_closed(now, conn, &mut self.torrents) {
            return;
        }
        let reason = PeerCloseReason::Wire(CloseReason::RemoteClosed);
        self.drop_conn(now, conn, reason, false);
    }

    /// Closes a connection on our initiative.
    pub(super) fn close_conn(&mut self, now: Instant, conn: ConnId, reason: PeerCloseReason) {
        self.drop_conn(now, conn, reason, true);
    }

    /// Removes a connection (see [`Peers::drop_conn`](super::peers::Peers)) and tells the
    /// runtime (`send_close`); its torrent's metadata fetch, peer exchange, choker and
    /// requests carry on without it.
    fn drop_conn(&mut self, now: Instant, conn: ConnId, reason: PeerCloseReason, send_close: bool) {
        if self.peers.get(conn).is_none() {
            return;
        }
        if send_close {
            self.out.action(Action::Close { conn });
        }
        let (torrents, config, out) = (&mut self.torrents, &self.config, &mut self.out);
        let Some(gone) = self
            .peers
            .drop_conn(now, conn, reason, torrents, config, out)
        else {
            return;
        };
        let id = gone.torrent;
        self.meta(now, |cx| cx.metadata_peer_gone(now, id, conn));
        self.meta(now, |cx| cx.layers_peer_gone(now, id, conn));
        if let (Some(t), Some(addr)) = (self.torrents.get_mut(&id), gone.listen_addr)
            && let Some(parts) = t.peering.get_mut()
        {
            parts.pex.peer_disconnected(addr);
        }
        if gone.rechoke {
            self.rechoke(now, id);
        }
        self.fill_all(now, id);
    }

    /// Closes the least useful connection `eligible` allows to make room for a newcomer (see
    /// `evict`); `false`: every one keeps its slot.
    /// A peer that traded nothing gives its address a strike if it came to us.
    pub(super) fn evict(&mut self, now: Instant, eligible: impl Fn(ConnId, &Peer) -> bool) -> bool {
        let grace = Graces {
            interest: self.config.interest_grace,
            trade: self.config.trade_grace,
        };
        let Some((conn, worth)) = self.peers.least_useful(now, grace, eligible) else {
            return false;
        };
        if matches!(worth, Worth::Wasted | Worth::NoTrade)
            && let Some(peer) = self.peers.get(conn).filter(|p| !p.outbound)
        {
            let ip = peer.addr.ip();
            let penalties = Penalties::of(&self.config);
            self.peers.penalties.strike(ip, now, penalties);
        }
        self.close_conn(now, conn, PeerCloseReason::Evicted);
        true
    }

    /// An inbound socket: a connection waiting for the peer's handshake, if limits allow. At
    /// the pending-inbound or overall limit it replaces the least useful connection (see
    /// `evict`); a penalised address is refused.
    pub(super) fn accept(&mut self, now: Instant, remote: SocketAddr) -> Option<ConnId> {
        if self.shutting_down || !self.peers.may_accept(now, remote, &self.config) {
            return None;
        }
        if self.peers.pending_inbound() >= self.config.max_pending_inbound
            && !self.evict(now, |_, p| p.torrent.is_none())
        {
            return None;
        }
        if self.peers.total() >= self.config.max_connections && !self.evict(now, |_, _| true) {
            return None;
        }
        let cx = ConnCx {
            config: &self.config,
            wire: &self.wire,
            rng: &mut self.rng,
        };
        Some(self.peers.open_inbound(now, remote, cx))
    }

    /// An unchoked peer that requested nothing for `unchoke_patience`: marked wasted (it
    /// ranks last for upload slots and may be replaced at a limit) and its slot given to
    /// another at once.
    pub(super) fn unchoke_wasted(&mut self, now: Instant, conn: ConnId) {
        let config = &self.config;
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        if choke::waste_deadline(peer, config).is_none_or(|at| at > now) {
            return;
        }
        let torrent = peer.torrent;
        if let Some(p) = self.peers.get_mut(conn) {
            p.wasted = true;
        }
        if let Some(id) = torrent {
            self.rechoke(now, id);
        }
    }

    /// A peer became interested or not interested in us: a rechoke if it changes a slot.
    pub(super) fn interest_changed(&mut self, now: Instant, conn: ConnId) {
        let Some(peer) = self.peers.get(conn) else {
            return;
        };
        let Some(id) = peer.torrent else {
            return;
        };
        let config = &self.config;
        let needs = self
            .torrents
            .get(&id)
            .is_some_and(|t| t.interest_needs_rechoke(id, peer, &self.peers, config));
        if needs {
            self.rechoke(now, id);
        }
    }

    /// A peer's extended handshake, for peer exchange (see [`pex::handshake`]).
    pub(super) fn pex_handshake(&mut self, now: Instant, conn: ConnId, h: &ExtendedHandshake) {
        let own = self.own_addr();
        let utp = self.streams.is_utp(conn);
        let (peers, torrents, on) = (&mut self.peers, &mut self.torrents, self.config.pex);
        let sent = pex::handshake(now, conn, h, peers, torrents, own, on, utp);
        self.learn_listen_utp(conn);
        if sent {
            self.drive(now, conn);
        }
    }

    /// A `ut_pex` message (see [`pex::message`]).
    pub(super) fn pex_message(&mut self, now: Instant, conn: ConnId, payload: &[u8]) {
        // While the session's PEX is off, messages are not read.
        if !self.config.pex {
            return;
        }
        let own = self.own_addr();
        let (peers, torrents, out) = (&self.peers, &mut self.torrents, &mut self.out);
        match pex::message(now, conn, payload, peers, torrents, own, out) {
            Ok(utp) => {
                for addr in utp {
                    self.streams.learn_speaks_utp(addr);
                }
            }
            Err(reason) => self.close_conn(now, conn, reason),
        }
    }

    /// Sends the `ut_pex` messages due at `now`.
    pub(super) fn pex_timeout(&mut self, now: Instant) {
        let mut due = self.peers.due_now(now, &self.torrents, &self.config);
        due.retain(|conn| pex::is_due(&self.peers, *conn, now));
        for conn in due {
            if pex::send(now, conn, &mut self.peers, &self.torrents, self.config.pex) {
                self.drive(now, conn);
            }
        }
    }

    /// Registers an established connection with its torrent's picker, then syncs what the
    /// peer has.
    pub(super) fn register_with_picker(&mut self, now: Instant, conn: ConnId) {
        if download::register_with_picker(now, conn, &mut self.peers, &mut self.torrents) {
            self.sync_availability(now, conn);
        }
    }

    /// Gives the picker the peer's whole piece set: both seeds close; else interest and
    /// requests follow.
    pub(super) fn sync_availability(&mut self, now: Instant, conn: ConnId) {
        match download::sync_availability(conn, &mut self.peers, &mut self.torrents) {
            Synced::Nothing => {}
            Synced::BothSeeds => self.close_conn(now, conn, PeerCloseReason::BothSeeds),
            Synced::Fill => {
                self.update_interest(now, conn);
                self.fill(now, conn);
            }
        }
    }

    /// The peer has a new piece.
    pub(super) fn on_have(&mut self, now: Instant, conn: ConnId, piece: u32) {
        if download::on_have(now, conn, piece, &mut self.peers, &mut self.torrents) {
            self.fill(now, conn);
        }
    }

    /// Sends `interested` or `not interested` as the picker says.
    pub(super) fn update_interest(&mut self, now: Instant, conn: ConnId) {
        download::update_interest(now, conn, &mut self.peers, &self.torrents);
    }

    /// The runtime wrote `bytes` of `conn`'s transmits to its socket: serving resumes if that
    /// ended a stall.
    pub(super) fn peer_sent(&mut self, now: Instant, conn: ConnId, bytes: usize) {
        if !self.config.send_accounting || bytes == 0 {
            return;
        }
        let cap = self.config.max_send_backlog;
        let Some(peer) = self.peers.get_mut(conn) else {
            return;
        };
        if peer.upload.sent(now, bytes, cap) {
            self.serve(now, conn);
            self.drive(now, conn);
        }
    }

    /// Closes the connections whose send backlog made no progress for `send_stall_timeout`.
    pub(super) fn expire_send_stalls(&mut self, now: Instant) {
        let mut stalled = self.peers.due_now(now, &self.torrents, &self.config);
        stalled.retain(|conn| upload::is_stalled(&self.peers, *conn, now, &self.config));
        for conn in stalled {
            self.close_conn(now, conn, PeerCloseReason::SendStalled);
        }
    }

    /// Dials candidates while the limits allow (see
    /// [`Peers::dial_plan`](super::peers::Peers::dial_plan)); at a limit, a candidate ready to
    /// dial replaces the least useful connection, or at the half-open limit the oldest dial
    /// past its patience (see `SessionConfig::dial_patience` and `dial_patience_outranked`).
    /// Only the torrents of the dial set are visited, in id order (see
    /// [`Work`](super::torrent::work::Work)); those waiting at the half-open limit join them
    /// when a dial ends or a dial's patience runs out.
    pub(super) fn dial(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let stages = DialStages::of(&self.config);
        if self.peers.take_dial_news()
            || (self.torrents.has_waiting() && self.peers.dial_stage_passed(now, stages))
        {
            self.torrents.wake_waiting();
        }
        let mut last = None;
        while let Some(id) = self.torrents.next_to_dial(last) {
            last = Some(id);
            match self.dial_torrent(now, id) {
                Visit::Rest(rest) => self.torrents.dialled(id, rest),
                Visit::AllWait => return self.torrents.wait_from(id),
                Visit::Halt => return,
            }
        }
    }

    /// Dials torrent `id`'s candidates while the limits allow; where it goes next.
    fn dial_torrent(&mut self, now: Instant, id: TorrentId) -> Visit {
        let least_patience = self
            .config
            .dial_patience_outranked
            .min(self.config.dial_patience);
        loop {
            let (evict_any, evict_own) =
                match self.peers.dial_plan(now, id, &self.torrents, &self.config) {
                    DialPlan::Next => return Visit::Rest(Rest::Leave),
                    DialPlan::HalfOpen => {
                        if !self.peers.dial_older_than(now, least_patience) {
                            // No dial may give way to any torrent's candidate.
                            return Visit::AllWait;
                        }
                        let (torrents, config) = (&self.torrents, &self.config);
                        let Some(stale) = self.peers.stale_for(now, id, torrents, config) else {
                            return Visit::Rest(Rest::Wait);
                        };
                        self.out.action(Action::Close { conn: stale });
                        self.connected(now, stale, Err(std::io::ErrorKind::TimedOut));
                        continue;
                    }
                    DialPlan::Dial {
                        evict_any,
                        evict_own,
                    } => (evict_any, evict_own),
                };
            if evict_any && !self.evict(now, |_, _| true) {
                return Visit::Halt;
            }
            if evict_own && !self.evict(now, |_, p| p.torrent == Some(id)) {
                return Visit::Rest(Rest::Stay);
            }
            let Some(t) = self.torrents.get_mut_dialling(&id) else {
                return Visit::Rest(Rest::Leave);
            };
            let (config, out) = (&self.config, &mut self.out);
            if self.peers.dial_next(now, id, t, config, out).is_none() {
                return Visit::Rest(Rest::Leave);
            }
        }
    }
}

/// How a torrent's dial visit ended.
enum Visit {
    /// It goes to this set.
    Rest(Rest),
    /// At the half-open limit with no dial old enough to give way: it and every torrent after
    /// it wait.
    AllWait,
    /// At the overall limit with no connection to close: dialling stops for this input.
    Halt,
}
