//! Transfer rates ([`RateMeter`]: bytes per second over a sliding window, for progress and the
//! choker) and rate limits ([`TokenBucket`]: optional upload and download caps).

use std::time::{Duration, Instant};

/// Width of one bucket of a [`RateMeter`].
const SLOT: Duration = Duration::from_millis(500);
/// Buckets kept: the window is `SLOTS × SLOT` (5 s).
const SLOTS: usize = 10;

/// Bytes per second over the last few seconds, from samples added with `now`.
///
/// The window's slots are boxed and only while they may hold a byte: an idle meter (nothing
/// counted yet, or nothing within the window) holds none, so an idle torrent or connection
/// keeps 40 B instead of 112 B.
#[derive(Clone, Debug)]
pub(crate) struct RateMeter {
    epoch: Instant,
    /// Index of the slot `buckets[last % SLOTS]` holds.
    last: u64,
    /// `None`: every slot is zero.
    buckets: Option<Box<[u64; SLOTS]>>,
    total: u64,
}

impl RateMeter {
    /// A meter with nothing counted.
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            epoch: now,
            last: 0,
            buckets: None,
            total: 0,
        }
    }

    fn slot(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch);
        (since.as_millis() / SLOT.as_millis()) as u64
    }

    /// Moves the window to `now`, clearing slots that fell out of it.
    fn advance(&mut self, now: Instant) {
        let slot = self.slot(now);
        if slot <= self.last {
            return;
        }
        let gap = (slot - self.last).min(SLOTS as u64);
        if let Some(buckets) = self.buckets.as_mut() {
            for i in 1..=gap {
                buckets[((self.last + i) % SLOTS as u64) as usize] = 0;
            }
            if buckets.iter().all(|b| *b == 0) {
                self.buckets = None;
            }
        }
        self.last = slot;
    }

    /// Counts `bytes` transferred at `now`.
    pub(crate) fn add(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        let i = (self.last % SLOTS as u64) as usize;
        let buckets = self.buckets.get_or_insert_with(|| Box::new([0; SLOTS]));
        buckets[i] = buckets[i].saturating_add(bytes);
        self.total = self.total.saturating_add(bytes);
    }

    /// Moves the window to `now`: a window with nothing left in it gives its slots back.
    pub(crate) fn settle(&mut self, now: Instant) {
        self.advance(now);
    }

    /// Bytes per second over the window ending at `now` (shorter at the start).
    pub(crate) fn rate(&self, now: Instant) -> u64 {
        let Some(buckets) = self.buckets.as_deref() else {
            return 0;
        };
        let slot = self.slot(now);
        let oldest = slot.saturating_sub(SLOTS as u64 - 1);
        let sum: u64 = (oldest..=self.last.min(slot))
            .filter(|s| slot - s < SLOTS as u64)
            .map(|s| buckets[(s % SLOTS as u64) as usize])
            .sum();
        let since = now.saturating_duration_since(self.epoch);
        let window = since.min(SLOT * SLOTS as u32).max(SLOT);
        (sum as f64 / window.as_secs_f64()) as u64
    }

    /// Every byte counted.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// The longest [`TokenBucket::ready_at`] looks ahead (an hour).
const MAX_WAIT_NANOS: u64 = 3600 * 1_000_000_000;
/// Debt beyond this is treated as this much when computing the wait (it is capped anyway).
const MAX_DEBT: i64 = 1 << 40;

/// A token bucket: `rate` bytes per second with a burst of one second. Spending may go into
/// debt (a block is never split); nothing more is allowed until the debt is repaid.
///
/// An unlimited bucket (most torrents') holds nothing but an empty pointer (8 B); the state
/// of a limited one is boxed.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    /// `None`: unlimited.
    limit: Option<Box<Limit>>,
}

/// The state of a limited [`TokenBucket`].
#[derive(Clone, Debug)]
struct Limit {
    rate: u64,
    tokens: i64,
    last: Instant,
}

impl Limit {
    /// A full bucket of `rate` at `now`.
    fn full(now: Instant, rate: u64) -> Self {
        Self {
            rate,
            tokens: i64::try_from(rate).unwrap_or(i64::MAX),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        // Integer arithmetic, so that refilling at `ready_at()` always yields what it promised
        // (with floats, `rate × dt` could land a hair below one token and never progress).
        let dt = now.saturating_duration_since(self.last).as_nanos();
        let add = dt.saturating_mul(u128::from(self.rate)) / NANOS_PER_SEC;
        if add > 0 {
            self.last = now;
            let cap = i64::try_from(self.rate).unwrap_or(i64::MAX);
            let add = i64::try_from(add).unwrap_or(i64::MAX);
            self.tokens = self.tokens.saturating_add(add).min(cap);
        }
    }
}

impl TokenBucket {
    /// A bucket for `rate` bytes per second (`None`: unlimited).
    pub(crate) fn new(now: Instant, rate: Option<u64>) -> Self {
        Self {
            limit: rate
                .filter(|r| *r > 0)
                .map(|r| Box::new(Limit::full(now, r))),
        }
    }

    /// Changes the rate at `now` (`None`: unlimited). A bucket that was unlimited starts
    /// full; otherwise what it holds carries over, capped at the new burst.
    pub(crate) fn set_rate(&mut self, now: Instant, rate: Option<u64>) {
        let rate = rate.filter(|r| *r > 0);
        match (self.limit.as_mut(), rate) {
            (_, None) => self.limit = None,
            (None, Some(r)) => self.limit = Some(Box::new(Limit::full(now, r))),
            (Some(l), Some(r)) => {
                if l.rate == r {
                    return;
                }
                l.refill(now);
                l.tokens = l.tokens.min(i64::try_from(r).unwrap_or(i64::MAX));
                l.rate = r;
                l.last = now;
            }
        }
    }

    /// Whether spending is allowed at `now` (no debt).
    pub(crate) fn allows(&mut self, now: Instant) -> bool {
        let Some(l) = self.limit.as_mut() else {
            return true;
        };
        l.refill(now);
        l.tokens > 0
    }

    /// Spends `bytes` at `now`.
    pub(crate) fn spend(&mut self, now: Instant, bytes: u64) {
        let Some(l) = self.limit.as_mut() else {
            return;
        };
        l.refill(now);
        l.tokens = l
            .tokens
            .saturating_sub(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// When spending will be allowed again, if it is not now: the first instant at which
    /// [`TokenBucket::allows`] returns `true`.
    pub(crate) fn ready_at(&self) -> Option<Instant> {
        let l = self.limit.as_deref()?;
        if l.tokens > 0 {
            return None;
        }
        let need = u128::try_from(1 - l.tokens.max(-MAX_DEBT)).unwrap_or(1);
        let nanos = (need * NANOS_PER_SEC).div_ceil(u128::from(l.rate));
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX).min(MAX_WAIT_NANOS);
        Some(l.last + Duration::from_nanos(nanos))
    }
}

/// The buckets one transfer spends from: the torrent's own, and the session's unless the
/// torrent does not honour the session's limits.
pub(crate) struct Buckets<'a> {
    /// The session's bucket (`None`: not honoured).
    pub(crate) session: Option<&'a mut TokenBucket>,
    /// The torrent's own bucket (`None`: unlimited).
    pub(crate) torrent: Option<&'a mut TokenBucket>,
}

impl Buckets<'_> {
    /// Whether every bucket allows spending at `now`.
    pub(crate) fn allows(&mut self, now: Instant) -> bool {
        let session = self.session.as_mut().is_none_or(|b| b.allows(now));
        self.torrent.as_mut().is_none_or(|b| b.allows(now)) && session
    }

    /// Spends `bytes` from every bucket at `now`.
    pub(crate) fn spend(&mut self, now: Instant, bytes: u64) {
        if let Some(b) = self.session.as_mut() {
            b.spend(now, bytes);
        }
        if let Some(b) = self.torrent.as_mut() {
            b.spend(now, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_measures_a_steady_rate_and_forgets() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        for i in 0..100u64 {
            m.add(t0 + Duration::from_millis(i * 100), 10_000);
        }
        let r = m.rate(t0 + Duration::from_secs(10));
        assert!((90_000..=110_000).contains(&r), "rate {r}");
        assert_eq!(m.total(), 1_000_000);
        assert_eq!(m.rate(t0 + Duration::from_secs(30)), 0);
    }

    #[test]
    fn an_idle_meter_gives_its_window_back_and_counts_again() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        assert!(m.buckets.is_none());
        m.add(t0, 5_000);
        m.settle(t0 + Duration::from_secs(2));
        assert!(m.buckets.is_some(), "a byte is still in the window");
        assert_eq!(m.rate(t0 + Duration::from_secs(2)), 2_500);
        m.settle(t0 + Duration::from_secs(6));
        assert!(m.buckets.is_none());
        assert_eq!(m.rate(t0 + Duration::from_secs(6)), 0);
        let t1 = t0 + Duration::from_secs(20);
        m.add(t1, 10_000);
        assert_eq!(m.rate(t1 + Duration::from_secs(1)), 2_000);
        assert_eq!(m.total(), 15_000);
    }

    #[test]
    fn bucket_limits_and_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, Some(1000));
        assert!(b.allows(t0));
        b.spend(t0, 5000);
        assert!(!b.allows(t0));
        let ready = b.ready_at().unwrap();
        assert!(ready > t0 + Duration::from_secs(3) && ready <= t0 + Duration::from_secs(5));
        assert!(b.allows(t0 + Duration::from_secs(5)));
        let mut free = TokenBucket::new(t0, None);
        free.spend(t0, u64::MAX);
        assert!(free.allows(t0));
        assert_eq!(free.ready_at(), None);
    }

    #[test]
    fn rate_changes_at_run_time() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0, None);
        b.set_rate(t0, Some(1000));
        assert!(b.allows(t0));
        b.spend(t0, 3000);
        assert!(!b.allows(t0));
        // A lower rate keeps the debt and repays it more slowly.
        b.set_rate(t0, Some(500));
        let ready = b.ready_at().unwrap();
        assert!(ready > t0 + Duration::from_secs(4), "{ready:?}");
        // A higher rate repays it sooner; no limit forgives it.
        b.set_rate(t0, Some(1_000_000));
        assert!(b.allows(t0 + Duration::from_millis(3)));
        b.spend(t0 + Duration::from_millis(3), 10_000_000);
        b.set_rate(t0 + Duration::from_millis(3), None);
        assert!(b.allows(t0 + Duration::from_millis(3)));
        assert_eq!(b.ready_at(), None);
    }

    #[test]
    fn buckets_allow_only_when_both_do() {
        let t0 = Instant::now();
        let mut session = TokenBucket::new(t0, Some(1000));
        let mut torrent = TokenBucket::new(t0, None);
        let mut both = Buckets {
            session: Some(&mut session),
            torrent: Some(&mut torrent),
        };
        both.spend(t0, 2000);
        assert!(!both.allows(t0));
        let mut own = Buckets {
            session: None,
            torrent: Some(&mut torrent),
        };
        assert!(own.allows(t0), "a torrent that ignores the session's limit");
        let mut none = Buckets {
            session: Some(&mut session),
            torrent: None,
        };
        assert!(
            !none.allows(t0),
            "no bucket of its own: the session's decides"
        );
        torrent.set_rate(t0, Some(100));
        let mut own = Buckets {
            session: None,
            torrent: Some(&mut torrent),
        };
        own.spend(t0, 200);
        assert!(!own.allows(t0));
    }

    #[test]
    fn bucket_allows_at_the_instant_it_promised() {
        // A float computation of the wait could fall a hair short of one token, so the timer
        // fired at `ready_at` forever without progress (a livelock in the simulation).
        let t0 = Instant::now();
        for rate in [7, 1000, 12 * 1024, 12_345, 1 << 20, 999_999_937] {
            let mut b = TokenBucket::new(t0, Some(rate));
            let mut now = t0;
            for spend in [rate, 16 * 1024, 1, 77, rate + 1] {
                assert!(b.allows(now), "rate {rate}");
                b.spend(now, spend);
                let ready = b.ready_at().expect("in debt");
                assert!(ready > now, "rate {rate}: ready_at does not move forward");
                now = ready;
                assert!(b.allows(now), "rate {rate}: not allowed at ready_at");
            }
        }
    }
}
