//! A node under a KRPC flood: random ids from many addresses, `get_peers` for random
//! info-hashes, `announce_peer` with forged tokens, and flooders that answer pings. Answers stay
//! within the per-address and global limits, state stays bounded and expires, nodes that
//! answer are never pushed out, and our own lookups keep working.

use std::net::Ipv4Addr;

use super::*;

/// Honest node `i`.
fn honest(i: usize) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(0x0a00_0000 + i as u32).into(), 6881)
}

/// Flooder `i` (a distinct address each, as a spoofed or loopback flood has).
fn flooder(i: u32) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(0xac10_0000 + i).into(), 6881)
}

fn is_flooder(a: SocketAddr) -> bool {
    matches!(a.ip(), IpAddr::V4(ip) if u32::from(ip) & 0xfff0_0000 == 0xac10_0000)
}

/// The `i`-th flood datagram: the four kinds in turn, each from a new id.
fn flood_query(i: u32, rng: &mut Rng) -> Vec<u8> {
    let random = NodeId::random(rng);
    let method = match i % 4 {
        0 => Method::Ping,
        1 => Method::FindNode {
            target: random,
            want: Want::default(),
        },
        2 => Method::GetPeers {
            info_hash: InfoHash(random.0),
            want: Want::default(),
        },
        _ => Method::AnnouncePeer {
            info_hash: InfoHash(random.0),
            port: 6881,
            implied_port: false,
            token: random.0[..TOKEN_LEN].to_vec(),
        },
    };
    Message {
        tid: i.to_be_bytes().to_vec(),
        body: Body::Query(Query {
            id: NodeId::random(rng),
            method,
        }),
        read_only: false,
        ip: None,
        version: None,
    }
    .encode()
}

/// Thirty honest nodes that know each other; node 3 has announced `ih` on port 5555.
fn honest_network(now: &mut Instant, ih: InfoHash) -> Vec<Dht> {
    let mut nodes: Vec<Dht> = (0..30)
        .map(|i| Dht::new(Config::default(), *now, i))
        .collect();
    for i in 1..nodes.len() {
        nodes[i].bootstrap(*now, &[honest(0)]);
        deliver(&mut nodes, now, |_| {});
    }
    nodes[3].announce(*now, ih, 5555);
    deliver(&mut nodes, now, |_| {});
    for n in &mut nodes {
        while n.poll_event().is_some() {}
    }
    nodes
}

/// Delivers queued datagrams between honest nodes until quiet, 1 ms per hop; datagrams to
/// anyone else go to `other`.
fn deliver(nodes: &mut [Dht], now: &mut Instant, mut other: impl FnMut(Transmit)) {
    loop {
        let mut moved = false;
        for i in 0..nodes.len() {
            while let Some(t) = nodes[i].poll_transmit() {
                moved = true;
                let Some(j) = (0..nodes.len()).find(|&j| t.dest == Dest::Udp(honest(j))) else {
                    other(t);
                    continue;
                };
                *now += Duration::from_millis(1);
                nodes[j].handle_datagram(*now, honest(i), &t.payload);
            }
        }
        if !moved {
            return;
        }
    }
}

#[test]
fn a_flood_is_answered_within_limits_and_our_lookup_still_works() {
    const VICTIM: usize = 20;
    /// Flood datagrams per 10 ms: 4,000 a second, each from a new address and id.
    const PER_TICK: u32 = 40;
    let t0 = Instant::now();
    let mut now = t0;
    let ih = InfoHash([0x42; 20]);
    let mut nodes = honest_network(&mut now, ih);
    let good_before: Vec<NodeId> = nodes[VICTIM]
        .routing_table()
        .good_nodes(now)
        .iter()
        .map(|n| n.id)
        .collect();
    assert!(good_before.len() >= K, "{}", good_before.len());
    let config = nodes[VICTIM].config.clone();
    let limit = config.rate_limit;
    let verify_cap = config.max_in_flight / VERIFY_SHARE;

    let mut rng = Rng::new(7);
    let mut sent = 0u32;
    let mut answers_to_flood = 0u64;
    let mut pings_to_flood = 0u64;
    let flood_start = now;
    let mut lookup: Option<(LookupId, Instant)> = None;
    let mut done: Option<(usize, Duration)> = None;
    let mut found = false;
    // Three seconds of flood alone, then our lookup starts; the flood runs for ten seconds.
    while now < flood_start + Duration::from_secs(10) {
        now += Duration::from_millis(10);
        for _ in 0..PER_TICK {
            let datagram = flood_query(sent, &mut rng);
            nodes[VICTIM].handle_datagram(now, flooder(sent), &datagram);
            sent += 1;
        }
        nodes[VICTIM].handle_timeout(now);
        if lookup.is_none() && now >= flood_start + Duration::from_secs(3) {
            lookup = Some((nodes[VICTIM].get_peers(now, ih), now));
        }
        deliver(&mut nodes, &mut now, |t| {
            let Dest::Udp(to) = t.dest else { return };
            assert!(is_flooder(to), "a datagram to nowhere: {to}");
            match Message::decode(&t.payload).map(|m| m.body) {
                Ok(Body::Query(q)) => {
                    assert_eq!(q.method, Method::Ping);
                    pings_to_flood += 1;
                }
                _ => answers_to_flood += 1,
            }
        });
        let victim = &nodes[VICTIM];
        assert!(victim.transactions.len() <= config.max_in_flight);
        assert!(
            victim.pinging.len() <= verify_cap + PINGS_PER_ROUND,
            "pings verifying flooders hold {} query slots",
            victim.pinging.len()
        );
        assert!(victim.limiter.tracked() <= limit.max_tracked);
        while let Some(event) = nodes[VICTIM].poll_event() {
            let Some((id, started)) = lookup else {
                continue;
            };
            match event {
                DhtEvent::Peers { lookup, peers, .. } if lookup == id => {
                    found |= peers.contains(&SocketAddr::new(honest(3).ip(), 5555));
                }
                DhtEvent::LookupDone { lookup, peers, .. } if lookup == id => {
                    done = Some((peers, now - started));
                }
                _ => {}
            }
        }
    }
    let elapsed = now - flood_start;
    let victim = &nodes[VICTIM];
    let stats = victim.stats();

    // Our lookup found the announced peer, quickly, in the middle of the flood.
    let Some((peers, took)) = done else {
        panic!("the lookup never finished under the flood: {stats:?}")
    };
    assert!(found && peers == 1, "peers {peers}, found {found}");
    assert!(took < Duration::from_secs(1), "the lookup took {took:?}");

    // Answers stayed within the global limit (plus the honest nodes' own traffic).
    let global_cap = u64::from(limit.global_burst)
        + u64::from(limit.global_per_sec) * elapsed.as_secs().saturating_add(1);
    assert!(
        answers_to_flood <= global_cap,
        "{answers_to_flood} answers to {sent} flood queries, cap {global_cap}"
    );
    assert!(answers_to_flood >= u64::from(limit.global_per_sec) * 5);
    assert!(stats.rate_limited >= u64::from(sent) - global_cap);
    // Pings to unverified flooders stayed within their share of the query slots: at most
    // `verify_cap` per query timeout.
    let ping_cap = (verify_cap as u64 + PINGS_PER_ROUND as u64)
        * (elapsed.as_millis() / config.query_timeout.as_millis() + 1) as u64;
    assert!(pings_to_flood <= ping_cap, "{pings_to_flood} > {ping_cap}");

    // Forged tokens stored nothing; flooders never answered, so none entered the table, and
    // every node that was good before is still there.
    assert_eq!(victim.peer_store().torrents(), 0);
    assert!(victim.routing_table().nodes().all(|n| !is_flooder(n.addr)));
    for id in &good_before {
        assert!(victim.routing_table().get(id).is_some());
    }

    // Once the flood stops, the per-address state expires with maintenance.
    let mut later = now;
    for _ in 0..4 {
        later += MAINTENANCE_EVERY;
        nodes[VICTIM].handle_timeout(later);
    }
    assert_eq!(nodes[VICTIM].limiter.tracked(), 0);
}

#[test]
fn flooders_that_answer_pings_never_push_out_nodes_that_answer() {
    const VICTIM: usize = 20;
    let mut now = Instant::now();
    let mut nodes = honest_network(&mut now, InfoHash([1; 20]));
    let before: Vec<NodeId> = nodes[VICTIM]
        .routing_table()
        .nodes()
        .map(|n| n.id)
        .collect();
    let mut rng = Rng::new(9);
    // 5,000 flooders, each from its own address with its own id, query us and answer the
    // ping that verifies them at once: as many sybils as the table could ever hold.
    for i in 0..5_000u32 {
        now += Duration::from_millis(1);
        let id = NodeId::random(&mut rng);
        let ping = Message {
            tid: b"fl".to_vec(),
            body: Body::Query(Query {
                id,
                method: Method::Ping,
            }),
            read_only: false,
            ip: None,
            version: None,
        };
        let victim = &mut nodes[VICTIM];
        victim.handle_datagram(now, flooder(i), &ping.encode());
        let out: Vec<Transmit> = std::iter::from_fn(|| victim.poll_transmit()).collect();
        for t in out {
            let Ok(Message {
                tid,
                body: Body::Query(_),
                ..
            }) = Message::decode(&t.payload)
            else {
                continue;
            };
            let pong = Message {
                tid,
                body: Body::Response(Response {
                    id,
                    ..Response::default()
                }),
                read_only: false,
                ip: None,
                version: None,
            };
            victim.handle_datagram(now, flooder(i), &pong.encode());
        }
    }
    let table = nodes[VICTIM].routing_table();
    assert!(
        table.nodes().any(|n| is_flooder(n.addr)),
        "answering flooders fill free slots"
    );
    assert!(table.len() <= NodeId::BITS * K);
    for id in &before {
        assert!(table.get(id).is_some(), "an honest node was pushed out");
    }
}
