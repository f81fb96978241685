//! The one UDP socket: routing each datagram to the DHT or to the UDP tracker it answers, and
//! driving the DHT node (bootstrap, `get_peers`/`announce` per public torrent, saved state).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Session;
use super::event::Event;
use super::io::Action;
use super::timers::Timer;
use super::torrent::candidates::Source;
use crate::dht::{Dht, DhtEvent, SavedState, looks_like_krpc};

/// Time between saves of the DHT state while running.
const DHT_SAVE_EVERY: Duration = Duration::from_secs(600);

impl Session {
    /// Starts the DHT node if configured, from the saved state when it decodes.
    pub(super) fn start_dht(&mut self, now: Instant) {
        if !self.config.dht {
            return;
        }
        let mut config = self.config.dht_config.clone();
        let mut nodes = Vec::new();
        if let Some(state) = self
            .config
            .dht_state
            .as_deref()
            .and_then(|b| SavedState::decode(b).ok())
        {
            config.node_id = Some(state.id);
            nodes = state.addrs();
        }
        nodes.extend(self.config.dht_bootstrap.iter().copied());
        let mut dht = Dht::new(config, now, self.rng.next_u64());
        if !nodes.is_empty() {
            dht.bootstrap(now, &nodes);
        }
        self.dht = Some(dht);
        self.timers.set(Timer::DhtSave, now + DHT_SAVE_EVERY);
        self.pump_dht(now);
    }

    /// Routes a datagram: KRPC to the DHT, anything else to the UDP tracker it matches.
    pub(super) fn route_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if looks_like_krpc(data) {
            if let Some(dht) = self.dht.as_mut() {
                dht.handle_datagram(now, from, data);
                self.pump_dht(now);
            }
            return;
        }
        let Some(tracker) = self.trackers.udp.get_mut(&from) else {
            return;
        };
        if tracker.matches(from, data) {
            // A bad datagram is dropped; the operation retransmits or times out.
            let _ = tracker.handle_datagram(now, data);
            self.pump_udp_tracker(now, from);
        }
    }

    /// Sends the DHT's datagrams and handles its events.
    pub(super) fn pump_dht(&mut self, _now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        while let Some(t) = dht.poll_transmit() {
            self.transmits.push_back(t);
        }
        let mut found = Vec::new();
        while let Some(event) = dht.poll_event() {
            match event {
                DhtEvent::Bootstrapped { nodes } => {
                    self.events.push_back(Event::DhtStatus { nodes });
                }
                DhtEvent::Peers {
                    info_hash, peers, ..
                } => found.push((info_hash, peers)),
                DhtEvent::LookupDone { .. } => {
                    let nodes = dht.routing_table().len();
                    self.events.push_back(Event::DhtStatus { nodes });
                }
                _ => {}
            }
        }
        for (info_hash, peers) in found {
            if let Some(&id) = self.by_hash.get(&info_hash)
                && self.torrents.get(&id).is_some_and(|t| !t.private)
            {
                self.add_candidates(id, &peers, Source::Dht);
            }
        }
    }

    /// Starts the DHT lookups that are due: `announce` (which also finds peers) when our
    /// port is known, else `get_peers`.
    pub(super) fn dht_lookups(&mut self, now: Instant) {
        let Some(dht) = self.dht.as_mut() else {
            return;
        };
        let port = self.config.listen_port;
        for t in self.torrents.values_mut() {
            if t.private || !t.is_active() || t.next_dht.is_none_or(|at| at > now) {
                continue;
            }
            t.next_dht = Some(now + self.config.dht_lookup_interval);
            if port != 0 {
                dht.announce(now, t.info_hash, port);
            } else {
                dht.get_peers(now, t.info_hash);
            }
        }
        self.pump_dht(now);
    }

    /// Starts or stops the DHT node at run time (see [`Session::set_dht`]).
    pub(super) fn switch_dht(&mut self, now: Instant, on: bool) {
        self.config.dht = on;
        if on == self.dht.is_some() || self.shutting_down {
            return;
        }
        if on {
            self.start_dht(now);
            for t in self.torrents.values_mut() {
                if t.swarm_started && t.is_active() && !t.private && !t.options.no_outbound {
                    t.next_dht = Some(now);
                }
            }
        } else {
            // Saved, so that turning it on again (or the next start) knows the nodes.
            self.save_dht_state(now);
            self.timers.stop(Timer::DhtSave);
            self.dht = None;
            for t in self.torrents.values_mut() {
                t.next_dht = None;
            }
        }
    }

    /// Asks the runtime to persist the DHT state.
    pub(super) fn save_dht_state(&mut self, now: Instant) {
        if let Some(dht) = self.dht.as_ref() {
            let data = dht.saved_state(now).encode();
            self.actions.push_back(Action::SaveDhtState { data });
            if !self.shutting_down {
                self.timers.set(Timer::DhtSave, now + DHT_SAVE_EVERY);
            }
        }
    }
}
