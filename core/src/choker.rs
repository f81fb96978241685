//! The choker: which interested peers we upload to.
//!
//! [`Choker::rechoke`] takes a snapshot of the peers' statistics and `now`, and returns the set
//! of peers to unchoke (every other peer is choked). Rules:
//! - **downloading**: tit-for-tat; the `upload_slots` interested peers that send to us fastest
//!   are unchoked, except peers that snub us (anti-snubbing: no reciprocation for a peer that
//!   sends nothing while unchoking us; it can still win the optimistic slot);
//! - **seeding**: peers take turns: a peer keeps its slot for `seed_turn`, then goes behind the
//!   peers that have waited longest, so every interested peer is served; among peers holding a
//!   turn, the fastest upload ranks first;
//! - **optimistic unchoke**: `optimistic_slots` more interested peers chosen at random among the
//!   rest, rotated every `optimistic_interval`; peers connected within `new_peer_age` weigh
//!   `new_peer_weight` times as much (3× as libtorrent and the BitTorrent spec suggest), so a
//!   newcomer with nothing to trade can get its first pieces.
//!
//! Call [`Choker::rechoke`] when [`Choker::poll_timeout`] expires (every `rechoke_interval`),
//! and also when an unchoked peer disconnects or loses interest, so its slot is not wasted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::picker::PeerKey;
use crate::rng::Rng;

/// Tunables of the choker: who each torrent uploads to (tit-for-tat while downloading, turns
/// while seeding, plus optimistic unchokes).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChokerConfig {
    /// Regular upload slots (tit-for-tat or seeding turns).
    pub upload_slots: usize,
    /// Optimistic unchokes on top of the regular slots.
    pub optimistic_slots: usize,
    /// Time between regular rechokes.
    pub rechoke_interval: Duration,
    /// Time between optimistic unchoke rotations.
    pub optimistic_interval: Duration,
    /// Peers connected for less than this count as new for the optimistic unchoke.
    pub new_peer_age: Duration,
    /// How many times more likely a new peer is to win the optimistic unchoke.
    pub new_peer_weight: u32,
    /// While seeding, how long a peer keeps its slot before others get a turn.
    pub seed_turn: Duration,
}

impl Default for ChokerConfig {
    fn default() -> Self {
        Self {
            upload_slots: 4,
            optimistic_slots: 1,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            new_peer_age: Duration::from_secs(90),
            new_peer_weight: 3,
            seed_turn: Duration::from_secs(30),
        }
    }
}

/// Whether we are still downloading the torrent or only seeding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ChokeMode {
    /// We still want pieces: reciprocate by download rate.
    Downloading,
    /// We have everything: serve peers in turn.
    Seeding,
}

/// One peer's statistics at rechoke time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PeerStats {
    /// The peer.
    pub peer: PeerKey,
    /// Whether the peer is interested in our pieces (only interested peers are unchoked).
    pub interested: bool,
    /// Bytes per second we receive from it.
    pub download_rate: u64,
    /// Bytes per second we send to it.
    pub upload_rate: u64,
    /// When the connection was established.
    pub connected_at: Instant,
    /// Whether it snubs us (unchoked us but sent nothing for a while; see the picker).
    pub snubbed: bool,
    /// Whether it wasted its last unchoke (requested nothing; see the session's
    /// `unchoke_patience`): it ranks after every other interested peer until it trades.
    pub wasted: bool,
}

/// The outcome of a rechoke.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) struct ChokeDecision {
    /// Every peer to unchoke (regular and optimistic); choke all others.
    pub unchoke: BTreeSet<PeerKey>,
    /// The optimistic unchokes among them.
    pub optimistic: Vec<PeerKey>,
}

/// A peer's seeding turns.
#[derive(Clone, Copy, Debug, Default)]
struct Turn {
    /// Start of its current turn, if it holds a slot.
    since: Option<Instant>,
    /// End of its last turn.
    ended: Option<Instant>,
}

/// Decides who we upload to; see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct Choker {
    /// Shared by the chokers of a session's torrents.
    config: Arc<ChokerConfig>,
    /// What its random generator starts from.
    seed: u64,
    /// Its generator, clocks and decisions, boxed from its first use (`None`: as made, or
    /// forgotten: see [`Choker::forget`]), so that a released torrent keeps 24 B, not 80 B.
    state: Option<Box<State>>,
}

/// What a [`Choker`] holds once used.
#[derive(Clone, Debug)]
struct State {
    rng: Rng,
    next_rechoke: Option<Instant>,
    optimistic_at: Option<Instant>,
    /// Who is unchoked and the seeding turns, boxed while any is held (`None`: all empty;
    /// a torrent without peers, such as an idle seed, keeps 8 B instead of 72 B).
    peers: Option<Box<Peers>>,
}

impl State {
    /// The state of a choker made from `seed` and not used yet.
    fn boxed(seed: u64) -> Box<Self> {
        Box::new(Self {
            rng: Rng::new(seed),
            next_rechoke: None,
            optimistic_at: None,
            peers: None,
        })
    }
}

/// A choker's decisions about peers.
#[derive(Clone, Debug, Default)]
struct Peers {
    optimistic: Vec<PeerKey>,
    regular: BTreeSet<PeerKey>,
    turns: BTreeMap<PeerKey, Turn>,
}

impl Peers {
    fn is_empty(&self) -> bool {
        self.optimistic.is_empty() && self.regular.is_empty() && self.turns.is_empty()
    }
}

/// No decision about any peer.
static NO_PEERS: Peers = Peers {
    optimistic: Vec::new(),
    regular: BTreeSet::new(),
    turns: BTreeMap::new(),
};

impl Choker {
    /// A choker with the given tunables; `seed` drives its random choices.
    #[cfg(test)]
    pub(crate) fn new(config: ChokerConfig, seed: u64) -> Self {
        Self::with_shared_config(Arc::new(config), seed)
    }

    /// A choker with tunables shared with other chokers; `seed` drives its random choices.
    pub(crate) fn with_shared_config(config: Arc<ChokerConfig>, seed: u64) -> Self {
        Self {
            config,
            seed,
            state: None,
        }
    }

    /// Forgets its state (a released torrent's: no peer, no rechoke filed): it is as made
    /// again, its random sequence starting anew from its seed and its first rechoke due at
    /// once, as a new choker's.
    pub(crate) fn forget(&mut self) {
        self.state = None;
    }

    /// Its state, made now if need be.
    fn state(&mut self) -> &mut State {
        let seed = self.seed;
        self.state.get_or_insert_with(|| State::boxed(seed))
    }

    /// When the next rechoke is due (`None` before the first one: rechoke at once).
    #[must_use]
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.state.as_ref().and_then(|s| s.next_rechoke)
    }

    /// Decides who to unchoke at `now` from a snapshot of all connected peers. Peers absent from
    /// `peers` are forgotten.
    pub(crate) fn rechoke(
        &mut self,
        now: Instant,
        mode: ChokeMode,
        peers: &[PeerStats],
    ) -> ChokeDecision {
        let mut state = (self.state.take()).unwrap_or_else(|| State::boxed(self.seed));
        state.next_rechoke = Some(now + self.config.rechoke_interval);
        let mut held = state.peers.take().unwrap_or_default();
        held.turns.retain(|k, _| peers.iter().any(|p| p.peer == *k));
        let regular = match mode {
            ChokeMode::Downloading => self.tit_for_tat(&held, peers),
            ChokeMode::Seeding => self.seed_turns(&held, now, peers),
        };
        update_turns(&mut held.turns, now, peers, &regular);
        held.regular = regular;
        self.rotate_optimistic(&mut state, &mut held, now, peers);
        let mut unchoke = held.regular.clone();
        unchoke.extend(held.optimistic.iter().copied());
        let decision = ChokeDecision {
            unchoke,
            optimistic: held.optimistic.clone(),
        };
        state.peers = (!held.is_empty()).then_some(held);
        self.state = Some(state);
        decision
    }

    /// What it decided about peers.
    fn held(&self) -> &Peers {
        (self.state.as_ref())
            .and_then(|s| s.peers.as_deref())
            .unwrap_or(&NO_PEERS)
    }

    /// Rechokes over no peer at each rechoke due before `now`, as [`Choker::rechoke`] would
    /// have then. A torrent without connections leaves its rechokes unfiled (each would decide
    /// over no peer) and catches up here before its choker is used again; the cost does not
    /// grow with the time it waited.
    pub(crate) fn idle_until(&mut self, now: Instant) {
        let Some(first) = self.poll_timeout().filter(|at| *at < now) else {
            return;
        };
        self.rechoke(first, ChokeMode::Downloading, &[]);
        let Some(next) = self.poll_timeout().filter(|at| *at < now) else {
            return;
        };
        // From here a rechoke over no peer only moves the two clocks: the next rechoke one
        // interval on, and the optimistic rotation at each rechoke it is due.
        let step = self.config.rechoke_interval.as_nanos();
        let opt = self.config.optimistic_interval.as_nanos();
        let state = self.state();
        let skipped = (now - next).as_nanos().div_ceil(step.max(1));
        let last = later(next, (skipped - 1) * step);
        let rotated = state.optimistic_at.and_then(|at| {
            let due = later(at, opt)?;
            let first = if due <= next {
                next
            } else {
                later(next, (due - next).as_nanos().div_ceil(step.max(1)) * step)?
            };
            let last = last.filter(|last| first <= *last)?;
            let every = opt.div_ceil(step.max(1)).max(1) * step;
            later(first, (last - first).as_nanos() / every.max(1) * every)
        });
        match last.and_then(|last| later(last, step)) {
            Some(at) if step > 0 => {
                state.next_rechoke = Some(at);
                if rotated.is_some() {
                    state.optimistic_at = rotated;
                }
            }
            // A zero interval (every timeout rechokes) or an instant out of range: due now.
            _ => state.next_rechoke = Some(now),
        }
    }

    /// A rechoke due before `now` (or not yet scheduled) becomes due at `now`: when a
    /// torrent's rechokes stop being filed, the one due would have run at `now`.
    pub(crate) fn due_from(&mut self, now: Instant) {
        let state = self.state();
        state.next_rechoke = Some(state.next_rechoke.map_or(now, |at| at.max(now)));
    }

    /// Whether `peer` is unchoked by the last decision.
    pub(crate) fn is_unchoked(&self, peer: PeerKey) -> bool {
        let held = self.held();
        held.regular.contains(&peer) || held.optimistic.contains(&peer)
    }

    /// The fastest senders among interested peers that do not snub us.
    fn tit_for_tat(&self, held: &Peers, peers: &[PeerStats]) -> BTreeSet<PeerKey> {
        let mut ranked: Vec<&PeerStats> = peers
            .iter()
            .filter(|p| p.interested && !p.snubbed)
            .collect();
        // Ties favour the peers that use their slot, then those already unchoked (fewer
        // choke/unchoke flips), then the key.
        ranked.sort_by_key(|p| {
            (
                std::cmp::Reverse(p.download_rate),
                p.wasted,
                !held.regular.contains(&p.peer),
                p.peer,
            )
        });
        ranked
            .iter()
            .take(self.config.upload_slots)
            .map(|p| p.peer)
            .collect()
    }

    /// Seeding: holders of an unexpired turn first (fastest upload first), then the peers that
    /// waited longest, then holders whose turn expired, then the peers that wasted their last
    /// unchoke.
    fn seed_turns(&self, held: &Peers, now: Instant, peers: &[PeerStats]) -> BTreeSet<PeerKey> {
        let mut ranked: Vec<(u8, Option<Instant>, std::cmp::Reverse<u64>, PeerKey)> = peers
            .iter()
            .filter(|p| p.interested)
            .map(|p| {
                let turn = held.turns.get(&p.peer).copied().unwrap_or_default();
                let group = match turn.since {
                    _ if p.wasted => 3,
                    Some(since) if now < since + self.config.seed_turn => 0,
                    Some(_) => 2,
                    None => 1,
                };
                let waited = if group == 1 { turn.ended } else { None };
                (group, waited, std::cmp::Reverse(p.upload_rate), p.peer)
            })
            .collect();
        ranked.sort();
        ranked
            .iter()
            .take(self.config.upload_slots)
            .map(|r| r.3)
            .collect()
    }

    /// Keeps the optimistic unchokes until their interval ends (or they stop being eligible),
    /// then draws new ones, new peers weighted up.
    fn rotate_optimistic(
        &self,
        state: &mut State,
        held: &mut Peers,
        now: Instant,
        peers: &[PeerStats],
    ) {
        let eligible = |k: &PeerKey, regular: &BTreeSet<PeerKey>| {
            peers.iter().any(|p| p.peer == *k && p.interested) && !regular.contains(k)
        };
        let wasted = |k: &PeerKey| peers.iter().any(|p| p.peer == *k && p.wasted);
        let due = state
            .optimistic_at
            .is_none_or(|at| now >= at + self.config.optimistic_interval);
        let previous = std::mem::take(&mut held.optimistic);
        if !due {
            held.optimistic = previous
                .iter()
                .copied()
                .filter(|k| eligible(k, &held.regular) && !wasted(k))
                .collect();
        }
        let mut pool: Vec<&PeerStats> = peers
            .iter()
            .filter(|p| eligible(&p.peer, &held.regular) && !held.optimistic.contains(&p.peer))
            .collect();
        // Prefer peers that did not waste their last unchoke; on rotation, someone other than
        // the last optimistic peers.
        if pool.iter().any(|p| !p.wasted) {
            pool.retain(|p| !p.wasted);
        }
        if due && pool.iter().any(|p| !previous.contains(&p.peer)) {
            pool.retain(|p| !previous.contains(&p.peer));
        }
        let mut drew = false;
        while held.optimistic.len() < self.config.optimistic_slots && !pool.is_empty() {
            let weight = |p: &PeerStats| {
                if now.saturating_duration_since(p.connected_at) < self.config.new_peer_age {
                    u64::from(self.config.new_peer_weight.max(1))
                } else {
                    1
                }
            };
            let total: u64 = pool.iter().map(|p| weight(p)).sum();
            let mut ticket = state.rng.below(total);
            let mut chosen = pool.len() - 1;
            for (i, p) in pool.iter().enumerate() {
                let w = weight(p);
                if ticket < w {
                    chosen = i;
                    break;
                }
                ticket -= w;
            }
            held.optimistic.push(pool.swap_remove(chosen).peer);
            drew = true;
        }
        if due || drew {
            state.optimistic_at = Some(now);
        }
    }
}

/// Starts the turns of the peers `regular` now unchokes and ends those of the others.
fn update_turns(
    turns: &mut BTreeMap<PeerKey, Turn>,
    now: Instant,
    peers: &[PeerStats],
    regular: &BTreeSet<PeerKey>,
) {
    for p in peers {
        let turn = turns.entry(p.peer).or_default();
        match (turn.since.is_some(), regular.contains(&p.peer)) {
            (false, true) => turn.since = Some(now),
            (true, false) => {
                turn.since = None;
                turn.ended = Some(now);
            }
            _ => {}
        }
    }
}

/// `base` plus `nanos` nanoseconds (`None`: out of range).
fn later(base: Instant, nanos: u128) -> Option<Instant> {
    base.checked_add(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(now: Instant, n: u32) -> Vec<PeerStats> {
        (0..n)
            .map(|i| PeerStats {
                peer: PeerKey(i),
                interested: true,
                download_rate: u64::from(i) * 1000,
                upload_rate: u64::from(i) * 10,
                connected_at: now - Duration::from_secs(1000),
                snubbed: false,
                wasted: false,
            })
            .collect()
    }

    fn keys(ks: &[u32]) -> BTreeSet<PeerKey> {
        ks.iter().map(|k| PeerKey(*k)).collect()
    }

    #[test]
    fn a_choker_without_peers_holds_no_peer_sets() {
        let now = Instant::now();
        let mut c = Choker::new(ChokerConfig::default(), 1);
        let peers = |c: &Choker| c.state.as_ref().and_then(|s| s.peers.as_ref()).is_some();
        assert!(c.state.is_none(), "nothing made before its first use");
        let d = c.rechoke(now, ChokeMode::Seeding, &stats(now, 3));
        assert_eq!(d.unchoke, keys(&[0, 1, 2]));
        assert!(peers(&c), "unchoked peers and their turns are held");
        assert!(c.is_unchoked(PeerKey(1)));
        let d = c.rechoke(now + Duration::from_secs(10), ChokeMode::Seeding, &[]);
        assert!(d.unchoke.is_empty());
        assert!(!peers(&c), "every peer gone: nothing held");
        assert!(!c.is_unchoked(PeerKey(1)));
        assert!(size_of::<Choker>() <= 24, "{}", size_of::<Choker>());
    }

    #[test]
    fn tit_for_tat_unchokes_the_fastest_interested_senders() {
        let now = Instant::now();
        let mut peers = stats(now, 10);
        peers[9].interested = false;
        let mut c = Choker::new(ChokerConfig::default(), 1);
        let d = c.rechoke(now, ChokeMode::Downloading, &peers);
        let regular: BTreeSet<PeerKey> = d
            .unchoke
            .iter()
            .copied()
            .filter(|k| !d.optimistic.contains(k))
            .collect();
        assert_eq!(regular, keys(&[5, 6, 7, 8]));
        assert_eq!(d.optimistic.len(), 1);
        assert!(d.optimistic[0].0 < 5, "optimistic among the rest");
        assert!(!d.unchoke.contains(&PeerKey(9)), "not interested");
        assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(10)));
    }

    #[test]
    fn upload_slots_are_configurable() {
        let now = Instant::now();
        let config = ChokerConfig {
            upload_slots: 2,
            optimistic_slots: 0,
            ..Default::default()
        };
        let mut c = Choker::new(config, 1);
        let d = c.rechoke(now, ChokeMode::Downloading, &stats(now, 10));
        assert_eq!(d.unchoke, keys(&[8, 9]));
        assert!(d.optimistic.is_empty());
    }

    #[test]
    fn snubbing_peers_get_no_reciprocation() {
        let now = Instant::now();
        let mut peers = stats(now, 6);
        peers[5].snubbed = true;
        let config = ChokerConfig {
            optimistic_slots: 0,
            ..Default::default()
        };
        let mut c = Choker::new(config, 1);
        let d = c.rechoke(now, ChokeMode::Downloading, &peers);
        assert_eq!(d.unchoke, keys(&[1, 2, 3, 4]));
    }

    #[test]
    fn peers_that_wasted_their_unchoke_rank_after_every_other() {
        let now = Instant::now();
        // Seeding: 0..=3 wasted their last unchoke and upload fastest; 4..=7 wait.
        let mut peers = stats(now, 8);
        for p in &mut peers[..4] {
            p.wasted = true;
            p.upload_rate = 1_000_000;
        }
        let mut c = Choker::new(ChokerConfig::default(), 1);
        let d = c.rechoke(now, ChokeMode::Seeding, &peers);
        let regular: BTreeSet<PeerKey> = d
            .unchoke
            .iter()
            .copied()
            .filter(|k| !d.optimistic.contains(k))
            .collect();
        assert_eq!(regular, keys(&[4, 5, 6, 7]));
        assert_eq!(d.optimistic.len(), 1, "only the wasted are left for it");
        // Downloading, equal rates: those that use their slot first. Then the optimistic slot
        // goes to the one left that did not waste it.
        let mut peers = stats(now, 6);
        for p in &mut peers {
            p.download_rate = 0;
        }
        peers[0].wasted = true;
        peers[1].wasted = true;
        let config = ChokerConfig {
            optimistic_slots: 0,
            ..Default::default()
        };
        let d = Choker::new(config, 1).rechoke(now, ChokeMode::Downloading, &peers);
        assert_eq!(d.unchoke, keys(&[2, 3, 4, 5]));
        let mut peers = stats(now, 7);
        peers[0].wasted = true;
        peers[1].wasted = true;
        for seed in 0..20 {
            let mut c = Choker::new(ChokerConfig::default(), seed);
            let d = c.rechoke(now, ChokeMode::Downloading, &peers);
            assert_eq!(d.optimistic, [PeerKey(2)], "seed {seed}");
        }
    }

    #[test]
    fn optimistic_unchoke_rotates_every_30_seconds() {
        let t0 = Instant::now();
        let peers = stats(t0, 12);
        let mut c = Choker::new(ChokerConfig::default(), 7);
        let first = c.rechoke(t0, ChokeMode::Downloading, &peers).optimistic;
        for s in [10, 20] {
            let d = c.rechoke(t0 + Duration::from_secs(s), ChokeMode::Downloading, &peers);
            assert_eq!(d.optimistic, first, "kept until the interval ends");
        }
        let d = c.rechoke(t0 + Duration::from_secs(30), ChokeMode::Downloading, &peers);
        assert_eq!(d.optimistic.len(), 1);
        assert_ne!(d.optimistic, first, "rotated to another peer");
        // An optimistic peer that loses interest is replaced at once.
        let mut gone = peers.clone();
        gone[d.optimistic[0].0 as usize].interested = false;
        let d2 = c.rechoke(t0 + Duration::from_secs(40), ChokeMode::Downloading, &gone);
        assert_eq!(d2.optimistic.len(), 1);
        assert_ne!(d2.optimistic, d.optimistic);
    }

    #[test]
    fn new_peers_are_three_times_as_likely_to_be_optimistic() {
        let now = Instant::now();
        // Peers 4..=7 compete for the optimistic slot; 7 is new.
        let mut peers = stats(now, 8);
        for p in &mut peers[..4] {
            p.download_rate = 1_000_000;
        }
        peers[7].connected_at = now - Duration::from_secs(5);
        let mut new_wins = 0;
        let trials = 2000;
        for seed in 0..trials {
            let mut c = Choker::new(ChokerConfig::default(), seed);
            if c.rechoke(now, ChokeMode::Downloading, &peers).optimistic == [PeerKey(7)] {
                new_wins += 1;
            }
        }
        // Weight 3 against 1+1+1: expected share 1/2 (uniform would be 1/4).
        let share = f64::from(new_wins) / trials as f64;
        assert!((0.44..0.56).contains(&share), "{share}");
    }

    #[test]
    fn seeding_serves_every_interested_peer_in_turn() {
        let t0 = Instant::now();
        let peers = stats(t0, 10);
        let config = ChokerConfig {
            optimistic_slots: 0,
            ..Default::default()
        };
        let mut c = Choker::new(config, 3);
        let mut served = BTreeSet::new();
        let first = c.rechoke(t0, ChokeMode::Seeding, &peers);
        assert_eq!(
            first.unchoke,
            keys(&[6, 7, 8, 9]),
            "first turns go to the fastest uploads"
        );
        for step in 0..9 {
            let d = c.rechoke(
                t0 + Duration::from_secs(10 * step),
                ChokeMode::Seeding,
                &peers,
            );
            assert_eq!(d.unchoke.len(), 4);
            served.extend(d.unchoke);
        }
        assert_eq!(served.len(), 10, "every interested peer got a turn");
    }

    #[test]
    fn same_seed_same_decisions() {
        let now = Instant::now();
        let peers = stats(now, 20);
        let run = || {
            let mut c = Choker::new(ChokerConfig::default(), 99);
            (0..10)
                .map(|i| {
                    c.rechoke(
                        now + Duration::from_secs(i * 10),
                        ChokeMode::Seeding,
                        &peers,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    /// What [`Choker::idle_until`] stands for: a rechoke over no peer at each instant due.
    fn rechoke_idle_one_by_one(c: &mut Choker, now: Instant) {
        while let Some(at) = c.poll_timeout().filter(|at| *at < now) {
            c.rechoke(at, ChokeMode::Downloading, &[]);
        }
    }

    #[test]
    fn idling_until_an_instant_equals_every_rechoke_over_no_peer_before_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let intervals = [
            (10_000, 30_000),
            (10_000, 25_000),
            (7_000, 30_000),
            (30_000, 10_000),
        ];
        let ends = [
            0, 1, 5_000, 10_000, 10_001, 29_999, 30_000, 95_000, 3_601_500, 86_400_000,
        ];
        for (rechoke, optimistic) in intervals {
            for end in ends {
                for busy_for in [0, 3_000, 12_345] {
                    let config = ChokerConfig {
                        rechoke_interval: ms(rechoke),
                        optimistic_interval: ms(optimistic),
                        ..ChokerConfig::default()
                    };
                    let mut lazy = Choker::new(config, 5);
                    // Peers first (their last rechoke at `busy_for`), then none.
                    lazy.rechoke(t0, ChokeMode::Downloading, &stats(t0, 8));
                    let last_busy = t0 + ms(busy_for);
                    lazy.rechoke(last_busy, ChokeMode::Seeding, &stats(t0, 8));
                    let mut eager = lazy.clone();
                    let now = last_busy + ms(end);
                    rechoke_idle_one_by_one(&mut eager, now);
                    // In two steps, as a torrent woken twice would.
                    lazy.idle_until(last_busy + ms(end / 3));
                    lazy.idle_until(now);
                    let case = (rechoke, optimistic, end, busy_for);
                    assert_eq!(format!("{lazy:?}"), format!("{eager:?}"), "{case:?}");
                }
            }
        }
    }

    #[test]
    fn a_rechoke_due_before_it_stopped_being_filed_is_due_then() {
        let t0 = Instant::now();
        let mut c = Choker::new(ChokerConfig::default(), 1);
        c.due_from(t0);
        assert_eq!(c.poll_timeout(), Some(t0), "never rechoked: due at once");
        c.rechoke(t0, ChokeMode::Seeding, &[]);
        let later = t0 + Duration::from_secs(25);
        c.due_from(later);
        assert_eq!(c.poll_timeout(), Some(later));
        c.due_from(t0);
        assert_eq!(c.poll_timeout(), Some(later), "a later one stays");
    }

    #[test]
    fn a_forgotten_choker_starts_anew_from_its_seed() {
        let t0 = Instant::now();
        let peers = stats(t0, 20);
        let decide = |c: &mut Choker, from: Instant| {
            (0..10)
                .map(|i| {
                    let at = from + Duration::from_secs(i * 30);
                    c.rechoke(at, ChokeMode::Seeding, &peers).optimistic
                })
                .collect::<Vec<_>>()
        };
        let mut c = Choker::new(ChokerConfig::default(), 7);
        let first = decide(&mut c, t0);
        c.forget();
        assert!(c.state.is_none(), "nothing held");
        assert_eq!(c.poll_timeout(), None, "its next rechoke due at once");
        assert!(!c.is_unchoked(first[9][0]), "its decisions gone");
        // The same draws as at first: its sequence starts again from the seed.
        assert_eq!(decide(&mut c, t0), first);
    }
}
