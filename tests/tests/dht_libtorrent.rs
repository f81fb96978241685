//! Our `Dht` on a real UDP socket against libtorrent's DHT, all on 127.0.0.1: three libtorrent
//! DHT nodes bootstrap from each other; a libtorrent seeder announces a torrent; our node
//! bootstraps from the three, finds the seeder with `get_peers`, then announces an info-hash
//! of its own, and a libtorrent downloader finds us through the DHT and connects.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use sanstorrent_core::Dest;
use sanstorrent_core::dht::{Config, Dht, DhtEvent, looks_like_krpc};
use sanstorrent_core::id::to_hex;
use sanstorrent_core::{InfoHash, Rng};
use sanstorrent_tests::interop::{WorkDir, free_port, lt_listen_port, lt_peer, mktorrent};

/// Drives a `Dht` over a std `UdpSocket` (the test is the runtime; only here is the clock read).
struct Driver {
    sock: UdpSocket,
    dht: Dht,
    events: Vec<DhtEvent>,
}

impl Driver {
    fn new(seed: u64) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let dht = Dht::new(Config::default(), Instant::now(), seed);
        Self {
            sock,
            dht,
            events: Vec::new(),
        }
    }

    fn flush(&mut self) {
        while let Some(t) = self.dht.poll_transmit() {
            if let Dest::Udp(to) = t.dest {
                let _ = self.sock.send_to(&t.payload, to);
            }
        }
        while let Some(e) = self.dht.poll_event() {
            eprintln!("dht event: {e:?}");
            self.events.push(e);
        }
    }

    /// Runs the node for at most `max` (less if its timer is due sooner).
    fn step(&mut self, max: Duration) {
        self.flush();
        let now = Instant::now();
        let wait = self
            .dht
            .poll_timeout()
            .map_or(max, |t| t.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), max);
        self.sock.set_read_timeout(Some(wait)).expect("timeout");
        let mut buf = [0u8; 65_536];
        if let Ok((n, from)) = self.sock.recv_from(&mut buf)
            && looks_like_krpc(&buf[..n])
        {
            self.dht.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        let now = Instant::now();
        if self.dht.poll_timeout().is_some_and(|t| t <= now) {
            self.dht.handle_timeout(now);
        }
        self.flush();
    }

    /// Steps until `pred` holds for some event (returns it), panicking after `timeout`.
    fn wait_event(
        &mut self,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&DhtEvent) -> bool,
    ) -> DhtEvent {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(pos) = self.events.iter().position(&mut pred) {
                return self.events.remove(pos);
            }
            assert!(Instant::now() < deadline, "no {what} within {timeout:?}");
            self.step(Duration::from_millis(50));
        }
    }
}

fn info_hash_of(json: &str) -> String {
    let key = "\"infohash\": \"";
    let start = json.find(key).expect("infohash in mktorrent output") + key.len();
    json[start..start + 40].to_string()
}

#[test]
fn bootstraps_from_libtorrent_finds_a_seeder_and_is_found() {
    let work = WorkDir::new("dht-lt");
    // Three libtorrent DHT nodes, each bootstrapping from the other two.
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let boot_of = |skip: Option<usize>| -> String {
        ports
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, p)| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let nodes: Vec<_> = (0..3)
        .map(|i| {
            let port = ports[i].to_string();
            let boot = boot_of(Some(i));
            lt_peer(
                &work,
                &format!("node{i}"),
                120,
                &[
                    "--dht-node",
                    "--print-dht-port",
                    "--port",
                    &port,
                    "--dht-bootstrap",
                    &boot,
                ],
            )
        })
        .collect();
    for node in &nodes {
        node.wait_for_line("DHT_PORT ", Duration::from_secs(20));
    }
    let all_nodes = boot_of(None);
    let routers: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();

    // A libtorrent seeder announcing a torrent on the DHT.
    let seed_dir = work.join("seed");
    let torrent = work.join("t.torrent");
    let json = mktorrent(&[
        "both",
        "--layout",
        "single",
        "--dir",
        seed_dir.to_str().expect("utf-8 path"),
        "--size",
        "100000",
        "--seed",
        "11",
        "--piece-size",
        "16384",
        "--torrent",
        torrent.to_str().expect("utf-8 path"),
    ]);
    let seeded_hash = info_hash_of(&json);
    let seeder = lt_peer(
        &work,
        "seeder",
        120,
        &[
            "--torrent",
            torrent.to_str().expect("utf-8 path"),
            "--save",
            seed_dir.to_str().expect("utf-8 path"),
            "--seed",
            "--seed-mode",
            "--dht",
            "--dht-bootstrap",
            &all_nodes,
        ],
    );
    let seeder_port = lt_listen_port(&seeder);
    seeder.wait_for_line("SEEDING ", Duration::from_secs(30));

    // Our node bootstraps from the three libtorrent nodes.
    let mut ours = Driver::new(0x5eed);
    ours.dht.bootstrap(Instant::now(), &routers);
    let boot = ours.wait_event(Duration::from_secs(20), "Bootstrapped", |e| {
        matches!(e, DhtEvent::Bootstrapped { .. })
    });
    assert!(
        matches!(boot, DhtEvent::Bootstrapped { nodes } if nodes >= 3),
        "{boot:?}"
    );

    // get_peers finds the seeder (it may take a few seconds to announce: retry).
    let wanted = InfoHash::from_hex(&seeded_hash).expect("hex info-hash");
    let seeder_addr = SocketAddr::from(([127, 0, 0, 1], seeder_port));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = false;
    while !found {
        assert!(
            Instant::now() < deadline,
            "get_peers never found the libtorrent seeder at {seeder_addr}; seeder log:\n{}",
            seeder.output()
        );
        let id = ours.dht.get_peers(Instant::now(), wanted);
        let done = ours.wait_event(
            Duration::from_secs(20),
            "LookupDone",
            |e| matches!(e, DhtEvent::LookupDone { lookup, .. } if *lookup == id),
        );
        found = ours.events.iter().any(|e| {
            matches!(e, DhtEvent::Peers { lookup, peers, .. }
                if *lookup == id && peers.contains(&seeder_addr))
        });
        eprintln!("get_peers: {done:?}, seeder found: {found}");
        if !found {
            let until = Instant::now() + Duration::from_secs(2);
            while Instant::now() < until {
                ours.step(Duration::from_millis(50));
            }
        }
    }

    // We announce an info-hash only we have, on a TCP port where the test answers the
    // BitTorrent handshake; a libtorrent downloader given only the magnet finds us via DHT.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
    let our_port = listener.local_addr().expect("addr").port();
    let mut hash = [0u8; 20];
    Rng::new(77).fill(&mut hash);
    let ours_hash = InfoHash(hash);
    let id = ours.dht.announce(Instant::now(), ours_hash, our_port);
    let done = ours.wait_event(
        Duration::from_secs(20),
        "announce LookupDone",
        |e| matches!(e, DhtEvent::LookupDone { lookup, .. } if *lookup == id),
    );
    assert!(
        matches!(done, DhtEvent::LookupDone { announced, .. } if announced >= 1),
        "no node accepted our announce: {done:?}"
    );

    listener.set_nonblocking(true).expect("nonblocking");
    let magnet = format!("magnet:?xt=urn:btih:{}", to_hex(&hash));
    let leech_dir = work.join("leech");
    let downloader = lt_peer(
        &work,
        "downloader",
        60,
        &[
            "--magnet",
            &magnet,
            "--save",
            leech_dir.to_str().expect("utf-8 path"),
            "--dht",
            "--dht-bootstrap",
            &all_nodes,
        ],
    );
    let want_line = format!("PEER 127.0.0.1:{our_port} src=dht");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut conns = Vec::new();
    loop {
        if downloader
            .output()
            .lines()
            .any(|l| l.starts_with(&want_line))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "libtorrent never reported {want_line:?}; downloader log:\n{}",
            downloader.output()
        );
        // Answer the handshake of whoever connects, with the info-hash they asked for.
        if let Ok((mut stream, _)) = listener.accept() {
            stream.set_nonblocking(false).expect("blocking");
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut theirs = [0u8; 68];
            if stream.read_exact(&mut theirs).is_ok() {
                let mut reply = Vec::with_capacity(68);
                reply.push(19);
                reply.extend_from_slice(b"BitTorrent protocol");
                reply.extend_from_slice(&[0; 8]);
                reply.extend_from_slice(&theirs[28..48]);
                reply.extend_from_slice(b"-ST0100-dhtinterop00");
                let _ = stream.write_all(&reply);
                conns.push(stream);
            }
        }
        ours.step(Duration::from_millis(50));
    }
    let stats = ours.dht.stats();
    eprintln!(
        "our node: {stats:?}, table {}",
        ours.dht.routing_table().len()
    );
    assert!(stats.queries_answered > 0, "libtorrent queried us");
}
