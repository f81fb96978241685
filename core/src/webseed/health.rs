//! A web seed's health: each failure backs it off exponentially ([`FIRST_BACKOFF`], doubling,
//! up to [`MAX_BACKOFF`]); [`MAX_FAILURES`] in a row drop it. A success resets the count.

use std::time::Instant;

use super::{FIRST_BACKOFF, MAX_BACKOFF, MAX_FAILURES};

/// What a failure leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send nothing to the server until then.
    RetryAt(Instant),
    /// Too many failures: stop using the server.
    Drop,
}

/// Consecutive failures and the back-off they set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Health {
    /// A request failed at `now`.
    pub fn failed(&mut self, now: Instant) -> Verdict {
        self.failures += 1;
        if self.failures >= MAX_FAILURES {
            return Verdict::Drop;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << (self.failures - 1).min(16))
            .min(MAX_BACKOFF);
        let at = now + backoff;
        self.retry_at = Some(self.retry_at.map_or(at, |r| r.max(at)));
        Verdict::RetryAt(at)
    }

    /// The server said it is busy until `until`: nothing is sent to it before then, and it
    /// does not count as a failure.
    pub fn busy(&mut self, until: Instant) {
        self.retry_at = Some(self.retry_at.map_or(until, |r| r.max(until)));
    }

    /// A request succeeded: the count starts again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Whether requests may be sent at `now`.
    pub fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| at <= now)
    }

    /// When the back-off ends, if it has not yet at `now`.
    pub fn backoff_until(&self, now: Instant) -> Option<Instant> {
        self.retry_at.filter(|at| *at > now)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backs_off_exponentially_then_drops() {
        let now = Instant::now();
        let mut h = Health::default();
        assert!(h.ready(now));
        let mut waits = Vec::new();
        for _ in 1..MAX_FAILURES {
            let Verdict::RetryAt(at) = h.failed(now) else {
                panic!("dropped too early");
            };
            waits.push(at - now);
        }
        assert_eq!(
            waits[..3],
            [FIRST_BACKOFF, FIRST_BACKOFF * 2, FIRST_BACKOFF * 4]
        );
        assert!(!h.ready(now) && h.ready(now + MAX_BACKOFF));
        assert_eq!(h.failed(now), Verdict::Drop);
    }

    #[test]
    fn busy_waits_without_counting_a_failure() {
        let now = Instant::now();
        let mut h = Health::default();
        h.busy(now + Duration::from_secs(7));
        assert!(!h.ready(now) && h.ready(now + Duration::from_secs(7)));
        assert_eq!(h.failures(), 0);
        h.busy(now + Duration::from_secs(3));
        assert_eq!(h.backoff_until(now), Some(now + Duration::from_secs(7)));
    }

    #[test]
    fn a_success_resets_the_count() {
        let now = Instant::now();
        let mut h = Health::default();
        for _ in 1..MAX_FAILURES {
            let _ = h.failed(now);
        }
        h.succeeded();
        assert_eq!(h.failures(), 0);
        assert_eq!(
            h.failed(now + Duration::from_secs(1000)),
            Verdict::RetryAt(now + Duration::from_secs(1000) + FIRST_BACKOFF)
        );
    }
}
