//! LEDBAT congestion control (RFC 6817, with BEP 29's constants): keep the queueing delay our
//! packets add near a target, so that uTP yields to the user's other traffic.
//!
//! The one-way delay of our packets is measured by the peer (its clock minus our timestamp) and
//! echoed in `timestamp_difference_microseconds`. The two clocks are unrelated, so only the
//! delay above the lowest one seen (the base delay) means anything: that is the queueing delay.
//! The base is the minimum over [`BASE_HISTORY`] one-minute buckets, so that a route change
//! is forgotten after ten minutes; the current delay is the minimum of the last
//! [`CURRENT_FILTER`] samples, against noise. Clock drift: when the delays we measure for the
//! peer's packets fall (its clock runs fast against ours), the same drift makes ours look
//! longer, so our base is raised by that amount (at most 10 ms at a time), as libtorrent does.

use std::time::{Duration, Instant};

/// Queueing delay LEDBAT aims at.
pub const TARGET: Duration = Duration::from_millis(100);
/// Most bytes the window grows per round trip at zero delay (BEP 29's
/// `MAX_CWND_INCREASE_BYTES_PER_RTT`).
pub(crate) const GAIN_BYTES: f64 = 3000.0;
/// One-minute buckets of base-delay history (RFC 6817 `BASE_HISTORY`).
pub(crate) const BASE_HISTORY: usize = 10;
/// Length of one base-delay bucket.
pub(crate) const BASE_BUCKET: Duration = Duration::from_secs(60);
/// Samples the current delay is the minimum of (RFC 6817 `CURRENT_FILTER`).
pub(crate) const CURRENT_FILTER: usize = 4;
/// The window never goes below this many packets (RFC 6817 `MIN_CWND`).
pub(crate) const MIN_CWND_PACKETS: usize = 2;
/// The initial window, in packets (RFC 6817 `INIT_CWND`).
pub(crate) const INIT_CWND_PACKETS: usize = 2;
/// The largest window: 8 MiB.
pub(crate) const MAX_CWND: usize = 8 << 20;
/// The largest downward clock-drift correction taken at once, in microseconds.
const MAX_DRIFT_STEP_US: u32 = 10_000;
/// The strongest decrease factor (delay four times the target above it).
const MIN_OFF_TARGET: f64 = -4.0;

/// The congestion window and the delay measurements it follows.
#[derive(Clone, Debug)]
pub(crate) struct Ledbat {
    cwnd: f64,
    mss: usize,
    slow_start: bool,
    ssthresh: Option<f64>,
    /// Delays of our packets (as the peer measures them).
    ours: DelayHistory,
    /// Delays of the peer's packets (as we measure them), for drift correction.
    theirs: DelayHistory,
    current: [u32; CURRENT_FILTER],
    current_len: usize,
    current_next: usize,
}

impl Ledbat {
    /// A controller for packets of at most `mss` payload bytes.
    pub(crate) fn new(mss: usize) -> Self {
        Self {
            cwnd: (INIT_CWND_PACKETS * mss) as f64,
            mss,
            slow_start: true,
            ssthresh: None,
            ours: DelayHistory::default(),
            theirs: DelayHistory::default(),
            current: [0; CURRENT_FILTER],
            current_len: 0,
            current_next: 0,
        }
    }

    /// Packets now carry at most `mss` payload bytes (path MTU discovery raised it).
    pub(crate) fn set_mss(&mut self, mss: usize) {
        self.mss = mss;
        self.cwnd = self.cwnd.max(self.min_cwnd());
    }

    /// The congestion window in bytes.
    pub(crate) fn window(&self) -> usize {
        self.cwnd as usize
    }

    /// A delay sample for our packets: the peer's `timestamp_difference_microseconds`.
    pub(crate) fn on_our_delay(&mut self, now: Instant, echoed_us: u32) {
        self.ours.add(now, echoed_us);
        self.current[self.current_next] = echoed_us;
        self.current_next = (self.current_next + 1) % CURRENT_FILTER;
        self.current_len = (self.current_len + 1).min(CURRENT_FILTER);
    }

    /// A delay sample for the peer's packets (our clock minus its timestamp).
    pub(crate) fn on_their_delay(&mut self, now: Instant, measured_us: u32) {
        let before = self.theirs.base();
        self.theirs.add(now, measured_us);
        if let (Some(before), Some(after)) = (before, self.theirs.base()) {
            let fell = before.wrapping_sub(after);
            if fell > 0 && fell < MAX_DRIFT_STEP_US {
                self.ours.shift(fell);
            }
        }
    }

    /// Our queueing delay: the current delay above the base, once measured.
    pub(crate) fn queueing_delay(&self) -> Option<Duration> {
        let base = self.ours.base()?;
        let current = wrapping_min(self.current[..self.current_len].iter().copied())?;
        let above = current.wrapping_sub(base);
        // Below the base (the minimum just moved): no queue.
        let above = if (above as i32) < 0 { 0 } else { above };
        Some(Duration::from_micros(u64::from(above)))
    }

    /// `acked` bytes were newly acknowledged out of `in_flight` sent before; `limited` says
    /// whether the window, not the application, limited sending. `rtt` bounds the delay:
    /// a queue cannot hold a packet longer than a round trip.
    pub(crate) fn on_ack(
        &mut self,
        acked: usize,
        in_flight: usize,
        limited: bool,
        rtt: Option<Duration>,
    ) {
        if acked == 0 {
            return;
        }
        let Some(mut delay) = self.queueing_delay() else {
            return;
        };
        if let Some(rtt) = rtt {
            delay = delay.min(rtt);
        }
        let target = TARGET.as_secs_f64();
        let off_target = ((target - delay.as_secs_f64()) / target).max(MIN_OFF_TARGET);
        if delay >= TARGET && self.slow_start {
            self.slow_start = false;
            self.ssthresh = Some(self.cwnd);
        }
        let window_factor = acked as f64 / in_flight.max(acked).max(self.mss) as f64;
        let linear = GAIN_BYTES * off_target * window_factor;
        let gain = if !limited {
            // Not using the window: never grow it, but still yield to a queue.
            linear.min(0.0)
        } else if self.slow_start {
            let exponential = acked as f64;
            if self.ssthresh.is_some_and(|s| self.cwnd + exponential > s) {
                self.slow_start = false;
                linear
            } else {
                exponential.max(linear)
            }
        } else {
            linear
        };
        self.cwnd = (self.cwnd + gain).clamp(self.min_cwnd(), MAX_CWND as f64);
    }

    /// A packet was lost (once per round trip at most; the caller ensures it): halve.
    pub(crate) fn on_loss(&mut self) {
        self.cwnd = (self.cwnd / 2.0).max(self.min_cwnd());
        self.ssthresh = Some(self.cwnd);
        self.slow_start = false;
    }

    /// The retransmission timer fired with packets outstanding: one packet, slow start again.
    pub(crate) fn on_timeout(&mut self) {
        self.ssthresh = Some((self.cwnd / 2.0).max(self.min_cwnd()));
        self.cwnd = self.mss as f64;
        self.slow_start = true;
    }

    fn min_cwnd(&self) -> f64 {
        (MIN_CWND_PACKETS * self.mss) as f64
    }
}

/// Minimum delays over one-minute buckets, the last [`BASE_HISTORY`] of them.
#[derive(Clone, Debug, Default)]
pub(crate) struct DelayHistory {
    buckets: [Option<u32>; BASE_HISTORY],
    current: usize,
    started: Option<Instant>,
}

impl DelayHistory {
    /// Adds a sample taken at `now`.
    pub(crate) fn add(&mut self, now: Instant, sample: u32) {
        let rotate = self
            .started
            .is_none_or(|s| now.saturating_duration_since(s) >= BASE_BUCKET);
        if rotate {
            if self.started.is_some() {
                self.current = (self.current + 1) % BASE_HISTORY;
            }
            self.buckets[self.current] = Some(sample);
            self.started = Some(now);
        } else {
            let slot = &mut self.buckets[self.current];
            *slot = wrapping_min(slot.iter().copied().chain([sample]));
        }
    }

    /// The lowest delay of the history.
    pub(crate) fn base(&self) -> Option<u32> {
        wrapping_min(self.buckets.iter().flatten().copied())
    }

    /// Raises every bucket by `by` microseconds (clock-drift correction).
    pub(crate) fn shift(&mut self, by: u32) {
        for b in self.buckets.iter_mut().flatten() {
            *b = b.wrapping_add(by);
        }
    }
}

/// The minimum of timestamps that wrap at 2^32 (all within half the space of each other).
fn wrapping_min(values: impl Iterator<Item = u32>) -> Option<u32> {
    values.reduce(|a, b| if (b.wrapping_sub(a) as i32) < 0 { b } else { a })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn base_history_forgets_after_ten_minutes() {
        let t0 = Instant::now();
        let mut h = DelayHistory::default();
        h.add(t0, 5_000);
        h.add(t0 + ms(10), 9_000);
        assert_eq!(h.base(), Some(5_000));
        for minute in 1..=9 {
            h.add(t0 + Duration::from_secs(60 * minute), 20_000);
        }
        assert_eq!(h.base(), Some(5_000));
        h.add(t0 + Duration::from_secs(600), 20_000);
        assert_eq!(h.base(), Some(20_000));
    }

    #[test]
    fn minimum_handles_wrapping_timestamps() {
        assert_eq!(
            wrapping_min([u32::MAX - 5, 3, u32::MAX].into_iter()),
            Some(u32::MAX - 5)
        );
        let t0 = Instant::now();
        let mut l = Ledbat::new(MSS);
        l.on_our_delay(t0, u32::MAX - 999);
        l.on_our_delay(t0, 49_000);
        l.on_our_delay(t0, 49_000);
        l.on_our_delay(t0, 49_000);
        l.on_our_delay(t0, 49_000);
        assert_eq!(l.queueing_delay(), Some(Duration::from_micros(50_000)));
    }

    #[test]
    fn grows_below_target_and_shrinks_above() {
        let t0 = Instant::now();
        let mut l = Ledbat::new(MSS);
        l.on_our_delay(t0, 1_000_000);
        let w0 = l.window();
        l.on_ack(MSS, 4 * MSS, true, None);
        assert_eq!(l.window(), w0 + MSS, "slow start adds the acked bytes");
        l.on_ack(MSS, 2 * MSS, true, None);
        assert_eq!(l.window(), w0 + MSS + 1500, "or the linear gain if larger");
        // 250 ms of queue: slow start ends and the window shrinks.
        for _ in 0..CURRENT_FILTER {
            l.on_our_delay(t0, 1_250_000);
        }
        let w1 = l.window();
        l.on_ack(MSS, w1, true, None);
        assert!(l.window() < w1);
        // Back at 50 ms: grows linearly, at most GAIN_BYTES per window acked.
        for _ in 0..CURRENT_FILTER {
            l.on_our_delay(t0, 1_050_000);
        }
        let w2 = l.window();
        l.on_ack(w2, w2, true, None);
        assert_eq!(l.window(), w2 + (GAIN_BYTES / 2.0) as usize);
        // Not window-limited: no growth.
        let w3 = l.window();
        l.on_ack(MSS, w3, false, None);
        assert_eq!(l.window(), w3);
    }

    #[test]
    fn loss_halves_and_timeout_restarts() {
        let mut l = Ledbat::new(MSS);
        l.cwnd = 100.0 * MSS as f64;
        l.on_loss();
        assert_eq!(l.window(), 50 * MSS);
        for _ in 0..20 {
            l.on_loss();
        }
        assert_eq!(l.window(), MIN_CWND_PACKETS * MSS);
        l.on_timeout();
        assert_eq!(l.window(), MSS);
        assert!(l.slow_start);
    }

    #[test]
    fn clock_drift_raises_our_base() {
        let t0 = Instant::now();
        let mut l = Ledbat::new(MSS);
        l.on_their_delay(t0, 500_000);
        l.on_our_delay(t0, 100_000);
        // The peer's clock runs 2 ms fast: our samples grow by 2 ms, theirs fall by 2 ms.
        l.on_their_delay(t0 + ms(1000), 498_000);
        for _ in 0..CURRENT_FILTER {
            l.on_our_delay(t0 + ms(1000), 102_000);
        }
        assert_eq!(l.queueing_delay(), Some(Duration::ZERO));
        // A fall of more than 10 ms is not drift: ignored.
        l.on_their_delay(t0 + ms(2000), 400_000);
        for _ in 0..CURRENT_FILTER {
            l.on_our_delay(t0 + ms(2000), 152_000);
        }
        assert_eq!(l.queueing_delay(), Some(ms(50)));
    }
}
