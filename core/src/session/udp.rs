//! The DHT in the session: starting the node (from the saved state when it decodes), carrying
//! its datagrams and events (peers found become candidates of the public torrent they are
//! for), its `get_peers`/`announce` lookups per public torrent, and saving its state. The one
//! UDP socket is shared with the UDP trackers: the session routes each datagram to one or the
//! other. The node stays the session's field; [`DhtCx`] lends it, with what its routing
//! touches, for one step.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::SessionConfig;
use super::budget::{DhtBudget, DhtSlot};
use super::connect::OwnAddr;
use super::event::Event;
use super::io::{Action, TorrentId};
use super::outputs::Outputs;
use super::timers::{Timer, TimerTable};
use super::torrent::candidates::Source;
use super::torrent::table::Torrents;
use crate::dht::{Dht, DhtEvent, SavedState};
use crate::id::InfoHash;
use crate::rng::Rng;

/// The DHT node (if on) with what its routing borrows from the session for one step.
pub(crate) struct DhtCx<'a> {
    /// The node, `None` while the DHT is off.
    pub(crate) dht: &'a mut Option<Dht>,
    /// The torrents (peers found become their candidates; lookups per torrent).
    pub(crate) torrents: &'a mut Torrents,
    /// The lookups' rate budget.
    pub(crate) budget: &'a mut DhtBudget,
    /// The session's configuration.
    pub(crate) config: &'a SessionConfig,
    /// The session's timers (the state's save).
    pub(crate) timers: &'a mut TimerTable,
    /// The session's randomness (a node started at run time).
    pub(crate) rng: &'a mut Rng,
    /// Where datagrams, events and the saved state go.
    pub(crate) out: &'a mut Outputs,
    /// Our own addresses (never candidates).
    pub(crate) own: OwnAddr,
    /// The session is shutting down (no more saves scheduled, no switching).
    pub(crate) shutting_down: bool,
}

impl DhtCx<'_> {
    /// Sends the node's datagrams and hands the peers it found to their torrents.
    pub(crate) fn pump(&mut self) {
        if let Some(dht) = self.dht.as_mut() {
            pump(dht, self.out, self.torrents, self.own);
        }
    }

    /// A KRPC datagram (dropped while the DHT is off).
    pub(crate) fn datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if let Some(dht) = self.dht.as_mut() {
            dht.handle_datagram(now, from, data);
            self.pump();
        }
    }

    /// The node's timers due at `now`, then the lookups of the torrents due (see
    /// [`lookups`]).
    pub(crate) fn timeout(&mut self, now: Instant) {
        if let Some(dht) = self.dht.as_mut()
            && dht.poll_timeout().is_some_and(|t| t <= now)
        {
            dht.handle_timeout(now);
            self.pump();
        }
        if self.dht.is_some() {
            self.torrents.refresh_deadlines(now, true);
            let due = self.torrents.due(now);
            if let Some(dht) = self.dht.as_mut() {
                lookups(
                    dht,
                    now,
                    &due,
                    self.torrents,
                    self.budget,
                    self.config,
                    self.out,
                );
            }
            self.pump();
        }
    }

    /// Asks the runtime to persist the node's state (see [`save_state`]).
    pub(crate) fn save(&mut self, now: Instant) {
        if let Some(dht) = self.dht.as_ref() {
            save_state(dht, now, self.shutting_down, self.timers, self.out);
        }
    }

    /// Starts or stops the node at run time (not while shutting down); a node stopped is
    /// saved first, so that turning it on again (or the next start) knows the nodes.
    pub(crate) fn switch(&mut self, now: Instant, on: bool) {
        if on == self.dht.is_some() || self.shutting_down {
            return;
        }
        if on {
            *self.dht = start(self.config, now, self.rng, self.timers);
            self.pump();
        } else {
            self.save(now);
            self.timers.stop(Timer::DhtSave);
            *self.dht = None;
        }
        reschedule(now, on, self.torrents);
    }

    /// The gateway told our external address: the node believes it (and takes a BEP 42 id
    /// for it).
    pub(crate) fn external_ip(&mut self, now: Instant, ip: IpAddr) {
        if let Some(dht) = self.dht.as_mut() {
            dht.set_external_ip(now, ip);
            self.pump();
        }
    }
}

/// Time between saves of the DHT state while running.
const DHT_SAVE_EVERY: Duration = Duration::from_secs(600);

/// The DHT node if `config` asks for one, from the saved state when it decodes, bootstrapping;
/// its first save is due in [`DHT_SAVE_EVERY`].
pub(crate) fn start(
    config: &SessionConfig,
    now: Instant,
    rng: &mut Rng,
    timers: &mut TimerTable,
) -> Option<Dht> {
    if !config.dht {
        return None;
    }
    let mut dht_config = config.dht_config.clone();
    let mut nodes = Vec::new();
    if let Some(state) = config
        .dht_state
        .as_deref()
        .and_then(|b| SavedState::decode(b).ok())
    {
        dht_config.node_id = Some(state.id);
        nodes = state.addrs();
    }
    nodes.extend(config.dht_bootstrap.iter().copied());
    let mut dht = Dht::new(dht_config, now, rng.next_u64());
    if !nodes.is_empty() {
        dht.bootstrap(now, &nodes);
    }
    timers.set(Timer::DhtSave, now + DHT_SAVE_EVERY);
    Some(dht)
}

/// Sends the DHT's datagrams and handles its events: peers found become candidates of the
/// public torrent they are for.
pub(crate) fn pump(dht: &mut Dht, out: &mut Outputs, torrents: &mut Torrents, own: OwnAddr) {
    while let Some(t) = dht.poll_transmit() {
        out.transmit(t);
    }
    let mut found = Vec::new();
    while let Some(event) = dht.poll_event() {
        match event {
            DhtEvent::Bootstrapped { nodes } => out.event(Event::DhtStatus { nodes }),
            DhtEvent::Peers {
                info_hash, peers, ..
            } => found.push((info_hash, peers)),
            DhtEvent::LookupDone { .. } => {
                let nodes = dht.routing_table().len();
                out.event(Event::DhtStatus { nodes });
            }
            _ => {}
        }
    }
    for (info_hash, peers) in found {
        if let Some(t) = torrents
            .by_hash(&info_hash)
            .and_then(|id| torrents.get_mut(&id))
            && !t.private
        {
            t.add_candidates(&peers, Source::Dht, own);
        }
    }
}

/// Starts the DHT lookups that are due (of the torrents in `due`, those whose deadline is
/// due) as the budget allows: `announce` (which also finds peers) when our port is known,
/// else `get_peers`, under each of its hashes (a hybrid's v1 and truncated v2), each in a slot
/// of its own. One beyond the budget is put off to its slot (the torrent's deadline), and
/// [`Event::DhtAnnounceLate`] raised if that misses its 30-minute window; the round's next
/// hash is looked up then.
pub(crate) fn lookups(
    dht: &mut Dht,
    now: Instant,
    due: &[TorrentId],
    torrents: &mut Torrents,
    budget: &mut DhtBudget,
    config: &SessionConfig,
    out: &mut Outputs,
) {
    let port = config.listen_port;
    'torrents: for id in due {
        let Some(t) = torrents.get_mut(id) else {
            budget.forget(*id);
            continue;
        };
        if t.private || !t.is_active() || t.next_dht.is_none() {
            budget.forget(*id);
            continue;
        }
        if t.next_dht.is_some_and(|at| at > now) {
            continue;
        }
        // A hybrid is looked up under both of its hashes, as libtorrent does.
        let hashes: Vec<InfoHash> = t.handshake_ids().collect();
        for (i, hash) in hashes
            .into_iter()
            .enumerate()
            .skip(usize::from(t.dht_hashes_done))
        {
            match budget.slot((*id, i), now) {
                DhtSlot::Now => {}
                DhtSlot::Later(at) => {
                    t.next_dht = Some(at);
                    continue 'torrents;
                }
                DhtSlot::Late { at, window_end } => {
                    t.next_dht = Some(at);
                    out.event(Event::DhtAnnounceLate {
                        torrent: *id,
                        window_end,
                        at,
                    });
                    continue 'torrents;
                }
            }
            // At most two hashes (a hybrid's): the count fits.
            t.dht_hashes_done = u8::try_from(i + 1).unwrap_or(u8::MAX);
            if port != 0 {
                dht.announce(now, hash, port);
            } else {
                dht.get_peers(now, hash);
            }
        }
        t.dht_hashes_done = 0;
        t.next_dht = Some(now + config.dht_lookup_interval);
    }
}

/// The DHT node started (`true`) or stopped while torrents run: those that look peers up
/// do so at once, or no longer.
pub(crate) fn reschedule(now: Instant, on: bool, torrents: &mut Torrents) {
    for t in torrents.values_mut() {
        if !on {
            t.next_dht = None;
        } else if t.swarm_started && t.is_active() && !t.private && !t.options.no_outbound {
            t.next_dht = Some(now);
            t.dht_hashes_done = 0;
        }
    }
}

/// Asks the runtime to persist the DHT state; the next save is due in [`DHT_SAVE_EVERY`]
/// unless the session is shutting down.
pub(crate) fn save_state(
    dht: &Dht,
    now: Instant,
    shutting_down: bool,
    timers: &mut TimerTable,
    out: &mut Outputs,
) {
    let data = dht.saved_state(now).encode();
    out.action(Action::SaveDhtState { data });
    if !shutting_down {
        timers.set(Timer::DhtSave, now + DHT_SAVE_EVERY);
    }
}

#[cfg(test)]
#[path = "dht_lookup_tests.rs"]
mod dht_lookup_tests;
