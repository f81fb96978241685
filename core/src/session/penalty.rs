//! The penalty box: addresses that keep opening useless connections are refused for a while.
//!
//! A strike is an inbound connection closed for uselessness (see
//! [`SessionConfig::penalty_strikes`](super::SessionConfig::penalty_strikes)). Strikes in a
//! row, each within `penalty_duration` of the one before, add up; at `penalty_strikes` the
//! address is refused until `penalty_duration` has passed. The table holds at most
//! `max_penalized_addresses` entries: a flood from many addresses forgets the least recently
//! struck first, so its memory is bounded whatever the number of addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The record of one address.
#[derive(Clone, Copy, Debug)]
struct Entry {
    strikes: u32,
    last_strike: Instant,
    refused_until: Option<Instant>,
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

impl PenaltyBox {
    /// Whether `ip` is refused at `now`.
    pub(crate) fn is_refused(&self, ip: IpAddr, now: Instant) -> bool {
        self.by_ip
            .get(&ip)
            .and_then(|e| e.refused_until)
            .is_some_and(|until| now < until)
    }

    /// `ip` opened a useless connection; `true` when this strike makes it refused.
    pub(crate) fn strike(&mut self, ip: IpAddr, now: Instant, p: Penalties) -> bool {
        if p.strikes == 0 || p.capacity == 0 {
            return false;
        }
        let fresh = Entry {
            strikes: 0,
            last_strike: now,
            refused_until: None,
        };
        let mut entry = match self.by_ip.remove(&ip) {
            Some(old) => {
                self.order.remove(&(old.last_strike, ip));
                old
            }
            None => {
                while self.by_ip.len() >= p.capacity {
                    let Some((_, oldest)) = self.order.pop_first() else {
                        break;
                    };
                    self.by_ip.remove(&oldest);
                }
                fresh
            }
        };
        let refused = entry.refused_until.is_some_and(|until| now < until);
        if now.saturating_duration_since(entry.last_strike) > p.duration && !refused {
            entry = fresh;
        }
        entry.strikes = entry.strikes.saturating_add(1);
        entry.last_strike = now;
        let newly = !refused && entry.strikes >= p.strikes;
        if newly {
            entry.refused_until = Some(now + p.duration);
            entry.strikes = 0;
        }
        self.by_ip.insert(ip, entry);
        self.order.insert((now, ip));
        newly
    }

    /// Addresses remembered.
    #[cfg(test)]
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
