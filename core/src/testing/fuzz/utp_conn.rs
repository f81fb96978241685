//! Fuzz body: a uTP socket with one outgoing connection, fed a script of datagrams, timeouts
//! and application calls.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::io::Dest;
use crate::utp::{Header, Packet, PacketType, Seq, SocketConfig, SocketEvent, UtpSocket};

/// Interprets `data` as a script run from `start`: `0 len bytes…` a raw datagram from the peer,
/// `1 t` advance `t * 10` ms and fire timers, `2 n` write `n * 64` bytes, `3` read, `4` close,
/// `5` reset, `6 kind a b len bytes…` a well-formed packet for our connection whose
/// `ack_nr` and `seq_nr` sit near the numbers seen so far (to reach deep states), `7 id` a SYN
/// from another port. Invariants: no datagram is larger than the configured packet size; no
/// timer is due in the past; the socket never holds more than its bounds; once time runs on,
/// every connection ends and the socket is empty.
pub fn utp_conn(start: Instant, data: &[u8]) {
    let peer: SocketAddr = "10.9.8.7:6881".parse().expect("valid address");
    let config = SocketConfig {
        max_half_open: 4,
        max_connections: 8,
        ..SocketConfig::default()
    };
    let max_packet = config.conn.max_packet_size;
    let mut s = UtpSocket::new(config, start, 1);
    let mut now = start;
    let Ok(conn) = s.connect(now, peer) else {
        return;
    };
    let recv_id = s.conn(conn).map_or(0, |c| c.recv_id());
    let mut ours = Seq(0);
    let mut theirs = Seq(1000);
    let mut bytes = data.iter().copied();
    let mut buf = [0u8; 4096];
    while let Some(op) = bytes.next() {
        match op % 8 {
            0 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let d: Vec<u8> = bytes.by_ref().take(len).collect();
                s.handle_datagram(now, peer, &d);
            }
            1 => {
                now += Duration::from_millis(10 * u64::from(bytes.next().unwrap_or(0)));
                s.handle_timeout(now);
            }
            2 => {
                let n = 64 * usize::from(bytes.next().unwrap_or(1));
                let _ = s.write(conn, &vec![0xAB; n]);
            }
            3 => {
                let _ = s.read(conn, &mut buf);
            }
            4 => s.close(now, conn),
            5 => s.reset(now, conn),
            6 => {
                let kind = PacketType::from_code(bytes.next().unwrap_or(0) % 5)
                    .unwrap_or(PacketType::Data);
                let a = bytes.next().unwrap_or(0);
                let b = bytes.next().unwrap_or(0);
                let len = usize::from(bytes.next().unwrap_or(0));
                let payload: Vec<u8> = bytes.by_ref().take(len).collect();
                let h = Header {
                    kind,
                    connection_id: recv_id,
                    timestamp_us: u32::from(a) * 1000,
                    timestamp_diff_us: u32::from(b) * 1000,
                    wnd_size: u32::from(a) << 12,
                    seq_nr: theirs.plus(u16::from(b % 8)),
                    ack_nr: ours.minus(u16::from(a % 4)),
                };
                let sack = (b & 0x80 != 0).then_some([a, b, a ^ b, 0]);
                if kind == PacketType::Data && b % 8 == 0 {
                    theirs = theirs.next();
                }
                s.handle_datagram(
                    now,
                    peer,
                    &h.encode(sack.as_ref().map(|x| &x[..]), &payload),
                );
            }
            _ => {
                let id = u16::from(bytes.next().unwrap_or(0));
                let syn = Header {
                    kind: PacketType::Syn,
                    connection_id: id,
                    timestamp_us: 0,
                    timestamp_diff_us: 0,
                    wnd_size: 1 << 16,
                    seq_nr: Seq(id),
                    ack_nr: Seq(0),
                };
                let from = SocketAddr::new(peer.ip(), 7000 + id);
                s.handle_datagram(now, from, &syn.encode(None, &[]));
            }
        }
        drain(&mut s, now, max_packet, &mut ours);
        assert!(s.len() <= 8, "connections past the bound");
        if let Some(t) = s.poll_timeout() {
            assert!(t >= now, "a timer in the past");
        }
    }
    // Let time run: the peer is silent, so everything ends (idle timeout at most).
    for _ in 0..10_000 {
        let Some(t) = s.poll_timeout() else {
            break;
        };
        now = now.max(t);
        s.handle_timeout(now);
        drain(&mut s, now, max_packet, &mut ours);
    }
    assert!(s.is_empty(), "connections never ended");
}

fn drain(s: &mut UtpSocket, now: Instant, max_packet: usize, ours: &mut Seq) {
    while let Some(t) = s.poll_transmit(now) {
        assert!(matches!(t.dest, Dest::Udp(_)));
        assert!(
            t.payload.len() <= max_packet,
            "datagram of {}",
            t.payload.len()
        );
        let p = Packet::parse(&t.payload).expect("we send well-formed packets");
        if matches!(
            p.header.kind,
            PacketType::Data | PacketType::Fin | PacketType::Syn
        ) {
            *ours = p.header.seq_nr;
        }
    }
    while let Some(e) = s.poll_event() {
        if let SocketEvent::Accepted { .. } = e {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("utp_conn");
        assert!(!corpus.is_empty(), "fuzz/corpus/utp_conn is empty");
        for input in corpus {
            super::utp_conn(Instant::now(), &input);
        }
    }
}
