//! A seeded simulated path for uTP tests: per-direction bottleneck links (rate, drop-tail
//! queue, propagation delay, loss, reordering, duplication) between [`UtpSocket`]s, driven in
//! virtual time, with optional competing traffic on the a → b link: a fixed-rate flow, or a
//! loss-driven one ([`Reno`]) that fills the queue until it drops.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::Dest;
use sanstorrent_core::rng::Rng;
use sanstorrent_core::utp::{SocketConfig, UtpSocket};

/// One direction of a path.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Propagation delay.
    pub delay: Duration,
    /// Bottleneck rate in bytes per second.
    pub rate: f64,
    /// Drop-tail queue limit in bytes.
    pub queue_limit: usize,
    /// Probability a packet is lost.
    pub loss: f64,
    /// Probability a packet is delayed by up to `reorder_by` more (and so reordered).
    pub reorder: f64,
    /// The most extra delay of a reordered packet.
    pub reorder_by: Duration,
    /// Probability a packet arrives twice.
    pub duplicate: f64,
    /// The largest IP packet that passes (datagram plus 28 bytes of headers); larger ones are
    /// dropped, as a router drops a don't-fragment packet too large for its next hop.
    pub mtu: usize,
}

impl LinkConfig {
    /// A clean link: `delay`, `rate` bytes per second, a queue of one second.
    pub fn new(delay: Duration, rate: f64) -> Self {
        Self {
            delay,
            rate,
            queue_limit: rate as usize,
            loss: 0.0,
            reorder: 0.0,
            reorder_by: Duration::ZERO,
            duplicate: 0.0,
            mtu: usize::MAX,
        }
    }
}

/// A bottleneck link with a queue.
pub struct Link {
    /// Its settings.
    pub config: LinkConfig,
    rng: Rng,
    /// Packets in the queue: when each finishes leaving, and its size.
    queue: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
}

impl Link {
    /// A link whose randomness comes from `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
            queue: VecDeque::new(),
            queued_bytes: 0,
        }
    }

    /// Sends `size` bytes at `now`: the arrival times (none if dropped, two if duplicated)
    /// and the time the packet waited in the queue.
    pub fn send(&mut self, now: Instant, size: usize) -> (Vec<Instant>, Option<Duration>) {
        if size > self.config.mtu {
            return (Vec::new(), None);
        }
        while self.queue.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, s)) = self.queue.pop_front() {
                self.queued_bytes -= s;
            }
        }
        if self.queued_bytes + size > self.config.queue_limit {
            return (Vec::new(), None);
        }
        let start = self.queue.back().map_or(now, |(t, _)| (*t).max(now));
        let done = start + Duration::from_secs_f64(size as f64 / self.config.rate);
        self.queue.push_back((done, size));
        self.queued_bytes += size;
        let waited = start - now;
        if self.rng.chance(self.config.loss) {
            return (Vec::new(), Some(waited));
        }
        let mut arrive = done + self.config.delay;
        if self.rng.chance(self.config.reorder) {
            let extra = self.config.reorder_by.as_micros() as u64;
            arrive += Duration::from_micros(self.rng.below(extra.max(1)));
        }
        let mut out = vec![arrive];
        if self.rng.chance(self.config.duplicate) {
            out.push(arrive + Duration::from_millis(1));
        }
        (out, Some(waited))
    }
}

/// What travels on a link.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Payload {
    /// A uTP datagram.
    Utp(Vec<u8>),
    /// A packet of the fixed-rate competitor.
    Competitor,
    /// A packet of the [`Reno`] flow, with the time it was sent.
    Reno(Instant),
}

/// A datagram on its way: arrival, tie-break order, receiving side, what it is.
type InFlight = (Instant, u64, usize, Payload);

/// A loss-driven flow on link a → b, as TCP Reno behaves: it keeps `cwnd` packets in flight,
/// opens by one packet per round trip (doubling per round trip below `ssthresh`) as packets
/// are acknowledged, and halves at most once per round trip when one is lost (a drop-tail
/// queue overflowing, or link loss), learned a round trip after it was sent. Acknowledgements
/// come back after the b → a propagation delay.
#[derive(Debug)]
pub struct Reno {
    /// Packets it may have in flight.
    pub cwnd: f64,
    ssthresh: f64,
    in_flight: usize,
    size: usize,
    /// No other halving before this.
    hold_until: Instant,
    /// The last round trip measured.
    rtt: Duration,
    /// Acknowledgements and loss signals on their way back: (arrival, lost).
    signals: BinaryHeap<Reverse<(Instant, bool)>>,
    /// Payload bytes delivered to b.
    pub delivered: usize,
    /// Times the window was halved.
    pub halvings: u32,
}

impl Reno {
    /// A flow of `size`-byte packets starting at `now` with a window of two.
    pub fn new(now: Instant, size: usize) -> Self {
        Self {
            cwnd: 2.0,
            ssthresh: f64::MAX,
            in_flight: 0,
            size,
            hold_until: now,
            rtt: Duration::from_millis(100),
            signals: BinaryHeap::new(),
            delivered: 0,
            halvings: 0,
        }
    }

    fn on_signal(&mut self, now: Instant, lost: bool) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if lost {
            if now >= self.hold_until {
                self.cwnd = (self.cwnd / 2.0).max(2.0);
                self.ssthresh = self.cwnd;
                self.hold_until = now + self.rtt;
                self.halvings += 1;
            }
        } else if self.cwnd < self.ssthresh {
            self.cwnd += 1.0;
        } else {
            self.cwnd += 1.0 / self.cwnd;
        }
    }
}

/// Two uTP sockets joined by a link each way, in virtual time.
pub struct UtpPair {
    /// The current virtual time.
    pub now: Instant,
    /// The sockets, `[a, b]`.
    pub sockets: [UtpSocket; 2],
    /// Their addresses.
    pub addrs: [SocketAddr; 2],
    /// `links[0]` carries a → b, `links[1]` b → a.
    pub links: [Link; 2],
    in_flight: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    /// Queueing delays met by packets a → b: (time sent, delay, size).
    pub queue_log: Vec<(Instant, Duration, usize)>,
    /// Extra traffic on link a → b: (next send, interval, size); `None` when off.
    pub competitor: Option<(Instant, Duration, usize)>,
    /// Competitor bytes delivered.
    pub competitor_delivered: usize,
    /// Competitor bytes sent.
    pub competitor_sent: usize,
    /// A loss-driven flow on link a → b; `None` when off.
    pub reno: Option<Reno>,
}

impl UtpPair {
    /// A pair at `now` with the given links and seeds.
    pub fn new(now: Instant, ab: LinkConfig, ba: LinkConfig, seed: u64) -> Self {
        Self::with_config(now, ab, ba, seed, SocketConfig::default())
    }

    /// A pair whose sockets have `config`.
    pub fn with_config(
        now: Instant,
        ab: LinkConfig,
        ba: LinkConfig,
        seed: u64,
        config: SocketConfig,
    ) -> Self {
        Self {
            now,
            sockets: [
                UtpSocket::new(config.clone(), now, seed),
                UtpSocket::new(config, now, seed ^ 0xABCD),
            ],
            addrs: [
                "10.0.0.1:6881".parse().unwrap(),
                "10.0.0.2:6881".parse().unwrap(),
            ],
            links: [Link::new(ab, seed ^ 1), Link::new(ba, seed ^ 2)],
            in_flight: BinaryHeap::new(),
            order: 0,
            queue_log: Vec::new(),
            competitor: None,
            competitor_delivered: 0,
            competitor_sent: 0,
            reno: None,
        }
    }

    /// Sends everything both sockets have to send into the links.
    pub fn flush(&mut self) {
        for side in 0..2 {
            while let Some(t) = self.sockets[side].poll_transmit(self.now) {
                let Dest::Udp(to) = t.dest else {
                    panic!("uTP sends datagrams");
                };
                assert_eq!(to, self.addrs[1 - side]);
                self.enqueue(side, t.payload);
            }
        }
    }

    fn enqueue(&mut self, side: usize, payload: Bytes) {
        let (arrivals, waited) = self.links[side].send(self.now, payload.len() + 28);
        if side == 0
            && let Some(w) = waited
        {
            self.queue_log.push((self.now, w, payload.len()));
        }
        for at in arrivals {
            self.order += 1;
            self.in_flight.push(Reverse((
                at,
                self.order,
                1 - side,
                Payload::Utp(payload.to_vec()),
            )));
        }
    }

    /// Sends what the [`Reno`] flow's window allows; a packet dropped now is reported lost a
    /// round trip later.
    fn send_reno(&mut self) {
        let Some(reno) = self.reno.as_mut() else {
            return;
        };
        while (reno.in_flight as f64) < reno.cwnd.floor() {
            reno.in_flight += 1;
            let (arrivals, _) = self.links[0].send(self.now, reno.size);
            match arrivals.first() {
                Some(&at) => {
                    self.order += 1;
                    self.in_flight
                        .push(Reverse((at, self.order, 1, Payload::Reno(self.now))));
                }
                None => reno.signals.push(Reverse((self.now + reno.rtt, true))),
            }
        }
    }

    /// Advances to the next event (a delivery, a timer or the competitor) and performs it;
    /// `false` when nothing is left to do.
    pub fn step(&mut self) -> bool {
        self.flush();
        self.send_reno();
        let next_packet = self.in_flight.peek().map(|Reverse((t, ..))| *t);
        let timers = [
            self.sockets[0].poll_timeout(),
            self.sockets[1].poll_timeout(),
        ];
        let competitor = self.competitor.map(|(t, ..)| t);
        let signal = self
            .reno
            .as_ref()
            .and_then(|r| r.signals.peek().map(|Reverse((t, _))| *t));
        let Some(next) = [next_packet, timers[0], timers[1], competitor, signal]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        if next_packet == Some(next) {
            let Some(Reverse((_, _, to, payload))) = self.in_flight.pop() else {
                return false;
            };
            match payload {
                Payload::Competitor => self.competitor_delivered += 1200,
                Payload::Reno(sent) => {
                    let back = self.links[1].config.delay;
                    if let Some(reno) = self.reno.as_mut() {
                        reno.delivered += reno.size;
                        reno.rtt = self.now + back - sent;
                        reno.signals.push(Reverse((self.now + back, false)));
                    }
                }
                Payload::Utp(bytes) => {
                    let from = self.addrs[1 - to];
                    let taken = self.sockets[to].handle_datagram(self.now, from, &bytes);
                    assert!(taken, "a uTP datagram was refused");
                }
            }
        } else if signal == Some(next) {
            if let Some(reno) = self.reno.as_mut()
                && let Some(Reverse((_, lost))) = reno.signals.pop()
            {
                reno.on_signal(self.now, lost);
            }
        } else if competitor == Some(next) {
            if let Some((t, every, size)) = self.competitor.as_mut() {
                *t += *every;
                let size = *size;
                self.competitor_sent += size;
                let (arrivals, _) = self.links[0].send(self.now, size);
                for at in arrivals.into_iter().take(1) {
                    self.order += 1;
                    self.in_flight
                        .push(Reverse((at, self.order, 1, Payload::Competitor)));
                }
            }
        } else {
            for s in &mut self.sockets {
                s.handle_timeout(self.now);
            }
        }
        self.flush();
        self.send_reno();
        true
    }
}
