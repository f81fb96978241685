//! Round-trip time estimate and retransmission timeout (BEP 29, as TCP's RFC 6298).

use std::time::Duration;

/// The retransmission timeout before any round trip was measured.
pub(crate) const INITIAL_RTO: Duration = Duration::from_secs(1);
/// The shortest retransmission timeout (BEP 29: 500 ms).
pub(crate) const MIN_RTO: Duration = Duration::from_millis(500);
/// The longest retransmission timeout, back-off included.
pub(crate) const MAX_RTO: Duration = Duration::from_secs(60);

/// Smoothed round-trip time and its variance, and the back-off of the timeout.
#[derive(Clone, Debug, Default)]
pub(crate) struct RttEstimator {
    /// Smoothed RTT and mean deviation, once measured.
    estimate: Option<(Duration, Duration)>,
    /// Timeouts in a row without an acknowledgement: the RTO doubles for each.
    backoff: u32,
}

impl RttEstimator {
    /// Adds a sample from a packet sent once and acknowledged (Karn's rule: never a resent one).
    pub(crate) fn sample(&mut self, rtt: Duration) {
        self.estimate = Some(match self.estimate {
            None => (rtt, rtt / 2),
            Some((srtt, var)) => {
                let delta = srtt.abs_diff(rtt);
                // rtt_var += (|rtt - packet_rtt| - rtt_var) / 4; rtt += (packet_rtt - rtt) / 8
                let var = var - var / 4 + delta / 4;
                let srtt = srtt - srtt / 8 + rtt / 8;
                (srtt, var)
            }
        });
    }

    /// Called when an acknowledgement arrives: the back-off ends.
    pub(crate) fn acked(&mut self) {
        self.backoff = 0;
    }

    /// Called when the retransmission timer fires: the next timeout is twice as long.
    pub(crate) fn timed_out(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// The smoothed RTT, once measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.estimate.map(|(s, _)| s)
    }

    /// The retransmission timeout: `max(rtt + 4 rtt_var, 500 ms)` doubled per timeout in a
    /// row, at most a minute.
    pub(crate) fn rto(&self) -> Duration {
        let base = self
            .estimate
            .map_or(INITIAL_RTO, |(s, v)| (s + 4 * v).max(MIN_RTO));
        base.saturating_mul(1 << self.backoff.min(16)).min(MAX_RTO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_follows_samples_and_backs_off() {
        let mut r = RttEstimator::default();
        assert_eq!(r.rto(), INITIAL_RTO);
        r.sample(Duration::from_millis(200));
        assert_eq!(r.srtt(), Some(Duration::from_millis(200)));
        assert_eq!(r.rto(), Duration::from_millis(600));
        for _ in 0..50 {
            r.sample(Duration::from_millis(100));
        }
        assert_eq!(r.rto(), MIN_RTO);
        r.timed_out();
        assert_eq!(r.rto(), 2 * MIN_RTO);
        r.timed_out();
        assert_eq!(r.rto(), 4 * MIN_RTO);
        for _ in 0..40 {
            r.timed_out();
        }
        assert_eq!(r.rto(), MAX_RTO);
        r.acked();
        assert_eq!(r.rto(), MIN_RTO);
    }
}
