//! Rate limiting of incoming queries: a token bucket per IP, a bounded table of buckets, one
//! shared bucket for addresses that do not fit in the table, and one global bucket every
//! answer draws from, so a flood from many (spoofed) addresses costs bounded memory, bounded
//! work per datagram and bounded upload. Per-IP state expires once its bucket has refilled.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Rate-limit settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Queries per second answered for one IP, on average.
    pub per_ip_per_sec: u32,
    /// Queries one IP may send in a burst.
    pub per_ip_burst: u32,
    /// Most IPs tracked individually.
    pub max_tracked: usize,
    /// Queries per second shared by all IPs that find the table full.
    pub overflow_per_sec: u32,
    /// Queries per second answered over all IPs together, on average.
    pub global_per_sec: u32,
    /// Queries answered over all IPs together in a burst.
    pub global_burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_ip_per_sec: 50,
            per_ip_burst: 200,
            max_tracked: 4096,
            overflow_per_sec: 200,
            global_per_sec: 500,
            global_burst: 1000,
        }
    }
}

/// The limiter.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    config: RateLimit,
    buckets: BTreeMap<IpAddr, Bucket>,
    overflow: Bucket,
    global: Bucket,
    last_prune: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Thousandths of a query.
    milli: u64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, now: Instant, per_sec: u32, burst: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_millis();
        let refill = u64::try_from(elapsed)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(per_sec));
        self.milli = self
            .milli
            .saturating_add(refill)
            .min(u64::from(burst) * 1000);
        self.last = self.last.max(now);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }

    fn is_full(&self, now: Instant, per_sec: u32, burst: u32) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_millis();
        let refill = u64::try_from(elapsed)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(per_sec));
        self.milli.saturating_add(refill) >= u64::from(burst) * 1000
    }
}

impl RateLimiter {
    /// A limiter with `config`.
    pub fn new(config: RateLimit, now: Instant) -> Self {
        Self {
            config,
            buckets: BTreeMap::new(),
            overflow: Bucket {
                milli: u64::from(config.overflow_per_sec) * 1000,
                last: now,
            },
            global: Bucket {
                milli: u64::from(config.global_burst) * 1000,
                last: now,
            },
            last_prune: None,
        }
    }

    /// Whether a query from `ip` may be answered now (and counts it against the IP's bucket
    /// and the global one).
    pub fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let c = self.config;
        self.allow_ip(now, ip) && self.global.take(now, c.global_per_sec, c.global_burst)
    }

    fn allow_ip(&mut self, now: Instant, ip: IpAddr) -> bool {
        let c = self.config;
        if let Some(bucket) = self.buckets.get_mut(&ip) {
            return bucket.take(now, c.per_ip_per_sec, c.per_ip_burst);
        }
        if self.buckets.len() >= c.max_tracked {
            self.expire(now);
        }
        if self.buckets.len() >= c.max_tracked {
            return self
                .overflow
                .take(now, c.overflow_per_sec, c.overflow_per_sec);
        }
        let mut bucket = Bucket {
            milli: u64::from(c.per_ip_burst) * 1000,
            last: now,
        };
        let ok = bucket.take(now, c.per_ip_per_sec, c.per_ip_burst);
        self.buckets.insert(ip, bucket);
        ok
    }

    /// The number of IPs tracked.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Forgets IPs whose bucket has refilled (they would start full anyway). Runs at most once
    /// a second, so a flood of new addresses does not make every datagram scan the table; the
    /// node also calls it from its periodic maintenance.
    pub fn expire(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_prune = Some(now);
        let c = self.config;
        self.buckets
            .retain(|_, b| !b.is_full(now, c.per_ip_per_sec, c.per_ip_burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ip_is_limited_to_burst_then_rate() {
        let t0 = Instant::now();
        let config = RateLimit {
            per_ip_per_sec: 10,
            per_ip_burst: 20,
            max_tracked: 100,
            overflow_per_sec: 5,
            global_per_sec: 1_000_000,
            global_burst: 1_000_000,
        };
        let mut rl = RateLimiter::new(config, t0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let allowed = (0..100).filter(|_| rl.allow(t0, ip)).count();
        assert_eq!(allowed, 20);
        // One second later: ten more.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| rl.allow(t1, ip)).count(), 10);
        // Another IP is unaffected.
        assert!(rl.allow(t1, "10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn many_ips_bound_memory_and_share_the_overflow_bucket() {
        let t0 = Instant::now();
        let config = RateLimit {
            per_ip_per_sec: 10,
            per_ip_burst: 20,
            max_tracked: 100,
            overflow_per_sec: 5,
            global_per_sec: 1_000_000,
            global_burst: 1_000_000,
        };
        let mut rl = RateLimiter::new(config, t0);
        let mut allowed = 0;
        for i in 0..10_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            if rl.allow(t0, ip) {
                allowed += 1;
            }
        }
        assert_eq!(rl.tracked(), 100);
        assert_eq!(allowed, 100 + 5, "tracked IPs plus the overflow burst");
        // Once the buckets refill, the table is pruned and makes room.
        let later = t0 + Duration::from_secs(5);
        assert!(rl.allow(later, "11.0.0.1".parse().unwrap()));
        assert_eq!(rl.tracked(), 1);
    }

    #[test]
    fn the_global_bucket_caps_answers_over_all_ips_and_idle_ips_expire() {
        let t0 = Instant::now();
        let config = RateLimit {
            per_ip_per_sec: 10,
            per_ip_burst: 20,
            max_tracked: 10_000,
            overflow_per_sec: 5,
            global_per_sec: 100,
            global_burst: 300,
        };
        let mut rl = RateLimiter::new(config, t0);
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        // 1,000 IPs, two queries each: each IP is within its own limit, the total is not.
        let allowed = (0..2000).filter(|i| rl.allow(t0, ip(i / 2))).count();
        assert_eq!(allowed, 300, "the global burst");
        // Half a second later: fifty more over everyone.
        let t1 = t0 + Duration::from_millis(500);
        let allowed = (0..1000).filter(|&i| rl.allow(t1, ip(5000 + i))).count();
        assert_eq!(allowed, 50);
        assert_eq!(rl.tracked(), 2000);
        // Once every bucket has refilled, expiry forgets them all (the table is not full).
        let t2 = t1 + Duration::from_secs(3);
        rl.expire(t2);
        assert_eq!(rl.tracked(), 0);
    }
}
