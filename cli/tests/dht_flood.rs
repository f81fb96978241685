//! Our DHT node under a KRPC flood from many loopback addresses (127.0.x.y, all loopback) while
//! it resolves a magnet link through libtorrent DHT nodes: the download finishes, the answers
//! the flood gets stay within the global rate limit, and memory stays bounded. Prints the time,
//! the flood's figures and our peak RSS for the hardening notes.

mod interop_support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use interop_support::{
    Bounded, bounded, data, lt_dht_nodes, lt_seeder, s, sanstorrent, wait_same_tree,
};
use sanstorrent_core::InfoHash;
use sanstorrent_core::dht::{Body, Message, Method, NodeId, Query, RateLimit, Want};
use sanstorrent_tests::interop::{WorkDir, free_port};

/// Flooding source addresses: 127.0.1.1 to 127.0.4.64 (never 127.0.0.1, where the honest
/// libtorrent nodes are).
const SOURCES: u32 = 256;
/// Flood datagrams per second, over all sources (about 16 times the global limit).
const FLOOD_PER_SEC: u64 = 8_000;

/// A xorshift generator: the flood needs variety, not quality.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn id(&mut self) -> [u8; 20] {
        let mut out = [0; 20];
        for chunk in out.chunks_mut(8) {
            let n = self.next().to_le_bytes();
            chunk.copy_from_slice(&n[..chunk.len()]);
        }
        out
    }
}

/// The `i`-th flood query: ping, find_node, get_peers of a random info-hash, announce_peer
/// with a forged token, each from a new random id.
fn flood_query(i: u64, rng: &mut Xorshift) -> Vec<u8> {
    let random = rng.id();
    let method = match i % 4 {
        0 => Method::Ping,
        1 => Method::FindNode {
            target: NodeId(random),
            want: Want::default(),
        },
        2 => Method::GetPeers {
            info_hash: InfoHash(random),
            want: Want::default(),
        },
        _ => Method::AnnouncePeer {
            info_hash: InfoHash(random),
            port: 6881,
            implied_port: false,
            token: random[..4].to_vec(),
        },
    };
    Message {
        tid: (i as u32).to_be_bytes().to_vec(),
        body: Body::Query(Query {
            id: NodeId(rng.id()),
            method,
        }),
        read_only: false,
        ip: None,
        version: None,
    }
    .encode()
}

/// Counters of a running flood.
#[derive(Default)]
struct Flood {
    stop: AtomicBool,
    sent: AtomicU64,
    answers: AtomicU64,
}

/// Floods `target` from `SOURCES` loopback addresses on two threads until `flood.stop`,
/// counting the answers that come back.
fn start_flood(target: SocketAddr, flood: &Arc<Flood>) -> Vec<std::thread::JoinHandle<()>> {
    (0..2u32)
        .map(|half| {
            let flood = Arc::clone(flood);
            std::thread::spawn(move || {
                let sockets: Vec<UdpSocket> = (0..SOURCES / 2)
                    .map(|k| {
                        let n = half * SOURCES / 2 + k;
                        let ip = Ipv4Addr::new(127, 0, 1 + (n / 64) as u8, 1 + (n % 64) as u8);
                        let sock = UdpSocket::bind((ip, 0)).expect("bind a loopback source");
                        sock.set_nonblocking(true).unwrap();
                        sock
                    })
                    .collect();
                let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15 ^ u64::from(half + 1));
                let per_thread = FLOOD_PER_SEC / 2;
                let start = Instant::now();
                let mut sent = 0u64;
                let mut buf = [0u8; 2048];
                while !flood.stop.load(Ordering::Relaxed) {
                    let due = start.elapsed().as_millis() as u64 * per_thread / 1000;
                    while sent < due {
                        let sock = &sockets[(sent % u64::from(SOURCES / 2)) as usize];
                        let _ = sock.send_to(&flood_query(sent, &mut rng), target);
                        sent += 1;
                        flood.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    for sock in &sockets {
                        while let Ok((n, _)) = sock.recv_from(&mut buf) {
                            // Answers and errors to our queries; pings that would verify us
                            // are not counted (they are not answers).
                            if let Ok(msg) = Message::decode(&buf[..n])
                                && !matches!(msg.body, Body::Query(_))
                            {
                                flood.answers.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

/// The pid of `timeout`'s child (the `sanstorrent` process), once it exists.
fn child_pid(p: &Bounded) -> Option<u32> {
    let pid = p.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// `VmHWM` (peak resident set) of `pid` in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How long the flood runs after our node starts (it keeps seeding after the download).
const FLOOD_FOR: Duration = Duration::from_secs(20);

#[test]
fn magnet_through_the_dht_while_our_node_is_flooded() {
    bounded(175, || {
        let work = WorkDir::new("dht-flood");
        let d = data(&work, "multi", 3_000_000, 64 * 1024, &[], &[]);
        let (_nodes, addrs) = lt_dht_nodes(&work);
        let boot = addrs.join(",");
        let _seeder = lt_seeder(
            &work,
            "lt-seeder",
            &d,
            &["--dht", "--dht-bootstrap", &boot, "--no-tracker"],
        );
        let port = free_port();
        let out = work.join("ours-out");
        let port_arg = port.to_string();
        let state = work.join("ours-state");
        let mut args = vec![
            "download",
            d.magnet.as_str(),
            "-o",
            s(&out),
            "-p",
            &port_arg,
            "--bind",
            "127.0.0.1",
            "--state-dir",
            s(&state),
            "--seed",
        ];
        for a in &addrs {
            args.extend(["--dht-bootstrap", a.as_str()]);
        }
        // The flood is at full rate before our node binds its port: it meets the flood from
        // its first datagram, through bootstrap, the magnet's lookup and seeding.
        let flood = Arc::new(Flood::default());
        let flooders = start_flood(SocketAddr::from(([127, 0, 0, 1], port)), &flood);
        std::thread::sleep(Duration::from_secs(1));
        let started = Instant::now();
        let ours = sanstorrent(&work, "ours", 150, &args);
        let answers_before = flood.answers.load(Ordering::Relaxed);
        let sent_before = flood.sent.load(Ordering::Relaxed);
        let pid = (0..100)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(20));
                child_pid(&ours)
            })
            .expect("sanstorrent started");
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let sampling = Arc::clone(&sampling);
            std::thread::spawn(move || {
                let mut peak = 0;
                while sampling.load(Ordering::Relaxed) {
                    peak = peak_rss_kib(pid).unwrap_or(peak).max(peak);
                    std::thread::sleep(Duration::from_millis(100));
                }
                peak
            })
        };
        let what = format!(
            "the magnet under the flood (our log: {})",
            s(&work.join("ours.log"))
        );
        wait_same_tree(&d.dir, &out, Duration::from_secs(120), &what);
        let took = started.elapsed();
        std::thread::sleep(FLOOD_FOR.saturating_sub(took));
        let flooded = started.elapsed();
        sampling.store(false, Ordering::Relaxed);
        let peak_kib = sampler.join().unwrap();
        flood.stop.store(true, Ordering::Relaxed);
        for f in flooders {
            f.join().unwrap();
        }
        let log = ours.output();
        assert!(!log.contains("panicked"), "{log}");
        drop(ours);

        let sent = flood.sent.load(Ordering::Relaxed) - sent_before;
        let answers = flood.answers.load(Ordering::Relaxed) - answers_before;
        let limit = RateLimit::default();
        let cap = u64::from(limit.global_burst)
            + u64::from(limit.global_per_sec) * (flooded.as_secs() + 1);
        eprintln!(
            "dht flood: magnet done in {:.1} s; over {:.1} s, {sent} flood queries from \
             {SOURCES} addresses ({FLOOD_PER_SEC}/s asked) got {answers} answers ({:.0}/s, \
             cap {cap}); our peak RSS {} MiB",
            took.as_secs_f64(),
            flooded.as_secs_f64(),
            answers as f64 / flooded.as_secs_f64(),
            peak_kib / 1024
        );
        assert!(sent > 20_000, "the flood did not run: {sent} queries");
        assert!(answers > 0, "our node answered nothing");
        assert!(answers <= cap, "{answers} answers to the flood, cap {cap}");
        assert!(peak_kib > 0, "no RSS sample");
        assert!(peak_kib < 512 * 1024, "peak RSS {peak_kib} KiB");
    });
}
