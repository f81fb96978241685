//! Fuzz body: a `Dht` node fed arbitrary datagrams, replies to its own queries, operations and
//! timeouts, checking its bounds after every step.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::dht::{
    Body, Config, Dht, K, Message, NodeId, NodeInfo, RateLimit, Response, looks_like_krpc,
};
use crate::id::InfoHash;
use crate::io::Dest;

/// The most operations taken from one input.
const MAX_OPS: usize = 512;

/// Interprets `data` as a script of operations on one node, starting at `start` (the fuzz
/// target passes the current instant; the node only ever sees instants derived from it):
/// - `0 a n bytes…`: datagram of `n` raw bytes from address `a`;
/// - `1 t`: time moves `t × 100 ms`, then `handle_timeout`;
/// - `2 h`, `3 h`: `get_peers` / `announce` of info-hash `[h; 20]`;
/// - `4 a`: bootstrap from address `a`;
/// - `5 c n bytes…`: answer our `c`-th pending query with nodes / peers / token built from
///   `n` bytes.
pub fn dht_node(start: Instant, data: &[u8]) {
    let mut now = start;
    let config = Config {
        rate_limit: RateLimit {
            max_tracked: 64,
            ..RateLimit::default()
        },
        ..Config::default()
    };
    let mut dht = Dht::new(config, now, 1);
    let mut sent: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    let mut input = data;
    let mut ops = 0;
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        ops += 1;
        if ops > MAX_OPS {
            break;
        }
        match op % 6 {
            0 => {
                let (a, n) = (take(&mut input), usize::from(take(&mut input)) * 4);
                let n = n.min(input.len());
                let (datagram, rest) = input.split_at(n);
                input = rest;
                dht.handle_datagram(now, addr(a), datagram);
            }
            1 => {
                now += Duration::from_millis(100 * u64::from(take(&mut input)));
                dht.handle_timeout(now);
            }
            2 => {
                let _ = dht.get_peers(now, InfoHash([take(&mut input); 20]));
            }
            3 => {
                let _ = dht.announce(now, InfoHash([take(&mut input); 20]), 6881);
            }
            4 => dht.bootstrap(now, &[addr(take(&mut input))]),
            _ => {
                let c = usize::from(take(&mut input));
                let n = usize::from(take(&mut input)).min(input.len());
                let (body, rest) = input.split_at(n);
                input = rest;
                if !sent.is_empty() {
                    let (to, tid) = sent.remove(c % sent.len());
                    dht.handle_datagram(now, to, &reply(&tid, body));
                }
            }
        }
        while let Some(t) = dht.poll_transmit() {
            assert!(looks_like_krpc(&t.payload), "we send KRPC");
            let msg = Message::decode(&t.payload).expect("our datagrams decode");
            if let (Body::Query(_), Dest::Udp(to)) = (&msg.body, t.dest)
                && sent.len() < 256
            {
                sent.push((to, msg.tid));
            }
        }
        while dht.poll_event().is_some() {}
        check(&dht, now);
    }
}

fn take(input: &mut &[u8]) -> u8 {
    let Some((&b, rest)) = input.split_first() else {
        return 0;
    };
    *input = rest;
    b
}

fn addr(a: u8) -> SocketAddr {
    SocketAddr::new(
        Ipv4Addr::new(10, 0, a / 16, a % 16).into(),
        6881 + u16::from(a % 3),
    )
}

/// A response with id, nodes, peers and token derived from `bytes`.
fn reply(tid: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut id = [0u8; 20];
    for (i, b) in bytes.iter().take(20).enumerate() {
        id[i] = *b;
    }
    let nodes: Vec<NodeInfo> = bytes
        .chunks(3)
        .skip(1)
        .take(16)
        .map(|c| NodeInfo {
            id: NodeId([c[0]; 20]),
            addr: addr(*c.last().unwrap_or(&0)),
        })
        .collect();
    let values = bytes
        .iter()
        .take(8)
        .map(|b| SocketAddr::new(Ipv4Addr::new(192, 168, 0, *b).into(), 1000))
        .collect();
    Message {
        tid: tid.to_vec(),
        body: Body::Response(Response {
            id: NodeId(id),
            nodes,
            nodes6: Vec::new(),
            values,
            token: bytes
                .len()
                .is_multiple_of(2)
                .then(|| bytes.iter().take(8).copied().collect()),
        }),
        read_only: false,
        ip: Some(addr(0)),
        version: None,
    }
    .encode()
}

fn check(dht: &Dht, now: Instant) {
    let table = dht.routing_table();
    assert!(table.bucket_count() <= NodeId::BITS);
    for b in 0..table.bucket_count() {
        assert!(table.bucket_nodes(b).len() <= K, "bucket {b} over K");
    }
    // The maintenance timer is always armed, at most one period ahead.
    assert!(
        dht.poll_timeout()
            .is_some_and(|t| t <= now + Duration::from_secs(5)),
        "timer not armed"
    );
    assert!(dht.lookups_running() <= MAX_OPS * 4);
    assert!(dht.peer_store().len() <= crate::dht::StoreLimits::default().max_peers);
}

#[cfg(test)]
mod tests {
    #[test]
    fn seed_corpus_replays() {
        let corpus = super::super::corpus("dht_node");
        assert!(!corpus.is_empty(), "fuzz/corpus/dht_node is empty");
        for input in corpus {
            super::dht_node(std::time::Instant::now(), &input);
        }
    }
}
