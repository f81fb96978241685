//! A simulated tracker answering HTTP announces (the session's `Action::HttpRequest`, answered
//! with a bencoded compact response) and UDP announces (BEP 15 datagrams), and scrapes over
//! both (BEP 48: `/scrape` paths, UDP action 2). It can be taken down ([`SimTracker::up`]) and
//! limited to returning a few peers.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sanstorrent_core::InfoHash;
use sanstorrent_core::bencode::Encoder;
use sanstorrent_core::rng::Rng;

use super::agent::{Agent, Output};

/// The tracker participant.
#[derive(Debug)]
pub struct SimTracker {
    /// Whether it answers (a down tracker refuses HTTP and ignores datagrams).
    pub up: bool,
    /// The most peers one answer carries.
    pub max_peers: usize,
    /// The announce interval it asks for.
    pub interval: Duration,
    /// Announces answered (HTTP and UDP).
    pub announces: u64,
    /// `stopped` announces among them.
    pub stopped: u64,
    /// The UDP port it answers from (`udp://<ip>:<port>` URLs must name it).
    pub udp_port: u16,
    /// Requests refused or ignored while down.
    pub refused: u64,
    /// Swarms: info-hash -> peer address -> bytes left.
    pub swarms: BTreeMap<InfoHash, BTreeMap<SocketAddr, u64>>,
    /// `completed` announces per info-hash (a scrape's `downloaded`).
    pub completed: BTreeMap<InfoHash, u32>,
    /// Scrapes answered (HTTP and UDP).
    pub scrapes: u64,
    /// Info-hashes asked for in those scrapes.
    pub scraped_hashes: u64,
    /// The most info-hashes one scrape answer lists (the first ones asked; `None`: all).
    pub scrape_answer_limit: Option<usize>,
    /// The `min interval` it gives (HTTP only; `None`: none).
    pub min_interval: Option<Duration>,
    /// UDP connect requests answered.
    pub connects: u64,
    /// Every announce with its instant (kept only when `Some`: `Some(Vec::new())` turns it on).
    pub log: Option<Vec<(Instant, InfoHash)>>,
    rng: Rng,
    out: VecDeque<Output>,
    next_conn_id: u64,
}

impl SimTracker {
    /// A tracker that is up and returns up to 50 peers.
    pub fn new(seed: u64) -> Self {
        Self {
            up: true,
            max_peers: 50,
            interval: Duration::from_secs(60),
            announces: 0,
            stopped: 0,
            udp_port: 6969,
            refused: 0,
            swarms: BTreeMap::new(),
            completed: BTreeMap::new(),
            scrapes: 0,
            scraped_hashes: 0,
            scrape_answer_limit: None,
            min_interval: None,
            connects: 0,
            log: None,
            rng: Rng::new(seed),
            out: VecDeque::new(),
            next_conn_id: 0x1234_5678,
        }
    }

    /// Records an announce and returns the peers to give back.
    fn announce(
        &mut self,
        now: Instant,
        hash: InfoHash,
        peer: SocketAddr,
        left: u64,
        stopped: bool,
    ) -> Vec<SocketAddr> {
        self.announces += 1;
        if let Some(log) = self.log.as_mut() {
            log.push((now, hash));
        }
        let swarm = self.swarms.entry(hash).or_default();
        if stopped {
            self.stopped += 1;
            swarm.remove(&peer);
            return Vec::new();
        }
        swarm.insert(peer, left);
        let mut others: Vec<SocketAddr> = swarm.keys().filter(|a| **a != peer).copied().collect();
        self.rng.shuffle(&mut others);
        others.truncate(self.max_peers);
        others
    }

    /// A swarm's (seeders, completed, leechers).
    fn counts(&self, hash: &InfoHash) -> (u32, u32, u32) {
        let swarm = self.swarms.get(hash);
        let seeders = swarm.map_or(0, |s| s.values().filter(|l| **l == 0).count());
        let leechers = swarm.map_or(0, |s| s.values().filter(|l| **l > 0).count());
        let completed = self.completed.get(hash).copied().unwrap_or(0);
        (seeders as u32, completed, leechers as u32)
    }

    fn http_scrape(&mut self, query: &str) -> Vec<u8> {
        self.scrapes += 1;
        let mut hashes = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if let ("info_hash", Ok(h)) = (k, <[u8; 20]>::try_from(percent_decode(v))) {
                hashes.push(InfoHash(h));
            }
        }
        self.scraped_hashes += hashes.len() as u64;
        hashes.truncate(self.scrape_answer_limit.unwrap_or(usize::MAX));
        hashes.sort();
        hashes.dedup();
        let mut e = Encoder::new();
        e.dict().bytes(b"files").dict();
        for h in hashes {
            let (seeders, completed, leechers) = self.counts(&h);
            e.bytes(&h.0).dict();
            e.bytes(b"complete").int(i64::from(seeders));
            e.bytes(b"downloaded").int(i64::from(completed));
            e.bytes(b"incomplete").int(i64::from(leechers));
            e.end();
        }
        e.end().end();
        e.finish()
    }

    fn http_body(&mut self, now: Instant, query: &str, from: SocketAddr) -> Vec<u8> {
        let mut hash = None;
        let mut port = None;
        let mut left = 0;
        let mut stopped = false;
        let mut completed = false;
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "info_hash" if v.len() == 20 => {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(&v);
                    hash = Some(InfoHash(h));
                }
                "port" => port = std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()),
                "left" => {
                    left = std::str::from_utf8(&v)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                }
                "event" => {
                    stopped = v == b"stopped";
                    completed = v == b"completed";
                }
                _ => {}
            }
        }
        let mut e = Encoder::new();
        e.dict();
        let (Some(hash), Some(port)) = (hash, port) else {
            e.bytes(b"failure reason")
                .bytes(b"missing info_hash or port");
            e.end();
            return e.finish();
        };
        if completed {
            *self.completed.entry(hash).or_default() += 1;
        }
        let peers = self.announce(now, hash, SocketAddr::new(from.ip(), port), left, stopped);
        let mut compact = Vec::new();
        for p in peers {
            if let IpAddr::V4(ip) = p.ip() {
                compact.extend_from_slice(&ip.octets());
                compact.extend_from_slice(&p.port().to_be_bytes());
            }
        }
        e.bytes(b"interval").int(self.interval.as_secs() as i64);
        if let Some(min) = self.min_interval {
            e.bytes(b"min interval").int(min.as_secs() as i64);
        }
        e.bytes(b"peers").bytes(&compact);
        e.end();
        e.finish()
    }

    fn udp(&mut self, now: Instant, from: SocketAddr, b: &[u8]) -> Option<Vec<u8>> {
        let u32_at = |i: usize| {
            b.get(i..i + 4)
                .map(|s| u32::from_be_bytes(s.try_into().expect("4 bytes")))
        };
        let u64_at = |i: usize| {
            b.get(i..i + 8)
                .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
        };
        let action = u32_at(8)?;
        let tid = u32_at(12)?;
        let mut out = Vec::new();
        match action {
            0 if b.len() >= 16 && u64_at(0)? == 0x0417_2710_1980 => {
                self.next_conn_id += 1;
                self.connects += 1;
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&tid.to_be_bytes());
                out.extend_from_slice(&self.next_conn_id.to_be_bytes());
            }
            1 if b.len() >= 98 => {
                let mut h = [0u8; 20];
                h.copy_from_slice(&b[16..36]);
                let left = u64_at(64)?;
                let event = u32_at(80)?;
                let port = u16::from_be_bytes([b[96], b[97]]);
                if event == 1 {
                    *self.completed.entry(InfoHash(h)).or_default() += 1;
                }
                let peers = self.announce(
                    now,
                    InfoHash(h),
                    SocketAddr::new(from.ip(), port),
                    left,
                    event == 3,
                );
                out.extend_from_slice(&1u32.to_be_bytes());
                out.extend_from_slice(&tid.to_be_bytes());
                out.extend_from_slice(&(self.interval.as_secs() as u32).to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes());
                for p in peers {
                    if let IpAddr::V4(ip) = p.ip() {
                        out.extend_from_slice(&ip.octets());
                        out.extend_from_slice(&p.port().to_be_bytes());
                    }
                }
            }
            2 if b.len() >= 36 && (b.len() - 16).is_multiple_of(20) => {
                self.scrapes += 1;
                out.extend_from_slice(&2u32.to_be_bytes());
                out.extend_from_slice(&tid.to_be_bytes());
                let asked = (b.len() - 16) / 20;
                self.scraped_hashes += asked as u64;
                let listed = asked.min(self.scrape_answer_limit.unwrap_or(usize::MAX));
                for chunk in b[16..].chunks_exact(20).take(listed) {
                    let mut h = [0u8; 20];
                    h.copy_from_slice(chunk);
                    let (seeders, completed, leechers) = self.counts(&InfoHash(h));
                    for n in [seeders, completed, leechers] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
            _ => return None,
        }
        Some(out)
    }
}

impl Agent for SimTracker {
    fn http(&mut self, now: Instant, from: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
        if !self.up {
            self.refused += 1;
            return None;
        }
        let line = request.split(|&c| c == b'\r').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let target = line.split(' ').nth(1).unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let body = if path.ends_with("/scrape") {
            self.http_scrape(query)
        } else {
            self.http_body(now, query, from)
        };
        let mut resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        resp.extend_from_slice(&body);
        Some(resp)
    }

    fn datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if !self.up {
            self.refused += 1;
            return;
        }
        if let Some(out) = self.udp(now, from, bytes) {
            self.out.push_back(Output::DatagramFrom {
                port: self.udp_port,
                to: from,
                bytes: Bytes::from(out),
            });
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    out
}
