//! Tracker figures: build an HTTP announce, read a 200-peer response through the incremental
//! reader (content-length and chunked), parse its body; a full UDP connect+announce exchange.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sanstorrent_core::tracker::http::{DEFAULT_MAX_RESPONSE, announce_outcome, announce_request};
use sanstorrent_core::tracker::{
    AnnounceEvent, AnnounceRequest, ResponseReader, TrackerUrl, UdpConfig, UdpEvent, UdpTracker,
};
use sanstorrent_core::{InfoHash, PeerId, Rng};

fn request() -> AnnounceRequest {
    AnnounceRequest {
        info_hash: InfoHash([0xa5; 20]),
        peer_id: PeerId(*b"-ST0100-abcdefghijkl"),
        port: 6881,
        uploaded: 123_456,
        downloaded: 654_321,
        left: 1 << 30,
        event: AnnounceEvent::Started,
        numwant: Some(200),
        key: 42,
        ip: None,
        tracker_id: None,
    }
}

fn bench(name: &str, iters: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let per = start.elapsed() / iters;
    let rate = 1.0 / per.as_secs_f64().max(1e-12);
    println!("{name:<44} {per:>10.2?}/op  {rate:>12.0} op/s");
}

fn main() {
    let url = TrackerUrl::parse("http://tracker.example.org:6969/announce?pk=1").unwrap();
    let req = request();
    bench("http announce request bytes", 200_000, || {
        black_box(announce_request(&url, black_box(&req)));
    });

    let mut peers = Vec::new();
    for i in 0..200u32 {
        peers.extend_from_slice(&i.to_be_bytes());
        peers.extend_from_slice(&6881u16.to_be_bytes());
    }
    let body = [
        b"d8:completei10e10:incompletei190e8:intervali1800e5:peers1200:".to_vec(),
        peers.clone(),
        b"e".to_vec(),
    ]
    .concat();
    let with_len = [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(),
        body.clone(),
    ]
    .concat();
    let chunked = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        body.chunks(100)
            .flat_map(|c| {
                [
                    format!("{:x}\r\n", c.len()).into_bytes(),
                    c.to_vec(),
                    b"\r\n".to_vec(),
                ]
            })
            .flatten()
            .collect(),
        b"0\r\n\r\n".to_vec(),
    ]
    .concat();
    for (name, input) in [("content-length", &with_len), ("chunked", &chunked)] {
        bench(
            &format!("http read+parse 200 peers ({name}, 512 B reads)"),
            20_000,
            || {
                let mut reader = ResponseReader::new(DEFAULT_MAX_RESPONSE);
                let mut done = None;
                for piece in input.chunks(512) {
                    if let Some(r) = reader.push(piece).unwrap() {
                        done = Some(r);
                        break;
                    }
                }
                let response = done.unwrap();
                black_box(announce_outcome(&url, &response).unwrap());
            },
        );
    }

    let remote = "127.0.0.1:6969".parse().unwrap();
    let now = Instant::now();
    let mut answer = [
        1u32.to_be_bytes(),
        [0; 4],
        1800u32.to_be_bytes(),
        [0; 4],
        [0; 4],
    ]
    .concat();
    answer.extend_from_slice(&peers);
    bench(
        "udp connect + announce (200 peers) exchange",
        50_000,
        || {
            let mut t = UdpTracker::new(remote, UdpConfig::default(), Rng::new(1));
            t.announce(now, request());
            let connect = t.poll_transmit().unwrap().payload;
            let mut c = [0u32.to_be_bytes(), [0; 4]].concat();
            c[4..8].copy_from_slice(&connect[12..16]);
            c.extend_from_slice(&7u64.to_be_bytes());
            t.handle_datagram(now, &c).unwrap();
            let a = t.poll_transmit().unwrap().payload;
            let mut reply = answer.clone();
            reply[4..8].copy_from_slice(&a[12..16]);
            t.handle_datagram(now + Duration::from_millis(1), &reply)
                .unwrap();
            let Some(UdpEvent::Announced { response, .. }) = t.poll_event() else {
                panic!("no answer")
            };
            black_box(response);
        },
    );
}
