//! uTP transfers over a simulated 100 ms path: every byte arrives, in order, at 0 %, 1 % and
//! 5 % loss and with reordering and duplication, and both sides close with FIN.

use std::time::{Duration, Instant};

use sanstorrent_core::utp::{CloseReason, ConnEvent, SocketEvent, UtpConnId};
use sanstorrent_tests::utp_link::{LinkConfig, UtpPair};

const SIZE: usize = 3 << 20;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

struct Outcome {
    seconds: f64,
    closes: [Option<CloseReason>; 2],
}

/// a sends SIZE bytes to b, then closes; b reads all, then closes.
fn transfer(link: LinkConfig, seed: u64) -> Outcome {
    let start = Instant::now();
    let mut pair = UtpPair::new(start, link.clone(), link, seed);
    let b_addr = pair.addrs[1];
    let a = pair.sockets[0].connect(start, b_addr).unwrap();
    let mut b: Option<UtpConnId> = None;
    let mut written = 0;
    let mut received = Vec::with_capacity(SIZE);
    let mut closes = [None, None];
    let mut a_closed_write = false;
    let mut done_at = None;
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..5_000_000 {
        // a: write what fits.
        while written < SIZE {
            let chunk: Vec<u8> = (written..SIZE.min(written + 16 * 1024))
                .map(pattern)
                .collect();
            let n = pair.sockets[0].write(a, &chunk);
            written += n;
            if n < chunk.len() {
                break;
            }
        }
        if written == SIZE && !a_closed_write {
            a_closed_write = true;
            pair.sockets[0].close(pair.now, a);
        }
        while let Some(e) = pair.sockets[0].poll_event() {
            if let SocketEvent::Conn {
                event: ConnEvent::Closed(r),
                ..
            } = e
            {
                closes[0] = Some(r);
            }
        }
        while let Some(e) = pair.sockets[1].poll_event() {
            match e {
                SocketEvent::Accepted { conn, .. } => b = Some(conn),
                SocketEvent::Conn {
                    event: ConnEvent::Closed(r),
                    ..
                } => closes[1] = Some(r),
                _ => {}
            }
        }
        if let Some(b) = b {
            while let Some(n) = pair.sockets[1].read(b, &mut buf) {
                if n == 0 {
                    if done_at.is_none() {
                        done_at = Some(pair.now);
                        pair.sockets[1].close(pair.now, b);
                    }
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
        }
        if closes.iter().all(Option::is_some) {
            break;
        }
        if !pair.step() {
            break;
        }
    }
    assert_eq!(received.len(), SIZE, "bytes received");
    assert!(
        received.iter().enumerate().all(|(i, b)| *b == pattern(i)),
        "corrupted bytes"
    );
    let seconds = (done_at.expect("end of stream") - start).as_secs_f64();
    Outcome { seconds, closes }
}

fn path(loss: f64) -> LinkConfig {
    let mut l = LinkConfig::new(Duration::from_millis(50), 2_000_000.0);
    l.loss = loss;
    l
}

fn check(name: &str, link: LinkConfig, seed: u64, max_seconds: f64) {
    let o = transfer(link, seed);
    let rate = SIZE as f64 / o.seconds / 1e6;
    eprintln!(
        "{name}: {SIZE} bytes in {:.2} s of virtual time, {rate:.2} MB/s",
        o.seconds
    );
    assert!(o.seconds < max_seconds, "{name}: took {:.1} s", o.seconds);
    assert_eq!(o.closes, [Some(CloseReason::Finished); 2], "{name}");
}

#[test]
fn clean_path_fills_the_link() {
    // 3 MiB at 2 MB/s takes 1.6 s at best; LEDBAT ramps up first.
    check("0% loss", path(0.0), 1, 6.0);
}

#[test]
fn one_percent_loss() {
    check("1% loss", path(0.01), 2, 30.0);
}

#[test]
fn five_percent_loss() {
    check("5% loss", path(0.05), 3, 90.0);
}

#[test]
fn reordering_and_duplication() {
    let mut l = path(0.01);
    l.reorder = 0.1;
    l.reorder_by = Duration::from_millis(30);
    l.duplicate = 0.05;
    check("reorder+dup", l, 4, 60.0);
}

#[test]
fn seeds_sweep_with_loss() {
    for seed in 10..14 {
        let mut l = path(0.03);
        l.reorder = 0.05;
        l.reorder_by = Duration::from_millis(20);
        l.duplicate = 0.02;
        check("sweep", l, seed, 90.0);
    }
}
