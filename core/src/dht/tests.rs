//! Tests of the whole node: serving, transactions and timeouts, rate limiting, read-only mode,
//! a small in-memory network, persistence.

use super::*;

fn addr(i: u32) -> SocketAddr {
    SocketAddr::new(std::net::Ipv4Addr::from(0x0a00_0000 + i).into(), 6881)
}

fn query(id: NodeId, method: Method, ro: bool) -> Vec<u8> {
    Message {
        tid: b"tx".to_vec(),
        body: Body::Query(Query { id, method }),
        read_only: ro,
        ip: None,
        version: None,
    }
    .encode()
}

/// Sends one query and returns the decoded reply body, if any (other datagrams, such as the
/// ping that verifies a new querier, are dropped).
fn ask(dht: &mut Dht, now: Instant, from: SocketAddr, method: Method) -> Option<Body> {
    dht.handle_datagram(now, from, &query(NodeId([0xee; 20]), method, false));
    let mut reply = None;
    while let Some(t) = dht.poll_transmit() {
        assert_eq!(t.dest, Dest::Udp(from));
        let msg = Message::decode(&t.payload).expect("our datagrams decode");
        if matches!(msg.body, Body::Query(_)) {
            continue;
        }
        assert_eq!(msg.tid, b"tx");
        assert_eq!(
            msg.ip,
            Some(from),
            "BEP 42: the reply tells the querier its address"
        );
        assert!(reply.is_none(), "one reply per query");
        reply = Some(msg.body);
    }
    reply
}

#[test]
fn serves_every_query_type() {
    let t0 = Instant::now();
    let mut dht = Dht::new(Config::default(), t0, 1);
    let me = addr(1);
    let Some(Body::Response(r)) = ask(&mut dht, t0, me, Method::Ping) else {
        panic!("no ping reply")
    };
    assert_eq!(r.id, dht.id());

    let ih = InfoHash([5; 20]);
    let get = Method::GetPeers {
        info_hash: ih,
        want: Want::default(),
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, me, get.clone()) else {
        panic!("no get_peers reply")
    };
    assert!(r.values.is_empty());
    let token = r.token.expect("get_peers gives a token");
    assert!(
        r.nodes.is_empty(),
        "an unverified querier is not handed out as a node"
    );

    let announce = |token: Vec<u8>, implied: bool| Method::AnnouncePeer {
        info_hash: ih,
        port: 7000,
        implied_port: implied,
        token,
    };
    let Some(Body::Error(e)) = ask(&mut dht, t0, me, announce(b"forged".to_vec(), false)) else {
        panic!("a bad token is refused")
    };
    assert_eq!(e.code, code::PROTOCOL);
    let Some(Body::Error(_)) = ask(&mut dht, t0, addr(2), announce(token.clone(), false)) else {
        panic!("a token is bound to its IP")
    };
    let Some(Body::Response(_)) = ask(&mut dht, t0, me, announce(token.clone(), false)) else {
        panic!("announce refused")
    };
    let Some(Body::Response(_)) = ask(&mut dht, t0, me, announce(token, true)) else {
        panic!("implied-port announce refused")
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, addr(3), get) else {
        panic!("no get_peers reply")
    };
    let mut values = r.values.clone();
    values.sort();
    assert_eq!(
        values,
        vec![
            SocketAddr::new(me.ip(), 6881),
            SocketAddr::new(me.ip(), 7000)
        ]
    );

    let find = Method::FindNode {
        target: NodeId([0; 20]),
        want: Want { v4: true, v6: true },
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, me, find) else {
        panic!("no find_node reply")
    };
    assert!(
        r.nodes.is_empty() && r.nodes6.is_empty(),
        "the table is still empty"
    );
    let Some(Body::Error(e)) = ask(&mut dht, t0, me, Method::Unknown(b"vote".to_vec())) else {
        panic!("unknown methods get an error")
    };
    assert_eq!(e.code, code::METHOD_UNKNOWN);
    assert_eq!(dht.stats().queries_answered, 9);
}

#[test]
fn malformed_and_unsolicited_input_is_dropped() {
    let t0 = Instant::now();
    let mut dht = Dht::new(Config::default(), t0, 1);
    for junk in [
        &b""[..],
        b"d",
        b"i1e",
        b"d1:t2:aa1:y1:re",
        b"\x00\x00\x04\x17",
    ] {
        dht.handle_datagram(t0, addr(1), junk);
    }
    assert_eq!(dht.stats().malformed, 5);
    let resp = Message {
        tid: vec![0, 0, 0, 1],
        body: Body::Response(Response {
            id: NodeId([1; 20]),
            ..Response::default()
        }),
        read_only: false,
        ip: None,
        version: None,
    };
    dht.handle_datagram(t0, addr(1), &resp.encode());
    assert_eq!(dht.stats().unsolicited, 1);
    assert!(dht.poll_transmit().is_none());
    assert!(
        dht.routing_table().is_empty(),
        "unsolicited responses teach nothing"
    );
}

#[test]
fn queries_time_out_and_fail_nodes() {
    let t0 = Instant::now();
    let config = Config {
        query_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let mut dht = Dht::new(config, t0, 1);
    dht.bootstrap(t0, &[addr(1), addr(2)]);
    let sent: Vec<Transmit> = std::iter::from_fn(|| dht.poll_transmit()).collect();
    assert_eq!(sent.len(), 2, "bootstrap asks every router");
    assert_eq!(dht.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    dht.handle_timeout(t0 + Duration::from_millis(1999));
    assert_eq!(dht.stats().timeouts, 0);
    dht.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(dht.stats().timeouts, 2);
    assert_eq!(dht.poll_event(), Some(DhtEvent::Bootstrapped { nodes: 0 }));
    // A late answer is unsolicited.
    let late = Message {
        tid: Message::decode(&sent[0].payload).unwrap().tid,
        body: Body::Response(Response {
            id: NodeId([1; 20]),
            ..Response::default()
        }),
        read_only: false,
        ip: None,
        version: None,
    };
    dht.handle_datagram(t0 + Duration::from_secs(3), addr(1), &late.encode());
    assert_eq!(dht.stats().unsolicited, 1);
    // With an empty table the routers are tried again a minute later.
    dht.handle_timeout(t0 + Duration::from_secs(65));
    assert_eq!(std::iter::from_fn(|| dht.poll_transmit()).count(), 2);
}

#[test]
fn a_flood_is_rate_limited_with_bounded_memory() {
    let t0 = Instant::now();
    let config = Config {
        rate_limit: RateLimit {
            per_ip_per_sec: 10,
            per_ip_burst: 20,
            max_tracked: 256,
            overflow_per_sec: 50,
            ..RateLimit::default()
        },
        ..Config::default()
    };
    let mut dht = Dht::new(config, t0, 1);
    let ping = query(NodeId([1; 20]), Method::Ping, false);
    for _ in 0..1000 {
        dht.handle_datagram(t0, addr(1), &ping);
    }
    assert_eq!(dht.stats().queries_answered, 20);
    for i in 0..20_000 {
        let q = query(NodeId([(i % 251) as u8; 20]), Method::Ping, false);
        dht.handle_datagram(t0, addr(100 + i), &q);
    }
    assert!(dht.stats().queries_answered <= 20 + 255 * 20 + 50);
    assert!(dht.routing_table().len() <= 160 * K);
    let queued = std::iter::from_fn(|| dht.poll_transmit()).count();
    assert!(queued <= MAX_QUEUED_TRANSMITS);
    assert!(dht.stats().rate_limited > 10_000);
}

#[test]
fn read_only_mode_answers_nothing_and_is_not_added() {
    let t0 = Instant::now();
    let ro = Config {
        read_only: true,
        ..Config::default()
    };
    let mut dht = Dht::new(ro, t0, 1);
    dht.handle_datagram(t0, addr(1), &query(NodeId([1; 20]), Method::Ping, false));
    assert!(dht.poll_transmit().is_none());
    dht.bootstrap(t0, &[addr(1)]);
    let t = dht.poll_transmit().unwrap();
    assert!(
        Message::decode(&t.payload).unwrap().read_only,
        "queries carry ro=1"
    );

    let mut normal = Dht::new(Config::default(), t0, 2);
    normal.handle_datagram(t0, addr(1), &query(NodeId([1; 20]), Method::Ping, true));
    assert!(
        normal.poll_transmit().is_some(),
        "read-only nodes get answers"
    );
    assert!(
        normal.routing_table().is_empty(),
        "but stay out of the table"
    );
}

/// Delivers every queued datagram between `nodes` (addresses `addr(i)`) until quiet, moving
/// time by 10 ms per hop.
fn pump(nodes: &mut [Dht], now: &mut Instant) {
    for _ in 0..10_000 {
        let mut moved = false;
        for i in 0..nodes.len() {
            while let Some(t) = nodes[i].poll_transmit() {
                moved = true;
                let Some(j) = (0..nodes.len()).find(|&j| Dest::Udp(addr(j as u32)) == t.dest)
                else {
                    continue;
                };
                *now += Duration::from_millis(10);
                nodes[j].handle_datagram(*now, addr(i as u32), &t.payload);
            }
        }
        if !moved {
            return;
        }
    }
    panic!("network never went quiet");
}

#[test]
fn small_network_announce_get_peers_and_restart() {
    let mut now = Instant::now();
    let mut nodes: Vec<Dht> = (0..30)
        .map(|i| Dht::new(Config::default(), now, i))
        .collect();
    for i in 1..nodes.len() {
        nodes[i].bootstrap(now, &[addr(0)]);
        pump(&mut nodes, &mut now);
    }
    for n in &mut nodes[1..] {
        let events: Vec<DhtEvent> = std::iter::from_fn(|| n.poll_event()).collect();
        let boot = events
            .iter()
            .find(|e| matches!(e, DhtEvent::Bootstrapped { .. }));
        assert!(matches!(boot, Some(DhtEvent::Bootstrapped { nodes }) if *nodes > 0));
    }
    let ih = InfoHash([0x42; 20]);
    let a = nodes[3].announce(now, ih, 5555);
    pump(&mut nodes, &mut now);
    let done = std::iter::from_fn(|| nodes[3].poll_event())
        .filter(|e| matches!(e, DhtEvent::LookupDone { .. }))
        .last();
    let Some(DhtEvent::LookupDone {
        lookup, announced, ..
    }) = done
    else {
        panic!("announce did not finish: {done:?}")
    };
    assert_eq!(lookup, a);
    assert!(announced >= 1);

    let g = nodes[20].get_peers(now, ih);
    pump(&mut nodes, &mut now);
    let events: Vec<DhtEvent> = std::iter::from_fn(|| nodes[20].poll_event()).collect();
    let found = events.iter().any(|e| matches!(e,
        DhtEvent::Peers { lookup, peers, .. } if *lookup == g && peers.contains(&SocketAddr::new(addr(3).ip(), 5555))));
    assert!(found, "{events:?}");
    assert!(matches!(
        events.last(),
        Some(DhtEvent::LookupDone { peers: 1, .. })
    ));

    // Restart node 20 from its saved state: same id, bootstrap from saved nodes only.
    let saved = nodes[20].saved_state(now);
    assert!(!saved.nodes.is_empty());
    let bytes = saved.encode();
    let loaded = SavedState::decode(&bytes).unwrap();
    let config = Config {
        node_id: Some(loaded.id),
        ..Config::default()
    };
    nodes[20] = Dht::new(config, now, 999);
    assert_eq!(nodes[20].id(), saved.id);
    nodes[20].bootstrap(now, &loaded.addrs());
    pump(&mut nodes, &mut now);
    let boot = std::iter::from_fn(|| nodes[20].poll_event())
        .find(|e| matches!(e, DhtEvent::Bootstrapped { .. }));
    assert!(matches!(boot, Some(DhtEvent::Bootstrapped { nodes }) if nodes >= K));
}

#[test]
fn new_queriers_are_verified_by_a_ping_and_stale_nodes_repinged() {
    let t0 = Instant::now();
    let mut dht = Dht::new(Config::default(), t0, 1);
    let peer = NodeId([1; 20]);
    dht.handle_datagram(t0, addr(1), &query(peer, Method::Ping, false));
    let sent: Vec<Message> = std::iter::from_fn(|| dht.poll_transmit())
        .map(|t| Message::decode(&t.payload).unwrap())
        .collect();
    assert_eq!(
        sent.len(),
        2,
        "the reply, then a ping to verify the querier"
    );
    let Body::Query(q) = &sent[1].body else {
        panic!("expected a ping")
    };
    assert_eq!(q.method, Method::Ping);
    assert!(
        dht.routing_table().is_empty(),
        "not added before it answers"
    );
    // A second query while the ping is in flight sends no second ping.
    dht.handle_datagram(t0, addr(1), &query(peer, Method::Ping, false));
    assert_eq!(std::iter::from_fn(|| dht.poll_transmit()).count(), 1);
    // It answers: now it is a good node.
    let pong = Message {
        tid: sent[1].tid.clone(),
        body: Body::Response(Response {
            id: peer,
            ..Response::default()
        }),
        read_only: false,
        ip: None,
        version: None,
    };
    dht.handle_datagram(t0, addr(1), &pong.encode());
    let node = dht
        .routing_table()
        .get(&peer)
        .expect("added after answering");
    assert_eq!(node.state(t0), NodeState::Good);
    // Fifteen quiet minutes later it is questionable and maintenance pings it; two unanswered
    // pings make it bad.
    let mut now = t0 + GOOD_FOR;
    dht.handle_timeout(now);
    let t = dht.poll_transmit().expect("ping of a questionable node");
    assert_eq!(t.dest, Dest::Udp(addr(1)));
    now += Duration::from_secs(61);
    dht.handle_timeout(now);
    assert!(dht.poll_transmit().is_some(), "pinged again after a minute");
    now += Duration::from_secs(3);
    dht.handle_timeout(now);
    assert_eq!(
        dht.routing_table().get(&peer).unwrap().state(now),
        NodeState::Bad
    );
    assert!(
        dht.saved_state(now).nodes.is_empty(),
        "bad nodes are not saved"
    );
}

#[test]
fn tokens_rotate_with_maintenance() {
    let t0 = Instant::now();
    let mut dht = Dht::new(Config::default(), t0, 1);
    let me = addr(1);
    let ih = InfoHash([5; 20]);
    let get = Method::GetPeers {
        info_hash: ih,
        want: Want::default(),
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, me, get) else {
        panic!()
    };
    let token = r.token.unwrap();
    let announce = Method::AnnouncePeer {
        info_hash: ih,
        port: 7000,
        implied_port: false,
        token,
    };
    let mut at = t0;
    let mut advance = |dht: &mut Dht, secs: u64| {
        at += Duration::from_secs(secs);
        dht.handle_timeout(at);
        while dht.poll_transmit().is_some() {}
        at
    };
    let now = advance(&mut dht, 7 * 60);
    let Some(Body::Response(_)) = ask(&mut dht, now, me, announce.clone()) else {
        panic!("a token of the previous secret is accepted")
    };
    let now = advance(&mut dht, 4 * 60);
    let Some(Body::Error(e)) = ask(&mut dht, now, me, announce) else {
        panic!("a token two rotations old is refused")
    };
    assert_eq!(e.code, code::PROTOCOL);
}

#[test]
fn ipv6_queriers_get_nodes6_and_secure_ids_follow_the_external_ip() {
    let t0 = Instant::now();
    let config = Config {
        ipv6: true,
        external_ip: Some("84.124.73.14".parse().unwrap()),
        ..Config::default()
    };
    let mut dht = Dht::new(config, t0, 1);
    assert!(dht.id().is_secure_for("84.124.73.14".parse().unwrap()));
    assert!(!dht.id().is_secure_for("21.75.31.124".parse().unwrap()));
    // A v6 node queries us and answers our verifying ping.
    let v6: SocketAddr = "[2001:db8::7]:6881".parse().unwrap();
    let peer = NodeId([0x77; 20]);
    dht.handle_datagram(t0, v6, &query(peer, Method::Ping, false));
    let ping = std::iter::from_fn(|| dht.poll_transmit())
        .map(|t| Message::decode(&t.payload).unwrap())
        .find(|m| matches!(m.body, Body::Query(_)))
        .expect("verifying ping");
    let pong = Message {
        tid: ping.tid,
        body: Body::Response(Response {
            id: peer,
            ..Response::default()
        }),
        read_only: false,
        ip: Some(v6),
        version: None,
    };
    dht.handle_datagram(t0, v6, &pong.encode());
    assert!(dht.routing_table().get(&peer).is_some());
    let find = Method::FindNode {
        target: peer,
        want: Want::default(),
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, "[2001:db8::8]:1".parse().unwrap(), find)
    else {
        panic!("no reply")
    };
    assert!(r.nodes.is_empty());
    assert_eq!(r.nodes6, vec![NodeInfo { id: peer, addr: v6 }]);
    let find4 = Method::FindNode {
        target: peer,
        want: Want {
            v4: true,
            v6: false,
        },
    };
    let Some(Body::Response(r)) = ask(&mut dht, t0, "[2001:db8::9]:1".parse().unwrap(), find4)
    else {
        panic!("no reply")
    };
    assert!(
        r.nodes.is_empty() && r.nodes6.is_empty(),
        "want n4 only: no v6 nodes"
    );
}

#[test]
fn one_address_with_a_valid_token_cannot_fill_the_peer_store() {
    let t0 = Instant::now();
    let mut dht = Dht::new(Config::default(), t0, 3);
    let me = addr(1);
    let honest = addr(2);
    let get = |ih: InfoHash| Method::GetPeers {
        info_hash: ih,
        want: Want::default(),
    };
    let token_of = |dht: &mut Dht, now: Instant, from: SocketAddr| {
        let Some(Body::Response(r)) = ask(dht, now, from, get(InfoHash([0; 20]))) else {
            panic!("no get_peers reply")
        };
        r.token.expect("a token")
    };
    let announce = |ih: InfoHash, port: u16, token: Vec<u8>| Method::AnnouncePeer {
        info_hash: ih,
        port,
        implied_port: false,
        token,
    };
    let honest_ih = InfoHash([0x77; 20]);
    let token = token_of(&mut dht, t0, honest);
    let Some(Body::Response(_)) = ask(&mut dht, t0, honest, announce(honest_ih, 6881, token))
    else {
        panic!("the honest announce is refused")
    };
    // One address, with its valid token, announces 500 info-hashes on 4 ports each (within
    // its rate limit: one query every 50 ms).
    let token = token_of(&mut dht, t0, me);
    let mut now = t0;
    let mut stored = 0;
    for i in 0..500u32 {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(&i.to_be_bytes());
        for port in 0..4 {
            now += Duration::from_millis(50);
            if let Some(Body::Response(_)) = ask(
                &mut dht,
                now,
                me,
                announce(InfoHash(h), 7000 + port, token.clone()),
            ) {
                stored += 1;
            }
        }
    }
    assert_eq!(stored, 2_000, "each announce is answered");
    let limits = StoreLimits::default();
    let store = dht.peer_store();
    assert_eq!(store.of_ip(me.ip()), limits.max_peers_per_ip);
    assert_eq!(
        store.len(),
        limits.max_peers_per_ip + 1,
        "its own entries and the honest one"
    );
    let Some(Body::Response(r)) = ask(&mut dht, now, addr(3), get(honest_ih)) else {
        panic!("no get_peers reply")
    };
    assert_eq!(
        r.values,
        vec![SocketAddr::new(honest.ip(), 6881)],
        "the honest peer stays"
    );
}

#[test]
fn the_gateways_external_address_gives_a_secure_id_and_keeps_the_nodes() {
    let t0 = Instant::now();
    let ip: IpAddr = "84.124.73.14".parse().unwrap();
    let mut dht = Dht::new(Config::default(), t0, 1);
    let old = dht.id();
    assert!(!old.is_secure_for(ip));
    // A node queries us and answers our verifying ping: it is in the table.
    let peer = NodeId([0x77; 20]);
    let from = addr(7);
    dht.handle_datagram(t0, from, &query(peer, Method::Ping, false));
    let ping = std::iter::from_fn(|| dht.poll_transmit())
        .map(|t| Message::decode(&t.payload).unwrap())
        .find(|m| matches!(m.body, Body::Query(_)))
        .expect("verifying ping");
    let pong = Message {
        tid: ping.tid,
        body: Body::Response(Response {
            id: peer,
            ..Response::default()
        }),
        read_only: false,
        ip: None,
        version: None,
    };
    dht.handle_datagram(t0, from, &pong.encode());
    assert!(dht.routing_table().get(&peer).is_some());
    dht.set_external_ip(t0, ip);
    assert_eq!(dht.external_ip(), Some(ip));
    assert_ne!(dht.id(), old);
    assert!(dht.id().proves_address(ip));
    assert_eq!(dht.routing_table().own_id(), dht.id());
    assert!(
        dht.routing_table().get(&peer).is_some(),
        "the nodes are kept"
    );
    let event = std::iter::from_fn(|| dht.poll_event())
        .find(|e| matches!(e, DhtEvent::ExternalAddress { .. }));
    assert_eq!(
        event,
        Some(DhtEvent::ExternalAddress {
            ip,
            secure_id: true
        })
    );
    // Our answers carry the new id.
    let Some(Body::Response(r)) = ask(&mut dht, t0, addr(8), Method::Ping) else {
        panic!("no reply")
    };
    assert_eq!(r.id, dht.id());
    // The same address again changes nothing.
    let id = dht.id();
    dht.set_external_ip(t0, ip);
    assert_eq!(dht.id(), id);
}
