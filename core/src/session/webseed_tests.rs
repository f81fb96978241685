//! Web seeds in the session, driven by hand with scripted HTTP answers and a disk that keeps
//! the torrent's bytes in memory (so hash checks are real): ranges split per file with
//! percent-encoded paths, back-off then drop on errors, hash failures charged to the web seed,
//! redirects, the time bound, and magnet `ws=` seeds used once the metadata arrives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::create::TorrentBuilder;
use crate::id::sha1_digest;
use crate::magnet::MagnetLink;
use crate::metainfo::{Metainfo, PieceHash, RelativePath};
use crate::session::{
    Action, DiskJobKind, Event, Session, SessionConfig, TorrentId, TorrentOptions, TorrentSource,
};
use crate::tracker::TrackerUrl;
use crate::tracker::http::{HttpResponse, ResponseReader};
use crate::webseed::{FIRST_BACKOFF, MAX_FAILURES, WebSeedError};

const PIECE: u32 = 32 * 1024;
const MIRROR: &str = "http://mirror.test/pub";

/// Files of lengths that straddle piece boundaries, with names that need encoding.
const FILES: [(&str, u64); 3] = [("a b.bin", 40_000), ("dir/é.bin", 50_000), ("c", 30_000)];

fn content() -> Vec<u8> {
    let total: u64 = FILES.iter().map(|f| f.1).sum();
    (0..total).map(|i| (i * 7 % 251) as u8).collect()
}

fn metainfo() -> Arc<Metainfo> {
    let files = FILES
        .iter()
        .map(|(p, l)| {
            let parts: Vec<&str> = p.split('/').collect();
            (RelativePath::from_components(&parts).unwrap(), *l)
        })
        .collect();
    let b = TorrentBuilder::multi_file("the data", files)
        .unwrap()
        .piece_length(PIECE)
        .web_seed(MIRROR.into());
    let hashes: Vec<_> = content().chunks(PIECE as usize).map(sha1_digest).collect();
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

/// How the scripted server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    /// The right bytes.
    Good,
    /// `404` to everything.
    NotFound,
    /// The right range with every byte flipped.
    Corrupt,
    /// A redirect to `http://other.test/...` first, then the bytes from there.
    Redirect,
    /// Never answers.
    Silent,
}

struct Rig {
    s: Session,
    now: Instant,
    disk: Vec<u8>,
    server: Server,
    /// Every request seen: (URL path, host, range).
    requests: Vec<(String, String, String)>,
    events: Vec<Event>,
}

fn response(raw: &[u8]) -> HttpResponse {
    let mut reader = ResponseReader::new(1 << 22);
    match reader.push(raw).unwrap() {
        Some(r) => r,
        None => reader.eof().unwrap(),
    }
}

impl Rig {
    fn new(server: Server) -> Self {
        let now = Instant::now();
        Self {
            s: Session::new(SessionConfig::default(), now, 3),
            now,
            disk: vec![0; content().len()],
            server,
            requests: Vec::new(),
            events: Vec::new(),
        }
    }

    fn add(&mut self) -> TorrentId {
        let source = TorrentSource::Metainfo(metainfo());
        self.s
            .add_torrent(self.now, source, TorrentOptions::default())
            .unwrap()
    }

    fn later(&mut self, d: Duration) {
        self.now += d;
        self.s.handle_timeout(self.now);
    }

    /// The file and offset a request names, from its URL path and `Range`.
    fn serve(&mut self, url: &TrackerUrl, request: &[u8]) -> Option<HttpResponse> {
        let text = String::from_utf8(request.to_vec()).unwrap();
        let range = text
            .lines()
            .find_map(|l| l.strip_prefix("Range: bytes="))
            .unwrap()
            .to_string();
        self.requests
            .push((url.path().to_string(), url.host_str(), range.clone()));
        match self.server {
            Server::Silent => return None,
            Server::NotFound => {
                return Some(response(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                ));
            }
            Server::Redirect if url.host_str() == "mirror.test" => {
                let raw = format!(
                    "HTTP/1.1 302 Found\r\nLocation: http://other.test{}\r\nContent-Length: 0\r\n\r\n",
                    url.path()
                );
                return Some(response(raw.as_bytes()));
            }
            _ => {}
        }
        let encoded = [
            "/pub/the%20data/a%20b.bin",
            "/pub/the%20data/dir/%C3%A9.bin",
            "/pub/the%20data/c",
        ];
        let file = encoded.iter().position(|p| *p == url.path())?;
        let start: u64 = FILES[..file].iter().map(|f| f.1).sum();
        let (a, b) = range.split_once('-').unwrap();
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        let mut body = content()[(start + a) as usize..=(start + b) as usize].to_vec();
        if self.server == Server::Corrupt {
            body.iter_mut().for_each(|x| *x ^= 0xff);
        }
        let mut raw = format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/{}\r\nContent-Length: {}\r\n\r\n",
            FILES[file].1,
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        Some(response(&raw))
    }

    /// Answers every action until the session is quiet.
    fn drive(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(e) = self.s.poll_event() {
                self.events.push(e);
                moved = true;
            }
            while self.s.poll_transmit().is_some() {}
            let mut actions = Vec::new();
            while let Some(a) = self.s.poll_action() {
                actions.push(a);
            }
            for a in actions {
                moved = true;
                match a {
                    Action::WebSeedRequest {
                        id, url, request, ..
                    } => {
                        if let Some(r) = self.serve(&url, &request) {
                            self.s.handle_http_response(self.now, id, Ok(r));
                        }
                    }
                    Action::Disk(job) => {
                        let done = match job.kind {
                            DiskJobKind::Stamps { reply } => reply.send(Ok(vec![None; 3])),
                            DiskJobKind::Create { reply, .. } => reply.send(Ok(())),
                            DiskJobKind::Flush { reply } => reply.send(Ok(())),
                            DiskJobKind::Check { reply, .. } => reply.send(Ok(Vec::new())),
                            DiskJobKind::Write {
                                piece,
                                offset,
                                data,
                                reply,
                            } => {
                                let at = (piece * PIECE + offset) as usize;
                                self.disk[at..at + data.len()].copy_from_slice(&data);
                                reply.send(Ok(()))
                            }
                            DiskJobKind::Verify {
                                piece,
                                expected,
                                reply,
                            } => {
                                let a = (piece * PIECE) as usize;
                                let b = (a + PIECE as usize).min(self.disk.len());
                                reply.send(Ok(
                                    PieceHash::Sha1(sha1_digest(&self.disk[a..b])) == expected
                                ))
                            }
                            DiskJobKind::BlockDigests { piece, reply } => {
                                let a = (piece * PIECE) as usize;
                                let b = (a + PIECE as usize).min(self.disk.len());
                                let d =
                                    self.disk[a..b].chunks(16 * 1024).map(crate::merkle::sha256);
                                reply.send(Ok(d.collect()))
                            }
                            other => panic!("unexpected job {other:?}"),
                        };
                        self.s.handle_completion(self.now, done);
                    }
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the session never went quiet");
    }

    fn complete(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::TorrentComplete { .. }))
    }

    fn failures(&self) -> Vec<(WebSeedError, Duration)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::WebSeedFailed {
                    error, retry_in, ..
                } => Some((error.clone(), *retry_in)),
                _ => None,
            })
            .collect()
    }

    fn dropped(&self) -> Option<WebSeedError> {
        self.events.iter().find_map(|e| match e {
            Event::WebSeedDropped { url, error, .. } => {
                assert_eq!(url, MIRROR);
                Some(error.clone())
            }
            _ => None,
        })
    }
}

#[test]
fn downloads_from_a_web_seed_alone_with_one_range_per_file() {
    let mut r = Rig::new(Server::Good);
    let id = r.add();
    r.drive();
    assert!(r.complete(), "events: {:?}", r.events);
    assert_eq!(r.disk, content());
    // Every file was asked for under its encoded path, and a run across the boundary of
    // files 0 and 1 became one range in each.
    let paths: std::collections::BTreeSet<&str> =
        r.requests.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(
        r.requests
            .iter()
            .any(|(p, _, range)| p.ends_with("/a%20b.bin") && range.ends_with("-39999"))
    );
    assert!(
        r.requests
            .iter()
            .any(|(p, _, range)| p.ends_with("/%C3%A9.bin") && range.starts_with("0-"))
    );
    let info = r.s.web_seeds(id).unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].downloaded, content().len() as u64);
    assert_eq!(info[0].dropped, None);
}

#[test]
fn errors_back_the_server_off_exponentially_then_drop_it() {
    let mut r = Rig::new(Server::NotFound);
    let id = r.add();
    r.drive();
    for _ in 0..40 {
        let asked = r.requests.len();
        // Nothing is asked while backed off.
        r.later(Duration::from_millis(1500));
        r.drive();
        let half_way = r.requests.len();
        r.later(Duration::from_secs(300));
        r.drive();
        if r.dropped().is_some() {
            break;
        }
        assert!(
            half_way <= asked + 1 || asked == 0,
            "asked during the back-off"
        );
    }
    let failures = r.failures();
    assert_eq!(failures.len() as u32, MAX_FAILURES - 1, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|(e, _)| *e == WebSeedError::Status(404))
    );
    let waits: Vec<Duration> = failures.iter().map(|f| f.1).collect();
    assert_eq!(
        waits[..3],
        [FIRST_BACKOFF, FIRST_BACKOFF * 2, FIRST_BACKOFF * 4]
    );
    assert_eq!(r.dropped(), Some(WebSeedError::Status(404)));
    let asked = r.requests.len();
    r.later(Duration::from_secs(3600));
    r.drive();
    assert_eq!(
        r.requests.len(),
        asked,
        "a dropped web seed is asked nothing"
    );
    assert!(r.s.web_seeds(id).unwrap()[0].dropped.is_some());
    assert!(!r.complete());
    // The torrent's only source failed: its error names the mirror.
    let snap = (r.s)
        .torrent_snapshot(r.now, id, crate::session::SnapshotDetail::default())
        .unwrap();
    let error = snap.error.expect("the mirror's failure shown");
    assert_eq!(error.kind(), crate::session::TorrentErrorKind::TrackerError);
    assert_eq!(
        error.to_string(),
        format!("web seed {MIRROR}: the server answered 404")
    );
}

#[test]
fn a_failing_mirror_is_the_torrents_error_until_it_delivers() {
    let mut r = Rig::new(Server::NotFound);
    let id = r.add();
    r.drive();
    let shown = |r: &mut Rig| {
        (r.s)
            .torrent_snapshot(r.now, id, crate::session::SnapshotDetail::default())
            .unwrap()
            .error
            .map(|e| e.to_string())
    };
    assert_eq!(r.failures().len(), 1);
    let error = shown(&mut r).expect("the mirror's failure shown");
    assert!(error.starts_with(&format!("web seed {MIRROR}")), "{error}");
    // The mirror answers again after its back-off: the error is over.
    r.server = Server::Good;
    r.later(Duration::from_secs(300));
    r.drive();
    assert!(r.complete(), "{:?}", r.events);
    assert_eq!(shown(&mut r), None);
}

#[test]
fn data_failing_the_hash_check_is_charged_to_the_web_seed_which_is_dropped() {
    let mut r = Rig::new(Server::Corrupt);
    r.add();
    r.drive();
    let failed = r
        .events
        .iter()
        .filter(|e| matches!(e, Event::PieceFailed { .. }))
        .count();
    assert!(failed >= 1);
    assert!(
        matches!(r.dropped(), Some(WebSeedError::HashFailed { .. })),
        "{:?}",
        r.events
    );
    assert!(!r.complete());
}

#[test]
fn redirects_are_followed_to_the_other_host() {
    let mut r = Rig::new(Server::Redirect);
    r.add();
    r.drive();
    assert!(r.complete(), "{:?}", r.events);
    assert_eq!(r.disk, content());
    assert!(r.requests.iter().any(|(_, host, _)| host == "other.test"));
}

#[test]
fn a_silent_server_times_out_and_its_blocks_are_freed() {
    let mut r = Rig::new(Server::Silent);
    let id = r.add();
    r.drive();
    let asked = r.requests.len();
    assert!(asked > 0);
    r.later(super::RUN_TIMEOUT);
    r.drive();
    assert!(
        r.failures()
            .iter()
            .any(|(e, _)| *e == WebSeedError::Timeout)
    );
    // The server answers again: after the back-off the download completes.
    r.server = Server::Good;
    for _ in 0..5 {
        r.later(Duration::from_secs(5));
        r.drive();
    }
    assert!(r.complete(), "{:?}", r.events);
    assert_eq!(r.disk, content());
    assert!(r.s.remove_web_seed(r.now, id, MIRROR).unwrap());
    assert!(r.s.web_seeds(id).unwrap().is_empty());
}

#[test]
fn a_magnet_web_seed_is_used_once_the_metadata_arrives() {
    let mut r = Rig::new(Server::Good);
    let meta = metainfo();
    let mut link = MagnetLink::parse(&format!(
        "magnet:?xt=urn:btih:{}",
        meta.info_hash().to_hex()
    ))
    .unwrap();
    link.web_seeds.push(MIRROR.into());
    let id =
        r.s.add_torrent(
            r.now,
            TorrentSource::Magnet(link),
            TorrentOptions::default(),
        )
        .unwrap();
    r.drive();
    assert!(r.requests.is_empty(), "nothing to ask before the metadata");
    r.s.set_metadata(r.now, id, meta).unwrap();
    r.drive();
    assert!(r.complete(), "{:?}", r.events);
    assert_eq!(r.disk, content());
}

#[test]
fn run_time_adds_and_refuses() {
    let mut r = Rig::new(Server::Good);
    let id = r.add();
    assert!(
        !r.s.add_web_seed(r.now, id, MIRROR).unwrap(),
        "already there"
    );
    assert!(r.s.add_web_seed(r.now, id, "https://b.test/x/").unwrap());
    assert!(r.s.add_web_seed(r.now, id, "ftp://b.test/x/").is_err());
    assert!(r.s.add_web_seed(r.now, TorrentId(99), MIRROR).is_err());
    let urls: Vec<String> =
        r.s.web_seeds(id)
            .unwrap()
            .into_iter()
            .map(|w| w.url)
            .collect();
    assert_eq!(urls, [MIRROR, "https://b.test/x/"]);
}
