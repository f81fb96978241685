//! LEDBAT over a simulated bottleneck: alone it fills the link while keeping the queue near
//! its 100 ms target; when a non-yielding fixed-rate flow takes 90 % of the link, uTP backs off
//! to what is left and the other flow keeps its bandwidth; when a loss-driven flow (TCP Reno
//! like) fills the queue, uTP gives it nearly the whole link. Figures printed (`--nocapture`).

use std::time::{Duration, Instant};

use sanstorrent_core::utp::{SocketEvent, UtpConnId};
use sanstorrent_tests::utp_link::{LinkConfig, Reno, UtpPair};

const RATE: f64 = 1_000_000.0;

/// Mean and 90th percentile of the queueing delays of our packets sent within `from..to`.
fn delays(pair: &UtpPair, from: Instant, to: Instant) -> (Duration, Duration, usize) {
    let mut d: Vec<Duration> = pair
        .queue_log
        .iter()
        .filter(|(t, ..)| *t >= from && *t < to)
        .map(|(_, w, _)| *w)
        .collect();
    let bytes = pair
        .queue_log
        .iter()
        .filter(|(t, ..)| *t >= from && *t < to)
        .map(|(_, _, n)| n)
        .sum();
    d.sort();
    let mean = d.iter().sum::<Duration>() / d.len().max(1) as u32;
    (mean, d[d.len() * 9 / 10], bytes)
}

#[test]
fn ledbat_keeps_the_target_and_yields_to_a_competing_flow() {
    let start = Instant::now();
    // 25 ms each way, 1 MB/s, a queue of one second (1 MB): a bloated buffer.
    let link = LinkConfig::new(Duration::from_millis(25), RATE);
    let mut pair = UtpPair::new(start, link.clone(), link, 7);
    let b_addr = pair.addrs[1];
    let a = pair.sockets[0].connect(start, b_addr).unwrap();
    let mut b: Option<UtpConnId> = None;
    let mut buf = vec![0u8; 1 << 16];
    let chunk = vec![0x5a; 1 << 16];
    let solo_end = start + Duration::from_secs(30);
    let end = start + Duration::from_secs(60);
    let mut read_solo = 0usize;
    let mut read_shared = 0usize;
    while pair.now < end {
        while pair.sockets[0].write(a, &chunk) == chunk.len() {}
        while let Some(e) = pair.sockets[1].poll_event() {
            if let SocketEvent::Accepted { conn, .. } = e {
                b = Some(conn);
            }
        }
        while pair.sockets[0].poll_event().is_some() {}
        if let Some(b) = b {
            while let Some(n) = pair.sockets[1].read(b, &mut buf) {
                if n == 0 {
                    break;
                }
                if pair.now >= solo_end + Duration::from_secs(10) {
                    read_shared += n;
                } else if pair.now >= start + Duration::from_secs(10) && pair.now < solo_end {
                    read_solo += n;
                }
            }
        }
        if pair.now >= solo_end && pair.competitor.is_none() {
            // 90 % of the link in 1,200-byte datagrams, never slowing down.
            let every = Duration::from_secs_f64(1200.0 / (0.9 * RATE));
            pair.competitor = Some((pair.now, every, 1200));
        }
        assert!(pair.step(), "the simulation stalled");
    }
    let solo_rate = read_solo as f64 / 20.0;
    let shared_rate = read_shared as f64 / 20.0;
    let (solo_mean, solo_p90, _) = delays(&pair, start + Duration::from_secs(10), solo_end);
    let (shared_mean, shared_p90, _) = delays(&pair, solo_end + Duration::from_secs(10), end);
    let competitor_share = pair.competitor_delivered as f64 / pair.competitor_sent as f64;
    eprintln!(
        "alone: {:.0} kB/s ({:.0} % of the link), queueing delay mean {:?} p90 {:?}",
        solo_rate / 1e3,
        100.0 * solo_rate / RATE,
        solo_mean,
        solo_p90
    );
    eprintln!(
        "shared: uTP {:.0} kB/s, queueing delay mean {:?} p90 {:?}; competitor delivered {:.1} % of what it sent",
        shared_rate / 1e3,
        shared_mean,
        shared_p90,
        100.0 * competitor_share
    );
    // Alone: most of the link, with a queue near the target, not the one-second buffer.
    assert!(solo_rate > 0.7 * RATE, "alone: {solo_rate} B/s");
    assert!(
        solo_mean > Duration::from_millis(40) && solo_mean < Duration::from_millis(160),
        "alone: mean queueing delay {solo_mean:?}"
    );
    assert!(
        solo_p90 < Duration::from_millis(250),
        "alone: p90 {solo_p90:?}"
    );
    // Shared: uTP takes at most what the other flow leaves (and uses it), the queue stays
    // near the target.
    assert!(
        shared_rate < 0.2 * RATE,
        "shared: uTP kept {shared_rate} B/s"
    );
    assert!(
        shared_rate > 0.03 * RATE,
        "shared: uTP starved at {shared_rate} B/s"
    );
    assert!(
        competitor_share > 0.95,
        "competitor lost {competitor_share}"
    );
    assert!(
        shared_mean > Duration::from_millis(50) && shared_mean < Duration::from_millis(180),
        "shared: mean queueing delay {shared_mean:?}"
    );
}

#[test]
fn ledbat_yields_to_a_loss_based_flow_that_fills_the_queue() {
    let start = Instant::now();
    // 25 ms each way, 1 MB/s, a drop-tail queue of 200 ms.
    let mut link = LinkConfig::new(Duration::from_millis(25), RATE);
    link.queue_limit = (RATE * 0.2) as usize;
    let mut pair = UtpPair::new(start, link.clone(), link, 8);
    let b_addr = pair.addrs[1];
    let a = pair.sockets[0].connect(start, b_addr).unwrap();
    let mut b: Option<UtpConnId> = None;
    let mut buf = vec![0u8; 1 << 16];
    let chunk = vec![0x5a; 1 << 16];
    let reno_start = start + Duration::from_secs(20);
    let measure = start + Duration::from_secs(30);
    let end = start + Duration::from_secs(60);
    let (mut read_solo, mut read_shared, mut reno_at_measure) = (0usize, 0usize, 0usize);
    while pair.now < end {
        while pair.sockets[0].write(a, &chunk) == chunk.len() {}
        while let Some(e) = pair.sockets[1].poll_event() {
            if let SocketEvent::Accepted { conn, .. } = e {
                b = Some(conn);
            }
        }
        while pair.sockets[0].poll_event().is_some() {}
        if let Some(b) = b {
            while let Some(n) = pair.sockets[1].read(b, &mut buf) {
                if n == 0 {
                    break;
                }
                if pair.now >= measure {
                    read_shared += n;
                } else if pair.now >= start + Duration::from_secs(10) && pair.now < reno_start {
                    read_solo += n;
                }
            }
        }
        if pair.now >= reno_start && pair.reno.is_none() {
            pair.reno = Some(Reno::new(pair.now, 1200));
        }
        if pair.now >= measure && reno_at_measure == 0 {
            reno_at_measure = pair.reno.as_ref().map_or(1, |r| r.delivered.max(1));
        }
        assert!(pair.step(), "the simulation stalled");
    }
    let solo_rate = read_solo as f64 / 10.0;
    let utp_rate = read_shared as f64 / 30.0;
    let reno = pair.reno.as_ref().expect("the flow ran");
    let reno_rate = (reno.delivered - reno_at_measure) as f64 / 30.0;
    let (mean, p90, _) = delays(&pair, measure, end);
    eprintln!("alone: {:.0} kB/s", solo_rate / 1e3);
    eprintln!(
        "with a Reno flow: uTP {:.1} kB/s ({:.1} % of the link), Reno {:.0} kB/s ({:.0} %, \
         {} halvings), queueing delay met by our packets mean {mean:?} p90 {p90:?}",
        utp_rate / 1e3,
        100.0 * utp_rate / RATE,
        reno_rate / 1e3,
        100.0 * reno_rate / RATE,
        reno.halvings
    );
    assert!(solo_rate > 0.7 * RATE, "alone: {solo_rate} B/s");
    // Reno fills a 200 ms queue in about 20 s after each halving (one packet per round trip).
    assert!(reno.halvings >= 2, "the flow never filled the queue");
    assert!(reno_rate > 0.85 * RATE, "Reno kept only {reno_rate} B/s");
    assert!(utp_rate < 0.1 * RATE, "uTP kept {utp_rate} B/s");
}
