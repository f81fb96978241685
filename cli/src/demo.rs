//! `sanstorrent demo`: a whole swarm on loopback, in one process: generated data, a torrent
//! made with core's `TorrentBuilder`, one seeder and N leechers (each a full client with real
//! sockets), the live progress display, a byte-for-byte check and a summary.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sanstorrent_core::create::TorrentBuilder;
use sanstorrent_core::metainfo::{Metainfo, RelativePath};
use sanstorrent_core::rng::Rng;
use sanstorrent_core::session::{
    SessionConfig, TorrentId, TorrentOptions, TorrentPhase, TorrentSource,
};
use sanstorrent_runtime_common::{Client, ClientConfig, Runtime as AsyncRuntime};

use crate::Exit;
use crate::args::{DemoArgs, OnRuntime};
use crate::fmt::{emit, size};
use crate::hash::hash_pieces;
use crate::progress::{Mode, Progress};
use crate::run::checked_runtime;
use crate::signals::Wake;

/// Most files and leechers a demo may have (each leecher is a client with its own threads).
const MAX_FILES: usize = 10_000;
const MAX_LEECHERS: usize = 64;
/// A demo with no progress for this long has failed.
const STALL: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_millis(100);

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Exit> {
    if args.size == 0 {
        return Err(Exit::Usage("--size must be at least 1 byte".into()));
    }
    if args.files == 0 || args.files > MAX_FILES || args.files as u64 > args.size {
        return Err(Exit::Usage(format!(
            "--files must be between 1 and {MAX_FILES}, and at most --size"
        )));
    }
    if args.leechers == 0 || args.leechers > MAX_LEECHERS {
        return Err(Exit::Usage(format!(
            "--leechers must be between 1 and {MAX_LEECHERS}"
        )));
    }
    let runtime = checked_runtime(args.runtime)?;
    let work = TempDir::new()?;
    let progress = Progress::new(Mode::detect(args.quiet));
    progress.note(&format!(
        "demo: generating {} in {} file(s) under {}",
        size(args.size),
        args.files,
        work.0.display()
    ));
    let seed_dir = work.0.join("seeder");
    let meta = make_torrent(&seed_dir, args.size, args.files)?;
    progress.note(&format!(
        "demo: torrent {} ({} pieces of {}), info-hash {}; {} leecher(s) on {runtime:?}",
        meta.name(),
        meta.piece_count(),
        size(u64::from(meta.piece_length())),
        meta.info_hash().to_hex(),
        args.leechers,
    ));
    let wake = Wake::install(TICK)?;
    let swarm = Swarm {
        meta: Arc::new(meta),
        work: work.0.clone(),
        seed_dir,
        leechers: args.leechers,
        progress,
    };
    let report = runtime.block_on(DemoRun { swarm, wake: &wake })?;
    if !args.quiet {
        emit(&report);
    }
    Ok(())
}

/// The data's name in the torrent.
const NAME: &str = "sanstorrent-demo";

/// Writes `size` pseudo-random bytes in `files` files under `dir` and returns their torrent.
fn make_torrent(dir: &Path, size: u64, files: usize) -> Result<Metainfo, Exit> {
    let io = |p: &Path, e: std::io::Error| Exit::Fail(format!("{}: {e}", p.display()));
    let n = files as u64;
    let lengths: Vec<u64> = (0..n).map(|i| size / n + u64::from(i < size % n)).collect();
    let (builder, paths) = if files == 1 {
        let b = TorrentBuilder::single_file(&format!("{NAME}.bin"), size);
        (b, vec![dir.join(format!("{NAME}.bin"))])
    } else {
        let mut rels = Vec::new();
        let mut paths = Vec::new();
        for (i, len) in lengths.iter().enumerate() {
            let file = format!("part-{i:04}.bin");
            let rel = RelativePath::from_components([file.as_str()])
                .map_err(|e| Exit::Fail(e.to_string()))?;
            rels.push((rel, *len));
            paths.push(dir.join(NAME).join(file));
        }
        (TorrentBuilder::multi_file(NAME, rels), paths)
    };
    let builder = builder
        .map_err(|e| Exit::Fail(e.to_string()))?
        .created_by(format!("sanstorrent/{} demo", env!("CARGO_PKG_VERSION")));
    let mut rng = Rng::new(0x5EED_DE30);
    let mut buf = vec![0u8; 1 << 20];
    for (path, len) in paths.iter().zip(&lengths) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let mut out = BufWriter::new(File::create(path).map_err(|e| io(path, e))?);
        let mut left = *len;
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..take]);
            out.write_all(&buf[..take]).map_err(|e| io(path, e))?;
            left -= take as u64;
        }
        out.flush().map_err(|e| io(path, e))?;
    }
    let layout = builder.layout().map_err(|e| Exit::Fail(e.to_string()))?;
    let handles = paths
        .iter()
        .map(|p| File::open(p).map_err(|e| io(p, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hashes = hash_pieces(&handles, &layout, threads).map_err(|e| Exit::Fail(e.to_string()))?;
    let bytes = builder
        .build(&hashes)
        .map_err(|e| Exit::Fail(e.to_string()))?;
    let torrent = dir.with_extension("torrent");
    fs::write(&torrent, &bytes).map_err(|e| io(&torrent, e))?;
    Metainfo::from_bytes(&bytes).map_err(|e| Exit::Fail(format!("demo torrent: {e}")))
}

/// The swarm: its data, where it lives, and the display.
struct Swarm {
    meta: Arc<Metainfo>,
    work: PathBuf,
    seed_dir: PathBuf,
    leechers: usize,
    progress: Progress,
}

/// The swarm and the display's wake-ups, to run on the chosen runtime.
struct DemoRun<'a> {
    swarm: Swarm,
    wake: &'a Wake,
}

impl OnRuntime for DemoRun<'_> {
    type Output = Result<String, Exit>;

    fn run<R: AsyncRuntime>(self) -> impl Future<Output = Self::Output> {
        self.swarm.run::<R>(self.wake)
    }
}

/// One client of the swarm.
struct Member<R: AsyncRuntime> {
    client: Client<R>,
    torrent: TorrentId,
    row: usize,
    done: Option<Duration>,
    max_peers: usize,
    downloaded: u64,
    uploaded: u64,
}

impl Swarm {
    async fn run<R: AsyncRuntime>(mut self, wake: &Wake) -> Result<String, Exit> {
        let mut members: Vec<Member<R>> = Vec::new();
        let result = self.start_and_watch(wake, &mut members).await;
        self.progress.finish();
        let peers = peers_line(&members);
        for m in members.drain(..) {
            if let Err(e) = m.client.stop().await {
                tracing::warn!("stopping a demo client: {e}");
            }
        }
        let elapsed = result?;
        self.report(elapsed, &peers)
    }

    async fn start_and_watch<R: AsyncRuntime>(
        &mut self,
        wake: &Wake,
        members: &mut Vec<Member<R>>,
    ) -> Result<Duration, Exit> {
        let config = ClientConfig {
            session: SessionConfig {
                max_connections_per_ip: self.leechers + 8,
                ..SessionConfig::default()
            },
            disk_threads: 2,
            ..ClientConfig::loopback()
        };
        let source = TorrentSource::Metainfo(Arc::clone(&self.meta));
        let fail = |e: sanstorrent_runtime_common::ClientError| Exit::Fail(e.to_string());
        let seeder = Client::<R>::new(config.clone()).await.map_err(fail)?;
        let mut clients = Vec::new();
        for _ in 0..self.leechers {
            clients.push(Client::<R>::new(config.clone()).await.map_err(fail)?);
        }
        let seed_addr = seeder.listen_addr();
        let addrs: Vec<_> = clients.iter().map(Client::listen_addr).collect();
        let seed_options = TorrentOptions {
            seed_only: true,
            ..TorrentOptions::default()
        };
        let t = seeder
            .add_torrent(source.clone(), self.seed_dir.clone(), seed_options)
            .await
            .map_err(fail)?;
        let row = self.progress.add("seeder");
        members.push(Member::new(seeder, t.id, row));
        let started = Instant::now();
        for (i, client) in clients.into_iter().enumerate() {
            let mut peers = vec![seed_addr];
            peers.extend(
                addrs
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, a)| *a),
            );
            let options = TorrentOptions {
                peers,
                ..TorrentOptions::default()
            };
            let t = client
                .add_torrent(source.clone(), self.leech_dir(i), options)
                .await
                .map_err(fail)?;
            let row = self.progress.add(&format!("leecher {}", i + 1));
            members.push(Member::new(client, t.id, row));
        }
        let mut last_progress = (Instant::now(), 0u64);
        loop {
            wake.next().await;
            if wake.interrupted() {
                return Err(Exit::Interrupted);
            }
            let now = Instant::now();
            let mut have_sum = 0;
            for m in members.iter_mut() {
                while let Some(polled) = m.client.try_event() {
                    let Some(event) = polled else {
                        return Err(Exit::Fail("a demo client stopped unexpectedly".into()));
                    };
                    if let sanstorrent_core::session::Event::Error { error, .. } = event {
                        return Err(Exit::Fail(format!("demo: {error}")));
                    }
                }
                let Ok(Some(stats)) = m.client.stats(m.torrent).await else {
                    return Err(Exit::Fail("a demo torrent disappeared".into()));
                };
                let finished = stats.phase == TorrentPhase::Seeding;
                self.progress
                    .update(m.row, &stats, now, finished && m.done.is_none());
                if finished && m.done.is_none() {
                    m.done = Some(started.elapsed());
                }
                m.max_peers = m.max_peers.max(stats.peers_connected);
                m.downloaded = stats.downloaded;
                m.uploaded = stats.uploaded;
                have_sum += stats.have_bytes;
            }
            if members.iter().all(|m| m.done.is_some()) {
                return Ok(started.elapsed());
            }
            if have_sum != last_progress.1 {
                last_progress = (now, have_sum);
            } else if now.duration_since(last_progress.0) > STALL {
                return Err(Exit::Fail(format!(
                    "demo: no progress for {} s",
                    STALL.as_secs()
                )));
            }
        }
    }

    fn leech_dir(&self, i: usize) -> PathBuf {
        self.work.join(format!("leecher-{}", i + 1))
    }

    /// Compares every leecher's files with the seeder's, then writes the summary.
    fn report(&self, elapsed: Duration, peers: &str) -> Result<String, Exit> {
        let verify_start = Instant::now();
        for i in 0..self.leechers {
            for f in self.meta.files().iter().filter(|f| !f.padding) {
                let rel = f.path.to_path_buf();
                same_bytes(&self.seed_dir.join(&rel), &self.leech_dir(i).join(&rel))?;
            }
        }
        let total = self.meta.total_length();
        let secs = elapsed.as_secs_f64().max(1e-3);
        let all = total as f64 * self.leechers as f64;
        Ok(format!(
            "demo: {} leecher(s) each downloaded {} ({} file(s), {} pieces) in {secs:.2} s\n\
             demo: {:.1} MB/s in all, {:.1} MB/s per leecher; {}\n\
             demo: every byte of every leecher verified against the seeder's files ({:.2} s)\n",
            self.leechers,
            size(total),
            self.meta.files().len(),
            self.meta.piece_count(),
            all / 1e6 / secs,
            total as f64 / 1e6 / secs,
            peers,
            verify_start.elapsed().as_secs_f64(),
        ))
    }
}

/// Peers and uploads of the swarm, for the summary (`members[0]` is the seeder).
fn peers_line<R: AsyncRuntime>(members: &[Member<R>]) -> String {
    let Some((seeder, leechers)) = members.split_first() else {
        return "no clients started".into();
    };
    let most = leechers.iter().map(|m| m.max_peers).max().unwrap_or(0);
    let least = leechers.iter().map(|m| m.max_peers).min().unwrap_or(0);
    let traded: u64 = leechers.iter().map(|m| m.uploaded).sum();
    let fetched: u64 = leechers.iter().map(|m| m.downloaded).sum();
    format!(
        "peers per leecher: {least} to {most}; seeder uploaded {}, leechers uploaded {} to \
         each other (received {} in all)",
        size(seeder.uploaded),
        size(traded),
        size(fetched),
    )
}

impl<R: AsyncRuntime> Member<R> {
    fn new(client: Client<R>, torrent: TorrentId, row: usize) -> Self {
        Self {
            client,
            torrent,
            row,
            done: None,
            max_peers: 0,
            downloaded: 0,
            uploaded: 0,
        }
    }
}

/// Fails unless files `a` and `b` hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> Result<(), Exit> {
    let open = |p: &Path| File::open(p).map_err(|e| Exit::Fail(format!("{}: {e}", p.display())));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    let mut offset = 0u64;
    loop {
        let na =
            read_full(&mut fa, &mut ba).map_err(|e| Exit::Fail(format!("{}: {e}", a.display())))?;
        let nb =
            read_full(&mut fb, &mut bb).map_err(|e| Exit::Fail(format!("{}: {e}", b.display())))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Err(Exit::Fail(format!(
                "demo: {} differs from the seeder's copy near byte {offset}",
                b.display()
            )));
        }
        if na == 0 {
            return Ok(());
        }
        offset += na as u64;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, Exit> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "sanstorrent-demo-{}-{stamp:08x}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).map_err(|e| Exit::Fail(format!("{}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
