//! Interop: core's HTTP and UDP tracker code against a real opentracker on 127.0.0.1.
//!
//! Two "peers" (two peer ids and ports) announce one after the other; the second must get the
//! first back as a peer. Then a scrape over each transport must count one seeder and one
//! leecher. Then batched scrapes: one HTTP scrape of 64 info-hashes and one UDP scrape of 74,
//! each answer matched back hash by hash. The sockets here are plain blocking std sockets carrying core's bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use sanstorrent_core::Dest;
use sanstorrent_core::tracker::http::{DEFAULT_MAX_RESPONSE, announce_outcome, announce_request};
use sanstorrent_core::tracker::scrape::{
    MAX_HTTP_SCRAPE_HASHES, scrape_outcome, scrape_request, scrape_url,
};
use sanstorrent_core::tracker::udp::MAX_SCRAPE_HASHES;
use sanstorrent_core::tracker::{
    AnnounceEvent, AnnounceRequest, AnnounceResponse, HttpOutcome, HttpResponse, ResponseReader,
    ScrapeStats, TrackerUrl, UdpConfig, UdpEvent, UdpTracker,
};
use sanstorrent_core::{InfoHash, PeerId, Rng};
use sanstorrent_tests::interop::{Tracker, WorkDir, free_port};

const TIMEOUT: Duration = Duration::from_secs(10);

fn request(info_hash: InfoHash, peer: u8, port: u16, left: u64) -> AnnounceRequest {
    let mut peer_id = *b"-ST0100-interop00000";
    peer_id[19] = b'0' + peer;
    AnnounceRequest {
        info_hash,
        peer_id: PeerId(peer_id),
        port,
        uploaded: 0,
        downloaded: 0,
        left,
        event: AnnounceEvent::Started,
        numwant: Some(50),
        key: u32::from(peer),
        ip: None,
        tracker_id: None,
    }
}

/// Sends core's request bytes over TCP and reads the response through core's reader.
fn http_exchange(url: &TrackerUrl, bytes: &[u8]) -> HttpResponse {
    let addr = url.socket_addr().expect("an IP literal");
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect to opentracker");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut reader = ResponseReader::new(DEFAULT_MAX_RESPONSE);
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("read from opentracker");
        if n == 0 {
            return reader.eof().expect("complete HTTP response");
        }
        if let Some(response) = reader.push(&buf[..n]).expect("valid HTTP response") {
            return response;
        }
    }
}

fn http_announce(url: &TrackerUrl, req: &AnnounceRequest) -> AnnounceResponse {
    let response = http_exchange(url, &announce_request(url, req));
    match announce_outcome(url, &response) {
        Ok(HttpOutcome::Done(r)) => r,
        other => panic!("HTTP announce failed: {other:?}"),
    }
}

/// Drives a UdpTracker over a std socket until it reports an event.
fn udp_drive(
    t: &mut UdpTracker,
    socket: &UdpSocket,
    start: impl FnOnce(&mut UdpTracker),
) -> UdpEvent {
    start(t);
    let deadline = Instant::now() + TIMEOUT;
    let mut buf = [0u8; 2048];
    loop {
        while let Some(tx) = t.poll_transmit() {
            let Dest::Udp(to) = tx.dest else {
                panic!("a UDP tracker only sends datagrams: {tx:?}");
            };
            socket.send_to(&tx.payload, to).unwrap();
        }
        if let Some(event) = t.poll_event() {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no answer from opentracker over UDP"
        );
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if t.matches(from, &buf[..n]) {
                    t.handle_datagram(Instant::now(), &buf[..n])
                        .expect("valid UDP tracker answer");
                }
            }
            Err(_) => t.handle_timeout(Instant::now()),
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn announce_and_scrape_over_http_and_udp() {
    let work = WorkDir::new("tracker-opentracker");
    let tracker = Tracker::start(&work, "trk");
    let http_hash = InfoHash::of_info(b"sanstorrent tracker interop over HTTP");
    let udp_hash = InfoHash::of_info(b"sanstorrent tracker interop over UDP");
    tracker.allow(&http_hash.to_hex());
    tracker.allow(&udp_hash.to_hex());

    // HTTP: a seeder then a leecher; the leecher sees the seeder.
    let url = TrackerUrl::parse(&tracker.http_url()).unwrap();
    let (p1, p2) = (free_port(), free_port());
    let first = http_announce(&url, &request(http_hash, 1, p1, 0));
    assert!(
        first.interval.is_some(),
        "opentracker gives an interval: {first:?}"
    );
    let second = http_announce(&url, &request(http_hash, 2, p2, 1000));
    assert!(
        second.peers.contains(&loopback(p1)),
        "HTTP: first announce not among {:?}",
        second.peers
    );
    let scrape = scrape_url(&url).expect("opentracker's /announce has a scrape URL");
    let response = http_exchange(&scrape, &scrape_request(&scrape, &[http_hash]));
    let stats = match scrape_outcome(&scrape, &response) {
        Ok(HttpOutcome::Done(s)) => s,
        other => panic!("HTTP scrape failed: {other:?}"),
    };
    assert_eq!(
        stats,
        vec![ScrapeStats {
            info_hash: http_hash,
            complete: 1,
            downloaded: 0,
            incomplete: 1,
            downloaders: None,
        }]
    );

    // UDP: the same over BEP 15, from one shared socket.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let udp_url = TrackerUrl::parse(&tracker.udp_url()).unwrap();
    let config = UdpConfig {
        retransmit_base: Duration::from_secs(1),
        ..UdpConfig::default()
    };
    let mut t = UdpTracker::new(udp_url.socket_addr().unwrap(), config, Rng::new(42));
    let (p3, p4) = (free_port(), free_port());
    let now = Instant::now();
    let first = udp_drive(&mut t, &socket, |t| {
        t.announce(now, request(udp_hash, 3, p3, 0));
    });
    assert!(matches!(first, UdpEvent::Announced { .. }), "{first:?}");
    let second = udp_drive(&mut t, &socket, |t| {
        t.announce(now, request(udp_hash, 4, p4, 1000));
    });
    let UdpEvent::Announced { response, .. } = second else {
        panic!("UDP announce failed: {second:?}")
    };
    assert!(
        response.peers.contains(&loopback(p3)),
        "UDP: first announce not among {:?}",
        response.peers
    );
    assert_eq!((response.complete, response.incomplete), (Some(1), Some(1)));
    let scraped = udp_drive(&mut t, &socket, |t| {
        t.scrape(now, vec![udp_hash, http_hash]).unwrap();
    });
    let UdpEvent::Scraped { stats, .. } = scraped else {
        panic!("UDP scrape failed: {scraped:?}")
    };
    let counts: Vec<(u32, u32)> = stats.iter().map(|s| (s.complete, s.incomplete)).collect();
    assert_eq!(counts, [(1, 1), (1, 1)], "{stats:?}");
}

#[test]
fn batched_scrapes_over_http_and_udp() {
    let work = WorkDir::new("tracker-opentracker-batch");
    let tracker = Tracker::start(&work, "trk");
    let hashes: Vec<InfoHash> = (0..MAX_SCRAPE_HASHES)
        .map(|i| InfoHash::of_info(format!("sanstorrent batched scrape {i}").as_bytes()))
        .collect();
    let hexes: Vec<String> = hashes.iter().map(InfoHash::to_hex).collect();
    tracker.allow_all(&hexes.iter().map(String::as_str).collect::<Vec<_>>());
    // One seeder on a few of them (the first and last of each batch among them).
    let seeded = [0, 40, MAX_HTTP_SCRAPE_HASHES - 1, MAX_SCRAPE_HASHES - 1];
    let url = TrackerUrl::parse(&tracker.http_url()).unwrap();
    for (n, i) in seeded.iter().enumerate() {
        http_announce(&url, &request(hashes[*i], n as u8, free_port(), 0));
    }
    let counts = |hash: &InfoHash| {
        let i = hashes.iter().position(|h| h == hash).expect("a hash asked");
        if seeded.contains(&i) { (1, 0) } else { (0, 0) }
    };

    let scrape = scrape_url(&url).expect("a scrape URL");
    let batch = &hashes[..MAX_HTTP_SCRAPE_HASHES];
    let response = http_exchange(&scrape, &scrape_request(&scrape, batch));
    let stats = match scrape_outcome(&scrape, &response) {
        Ok(HttpOutcome::Done(s)) => s,
        other => panic!("HTTP scrape failed: {other:?}"),
    };
    for s in &stats {
        assert!(batch.contains(&s.info_hash), "not asked: {s:?}");
        assert_eq!((s.complete, s.incomplete), counts(&s.info_hash), "{s:?}");
    }
    for i in seeded.iter().filter(|i| **i < MAX_HTTP_SCRAPE_HASHES) {
        assert!(
            stats.iter().any(|s| s.info_hash == hashes[*i]),
            "HTTP: seeded torrent {i} not in the answer of {} entries",
            stats.len()
        );
    }

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let udp_url = TrackerUrl::parse(&tracker.udp_url()).unwrap();
    let config = UdpConfig {
        retransmit_base: Duration::from_secs(1),
        ..UdpConfig::default()
    };
    let mut t = UdpTracker::new(udp_url.socket_addr().unwrap(), config, Rng::new(7));
    let now = Instant::now();
    let scraped = udp_drive(&mut t, &socket, |t| {
        t.scrape(now, hashes.clone()).unwrap();
    });
    let UdpEvent::Scraped { stats, .. } = scraped else {
        panic!("UDP scrape failed: {scraped:?}")
    };
    assert_eq!(stats.len(), MAX_SCRAPE_HASHES, "one entry per hash asked");
    for (s, h) in stats.iter().zip(&hashes) {
        assert_eq!(s.info_hash, *h);
        assert_eq!((s.complete, s.incomplete), counts(h), "{s:?}");
    }
    eprintln!(
        "opentracker: one HTTP scrape of {MAX_HTTP_SCRAPE_HASHES} hashes, one UDP scrape of \
         {MAX_SCRAPE_HASHES}; {} seeded torrents matched in both",
        seeded.len()
    );
}
