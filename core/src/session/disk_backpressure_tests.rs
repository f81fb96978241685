//! Disk bookkeeping seen from outside the session: back-pressure ends however the disk catches
//! up (when the last job that kept the torrent behind is a hash check rather than a write,
//! requests must still resume), reading pauses while too much is unwritten, requests stay
//! under their cap, and verified data is flushed in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::create::TorrentBuilder;
use crate::id::{PeerId, sha1_digest};
use crate::metainfo::Metainfo;
use crate::session::completion::TestAnswer;
use crate::session::{
    Action, ConnId, Dest, DiskJob, DiskJobKind, Event, Session, SessionConfig, TorrentId,
    TorrentOptions, TorrentSource,
};
use crate::wire;

const PIECE: u32 = 32 * 1024;
const PIECES: u32 = 16;

/// A torrent of zeros: 16 pieces of 2 blocks.
fn metainfo() -> Arc<Metainfo> {
    let b = TorrentBuilder::single_file("t.bin", u64::from(PIECES * PIECE))
        .unwrap()
        .piece_length(PIECE);
    let hashes = vec![sha1_digest(&vec![0u8; PIECE as usize]); PIECES as usize];
    Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap())
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Everything the session wants done now: transmits, then actions (events are dropped).
fn drain(s: &mut Session) -> (Vec<crate::session::Transmit>, Vec<Action>) {
    let mut t = Vec::new();
    let mut a = Vec::new();
    while let Some(x) = s.poll_transmit() {
        t.push(x);
    }
    while let Some(x) = s.poll_action() {
        a.push(x);
    }
    while let Some(e) = s.poll_event() {
        let _: Event = e;
    }
    (t, a)
}

/// The write and hash-check jobs the session issued, with their pieces, and whether it asked
/// to stop reading the connection (the bytes the remote sends meanwhile wait in `held`, as
/// they would in the kernel).
#[derive(Default)]
struct Jobs {
    writes: Vec<(DiskJobKind, u32)>,
    verifies: Vec<(DiskJobKind, u32)>,
    reading_paused: bool,
    pauses: usize,
    resumes: usize,
    held: Vec<bytes::Bytes>,
}

impl Jobs {
    fn collect(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Disk(DiskJob { kind, .. }) => match kind {
                    DiskJobKind::Write { piece, .. } => self.writes.push((kind, piece)),
                    DiskJobKind::Verify { piece, .. } => self.verifies.push((kind, piece)),
                    _ => {}
                },
                Action::PauseReading { .. } => {
                    assert!(!self.reading_paused, "paused twice");
                    self.reading_paused = true;
                    self.pauses += 1;
                }
                Action::ResumeReading { .. } => {
                    assert!(self.reading_paused, "resumed while reading");
                    self.reading_paused = false;
                    self.resumes += 1;
                }
                _ => {}
            }
        }
    }
}

/// The remote seed's side of its events: accepts the handshake, unchokes, and counts the
/// requests it receives, answering each with a block of zeros when `serve`.
fn remote_events(remote: &mut wire::Connection, now: Instant, serve: bool) -> usize {
    let meta = metainfo();
    let full = crate::pieces::PieceSet::full(PIECES);
    let mut requests = 0;
    while let Some(e) = remote.poll_event() {
        match e {
            wire::Event::HandshakeReceived { info_hash, .. } => {
                let params = wire::TorrentParams {
                    info_hash,
                    geometry: Some(wire::PieceGeometry::of_layout(meta.layout())),
                    our_pieces: Some(&full),
                    metadata_size: None,
                    v2: None,
                };
                remote.accept(now, params).unwrap();
            }
            wire::Event::Established { .. } => remote.unchoke(now).unwrap(),
            wire::Event::RequestReceived(b) => {
                requests += 1;
                if serve {
                    let data = bytes::Bytes::from(vec![0u8; b.length as usize]);
                    remote.send_block(now, b.piece, b.offset, data).unwrap();
                }
            }
            _ => {}
        }
    }
    requests
}

/// Moves bytes between the session's `conn` and a remote seed until quiet; returns how many
/// requests the remote received.
fn pump(
    s: &mut Session,
    conn: ConnId,
    remote: &mut wire::Connection,
    now: Instant,
    jobs: &mut Jobs,
) -> usize {
    let mut requests = 0;
    for _ in 0..200 {
        let (transmits, actions) = drain(s);
        jobs.collect(actions);
        let mut moved = false;
        for t in transmits {
            if t.dest == Dest::Peer(conn) {
                remote.handle_input(now, &t.payload);
                moved = true;
            }
        }
        requests += remote_events(remote, now, true);
        while let Some(bytes) = remote.poll_transmit() {
            jobs.held.push(bytes);
        }
        // One chunk at a time, as a runtime reads: a pause takes effect before the next.
        while !jobs.reading_paused && !jobs.held.is_empty() {
            let bytes = jobs.held.remove(0);
            s.handle_peer_data(now, conn, bytes::BytesMut::from(&bytes[..]));
            let actions = std::iter::from_fn(|| s.poll_action()).collect();
            jobs.collect(actions);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    requests
}

fn complete(s: &mut Session, job: DiskJobKind, result: TestAnswer, now: Instant) {
    s.handle_completion(now, job.answer(result));
}

/// The start-up `Stamps` job among `actions`.
fn stamps_job(actions: Vec<Action>) -> DiskJobKind {
    actions
        .into_iter()
        .find_map(|a| match a {
            Action::Disk(DiskJob {
                kind: kind @ DiskJobKind::Stamps { .. },
                ..
            }) => Some(kind),
            _ => None,
        })
        .expect("stamps job")
}

/// A session downloading [`metainfo`] (no data on disk yet) from one remote seed it dialled:
/// the session, the torrent, the connection and the remote's side of it (handshake not yet
/// exchanged; [`pump`] does that).
fn downloading(
    config: SessionConfig,
    now: Instant,
) -> (Session, TorrentId, ConnId, wire::Connection) {
    let mut s = Session::new(config, now, 1);
    s.set_listen_addr(addr(7000));
    let t = s
        .add_torrent(
            now,
            TorrentSource::Metainfo(metainfo()),
            TorrentOptions::default(),
        )
        .unwrap();
    // The start-up check: no file yet, nothing to check.
    let (_, actions) = drain(&mut s);
    let stamps = stamps_job(actions);
    complete(&mut s, stamps, TestAnswer::Stamps(vec![None]), now);
    s.add_peers(now, t, &[addr(8001)]);
    let (_, actions) = drain(&mut s);
    let conn = actions
        .iter()
        .find_map(|a| match a {
            Action::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
        .expect("dials the peer");
    s.handle_connected(now, conn, Ok(()));
    let config = Arc::new(wire::Config::new(PeerId(*b"-XX0001-remotepeer01")));
    let remote = wire::Connection::inbound(now, config, None);
    (s, t, conn, remote)
}

#[test]
fn requests_resume_when_a_hash_check_ends_the_back_pressure() {
    let now = Instant::now();
    let config = SessionConfig {
        max_disk_jobs: 2,
        ..SessionConfig::default()
    };
    let (mut s, _, conn, mut remote) = downloading(config, now);

    // Blocks arrive; the writes stay pending: the disk is behind, requesting stops, and the
    // pipeline drains.
    let mut jobs = Jobs::default();
    assert!(pump(&mut s, conn, &mut remote, now, &mut jobs) > 0);
    assert!(jobs.writes.len() >= 4, "{} writes", jobs.writes.len());
    assert_eq!(
        pump(&mut s, conn, &mut remote, now, &mut Jobs::default()),
        0
    );

    // Every write completes, but the hash checks they start keep the disk behind.
    for (id, _) in std::mem::take(&mut jobs.writes) {
        complete(&mut s, id, TestAnswer::Written, now);
        let (_, actions) = drain(&mut s);
        jobs.collect(actions);
    }
    assert!(jobs.verifies.len() >= 2, "{} checks", jobs.verifies.len());
    assert_eq!(pump(&mut s, conn, &mut remote, now, &mut jobs), 0);

    // The hash checks pass: the disk has caught up, so requesting must resume without any
    // block arriving or timer firing.
    for (id, _) in std::mem::take(&mut jobs.verifies) {
        complete(&mut s, id, TestAnswer::Verified(true), now);
    }
    let resumed = pump(&mut s, conn, &mut remote, now, &mut jobs);
    assert!(
        resumed > 0,
        "requests did not resume after the disk caught up"
    );
}

#[test]
fn verified_data_is_flushed_in_the_background_without_a_save() {
    let now = Instant::now();
    let config = SessionConfig {
        flush_every_bytes: u64::from(2 * PIECE),
        ..SessionConfig::default()
    };
    let (mut s, _, conn, mut remote) = downloading(config, now);
    let mut jobs = Jobs::default();
    pump(&mut s, conn, &mut remote, now, &mut jobs);
    for (id, _) in std::mem::take(&mut jobs.writes) {
        complete(&mut s, id, TestAnswer::Written, now);
        let (_, actions) = drain(&mut s);
        jobs.collect(actions);
    }
    assert!(jobs.verifies.len() >= 3, "{} checks", jobs.verifies.len());
    let flushes = |actions: Vec<Action>| {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Disk(DiskJob {
                    kind: kind @ DiskJobKind::Flush { .. },
                    ..
                }) => Some(kind),
                Action::Disk(DiskJob {
                    kind: DiskJobKind::Stamps { .. },
                    ..
                }) => panic!("a background flush saves no resume data"),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut verifies = std::mem::take(&mut jobs.verifies).into_iter();
    let (first, _) = verifies.next().unwrap();
    complete(&mut s, first, TestAnswer::Verified(true), now);
    assert!(
        flushes(drain(&mut s).1).is_empty(),
        "one piece is not enough"
    );
    let (second, _) = verifies.next().unwrap();
    complete(&mut s, second, TestAnswer::Verified(true), now);
    let mut flush = flushes(drain(&mut s).1);
    assert_eq!(flush.len(), 1, "two pieces verified: flush");
    // Two more pieces while that flush runs: no second flush at the same time.
    let (third, _) = verifies.next().unwrap();
    complete(&mut s, third, TestAnswer::Verified(true), now);
    if let Some((fourth, _)) = verifies.next() {
        complete(&mut s, fourth, TestAnswer::Verified(true), now);
    }
    assert!(flushes(drain(&mut s).1).is_empty(), "one flush at a time");
    complete(&mut s, flush.remove(0), TestAnswer::Flushed, now);
    assert!(
        flushes(drain(&mut s).1).is_empty(),
        "the next flush waits for more pieces"
    );
}

/// [`downloading`] with room for four unwritten blocks, pumped until reading paused: the
/// session, the torrent, the connection, the remote, and what the session asked for.
fn paused_at_four_blocks(now: Instant) -> (Session, TorrentId, ConnId, wire::Connection, Jobs) {
    let config = SessionConfig {
        max_unwritten_bytes: 4 * 16 * 1024,
        ..SessionConfig::default()
    };
    let (mut s, t, conn, mut remote) = downloading(config, now);
    let mut jobs = Jobs::default();
    pump(&mut s, conn, &mut remote, now, &mut jobs);
    assert!(jobs.reading_paused);
    (s, t, conn, remote, jobs)
}

#[test]
fn reading_pauses_at_the_unwritten_cap_and_resumes_at_half() {
    let now = Instant::now();
    let (mut s, _, conn, mut remote, mut jobs) = paused_at_four_blocks(now);
    // The fourth unwritten block pauses reading; requests went on, so more blocks wait.
    assert_eq!(jobs.pauses, 1);
    assert!(jobs.reading_paused);
    assert_eq!(jobs.writes.len(), 4);
    assert!(!jobs.held.is_empty(), "the remote kept sending");
    // One write done: three blocks unwritten, above half the cap: still paused.
    let mut writes = std::mem::take(&mut jobs.writes).into_iter();
    let (first, _) = writes.next().unwrap();
    complete(&mut s, first, TestAnswer::Written, now);
    jobs.collect(drain(&mut s).1);
    assert!(jobs.reading_paused);
    // Two blocks unwritten, half the cap: reading resumes and blocks arrive again.
    let (second, _) = writes.next().unwrap();
    complete(&mut s, second, TestAnswer::Written, now);
    jobs.collect(drain(&mut s).1);
    assert_eq!(jobs.resumes, 1);
    pump(&mut s, conn, &mut remote, now, &mut jobs);
    assert_eq!(jobs.writes.len(), 2, "two more blocks reach the cap again");
    assert_eq!(jobs.pauses, 2);
}

/// Two remote seeds, `a` serving its blocks and `b` holding them: once `a`'s blocks fill the
/// unwritten cap, `b` is paused with `a` (we await blocks from it, and what it would send
/// past the cap is best left in the kernel), and both resume at half the cap.
#[test]
fn the_cap_pauses_every_connection_we_await_blocks_from() {
    let now = Instant::now();
    let config = SessionConfig {
        max_unwritten_bytes: 4 * 16 * 1024,
        ..SessionConfig::default()
    };
    let (mut s, t, a, mut remote_a) = downloading(config, now);
    s.add_peers(now, t, &[addr(8002)]);
    let (transmits, actions) = drain(&mut s);
    for x in transmits.iter().filter(|x| x.dest == Dest::Peer(a)) {
        remote_a.handle_input(now, &x.payload);
    }
    let b = actions
        .iter()
        .find_map(|x| match x {
            Action::Connect { conn, .. } => Some(*conn),
            _ => None,
        })
        .expect("dials the second peer");
    s.handle_connected(now, b, Ok(()));
    let remote_config = Arc::new(wire::Config::new(PeerId(*b"-XX0001-remotepeer02")));
    let mut remote_b = wire::Connection::inbound(now, remote_config, None);

    let mut flow = Flow::default();
    let (mut held_a, mut requests_b) = (Vec::new(), 0);
    for _ in 0..200 {
        let (transmits, actions) = drain(&mut s);
        flow.collect(actions);
        let mut moved = false;
        for x in transmits {
            match x.dest {
                Dest::Peer(c) if c == a => remote_a.handle_input(now, &x.payload),
                Dest::Peer(c) if c == b => remote_b.handle_input(now, &x.payload),
                _ => continue,
            }
            moved = true;
        }
        remote_events(&mut remote_a, now, true);
        requests_b += remote_events(&mut remote_b, now, false);
        held_a.extend(std::iter::from_fn(|| remote_a.poll_transmit()));
        // `b` sends everything but blocks: its handshake, bitfield and unchoke.
        while let Some(bytes) = remote_b.poll_transmit() {
            s.handle_peer_data(now, b, bytes::BytesMut::from(&bytes[..]));
            moved = true;
        }
        // `a`'s bytes one chunk at a time, as a runtime reads: a pause takes effect at once.
        while !flow.paused.contains(&a) && !held_a.is_empty() {
            let bytes = held_a.remove(0);
            s.handle_peer_data(now, a, bytes::BytesMut::from(&bytes[..]));
            flow.collect(std::iter::from_fn(|| s.poll_action()).collect());
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(requests_b > 0, "blocks were requested from b");
    assert_eq!(flow.writes.len(), 4, "a's blocks filled the cap");
    assert_eq!(
        flow.paused,
        [a, b].into_iter().collect(),
        "both paused at the cap"
    );
    // Two writes done: half the cap, both resume.
    for job in std::mem::take(&mut flow.writes).into_iter().take(2) {
        complete(&mut s, job, TestAnswer::Written, now);
        flow.collect(drain(&mut s).1);
    }
    assert!(flow.paused.is_empty());
    flow.resumed.sort();
    assert_eq!(flow.resumed, vec![a.min(b), a.max(b)]);
}

/// Which connections are paused and resumed, and the write jobs, over several connections.
#[derive(Default)]
struct Flow {
    paused: std::collections::BTreeSet<ConnId>,
    resumed: Vec<ConnId>,
    writes: Vec<DiskJobKind>,
}

impl Flow {
    fn collect(&mut self, actions: Vec<Action>) {
        for x in actions {
            match x {
                Action::Disk(DiskJob {
                    kind: kind @ DiskJobKind::Write { .. },
                    ..
                }) => self.writes.push(kind),
                Action::PauseReading { conn } => assert!(self.paused.insert(conn), "paused twice"),
                Action::ResumeReading { conn } => {
                    assert!(self.paused.remove(&conn), "resumed while reading");
                    self.resumed.push(conn);
                }
                _ => {}
            }
        }
    }
}

#[test]
fn requested_bytes_stay_under_their_cap() {
    let now = Instant::now();
    let block = 16 * 1024;
    let config = SessionConfig {
        max_requested_bytes: 3 * block,
        ..SessionConfig::default()
    };
    let (mut s, _, conn, mut remote) = downloading(config, now);
    // A remote that takes requests and sends nothing back.
    let mut requests = 0;
    for _ in 0..20 {
        let (transmits, _) = drain(&mut s);
        for t in transmits {
            remote.handle_input(now, &t.payload);
        }
        requests += remote_events(&mut remote, now, false);
        while let Some(bytes) = remote.poll_transmit() {
            s.handle_peer_data(now, conn, bytes::BytesMut::from(&bytes[..]));
        }
    }
    // The peer would take 250 requests and the pipeline starts at four; the cap allows three
    // blocks in flight.
    assert_eq!(requests, 3);
}

#[test]
fn a_long_pause_neither_drops_nor_snubs_the_paused_peer() {
    let start = Instant::now();
    let (mut s, _, conn, mut remote, mut jobs) = paused_at_four_blocks(start);
    // The disk stalls for five minutes (past the idle and request timeouts); the remote
    // keeps its connection alive with keep-alives we do not read.
    let mut now = start;
    for _ in 0..30 {
        now += std::time::Duration::from_secs(10);
        s.handle_timeout(now);
        let (transmits, actions) = drain(&mut s);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::Close { conn: c } if *c == conn)),
            "a paused peer was dropped"
        );
        for t in transmits {
            remote.handle_input(now, &t.payload);
        }
        while let Some(e) = remote.poll_event() {
            assert!(
                !matches!(e, wire::Event::RequestCancelled(_)),
                "a paused peer's requests were cancelled"
            );
        }
        remote.handle_timeout(now);
        while let Some(bytes) = remote.poll_transmit() {
            jobs.held.push(bytes);
        }
    }
    // The writes finish: reading resumes and the blocks that waited arrive.
    for (id, _) in std::mem::take(&mut jobs.writes) {
        complete(&mut s, id, TestAnswer::Written, now);
    }
    jobs.collect(drain(&mut s).1);
    assert_eq!(jobs.resumes, 1);
    pump(&mut s, conn, &mut remote, now, &mut jobs);
    assert!(!jobs.writes.is_empty(), "blocks flow again");
}

/// Starts a four-file torrent (the second skipped, the third empty) with nothing on disk and
/// returns the session, the torrent and the jobs it asked for once the start check is over.
fn started_with_a_skipped_and_an_empty_file(now: Instant) -> (Session, TorrentId, Vec<DiskJob>) {
    started_with_priorities(
        now,
        vec![
            crate::picker::Priority::Normal,
            crate::picker::Priority::Skip,
        ],
    )
}

/// Files `a`, `b` (two pieces each), `c` (empty) and `d` (two pieces) with `priorities`,
/// started: the jobs issued once its check is over.
fn started_with_priorities(
    now: Instant,
    priorities: Vec<crate::picker::Priority>,
) -> (Session, TorrentId, Vec<DiskJob>) {
    let rel = |p: &str| crate::metainfo::RelativePath::from_components([p]).unwrap();
    let files = vec![
        (rel("a"), u64::from(2 * PIECE)),
        (rel("b"), u64::from(2 * PIECE)),
        (rel("c"), 0),
        (rel("d"), u64::from(2 * PIECE)),
    ];
    let b = TorrentBuilder::multi_file("m", files)
        .unwrap()
        .piece_length(PIECE);
    let hashes = vec![sha1_digest(&vec![0u8; PIECE as usize]); 6];
    let meta = Arc::new(Metainfo::from_bytes(&b.build(&hashes).unwrap()).unwrap());
    let mut s = Session::new(SessionConfig::default(), now, 1);
    let options = TorrentOptions {
        file_priorities: priorities,
        ..TorrentOptions::default()
    };
    let t = s
        .add_torrent(now, TorrentSource::Metainfo(meta), options)
        .unwrap();
    let (_, actions) = drain(&mut s);
    let stamps = stamps_job(actions);
    complete(&mut s, stamps, TestAnswer::Stamps(vec![None; 4]), now);
    let (_, actions) = drain(&mut s);
    let jobs = actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Disk(job) => Some(job),
            _ => None,
        })
        .collect();
    (s, t, jobs)
}

#[test]
fn wanted_files_are_created_before_the_download_needs_them() {
    let now = Instant::now();
    let (mut s, _, jobs) = started_with_a_skipped_and_an_empty_file(now);
    let listed = format!("{jobs:?}");
    let mut creates: Vec<_> = jobs
        .into_iter()
        .filter_map(|j| match j.kind {
            DiskJobKind::Create { ref files, .. } => Some((files.clone(), j.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(creates.len(), 1, "{listed}");
    assert_eq!(
        creates[0].0,
        [0, 2, 3],
        "the wanted files, the empty one too (storage creates nothing at open); not the \
         skipped file"
    );
    complete(&mut s, creates.remove(0).1, TestAnswer::Created, now);
    while let Some(e) = s.poll_event() {
        assert!(!matches!(e, Event::Error { .. }), "{e:?}");
    }
}

#[test]
fn a_skipped_empty_file_is_not_created() {
    use crate::picker::Priority::{Normal, Skip};
    let (_, _, jobs) = started_with_priorities(Instant::now(), vec![Skip, Normal, Skip, Skip]);
    let creates: Vec<Vec<usize>> = jobs
        .into_iter()
        .filter_map(|j| match j.kind {
            DiskJobKind::Create { files, .. } => Some(files),
            _ => None,
        })
        .collect();
    assert_eq!(creates, [vec![1]]);
}

#[test]
fn a_file_that_cannot_be_created_stops_the_torrent() {
    let now = Instant::now();
    let (mut s, _, jobs) = started_with_a_skipped_and_an_empty_file(now);
    let create = jobs
        .into_iter()
        .find(|j| matches!(j.kind, DiskJobKind::Create { .. }))
        .expect("a create job");
    let error = crate::storage::StorageError::Io {
        op: crate::storage::IoOp::Reserve,
        path: "m/a".into(),
        error: std::io::Error::other("no space left on device"),
    };
    s.handle_completion(now, create.kind.fail(error));
    let mut messages = Vec::new();
    while let Some(e) = s.poll_event() {
        if let Event::Error { error, .. } = e {
            messages.push(error.to_string());
        }
    }
    assert!(
        messages
            .iter()
            .any(|m| m.contains("stopping the torrent") && m.contains("m/a")),
        "{messages:?}"
    );
}

#[test]
fn a_complete_torrent_creates_nothing() {
    let now = Instant::now();
    let mut s = Session::new(SessionConfig::default(), now, 1);
    let options = TorrentOptions {
        seed_only: true,
        ..TorrentOptions::default()
    };
    let _ = s
        .add_torrent(now, TorrentSource::Metainfo(metainfo()), options)
        .unwrap();
    let mut created = 0;
    let mut complete_seen = false;
    for _ in 0..10 {
        let mut actions = Vec::new();
        while let Some(a) = s.poll_action() {
            actions.push(a);
        }
        while let Some(e) = s.poll_event() {
            complete_seen |= matches!(e, Event::TorrentComplete { .. });
        }
        for a in actions {
            let Action::Disk(job) = a else { continue };
            let result = match &job.kind {
                DiskJobKind::Stamps { .. } => TestAnswer::Stamps(vec![None]),
                DiskJobKind::Check { pieces, .. } => {
                    TestAnswer::Checked(pieces.iter().map(|(p, _)| *p).collect())
                }
                DiskJobKind::Create { .. } => {
                    created += 1;
                    TestAnswer::Created
                }
                _ => continue,
            };
            complete(&mut s, job.kind, result, now);
        }
    }
    assert!(complete_seen, "the check found every piece");
    assert_eq!(created, 0);
}
