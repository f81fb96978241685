//! The DHT in the session: starting the node (from the saved state when it decodes), carrying
//! its datagrams and events (peers found become candidates of the public torrent they are
//! for), its `get_peers`/`announce` lookups per public torrent, and saving its state. The one
//! UDP socket is shared with the UDP trackers: the session routes each datagram to one or the
//! other.

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
use crate::rng::Rng;

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
/// due) as the budget allows (one beyond it is put off to its slot, and
/// [`Event::DhtAnnounceLate`] raised if that misses its 30-minute window): `announce` (which
/// also finds peers) when our port is known, else `get_peers`.
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
    for id in due {
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
        match budget.slot(*id, now) {
            DhtSlot::Now => {}
            DhtSlot::Later(at) => {
                t.next_dht = Some(at);
                continue;
            }
            DhtSlot::Late { at, window_end } => {
                t.next_dht = Some(at);
                out.event(Event::DhtAnnounceLate {
                    torrent: *id,
                    window_end,
                    at,
                });
                continue;
            }
        }
        t.next_dht = Some(now + config.dht_lookup_interval);
        if port != 0 {
            dht.announce(now, t.info_hash, port);
        } else {
            dht.get_peers(now, t.info_hash);
        }
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
