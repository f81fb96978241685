//! DHT figures: KRPC queries answered per second on one core (decode, serve, encode), and the
//! memory the announced-peer store needs per 10 000 peers. Prints figures; asserts nothing.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sanstorrent_core::Dest;
use sanstorrent_core::dht::{
    Body, Config, Dht, Message, Method, NodeId, PeerStore, Query, RateLimit, Response, StoreLimits,
    StoredPeer, Want,
};
use sanstorrent_core::{InfoHash, Rng};

fn addr(i: u32) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(0x0b00_0000 + i).into(), 6881)
}

fn query(tid: u32, id: NodeId, method: Method) -> Vec<u8> {
    Message {
        tid: tid.to_be_bytes().to_vec(),
        body: Body::Query(Query { id, method }),
        read_only: false,
        ip: None,
        version: Some(b"LT20".to_vec()),
    }
    .encode()
}

fn main() {
    let start = Instant::now();
    let mut rng = Rng::new(1);
    let config = Config {
        rate_limit: RateLimit {
            per_ip_per_sec: 1_000_000,
            per_ip_burst: 1_000_000,
            max_tracked: 200_000,
            overflow_per_sec: 1_000_000,
            global_per_sec: 1_000_000,
            global_burst: 1_000_000,
        },
        ..Config::default()
    };
    let mut dht = Dht::new(config, start, 7);
    // Fill the routing table: 5 000 nodes ping us from distinct addresses and answer the ping
    // that verifies them.
    for i in 0..5_000 {
        let id = NodeId::random(&mut rng);
        dht.handle_datagram(start, addr(i), &query(i, id, Method::Ping));
        while let Some(t) = dht.poll_transmit() {
            let Ok(msg) = Message::decode(&t.payload) else {
                continue;
            };
            if let (Body::Query(_), Dest::Udp(to)) = (&msg.body, t.dest) {
                let pong = Message {
                    tid: msg.tid,
                    body: Body::Response(Response {
                        id,
                        ..Response::default()
                    }),
                    read_only: false,
                    ip: None,
                    version: None,
                };
                dht.handle_datagram(start, to, &pong.encode());
            }
        }
    }
    // 200 torrents with 20 announced peers each (tokens fetched with get_peers first).
    let hashes: Vec<InfoHash> = (0..200)
        .map(|_| InfoHash(NodeId::random(&mut rng).0))
        .collect();
    for (h, ih) in hashes.iter().enumerate() {
        for p in 0..20u32 {
            let from = addr(10_000 + h as u32 * 20 + p);
            let id = NodeId::random(&mut rng);
            let get = Method::GetPeers {
                info_hash: *ih,
                want: Want::default(),
            };
            dht.handle_datagram(start, from, &query(1, id, get));
            let reply = dht.poll_transmit().expect("get_peers answered");
            let Ok(Message {
                body: Body::Response(r),
                ..
            }) = Message::decode(&reply.payload)
            else {
                panic!("bad reply")
            };
            let announce = Method::AnnouncePeer {
                info_hash: *ih,
                port: 6881,
                implied_port: false,
                token: r.token.expect("token"),
            };
            dht.handle_datagram(start, from, &query(2, id, announce));
            while dht.poll_transmit().is_some() {}
        }
    }
    println!(
        "setup: {} nodes in {} buckets, {} peers stored",
        dht.routing_table().len(),
        dht.routing_table().bucket_count(),
        dht.peer_store().len()
    );

    // A mix of queries from 50 000 sources: 25% ping, 35% find_node, 40% get_peers (half of
    // them for torrents with peers).
    let mut mix: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    for i in 0..50_000u32 {
        let id = NodeId::random(&mut rng);
        let method = match i % 20 {
            0..=4 => Method::Ping,
            5..=11 => Method::FindNode {
                target: NodeId::random(&mut rng),
                want: Want::default(),
            },
            12..=15 => Method::GetPeers {
                info_hash: hashes[rng.index(hashes.len())],
                want: Want::default(),
            },
            _ => Method::GetPeers {
                info_hash: InfoHash(NodeId::random(&mut rng).0),
                want: Want::default(),
            },
        };
        mix.push((addr(100_000 + i), query(i, id, method)));
    }
    let rounds = 6;
    let mut answered = 0u64;
    let mut bytes_out = 0usize;
    let t = Instant::now();
    for round in 0..rounds {
        let now = start + Duration::from_millis(round);
        for (from, q) in &mix {
            dht.handle_datagram(now, *from, q);
            while let Some(tx) = dht.poll_transmit() {
                // Count replies (`y = r`), not the pings that verify new queriers.
                if tx.payload.ends_with(b"1:y1:re") {
                    answered += 1;
                    bytes_out += black_box(tx.payload.len());
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "serving: {answered} queries answered in {secs:.2} s = {:.0} queries/s on one core \
         ({:.1} us each, {:.0} B average reply)",
        answered as f64 / secs,
        secs * 1e6 / answered as f64,
        bytes_out as f64 / answered as f64
    );

    // KRPC decoding alone.
    let t = Instant::now();
    let mut ok = 0;
    for _ in 0..rounds {
        for (_, q) in &mix {
            ok += usize::from(black_box(Message::decode(q)).is_ok());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("krpc decode: {:.0} messages/s", ok as f64 / secs);

    // Memory per 10 000 stored peers, from the data structure sizes.
    let now = start;
    for (torrents, per) in [(1usize, 10_000usize), (100, 100), (10_000, 1)] {
        let mut store = PeerStore::new(StoreLimits {
            max_torrents: 100_000,
            max_peers_per_torrent: 100_000,
            max_peers: 1_000_000,
            ..StoreLimits::default()
        });
        let mut n = 0u32;
        for t in 0..torrents {
            let mut ih = [0u8; 20];
            ih[..8].copy_from_slice(&(t as u64).to_be_bytes());
            for _ in 0..per {
                n += 1;
                store.announce(now, InfoHash(ih), addr(n));
            }
        }
        let bytes = store.approx_heap_bytes() + size_of::<PeerStore>();
        println!(
            "peer store: 10 000 peers in {torrents} torrent(s) of {per}: ~{} KiB \
             ({:.0} B per peer; entry {} B)",
            bytes / 1024,
            bytes as f64 / 10_000.0,
            size_of::<StoredPeer>()
        );
    }
    println!("total bench time {:.1} s", start.elapsed().as_secs_f64());
}
