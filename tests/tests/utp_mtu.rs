//! Path MTU discovery over a simulated path: packets start at 1,200 bytes and grow to what the
//! path passes; on a path whose MTU is 1,400 bytes (larger datagrams dropped, as routers drop
//! don't-fragment packets) they settle between 1,200 and 1,372 (1,400 minus IP and UDP
//! headers) and every byte arrives; on a 1,500-byte path they grow past 1,200.

use std::time::{Duration, Instant};

use sanstorrent_core::utp::{ConnEvent, SocketConfig, SocketEvent, UtpConnId};
use sanstorrent_tests::utp_link::{LinkConfig, UtpPair};

const SIZE: usize = 2 << 20;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// a sends SIZE bytes to b over links of `mtu`; returns the sender's packet size at the end
/// and the largest datagram that crossed a → b.
fn transfer(mtu: usize, seed: u64) -> (usize, usize) {
    let start = Instant::now();
    let mut link = LinkConfig::new(Duration::from_millis(20), 4e6);
    link.mtu = mtu;
    let config = SocketConfig {
        link_mtu: Some(1500),
        ..SocketConfig::default()
    };
    let mut pair = UtpPair::with_config(start, link.clone(), link, seed, config);
    let a = pair.sockets[0].connect(start, pair.addrs[1]).unwrap();
    let mut b: Option<UtpConnId> = None;
    let mut written = 0;
    let mut received = Vec::with_capacity(SIZE);
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..2_000_000 {
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
        while pair.sockets[0].poll_event().is_some() {}
        while let Some(e) = pair.sockets[1].poll_event() {
            match e {
                SocketEvent::Accepted { conn, .. } => b = Some(conn),
                SocketEvent::Conn {
                    event: ConnEvent::Closed(r),
                    ..
                } => panic!("b closed: {r:?}"),
                _ => {}
            }
        }
        if let Some(b) = b {
            while let Some(n) = pair.sockets[1].read(b, &mut buf) {
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
        }
        if received.len() == SIZE {
            break;
        }
        assert!(
            pair.step(),
            "the transfer stalled at {} bytes",
            received.len()
        );
    }
    assert_eq!(received.len(), SIZE, "every byte arrived");
    assert!(received.iter().enumerate().all(|(i, &x)| x == pattern(i)));
    let size = pair.sockets[0].conn(a).unwrap().packet_size();
    let largest = pair.queue_log.iter().map(|&(_, _, len)| len).max().unwrap();
    println!("mtu {mtu}: packet size {size}, largest datagram sent {largest}");
    (size, largest)
}

#[test]
fn settles_below_a_1400_byte_path() {
    for seed in 1..=3 {
        let (size, largest) = transfer(1400, seed);
        assert!(size > 1200 && size <= 1372, "packet size {size}");
        assert!(
            size + 16 > 1372,
            "the search ends near the path's limit: {size}"
        );
        assert!(largest <= 1372, "largest datagram through {largest}");
    }
}

#[test]
fn grows_on_a_1500_byte_path() {
    let (size, largest) = transfer(1500, 7);
    assert!(size > 1200 && size <= 1472, "packet size {size}");
    assert!(size + 16 > 1472, "{size}");
    assert!(largest <= 1472);
}

#[test]
fn stays_put_without_a_link_mtu() {
    let start = Instant::now();
    let link = LinkConfig::new(Duration::from_millis(20), 4e6);
    let mut pair = UtpPair::new(start, link.clone(), link, 5);
    let a = pair.sockets[0].connect(start, pair.addrs[1]).unwrap();
    pair.sockets[0].write(a, &vec![1u8; 200_000]);
    for _ in 0..20_000 {
        while pair.sockets[1].poll_event().is_some() {}
        if !pair.step() {
            break;
        }
    }
    assert_eq!(pair.sockets[0].conn(a).unwrap().packet_size(), 1200);
    assert!(pair.queue_log.iter().all(|&(_, _, len)| len <= 1200));
}
