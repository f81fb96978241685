//! uTP connections end cleanly: RESET, a dead path (SYN and data timeouts, idle timeout), and a
//! SYN flood that cannot grow the socket past its half-open bound.

use std::time::{Duration, Instant};

use sanstorrent_core::utp::{
    CloseReason, ConnEvent, Header, PacketType, Seq, SocketEvent, UtpConnId,
};
use sanstorrent_tests::utp_link::{LinkConfig, UtpPair};

fn pair(seed: u64) -> UtpPair {
    let link = LinkConfig::new(Duration::from_millis(50), 1_000_000.0);
    UtpPair::new(Instant::now(), link.clone(), link, seed)
}

/// Runs until `until` (virtual), collecting (side, conn, reason, when) of every close.
fn run(
    pair: &mut UtpPair,
    until: Instant,
    accepted: &mut Option<UtpConnId>,
) -> Vec<(usize, CloseReason, Instant)> {
    let mut closes = Vec::new();
    loop {
        for side in 0..2 {
            while let Some(e) = pair.sockets[side].poll_event() {
                match e {
                    SocketEvent::Accepted { conn, .. } => *accepted = Some(conn),
                    SocketEvent::Conn {
                        event: ConnEvent::Closed(r),
                        ..
                    } => closes.push((side, r, pair.now)),
                    _ => {}
                }
            }
        }
        if pair.now >= until || !pair.step() {
            break;
        }
    }
    closes
}

#[test]
fn reset_closes_both_sides() {
    let mut p = pair(1);
    let start = p.now;
    let to = p.addrs[1];
    let a = p.sockets[0].connect(start, to).unwrap();
    let mut b = None;
    assert!(run(&mut p, start + Duration::from_secs(1), &mut b).is_empty());
    let b = b.expect("accepted");
    assert_eq!(p.sockets[0].write(a, b"hello"), 5);
    let now = p.now;
    p.sockets[1].reset(now, b);
    let closes = run(&mut p, now + Duration::from_secs(3), &mut None);
    let reasons: Vec<_> = closes.iter().map(|(s, r, _)| (*s, *r)).collect();
    assert!(reasons.contains(&(1, CloseReason::Aborted)), "{reasons:?}");
    assert!(reasons.contains(&(0, CloseReason::Reset)), "{reasons:?}");
    // Both sockets forget their connections.
    run(&mut p, now + Duration::from_secs(20), &mut None);
    assert!(p.sockets[0].is_empty() && p.sockets[1].is_empty());
}

#[test]
fn connect_to_a_dead_path_times_out() {
    let mut p = pair(2);
    p.links[0].config.loss = 1.0;
    let start = p.now;
    let to = p.addrs[1];
    p.sockets[0].connect(start, to).unwrap();
    let closes = run(&mut p, start + Duration::from_secs(60), &mut None);
    assert_eq!(closes.len(), 1, "{closes:?}");
    let (side, reason, at) = closes[0];
    assert_eq!((side, reason), (0, CloseReason::TimedOut));
    // Three SYNs, 1 s then 2 s then 4 s apart.
    assert_eq!(at - start, Duration::from_secs(7));
}

#[test]
fn a_dead_path_times_out_senders_then_idle_receivers() {
    let mut p = pair(3);
    let start = p.now;
    let to = p.addrs[1];
    let a = p.sockets[0].connect(start, to).unwrap();
    let mut b = None;
    run(&mut p, start + Duration::from_secs(1), &mut b);
    p.links[0].config.loss = 1.0;
    p.links[1].config.loss = 1.0;
    let cut = p.now;
    assert_eq!(p.sockets[0].write(a, &[1; 5000]), 5000);
    let closes = run(&mut p, cut + Duration::from_secs(300), &mut None);
    let sender = closes.iter().find(|c| c.0 == 0).expect("sender closed");
    let receiver = closes.iter().find(|c| c.0 == 1).expect("receiver closed");
    assert_eq!(sender.1, CloseReason::TimedOut);
    assert_eq!(receiver.1, CloseReason::TimedOut);
    // Six timeouts with back-off from at least 500 ms: between 30 s and two minutes.
    let t = sender.2 - cut;
    assert!(
        t > Duration::from_secs(30) && t <= Duration::from_secs(120),
        "{t:?}"
    );
    // The idle receiver waits for the idle timeout (two minutes after the last packet).
    assert!(receiver.2 > sender.2);
    assert!(
        receiver.2 - start >= Duration::from_secs(120),
        "{:?}",
        receiver.2 - start
    );
}

#[test]
fn syn_flood_is_bounded() {
    let mut p = pair(4);
    let now = p.now;
    let from = p.addrs[0];
    for id in 0..10_000u16 {
        let syn = Header {
            kind: PacketType::Syn,
            connection_id: id,
            timestamp_us: 0,
            timestamp_diff_us: 0,
            wnd_size: 1 << 20,
            seq_nr: Seq(id),
            ack_nr: Seq(0),
        };
        assert!(p.sockets[1].handle_datagram(now, from, &syn.encode(None, &[])));
    }
    assert_eq!(p.sockets[1].len(), 64, "half-open connections are bounded");
    // Unanswered, they go away after their first timeout; then new peers are accepted again.
    let later = now + Duration::from_secs(11);
    p.sockets[1].handle_timeout(later);
    while p.sockets[1].poll_transmit(later).is_some() {}
    p.sockets[1].handle_timeout(later + Duration::from_secs(1));
    assert_eq!(p.sockets[1].len(), 0);
}
