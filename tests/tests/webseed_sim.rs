//! Web seeds (BEP 19) in the simulation: real sessions download from simulated HTTP mirrors
//! ([`SimMirror`], answering range requests at its link's bandwidth) alone and beside a
//! seeding session. A mirror alone brings a multi-file torrent; a mirror and a peer of the same
//! speed share the pieces and finish in less virtual time than the peer alone; a mirror
//! answering wrong bytes is dropped and the peer finishes; a very slow mirror does not hold
//! the download back much past what the peer alone takes; hostile mirrors (another range, the
//! whole file, gzip, a redirect loop) fail with their typed error, are backed off with doubling
//! waits and do not slow the peer's download. A BEP 17 HTTP seed
//! ([`SimHttpSeed`]) that first answers `503` is waited for as long as it asks, then brings
//! the torrent alone; one sending wrong bytes is dropped and the peer finishes. Virtual time is
//! deterministic, so comparing it is not a timing test; the shares are counted per source as
//! well.

use std::time::Duration;

use sanstorrent_core::session::{Event, SessionConfig, TorrentId, TorrentOptions};
use sanstorrent_core::tracker::{HttpError, TrackerError};
use sanstorrent_core::webseed::{WebSeedError, WebSeedProtocol};
use sanstorrent_tests::sim::{
    LinkConfig, MirrorBehaviour, Sim, SimHttpSeed, SimMirror, TestFile, TestTorrent, sweep,
};

/// The seeding peer's and the mirrors' uplink (bytes per second) unless a scenario says.
const SPEED: u64 = 256 * 1024;

/// A mirror in a scenario: how it answers and its uplink.
struct Mirror {
    behaviour: MirrorBehaviour,
    bandwidth: u64,
}

/// What a scenario measured.
struct Run {
    sim: Sim,
    leecher: usize,
    torrent: TorrentId,
    seeder: Option<usize>,
    mirrors: Vec<usize>,
    urls: Vec<String>,
}

impl Run {
    /// Bytes the seeding peer delivered to the leecher.
    fn peer_bytes(&self) -> u64 {
        self.seeder
            .map_or(0, |s| self.sim.net.delivered_between(s, self.leecher))
    }

    /// Body bytes mirror `k` served.
    fn served(&self, k: usize) -> u64 {
        self.sim.nodes[self.mirrors[k]]
            .agent::<SimMirror>()
            .bytes_served
    }

    /// Whether the leecher was told mirror `k` is dropped.
    fn dropped(&self, k: usize) -> bool {
        let url = &self.urls[k];
        self.sim.saw(
            self.leecher,
            |e| matches!(e, Event::WebSeedDropped { url: u, .. } if u == url),
        )
    }
}

/// A leecher with `mirrors` (added at run time, as an application does) and, with `peer`, a
/// seeding session; runs until the download completes with the right bytes.
fn download(seed: u64, t: &TestTorrent, peer: bool, mirrors: &[Mirror]) -> Run {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let seeder = peer.then(|| {
        let s = sim.add_node_with(
            SessionConfig::default(),
            LinkConfig::new(Duration::from_millis(20), SPEED),
        );
        sim.add_torrent(s, t, true, TorrentOptions::default());
        s
    });
    let mut hosts = Vec::new();
    let mut urls = Vec::new();
    for (k, m) in mirrors.iter().enumerate() {
        let prefix = format!("/mirror{k}/");
        let host = sim.add_agent(Box::new(SimMirror::new(t, &prefix, m.behaviour)));
        sim.net.set_link(
            host,
            LinkConfig::new(Duration::from_millis(20), m.bandwidth),
        );
        urls.push(format!("http://{}{prefix}", Sim::addr_of(host).ip()));
        hosts.push(host);
    }
    let leecher = sim.add_node(SessionConfig::default());
    let torrent = sim.add_torrent(leecher, t, false, TorrentOptions::default());
    for url in &urls {
        sim.with_session(leecher, |s, now| {
            assert!(s.add_web_seed(now, torrent, url).expect("a usable URL"));
        });
    }
    if let Some(s) = seeder {
        let addr = sim.nodes[s].addr;
        sim.add_peers(leecher, torrent, &[addr]);
    }
    sim.run_until(|s| s.is_complete(leecher, torrent), 3_000_000)
        .unwrap_or_else(|e| panic!("seed {seed}: the download did not complete: {e}"));
    assert!(
        sim.has_content(leecher, torrent, t),
        "seed {seed}: wrong bytes"
    );
    Run {
        sim,
        leecher,
        torrent,
        seeder,
        mirrors: hosts,
        urls,
    }
}

fn honest(bandwidth: u64) -> Mirror {
    Mirror {
        behaviour: MirrorBehaviour::Honest,
        bandwidth,
    }
}

fn secs(run: &Run) -> f64 {
    run.sim.elapsed().as_secs_f64()
}

#[test]
fn a_multi_file_torrent_downloads_from_a_mirror_alone() {
    sweep("webseed_mirror_only", 1, 2, |seed| {
        let files = [
            TestFile::new("set/a.bin", 700_001),
            TestFile::new("set/b/c.bin", 90_000),
            TestFile::new("set/empty", 0),
            TestFile::new("set/d.bin", 1_300_000),
        ];
        let t = TestTorrent::multi("set", &files, 64 * 1024, seed);
        let mut run = download(seed, &t, false, &[honest(SPEED)]);
        let total: u64 = files.iter().map(|f| f.len).sum();
        assert!(run.served(0) >= total, "seed {seed}: {}", run.served(0));
        let info = run.sim.nodes[run.leecher]
            .session()
            .web_seeds(run.torrent)
            .expect("the torrent");
        assert_eq!(info.len(), 1);
        assert!(info[0].downloaded >= total, "seed {seed}: {info:?}");
        assert!(info[0].dropped.is_none(), "seed {seed}: {info:?}");
        eprintln!(
            "webseed_sim mirror only: seed {seed}: {total} bytes in {:.1} s (virtual), {} requests",
            secs(&run),
            run.sim.nodes[run.mirrors[0]].agent::<SimMirror>().requests
        );
        run.sim.summary()
    });
}

#[test]
fn a_peer_and_a_mirror_share_the_pieces_and_beat_the_peer_alone() {
    sweep("webseed_peer_and_mirror", 1, 2, |seed| {
        let t = TestTorrent::single("shared.bin", 3 << 20, 64 * 1024, seed);
        let total = 3u64 << 20;
        let alone = download(seed, &t, true, &[]);
        let mut both = download(seed, &t, true, &[honest(SPEED)]);
        let (from_peer, from_mirror) = (both.peer_bytes(), both.served(0));
        eprintln!(
            "webseed_sim peer and mirror: seed {seed}: peer alone {:.1} s; both {:.1} s \
             ({from_peer} bytes from the peer, {from_mirror} from the mirror)",
            secs(&alone),
            secs(&both)
        );
        // Each source brought a fair share of the pieces...
        assert!(
            from_mirror >= total / 4 && from_peer >= total / 4,
            "seed {seed}: peer {from_peer}, mirror {from_mirror}"
        );
        assert!(
            !both.dropped(0),
            "seed {seed}: the honest mirror was dropped"
        );
        // ...so the two together took clearly less (virtual) time than the peer alone.
        assert!(
            secs(&both) < secs(&alone) * 0.8,
            "seed {seed}: both {:.1} s, peer alone {:.1} s",
            secs(&both),
            secs(&alone)
        );
        both.sim.summary()
    });
}

#[test]
fn a_mirror_sending_wrong_bytes_is_dropped_and_the_peer_finishes() {
    sweep("webseed_corrupt_mirror", 1, 2, |seed| {
        let t = TestTorrent::single("wrong.bin", 2 << 20, 64 * 1024, seed);
        // Fast, so that it is asked for a lot before its pieces fail.
        let corrupt = Mirror {
            behaviour: MirrorBehaviour::Corrupt,
            bandwidth: 4 * SPEED,
        };
        let mut run = download(seed, &t, true, &[corrupt]);
        assert!(
            run.dropped(0),
            "seed {seed}: the corrupt mirror was not dropped"
        );
        let failed = run.sim.nodes[run.leecher]
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::PieceFailed { .. }))
            .count();
        assert!(
            failed > 0,
            "seed {seed}: no piece failed: the mirror was not used"
        );
        assert!(
            run.peer_bytes() >= 2 << 20,
            "seed {seed}: the peer delivered only {}",
            run.peer_bytes()
        );
        let took = secs(&run);
        // Dropped means asked for nothing more.
        let asked = run.sim.nodes[run.mirrors[0]].agent::<SimMirror>().requests;
        run.sim
            .run_for(Duration::from_secs(60), 500_000)
            .expect("idle time");
        let later = run.sim.nodes[run.mirrors[0]].agent::<SimMirror>().requests;
        assert_eq!(
            asked, later,
            "seed {seed}: the dropped mirror was asked again"
        );
        eprintln!(
            "webseed_sim corrupt mirror: seed {seed}: {failed} pieces failed, {asked} requests \
             to the mirror, done in {took:.1} s"
        );
        run.sim.summary()
    });
}

#[test]
fn a_very_slow_mirror_does_not_hold_the_peer_back() {
    sweep("webseed_slow_mirror", 1, 2, |seed| {
        let t = TestTorrent::single("slow.bin", 3 << 20, 64 * 1024, seed);
        let alone = download(seed, &t, true, &[]);
        // A sixteenth of the peer's speed: a piece takes it 4 s.
        let mut slow = download(seed, &t, true, &[honest(SPEED / 16)]);
        eprintln!(
            "webseed_sim slow mirror: seed {seed}: peer alone {:.1} s; with the slow mirror \
             {:.1} s ({} bytes from it)",
            secs(&alone),
            secs(&slow),
            slow.served(0)
        );
        assert!(
            secs(&slow) <= secs(&alone) * 1.1 + 5.0,
            "seed {seed}: with the slow mirror {:.1} s, peer alone {:.1} s",
            secs(&slow),
            secs(&alone)
        );
        slow.sim.summary()
    });
}

/// A leecher with one BEP 17 HTTP seed (answering `503` "`busy_secs`" to every request within
/// `busy_secs` of its first) and, with `peer`, a seeding session; runs until the download completes with the
/// right bytes. Returns the sim, the leecher, its torrent and the seed's host.
fn from_http_seed(
    seed: u64,
    t: &TestTorrent,
    peer: bool,
    behaviour: MirrorBehaviour,
    busy_secs: u64,
) -> (Sim, usize, TorrentId, usize) {
    let mut sim = Sim::new(seed, LinkConfig::default());
    let seeder = peer.then(|| {
        let s = sim.add_node_with(
            SessionConfig::default(),
            LinkConfig::new(Duration::from_millis(20), SPEED),
        );
        sim.add_torrent(s, t, true, TorrentOptions::default());
        sim.nodes[s].addr
    });
    let host = sim.add_agent(Box::new(SimHttpSeed::new(
        t,
        "/seed.php",
        behaviour,
        busy_secs,
    )));
    sim.net
        .set_link(host, LinkConfig::new(Duration::from_millis(20), SPEED));
    let url = format!("http://{}/seed.php", Sim::addr_of(host).ip());
    let leecher = sim.add_node(SessionConfig::default());
    let torrent = sim.add_torrent(leecher, t, false, TorrentOptions::default());
    sim.with_session(leecher, |s, now| {
        assert!(s.add_http_seed(now, torrent, &url).expect("a usable URL"));
    });
    if let Some(addr) = seeder {
        sim.add_peers(leecher, torrent, &[addr]);
    }
    sim.run_until(|s| s.is_complete(leecher, torrent), 3_000_000)
        .unwrap_or_else(|e| panic!("seed {seed}: the download did not complete: {e}"));
    assert!(
        sim.has_content(leecher, torrent, t),
        "seed {seed}: wrong bytes"
    );
    (sim, leecher, torrent, host)
}

#[test]
fn an_http_seed_alone_is_waited_for_when_busy_then_brings_the_torrent() {
    sweep("httpseed_busy_then_alone", 1, 2, |seed| {
        let files = [
            TestFile::new("set/a.bin", 300_001),
            TestFile::pad(65_536 - 300_001 % 65_536),
            TestFile::new("set/b.bin", 900_000),
        ];
        let t = TestTorrent::multi("set", &files, 64 * 1024, seed);
        let (mut sim, leecher, torrent, host) =
            from_http_seed(seed, &t, false, MirrorBehaviour::Honest, 5);
        let server = sim.nodes[host].agent::<SimHttpSeed>();
        let total: u64 = files.iter().filter(|f| !f.padding).map(|f| f.len).sum();
        assert!(
            server.bytes_served >= total,
            "seed {seed}: {}",
            server.bytes_served
        );
        // The first requests (those sent at once) were answered 503 "5": nothing more was
        // asked for five seconds, then nothing was refused.
        let (first, _) = server.requests[0];
        let busy = server.requests.iter().filter(|(_, b)| *b).count();
        assert!(busy > 0, "seed {seed}: never busy");
        for &(at, was_busy) in &server.requests {
            let after = at - first;
            assert!(
                (was_busy && after < Duration::from_secs(1))
                    || (!was_busy && after >= Duration::from_secs(5)),
                "seed {seed}: a request {after:?} after the first (503: {was_busy})"
            );
        }
        let requests = server.requests.len();
        let info = sim.nodes[leecher]
            .session()
            .web_seeds(torrent)
            .expect("the torrent");
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].protocol, WebSeedProtocol::HttpSeed);
        assert!(info[0].downloaded >= total, "seed {seed}: {info:?}");
        // Busy is no failure: never dropped, the count back at zero.
        assert!(
            info[0].dropped.is_none() && info[0].failures == 0,
            "seed {seed}: {info:?}"
        );
        assert!(sim.saw(leecher, |e| matches!(
            e,
            Event::WebSeedFailed { error: WebSeedError::Busy, retry_in, .. }
                if *retry_in == Duration::from_secs(5)
        )));
        eprintln!(
            "webseed_sim http seed: seed {seed}: {total} bytes in {:.1} s (virtual), {requests} \
             requests, the first {busy} answered 503",
            sim.elapsed().as_secs_f64()
        );
        sim.summary()
    });
}

#[test]
fn an_http_seed_sending_wrong_bytes_is_dropped_and_the_peer_finishes() {
    sweep("httpseed_corrupt", 1, 2, |seed| {
        let t = TestTorrent::single("wrong.bin", 2 << 20, 64 * 1024, seed);
        let (mut sim, leecher, _, host) =
            from_http_seed(seed, &t, true, MirrorBehaviour::Corrupt, 0);
        assert!(
            sim.saw(leecher, |e| matches!(e, Event::WebSeedDropped { .. })),
            "seed {seed}: the corrupt HTTP seed was not dropped"
        );
        let served = sim.nodes[host].agent::<SimHttpSeed>().bytes_served;
        assert!(served > 0, "seed {seed}: the HTTP seed was not used");
        eprintln!(
            "webseed_sim corrupt http seed: seed {seed}: {served} bytes from it, done in {:.1} s",
            sim.elapsed().as_secs_f64()
        );
        sim.summary()
    });
}

#[test]
fn hostile_mirrors_are_backed_off_and_the_peer_finishes() {
    type Check = fn(&WebSeedError) -> bool;
    let cases: [(MirrorBehaviour, Check); 4] = [
        (MirrorBehaviour::WrongRange, |e| {
            matches!(e, WebSeedError::WrongRange)
        }),
        (MirrorBehaviour::WholeFile, |e| {
            matches!(
                e,
                WebSeedError::Transport(TrackerError::Http(HttpError::TooLarge { .. }))
            )
        }),
        (MirrorBehaviour::Gzip, |e| {
            matches!(
                e,
                WebSeedError::Transport(TrackerError::Http(HttpError::UnsupportedContentEncoding(
                    _
                )))
            )
        }),
        (MirrorBehaviour::RedirectLoop, |e| {
            matches!(e, WebSeedError::TooManyRedirects)
        }),
    ];
    for (behaviour, expected) in cases {
        let seed = 1;
        let t = TestTorrent::single("hostile.bin", 4 << 20, 64 * 1024, seed);
        let run = download(
            seed,
            &t,
            true,
            &[Mirror {
                behaviour,
                bandwidth: 4 * SPEED,
            }],
        );
        assert!(
            run.peer_bytes() >= 4 << 20,
            "{behaviour:?}: the peer delivered only {}",
            run.peer_bytes()
        );
        let failures: Vec<(std::time::Instant, Duration)> = run.sim.nodes[run.leecher]
            .events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::WebSeedFailed {
                    error, retry_in, ..
                } => {
                    assert!(expected(error), "{behaviour:?}: {error:?}");
                    Some((*at, *retry_in))
                }
                Event::WebSeedDropped { error, .. } => {
                    assert!(expected(error), "{behaviour:?}: {error:?}");
                    None
                }
                _ => None,
            })
            .collect();
        assert!(
            failures.len() >= 2,
            "{behaviour:?}: {} failures in {:.1} s",
            failures.len(),
            secs(&run)
        );
        // Backed off: nothing fails again before the back-off ends, and it doubles.
        for pair in failures.windows(2) {
            let ((a, wait), (b, next)) = (pair[0], pair[1]);
            assert!(
                b - a >= wait,
                "{behaviour:?}: failed again after {:?}",
                b - a
            );
            assert!(
                next >= wait * 2,
                "{behaviour:?}: back-off {wait:?} then {next:?}"
            );
        }
        // The peer alone takes 16 s (4 MiB at 256 KiB/s): the mirror holds nothing back.
        assert!(secs(&run) < 18.0, "{behaviour:?}: {:.1} s", secs(&run));
        let asked = run.sim.nodes[run.mirrors[0]].agent::<SimMirror>().requests;
        let per_failure = if behaviour == MirrorBehaviour::RedirectLoop {
            6
        } else {
            1
        };
        eprintln!(
            "webseed_sim hostile mirror {behaviour:?}: {} failures, {asked} requests, done in \
             {:.1} s",
            failures.len(),
            secs(&run)
        );
        // In flight when a back-off begins: up to a few runs' requests fail together.
        assert!(
            asked <= (failures.len() as u64 + 1) * per_failure * 8,
            "{behaviour:?}: {asked} requests for {} failures",
            failures.len()
        );
    }
}
