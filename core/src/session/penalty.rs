//! The penalty box: addresses that keep opening useless connections are refused for a while.
//!
//! A strike is an inbound connection closed for uselessness (see
//! [`SessionConfig::penalty_strikes`](super::SessionConfig::penalty_strikes)). Strikes in a
//! row, each within `penalty_duration` of the one before, add up; at `penalty_strikes` the
//! address is refused for `penalty_duration`. An address that strikes out again within
//! `penalty_duration` of the end of its refusal is refused twice as long as the time before
//! (at most [`MAX_ESCALATION`] doublings); one quiet for `penalty_duration` starts afresh.
//! The table holds at most `max_penalized_addresses` entries: a flood from many addresses
//! forgets the least recently struck first, so its memory is bounded whatever the number of
//! addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::SessionConfig;

/// A connection refused at a limit within this of the address's previous one refused so is
/// quick (see [`PenaltyBox::refused_at_limit`]); clients back off for 10 s or more.
pub(crate) const HAMMER_WINDOW: Duration = Duration::from_secs(5);

/// The most times a refusal doubles (`penalty_duration` × 2⁴ = 16 min by default).
pub(crate) const MAX_ESCALATION: u32 = 4;

/// The record of one address.
#[derive(Clone, Copy, Debug)]
struct Entry {
    strikes: u32,
    last_strike: Instant,
    refused_until: Option<Instant>,
    /// Refusals in a row (each struck out within `penalty_duration` of the previous end).
    refusals: u32,
    /// When a connection from it was last refused at a connection limit.
    limited_at: Option<Instant>,
    /// Refusals at a limit in a row, each within [`HAMMER_WINDOW`] of the one before.
    quick: u32,
}

/// Strikes and penalties by address, bounded.
#[derive(Debug, Default)]
pub(crate) struct PenaltyBox {
    by_ip: BTreeMap<IpAddr, Entry>,
    /// `(last_strike, ip)` of every entry: the oldest is forgotten first.
    order: BTreeSet<(Instant, IpAddr)>,
}

/// The penalty box's settings (from the session's).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Penalties {
    pub(crate) strikes: u32,
    pub(crate) duration: Duration,
    pub(crate) capacity: usize,
}

impl Penalties {
    /// The session's settings.
    pub(crate) fn of(config: &SessionConfig) -> Self {
        Self {
            strikes: config.penalty_strikes,
            duration: config.penalty_duration,
            capacity: config.max_penalized_addresses,
        }
    }
}

impl Entry {
    fn fresh(now: Instant) -> Self {
        Self {
            strikes: 0,
            last_strike: now,
            refused_until: None,
            refusals: 0,
            limited_at: None,
            quick: 0,
        }
    }

    /// Whether the entry is forgotten at `now`: no strike and no refusal for `duration`.
    fn is_stale(&self, now: Instant, p: Penalties) -> bool {
        let last = self
            .refused_until
            .map_or(self.last_strike, |u| u.max(self.last_strike));
        now.saturating_duration_since(last) > p.duration
    }
}

impl PenaltyBox {
    /// Whether `ip` is refused at `now`.
    pub(crate) fn is_refused(&self, ip: IpAddr, now: Instant) -> bool {
        self.by_ip
            .get(&ip)
            .and_then(|e| e.refused_until)
            .is_some_and(|until| now < until)
    }

    /// Whether a connection from `ip` may only take a free slot at `now`, not another
    /// connection's: the address has strikes or a refusal it is still remembered for, or was
    /// refused at a limit within [`HAMMER_WINDOW`] (reconnecting at once gets no better than
    /// the connection refused).
    pub(crate) fn takes_only_free_slots(&self, ip: IpAddr, now: Instant, p: Penalties) -> bool {
        self.by_ip.get(&ip).is_some_and(|e| {
            let struck = (e.strikes > 0 || e.refusals > 0) && !e.is_stale(now, p);
            struck
                || e.limited_at
                    .is_some_and(|at| now.saturating_duration_since(at) <= HAMMER_WINDOW)
        })
    }

    /// A connection from `ip` was refused at a connection limit. Past one quick retry (clients
    /// retry at once with the other handshake), each refusal within [`HAMMER_WINDOW`] of the
    /// one before is a strike: clients back off; a flood reconnects at once. `true` when this
    /// makes it refused.
    pub(crate) fn refused_at_limit(&mut self, ip: IpAddr, now: Instant, p: Penalties) -> bool {
        if p.strikes == 0 || p.capacity == 0 {
            return false;
        }
        let quick = match self.by_ip.get(&ip) {
            Some(e)
                if e.limited_at
                    .is_some_and(|at| now.saturating_duration_since(at) <= HAMMER_WINDOW) =>
            {
                e.quick.saturating_add(1)
            }
            _ => 0,
        };
        let refused = quick >= 2 && self.strike(ip, now, p);
        if !self.by_ip.contains_key(&ip) {
            self.insert(ip, now, p);
        }
        if let Some(e) = self.by_ip.get_mut(&ip) {
            e.limited_at = Some(now);
            e.quick = quick;
        }
        refused
    }

    /// `ip` opened a useless connection; `true` when this strike makes it refused.
    pub(crate) fn strike(&mut self, ip: IpAddr, now: Instant, p: Penalties) -> bool {
        if p.strikes == 0 || p.capacity == 0 {
            return false;
        }
        let mut entry = match self.by_ip.remove(&ip) {
            Some(old) => {
                self.order.remove(&(old.last_strike, ip));
                old
            }
            None => {
                self.make_room(p);
                Entry::fresh(now)
            }
        };
        let refused = entry.refused_until.is_some_and(|until| now < until);
        if entry.is_stale(now, p) {
            entry = Entry {
                limited_at: entry.limited_at,
                quick: entry.quick,
                ..Entry::fresh(now)
            };
        }
        entry.strikes = entry.strikes.saturating_add(1);
        entry.last_strike = now;
        let newly = !refused && entry.strikes >= p.strikes;
        if newly {
            let length = p
                .duration
                .saturating_mul(1 << entry.refusals.min(MAX_ESCALATION));
            entry.refused_until = now
                .checked_add(length)
                .or_else(|| now.checked_add(p.duration));
            entry.refusals = entry.refusals.saturating_add(1);
            entry.strikes = 0;
        }
        self.by_ip.insert(ip, entry);
        self.order.insert((now, ip));
        newly
    }

    /// Forgets the least recently struck addresses until one more fits.
    fn make_room(&mut self, p: Penalties) {
        while self.by_ip.len() >= p.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.by_ip.remove(&oldest);
        }
    }

    /// Files a fresh entry for `ip` (room made first).
    fn insert(&mut self, ip: IpAddr, now: Instant, p: Penalties) {
        self.make_room(p);
        self.by_ip.insert(ip, Entry::fresh(now));
        self.order.insert((now, ip));
    }

    /// Addresses remembered.
    pub(crate) fn len(&self) -> usize {
        self.by_ip.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const P: Penalties = Penalties {
        strikes: 3,
        duration: Duration::from_secs(60),
        capacity: 4,
    };

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn three_strikes_refuse_an_address_for_the_duration() {
        let t0 = Instant::now();
        let mut b = PenaltyBox::default();
        assert!(!b.strike(ip(1), t0, P));
        assert!(!b.strike(ip(1), t0 + Duration::from_secs(1), P));
        assert!(!b.is_refused(ip(1), t0 + Duration::from_secs(2)));
        assert!(b.strike(ip(1), t0 + Duration::from_secs(2), P));
        assert!(b.is_refused(ip(1), t0 + Duration::from_secs(2)));
        assert!(b.is_refused(ip(1), t0 + Duration::from_secs(61)));
        assert!(!b.is_refused(ip(1), t0 + Duration::from_secs(62)));
        assert!(!b.is_refused(ip(2), t0 + Duration::from_secs(2)));
    }

    #[test]
    fn strikes_far_apart_are_forgotten() {
        let t0 = Instant::now();
        let mut b = PenaltyBox::default();
        for k in 0..10 {
            assert!(!b.strike(ip(1), t0 + Duration::from_secs(61 * k), P));
        }
        assert!(!b.is_refused(ip(1), t0 + Duration::from_secs(610)));
    }

    #[test]
    fn the_table_stays_bounded_and_forgets_the_oldest_first() {
        let t0 = Instant::now();
        let mut b = PenaltyBox::default();
        for k in 0..3 {
            b.strike(ip(1), t0 + Duration::from_secs(k), P);
        }
        assert!(b.is_refused(ip(1), t0 + Duration::from_secs(3)));
        for n in 2..200 {
            b.strike(ip(n), t0 + Duration::from_secs(3), P);
            assert!(b.len() <= P.capacity);
        }
        assert!(!b.is_refused(ip(1), t0 + Duration::from_secs(4)));
    }

    #[test]
    fn an_address_that_strikes_out_again_soon_after_is_refused_twice_as_long() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut b = PenaltyBox::default();
        let strike_out = |b: &mut PenaltyBox, from: u64| {
            assert!(!b.strike(ip(1), at(from), P));
            assert!(!b.strike(ip(1), at(from + 1), P));
            assert!(b.strike(ip(1), at(from + 2), P));
        };
        strike_out(&mut b, 0);
        assert!(b.is_refused(ip(1), at(61)) && !b.is_refused(ip(1), at(62)));
        // Back within the duration after the refusal: 120 s, then 240 s, ... up to 16×.
        strike_out(&mut b, 100);
        assert!(b.is_refused(ip(1), at(221)) && !b.is_refused(ip(1), at(222)));
        strike_out(&mut b, 230);
        assert!(b.is_refused(ip(1), at(471)) && !b.is_refused(ip(1), at(472)));
        strike_out(&mut b, 480);
        assert!(b.is_refused(ip(1), at(961)) && !b.is_refused(ip(1), at(962)));
        strike_out(&mut b, 970);
        assert!(b.is_refused(ip(1), at(1931)) && !b.is_refused(ip(1), at(1932)));
        // 16 × 60 s at most.
        strike_out(&mut b, 1940);
        assert!(b.is_refused(ip(1), at(2901)) && !b.is_refused(ip(1), at(2902)));
        // Quiet for the duration after the refusal ends: a fresh start.
        strike_out(&mut b, 2963);
        assert!(b.is_refused(ip(1), at(3024)) && !b.is_refused(ip(1), at(3025)));
    }

    #[test]
    fn an_address_that_reconnects_at_once_when_refused_at_a_limit_is_refused() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut b = PenaltyBox::default();
        // A client backing off 10 s and more is never refused for it.
        for k in 0..10 {
            assert!(!b.refused_at_limit(ip(1), at(k * 10_000), P));
        }
        assert!(!b.is_refused(ip(1), at(100_000)));
        // Nor one that retries once at once (the other handshake).
        for k in 0..10 {
            assert!(!b.refused_at_limit(ip(3), at(k * 10_000), P));
            assert!(!b.refused_at_limit(ip(3), at(k * 10_000 + 200), P));
        }
        assert!(!b.takes_only_free_slots(ip(3), at(100_000), P));
        // A flood reconnecting every half second: a refusal, a retry, then three strikes. From
        // its first refusal on it may take only free slots.
        for ms in [0, 500, 1000, 1500] {
            assert!(!b.refused_at_limit(ip(2), at(ms), P));
            assert!(b.takes_only_free_slots(ip(2), at(ms + 1), P));
        }
        assert!(b.refused_at_limit(ip(2), at(2000), P));
        assert!(b.is_refused(ip(2), at(61_000)));
        assert!(
            b.takes_only_free_slots(ip(2), at(121_000), P),
            "struck, remembered"
        );
        assert!(
            !b.takes_only_free_slots(ip(2), at(123_000), P),
            "forgotten after quiet"
        );
        // One refusal: only free slots within the window.
        b.refused_at_limit(ip(4), at(0), P);
        assert!(b.takes_only_free_slots(ip(4), at(5_000), P));
        assert!(!b.takes_only_free_slots(ip(4), at(5_001), P));
        // Bounded like the rest.
        for n in 5..200 {
            b.refused_at_limit(ip(n), at(2000), P);
            assert!(b.len() <= P.capacity);
        }
    }

    #[test]
    fn zero_strikes_or_capacity_turn_it_off() {
        let t0 = Instant::now();
        let mut b = PenaltyBox::default();
        let off = Penalties { strikes: 0, ..P };
        for _ in 0..10 {
            assert!(!b.strike(ip(1), t0, off));
        }
        assert_eq!(b.len(), 0);
        let off = Penalties { capacity: 0, ..P };
        assert!(!b.strike(ip(1), t0, off));
        assert_eq!(b.len(), 0);
    }
}
