//! The connection table: every connection the session has, dialling or open, with its torrent,
//! address, picker key and rates; and the counts the limits need.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::SessionConfig;
use super::handshake;
use super::hashes::HashBudget;
use super::io::{ConnId, Dest, TorrentId, Transmit};
use super::outputs::Outputs;
use super::penalty::PenaltyBox;
use super::rate::RateMeter;
use super::timers::ConnTimers;
use super::torrent::table::Torrents;
use super::upload::Upload;
use crate::extensions::PexSender;
use crate::picker::PeerKey;
use crate::wire::{Connection, Event as WireEvent};

/// An outbound connect in progress (no [`Connection`] yet: it is made once connected).
#[derive(Debug)]
pub(crate) struct Dialing {
    pub(crate) addr: SocketAddr,
    pub(crate) torrent: TorrentId,
    pub(crate) since: Instant,
    /// When its timer last fired (its next deadline is the first of `dial_patience_outranked`,
    /// `dial_patience` and the connect timeout after it started that comes after this).
    pub(crate) woken: Option<Instant>,
}

/// When a dial's timer fires: at each patience (the session then looks whether a candidate
/// waiting may take its slot), then at the connect timeout.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DialStages {
    /// `dial_patience_outranked` and `dial_patience`.
    pub(crate) patience: [Duration; 2],
    /// The connect is abandoned then.
    pub(crate) connect_timeout: Duration,
}

impl DialStages {
    /// The stages under `config`.
    pub(crate) fn of(config: &SessionConfig) -> Self {
        Self {
            patience: [config.dial_patience_outranked, config.dial_patience],
            connect_timeout: config.connect_timeout,
        }
    }

    /// `dial`'s next deadline: the first stage after its timer last fired.
    pub(crate) fn next(self, dial: &Dialing) -> Instant {
        let timeout = dial.since + self.connect_timeout;
        self.patience
            .iter()
            .map(|p| dial.since + *p)
            .filter(|at| *at < timeout && dial.woken.is_none_or(|w| *at > w))
            .min()
            .unwrap_or(timeout)
    }
}

/// One open connection.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) conn: Connection,
    pub(crate) addr: SocketAddr,
    /// The address the peer listens on, when known (outbound: `addr`; inbound: from its
    /// extended handshake). Its candidate entry is kept busy while connected.
    pub(crate) listen_addr: Option<SocketAddr>,
    /// `None` for an inbound connection until its handshake names the torrent (set only
    /// through [`Peers::name_torrent`]: the table indexes connections by torrent).
    pub(crate) torrent: Option<TorrentId>,
    pub(crate) key: PeerKey,
    pub(crate) outbound: bool,
    /// Handshake done and the peer registered with its torrent.
    pub(crate) established: bool,
    /// Registered with the torrent's picker.
    pub(crate) in_picker: bool,
    pub(crate) connected_at: Instant,
    /// When the peer's latest bytes arrived (`None`: none yet).
    pub(crate) heard_at: Option<Instant>,
    /// When the handshake finished (`None`: not yet).
    pub(crate) established_at: Option<Instant>,
    /// When the peer's latest message (anything but a keep-alive) arrived after the
    /// handshake (`None`: none yet).
    pub(crate) useful_at: Option<Instant>,
    /// When the peer last traded: a request from it we may serve, a block from it or to it
    /// (`None`: never).
    pub(crate) traded_at: Option<Instant>,
    /// Since when we unchoke the peer (`None`: we choke it).
    pub(crate) unchoked_at: Option<Instant>,
    /// We unchoked the peer while it was interested and it requested nothing for
    /// `unchoke_patience`; cleared when it trades.
    pub(crate) wasted: bool,
    pub(crate) down: RateMeter,
    pub(crate) up: RateMeter,
    /// The upload part: blocks being read for the peer, the send backlog.
    pub(crate) upload: Upload,
    /// The peer has every piece.
    pub(crate) seed: bool,
    /// Its client as its extended handshake names it (`v`).
    pub(crate) client: Option<String>,
    /// What we told the peer over ut_pex (`None`: it does not speak ut_pex, or the torrent
    /// is private).
    pub(crate) pex: Option<PexSender>,
    /// What hash requests of the peer's we may still answer (BEP 52).
    pub(crate) hash_budget: HashBudget,
    /// Changed since its deadline was last filed with [`ConnTimers`] (see [`Peers::get_mut`]).
    timer_dirty: bool,
}

impl Peer {
    pub(crate) fn new(
        conn: Connection,
        addr: SocketAddr,
        torrent: Option<TorrentId>,
        key: PeerKey,
        outbound: bool,
        now: Instant,
    ) -> Self {
        Self {
            conn,
            addr,
            listen_addr: None,
            torrent,
            key,
            outbound,
            established: false,
            in_picker: false,
            connected_at: now,
            heard_at: None,
            established_at: None,
            useful_at: None,
            traded_at: None,
            unchoked_at: None,
            wasted: false,
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            upload: Upload::default(),
            seed: false,
            client: None,
            pex: None,
            hash_budget: HashBudget::new(now),
            timer_dirty: false,
        }
    }
}

/// Every connection, by id, with the index of their deadlines and of their torrents and IPs.
///
/// A connection's deadline only moves when the connection changes, and every change goes
/// through [`Peers::get_mut`] (or opens, dials or removes one): each marks the connection dirty
/// once, and [`Peers::refresh_timers`] files the dirty ones' deadlines again. So the session's
/// next deadline never needs a scan of every connection. Likewise a connection's torrent and
/// address change only as it opens, is named by its handshake or goes, so the counts the
/// limits need and a torrent's connections are read from indexes, not counted over all.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    next_conn: u64,
    next_key: u32,
    dialing: BTreeMap<ConnId, Dialing>,
    open: BTreeMap<ConnId, Peer>,
    by_key: BTreeMap<PeerKey, ConnId>,
    /// Each torrent's open connections (those its handshake or dial named).
    open_by_torrent: BTreeMap<TorrentId, BTreeSet<ConnId>>,
    /// Each torrent's dials.
    dialing_by_torrent: BTreeMap<TorrentId, BTreeSet<ConnId>>,
    /// Connections (dialling or open) per IP.
    by_ip: BTreeMap<IpAddr, usize>,
    /// Open connections no handshake has named a torrent for yet.
    unnamed: usize,
    /// Torrents whose open connections went from none to some, or back, since the last
    /// [`Peers::take_torrents_touched`].
    touched: Vec<TorrentId>,
    /// Open connections we asked the runtime to stop reading: their torrent has too much
    /// received and not yet written (`max_unwritten_bytes`; see `receive_flow`).
    paused: BTreeSet<ConnId>,
    /// Connections changed since the last [`Peers::refresh_timers`] (each once).
    dirty: Vec<ConnId>,
    timers: ConnTimers,
    /// A dial ended or its timer fired (a patience ran out) since the last
    /// [`Peers::take_dial_news`]: torrents waiting at the half-open limit may dial.
    dial_news: bool,
    /// Addresses refused for opening useless connections.
    pub(crate) penalties: PenaltyBox,
}

impl Peers {
    /// A fresh connection id.
    pub(crate) fn alloc_conn(&mut self) -> ConnId {
        self.next_conn += 1;
        ConnId(self.next_conn)
    }

    /// A fresh picker key (never reused).
    pub(crate) fn alloc_key(&mut self) -> PeerKey {
        self.next_key = self.next_key.wrapping_add(1);
        PeerKey(self.next_key)
    }

    /// Adds an open connection.
    pub(crate) fn insert(&mut self, id: ConnId, mut peer: Peer) {
        self.by_key.insert(peer.key, id);
        count_ip(&mut self.by_ip, peer.addr.ip(), true);
        match peer.torrent {
            Some(torrent) => self.index_open(torrent, id, true),
            None => self.unnamed += 1,
        }
        peer.timer_dirty = true;
        self.dirty.push(id);
        self.open.insert(id, peer);
    }

    /// Removes an open connection.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Peer> {
        let peer = self.open.remove(&id)?;
        self.by_key.remove(&peer.key);
        count_ip(&mut self.by_ip, peer.addr.ip(), false);
        match peer.torrent {
            Some(torrent) => self.index_open(torrent, id, false),
            None => self.unnamed = self.unnamed.saturating_sub(1),
        }
        self.paused.remove(&id);
        self.dirty.push(id);
        Some(peer)
    }

    /// An inbound connection's handshake named torrent `torrent`: the connection, to change.
    pub(crate) fn name_torrent(&mut self, id: ConnId, torrent: TorrentId) -> Option<&mut Peer> {
        let before = self.open.get(&id)?.torrent;
        if before != Some(torrent) {
            match before {
                Some(old) => self.index_open(old, id, false),
                None => self.unnamed = self.unnamed.saturating_sub(1),
            }
            self.index_open(torrent, id, true);
        }
        let peer = self.get_mut(id)?;
        peer.torrent = Some(torrent);
        Some(peer)
    }

    /// Files (`add`) or unfiles open connection `id` under `torrent`, noting the torrent when
    /// it gains its first connection or loses its last.
    fn index_open(&mut self, torrent: TorrentId, id: ConnId, add: bool) {
        if index(&mut self.open_by_torrent, torrent, id, add) {
            self.touched.push(torrent);
        }
    }

    /// The torrents whose open connections went from none to some, or back, since the last
    /// call (a torrent may be listed more than once; ask [`Peers::has_open`] where it stands).
    pub(crate) fn take_torrents_touched(&mut self) -> Vec<TorrentId> {
        std::mem::take(&mut self.touched)
    }

    /// Whether torrent `torrent` has an open connection.
    pub(crate) fn has_open(&self, torrent: TorrentId) -> bool {
        self.open_by_torrent.contains_key(&torrent)
    }

    /// An open connection, to change: its deadline is filed again at the next
    /// [`Peers::refresh_timers`].
    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Peer> {
        let peer = self.open.get_mut(&id)?;
        if !peer.timer_dirty {
            peer.timer_dirty = true;
            self.dirty.push(id);
        }
        Some(peer)
    }

    /// Open connections, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (ConnId, &Peer)> {
        self.open.iter().map(|(id, p)| (*id, p))
    }

    /// Marks an open connection's reading paused; whether it was reading.
    pub(crate) fn pause_reading(&mut self, id: ConnId) -> bool {
        self.open.contains_key(&id) && self.paused.insert(id)
    }

    /// Marks a connection's reading resumed; whether it was paused.
    pub(crate) fn resume_reading(&mut self, id: ConnId) -> bool {
        self.paused.remove(&id)
    }

    /// The connections whose reading is paused, in id order.
    pub(crate) fn paused(&self) -> Vec<ConnId> {
        self.paused.iter().copied().collect()
    }

    /// Starts tracking an outbound connect.
    pub(crate) fn start_dial(&mut self, id: ConnId, dial: Dialing) {
        count_ip(&mut self.by_ip, dial.addr.ip(), true);
        index(&mut self.dialing_by_torrent, dial.torrent, id, true);
        if let Some(old) = self.dialing.insert(id, dial) {
            count_ip(&mut self.by_ip, old.addr.ip(), false);
            index(&mut self.dialing_by_torrent, old.torrent, id, false);
        }
        self.dirty.push(id);
    }

    /// Stops tracking an outbound connect (it finished, failed or was abandoned).
    pub(crate) fn end_dial(&mut self, id: ConnId) -> Option<Dialing> {
        let dial = self.dialing.remove(&id)?;
        count_ip(&mut self.by_ip, dial.addr.ip(), false);
        index(&mut self.dialing_by_torrent, dial.torrent, id, false);
        self.dirty.push(id);
        self.dial_news = true;
        Some(dial)
    }

    /// An outbound connect in progress.
    pub(crate) fn dial(&self, id: ConnId) -> Option<&Dialing> {
        self.dialing.get(&id)
    }

    /// The outbound connects in progress, in id order.
    pub(crate) fn dialing(&self) -> impl Iterator<Item = (ConnId, &Dialing)> {
        self.dialing.iter().map(|(id, d)| (*id, d))
    }

    /// A dial's timer fired at `now` (a patience ran out): its deadline moves to the next one.
    pub(crate) fn dial_woken(&mut self, id: ConnId, now: Instant) {
        if let Some(d) = self.dialing.get_mut(&id) {
            d.woken = Some(now);
            self.dirty.push(id);
            self.dial_news = true;
        }
    }

    /// Whether a dial ended or its timer fired since the last call.
    pub(crate) fn take_dial_news(&mut self) -> bool {
        std::mem::take(&mut self.dial_news)
    }

    /// Whether a dial's timer (a patience or the connect timeout, see [`DialStages`]) is due
    /// at `now` but has not fired yet.
    pub(crate) fn dial_stage_passed(&self, now: Instant, stages: DialStages) -> bool {
        self.dialing.values().any(|d| stages.next(d) <= now)
    }

    /// Whether some dial has been in progress for `patience` or longer at `now`.
    pub(crate) fn dial_older_than(&self, now: Instant, patience: Duration) -> bool {
        self.dialing
            .values()
            .any(|d| now.saturating_duration_since(d.since) >= patience)
    }

    /// Files the deadlines of the connections changed since the last call: `open` gives an
    /// open connection's; a dial's is the first of `stages.patience` after it started (when,
    /// at the half-open limit, it may give way to a candidate waiting), then
    /// `stages.connect_timeout` after it started, that comes after its timer last fired.
    pub(crate) fn refresh_timers(
        &mut self,
        stages: DialStages,
        open: impl Fn(&Peer) -> Option<Instant>,
    ) {
        for id in self.dirty.drain(..) {
            let at = match (self.open.get_mut(&id), self.dialing.get(&id)) {
                (Some(peer), _) => {
                    peer.timer_dirty = false;
                    open(peer)
                }
                (None, Some(dial)) => Some(stages.next(dial)),
                (None, None) => None,
            };
            self.timers.set(id, at);
        }
    }

    /// The earliest deadline of any connection (as of the last [`Peers::refresh_timers`]).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// The connections whose deadline is at or before `now` (as of the last
    /// [`Peers::refresh_timers`]), in id order.
    pub(crate) fn due(&self, now: Instant) -> Vec<ConnId> {
        self.timers.due(now)
    }

    pub(crate) fn get(&self, id: ConnId) -> Option<&Peer> {
        self.open.get(&id)
    }

    pub(crate) fn by_key(&self, key: PeerKey) -> Option<ConnId> {
        self.by_key.get(&key).copied()
    }

    /// Connections of any kind (dialling, handshaking, established).
    pub(crate) fn total(&self) -> usize {
        self.dialing.len() + self.open.len()
    }

    /// Outbound connects in progress.
    pub(crate) fn half_open(&self) -> usize {
        self.dialing.len()
    }

    /// Inbound connections whose handshake has not named a torrent yet.
    pub(crate) fn pending_inbound(&self) -> usize {
        self.unnamed
    }

    /// Connections (dialling or open) of one torrent.
    pub(crate) fn of_torrent(&self, torrent: TorrentId) -> usize {
        let count = |map: &BTreeMap<TorrentId, BTreeSet<ConnId>>| {
            map.get(&torrent).map_or(0, BTreeSet::len)
        };
        count(&self.dialing_by_torrent) + count(&self.open_by_torrent)
    }

    /// Connections (dialling or open) to one IP.
    pub(crate) fn to_ip(&self, ip: IpAddr) -> usize {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Ids of the open connections of a torrent, in order.
    pub(crate) fn ids_of(&self, torrent: TorrentId) -> Vec<ConnId> {
        self.open_ids(torrent).collect()
    }

    /// The open connections of a torrent, in id order.
    pub(crate) fn open_of(&self, torrent: TorrentId) -> impl Iterator<Item = (ConnId, &Peer)> {
        self.open_ids(torrent)
            .filter_map(|id| self.open.get(&id).map(|p| (id, p)))
    }

    /// Ids of the dialling connections of a torrent, in order.
    pub(crate) fn dialing_of(&self, torrent: TorrentId) -> Vec<ConnId> {
        let ids = self.dialing_by_torrent.get(&torrent);
        ids.into_iter().flatten().copied().collect()
    }

    fn open_ids(&self, torrent: TorrentId) -> impl Iterator<Item = ConnId> + '_ {
        self.open_by_torrent
            .get(&torrent)
            .into_iter()
            .flatten()
            .copied()
    }
}

/// Files (`add`) or unfiles `id` in `key`'s set; whether the set was empty before (`add`) or
/// is empty after (not `add`). Empty sets are not kept.
fn index<K: Ord>(map: &mut BTreeMap<K, BTreeSet<ConnId>>, key: K, id: ConnId, add: bool) -> bool {
    if add {
        let set = map.entry(key).or_default();
        set.insert(id) && set.len() == 1
    } else {
        let Some(set) = map.get_mut(&key) else {
            return false;
        };
        let emptied = set.remove(&id) && set.is_empty();
        if set.is_empty() {
            map.remove(&key);
        }
        emptied
    }
}

/// Counts one more (`add`) or one fewer connection to `ip`.
fn count_ip(by_ip: &mut BTreeMap<IpAddr, usize>, ip: IpAddr, add: bool) {
    if add {
        *by_ip.entry(ip).or_default() += 1;
    } else if let Some(n) = by_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            by_ip.remove(&ip);
        }
    }
}

impl Peers {
    /// Drains a connection's transmits into `out` (raw bytes, whatever the transport: during
    /// an encrypted handshake, its own) and returns its next event, if any. A message from
    /// an established peer marks it useful.
    pub(crate) fn next_event(
        &mut self,
        now: Instant,
        conn: ConnId,
        config: &SessionConfig,
        out: &mut Outputs,
    ) -> Option<WireEvent> {
        let peer = self.get_mut(conn)?;
        while let Some(payload) = peer.conn.poll_transmit() {
            peer.upload.count_unsent(now, payload.len(), config);
            out.transmit(Transmit {
                dest: Dest::Peer(conn),
                payload,
            });
        }
        let event = peer.conn.poll_event()?;
        if peer.established && is_message(&event) {
            peer.useful_at = Some(now);
        }
        if is_trade(&event) {
            peer.traded_at = Some(now);
            peer.wasted = false;
        }
        Some(event)
    }

    /// Raw bytes of a connection, through its transport into the connection (an inbound
    /// encrypted handshake may name any active torrent); drain it next.
    pub(crate) fn raw_input(
        &mut self,
        now: Instant,
        conn: ConnId,
        data: BytesMut,
        torrents: &Torrents,
    ) {
        let Some(peer) = self.get_mut(conn) else {
            return;
        };
        if !data.is_empty() {
            peer.heard_at = Some(now);
        }
        peer.conn
            .handle_raw_input(now, data, &handshake::Named(torrents));
    }
}

/// Whether a connection's event is a trade: a block from the peer, or a request the wire
/// let through (we unchoke the peer, or granted the piece allowed-fast).
fn is_trade(event: &WireEvent) -> bool {
    matches!(
        event,
        WireEvent::BlockReceived { .. } | WireEvent::RequestReceived(_)
    )
}

/// Whether a connection's event is a message from the peer (anything but a keep-alive,
/// which makes no event), as opposed to the handshake, a timer or the close.
fn is_message(event: &WireEvent) -> bool {
    !matches!(
        event,
        WireEvent::HandshakeReceived { .. }
            | WireEvent::Established { .. }
            | WireEvent::Misbehaved(_)
            | WireEvent::Closed(_)
    )
}
