//! `sanstorrent download` and `sanstorrent seed`: one torrent in one client, a progress
//! display, and a graceful stop on completion, failure or Ctrl+C.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sanstorrent_core::lsd::LsdConfig;
use sanstorrent_core::portmap::PortMapConfig;
use sanstorrent_core::session::{
    Event, OutgoingEncryption, SessionConfig, SessionError, TorrentId, TorrentOptions,
    TorrentPhase, TorrentSource, TorrentStats,
};
use sanstorrent_core::tracker::{TlsError, TrackerError, TransportError};
use sanstorrent_core::webseed::WebSeedError;
use sanstorrent_runtime_common::storage::FileStorageOptions;
use sanstorrent_runtime_common::{
    Client, ClientConfig, ClientError, Runtime as AsyncRuntime, magnet, torrent_file,
};

use crate::Exit;
use crate::args::{DownloadArgs, Encryption, OnRuntime, Runtime, SeedArgs, TransportArg};
use crate::fmt::{emit, size};
use crate::net::{self, AddrError};
use crate::progress::{Mode, Progress};
use crate::signals::Wake;

/// How often the loop looks at the client (events, statistics, Ctrl+C).
const TICK: Duration = Duration::from_millis(200);

/// Everything one run needs, from either command's arguments.
struct Plan {
    source: TorrentSource,
    dir: PathBuf,
    config: ClientConfig,
    runtime: Runtime,
    options: TorrentOptions,
    goal: Goal,
    no_peers_timeout: Option<Duration>,
    quiet: bool,
}

/// When a run ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    /// Once every piece is verified and flushed.
    Download,
    /// Never: download (if needed), then seed until Ctrl+C.
    Seed,
}

/// How the loop ended.
enum Outcome {
    Complete,
    Interrupted,
    Failed(String),
}

/// `sanstorrent download`.
pub(crate) fn download(args: &DownloadArgs) -> Result<(), Exit> {
    let runtime = checked_runtime(args.runtime)?;
    let source = read_source(&args.source)?;
    let peers = resolve_peers(&args.peer)?;
    let config = client_config(Settings {
        bind: args.bind.as_deref(),
        port: args.port,
        dht: !args.no_dht,
        lsd: !args.no_lsd,
        port_mapping: args.port_mapping.config(),
        ca_certs: &args.ca_cert,
        bootstrap: &args.dht_bootstrap,
        state_dir: args.state_dir.clone(),
        max_peers: Some(args.max_peers),
        download_limit: args.download_limit,
        upload_limit: args.upload_limit,
        sparse: args.sparse,
        max_open_files: args.max_open_files,
        encryption: args.encryption,
        transport: args.transport,
    })?;
    let file_priorities = match (&args.only, &source) {
        (None, _) => Vec::new(),
        (Some(only), TorrentSource::Metainfo(meta)) => {
            crate::select::priorities(meta, only).map_err(|e| Exit::Usage(e.to_string()))?
        }
        (Some(_), TorrentSource::Magnet(_)) => {
            return Err(Exit::Usage(
                "--only needs a .torrent file: a magnet link's files are unknown until its \
                 metadata arrives"
                    .into(),
            ));
        }
    };
    execute(Plan {
        source,
        dir: args.output.clone(),
        config,
        runtime,
        options: TorrentOptions {
            peers,
            sequential: args.sequential,
            file_priorities,
            ..TorrentOptions::default()
        },
        goal: if args.seed {
            Goal::Seed
        } else {
            Goal::Download
        },
        no_peers_timeout: Some(Duration::from_secs(args.no_peers_timeout)),
        quiet: args.quiet,
    })
}

/// `sanstorrent seed`.
pub(crate) fn seed(args: &SeedArgs) -> Result<(), Exit> {
    if args.torrent.to_str().is_some_and(is_magnet) {
        return Err(Exit::Usage(
            "seed needs a .torrent file, not a magnet link".into(),
        ));
    }
    let runtime = checked_runtime(args.runtime)?;
    let source = read_torrent(&args.torrent)?;
    let peers = resolve_peers(&args.peer)?;
    let config = client_config(Settings {
        bind: args.bind.as_deref(),
        port: args.port,
        dht: !args.no_dht,
        lsd: !args.no_lsd,
        port_mapping: args.port_mapping.config(),
        ca_certs: &args.ca_cert,
        bootstrap: &args.dht_bootstrap,
        state_dir: args.state_dir.clone(),
        max_peers: None,
        download_limit: 0,
        upload_limit: args.upload_limit,
        sparse: false,
        max_open_files: args.max_open_files,
        encryption: args.encryption,
        transport: args.transport,
    })?;
    execute(Plan {
        source,
        dir: args.output.clone(),
        config,
        runtime,
        options: TorrentOptions {
            peers,
            seed_only: true,
            ..TorrentOptions::default()
        },
        goal: Goal::Seed,
        no_peers_timeout: None,
        quiet: args.quiet,
    })
}

/// The addresses of `--peer` arguments.
fn resolve_peers(args: &[String]) -> Result<Vec<std::net::SocketAddr>, Exit> {
    args.iter()
        .map(|p| net::resolve("--peer", p).map_err(addr_exit))
        .collect()
}

/// A .torrent path or a magnet link (anything starting `magnet:`).
pub(crate) fn read_source(text: &str) -> Result<TorrentSource, Exit> {
    if is_magnet(text) {
        return magnet(text).map_err(|e| Exit::Fail(e.to_string()));
    }
    read_torrent(Path::new(text))
}

fn is_magnet(text: &str) -> bool {
    text.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
}

/// Reads and parses a .torrent file; the error names the file.
fn read_torrent(path: &Path) -> Result<TorrentSource, Exit> {
    torrent_file(path).map_err(|e| match e {
        ClientError::ReadTorrent(..) => Exit::Fail(e.to_string()),
        other => Exit::Fail(format!("{}: {other}", path.display())),
    })
}

/// The runtime, if this binary has it.
pub(crate) fn checked_runtime(runtime: Runtime) -> Result<Runtime, Exit> {
    if runtime.available() {
        Ok(runtime)
    } else {
        let name = format!("{runtime:?}").to_lowercase();
        Err(Exit::Usage(format!(
            "--runtime {name}: this binary was built without it (cargo feature `{name}`)"
        )))
    }
}

fn addr_exit(e: AddrError) -> Exit {
    match e {
        AddrError::Syntax(m) => Exit::Usage(m),
        AddrError::Resolve(m) => Exit::Fail(m),
    }
}

/// The client settings shared by `download` and `seed`.
struct Settings<'a> {
    bind: Option<&'a str>,
    port: u16,
    dht: bool,
    /// Local service discovery (`--no-lsd` turns it off).
    lsd: bool,
    /// Port mapping on the gateway (`--no-port-mapping` turns it off).
    port_mapping: Option<PortMapConfig>,
    /// PEM files of extra trusted roots (`--ca-cert`).
    ca_certs: &'a [PathBuf],
    bootstrap: &'a [String],
    state_dir: Option<PathBuf>,
    max_peers: Option<usize>,
    download_limit: u64,
    upload_limit: u64,
    /// Leave new files sparse (`--sparse`).
    sparse: bool,
    /// Most files open at once (`--max-open-files`).
    max_open_files: usize,
    /// How connections we open begin (`--encryption`).
    encryption: Encryption,
    /// Which transports peer connections use (`--transport`).
    transport: TransportArg,
}

fn client_config(s: Settings<'_>) -> Result<ClientConfig, Exit> {
    let listen = net::listen_addr(s.bind, s.port).map_err(addr_exit)?;
    let mut session = SessionConfig {
        dht: s.dht,
        local_discovery: s.lsd.then(LsdConfig::default),
        port_mapping: s.port_mapping,
        download_rate_limit: (s.download_limit > 0).then_some(s.download_limit),
        upload_rate_limit: (s.upload_limit > 0).then_some(s.upload_limit),
        outgoing_encryption: match s.encryption {
            Encryption::Never => OutgoingEncryption::Never,
            Encryption::Fallback => OutgoingEncryption::Fallback,
            Encryption::Prefer => OutgoingEncryption::Prefer,
        },
        transport: s.transport.session(),
        ..SessionConfig::default()
    };
    if let Some(n) = s.max_peers {
        if n == 0 {
            return Err(Exit::Usage("-j 0: at least one peer is needed".into()));
        }
        session.max_connections_per_torrent = n;
        session.max_connections = session.max_connections.max(n);
    }
    if s.dht {
        session.dht_bootstrap = net::bootstrap(s.bootstrap).map_err(addr_exit)?;
    }
    let state_dir = s.state_dir.or_else(net::default_state_dir);
    if state_dir.is_none() {
        tracing::warn!("no state directory (set HOME or --state-dir): resume data is not kept");
    }
    let storage = storage_options(s.max_open_files, s.sparse)?;
    Ok(ClientConfig {
        listen,
        state_dir,
        session,
        storage,
        extra_roots: crate::certs::read(s.ca_certs)?,
        ..ClientConfig::default()
    })
}

/// How files are opened: at most `max_open_files` at once (`--max-open-files`, at least 1),
/// sparse or reserved (`--sparse`).
pub(crate) fn storage_options(
    max_open_files: usize,
    sparse: bool,
) -> Result<FileStorageOptions, Exit> {
    if max_open_files == 0 {
        return Err(Exit::Usage(
            "--max-open-files 0: at least one file must be open to read or write".into(),
        ));
    }
    let mut storage = FileStorageOptions::default();
    storage.max_open_files = max_open_files;
    storage.preallocate = !sparse;
    Ok(storage)
}

/// Runs the plan to its end and reports how it went.
fn execute(plan: Plan) -> Result<(), Exit> {
    let wake = Wake::install(TICK)?;
    let runtime = plan.runtime;
    runtime.block_on(Execution { plan, wake: &wake })
}

/// A plan and the wake-ups of its loop, to run on the chosen runtime.
struct Execution<'a> {
    plan: Plan,
    wake: &'a Wake,
}

impl OnRuntime for Execution<'_> {
    type Output = Result<(), Exit>;

    fn run<R: AsyncRuntime>(self) -> impl Future<Output = Self::Output> {
        run_plan::<R>(self.plan, self.wake)
    }
}

async fn run_plan<R: AsyncRuntime>(plan: Plan, wake: &Wake) -> Result<(), Exit> {
    let started = Instant::now();
    let listen = plan.config.listen;
    let state_dir = plan.config.state_dir.clone();
    let client = Client::<R>::new(plan.config.clone())
        .await
        .map_err(|e| Exit::Fail(format!("cannot start on {listen}: {e}")))?;
    let handle = match client
        .add_torrent(plan.source.clone(), plan.dir.clone(), plan.options.clone())
        .await
    {
        Ok(h) => h,
        Err(e) => {
            let _ = client.stop().await;
            return Err(Exit::Fail(e.to_string()));
        }
    };
    let mut progress = Progress::new(Mode::detect(plan.quiet));
    let label: String = match &plan.source {
        TorrentSource::Metainfo(m) => m.name().to_string(),
        TorrentSource::Magnet(m) => m
            .display_name
            .clone()
            .unwrap_or_else(|| handle.info_hash.to_hex()),
    };
    // Names come from the torrent: no terminal control characters, and not a screenful.
    let label: String = label
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(60)
        .collect();
    let row = progress.add(&label);
    tracing::info!(
        "{} on {} (info-hash {})",
        label,
        client.listen_addr(),
        handle.info_hash.to_hex()
    );
    let mut watch = Watch {
        client: &client,
        id: handle.id,
        plan: &plan,
        progress: &mut progress,
        row,
        last: None,
    };
    let outcome = watch.run(wake).await;
    // The summary's figures as of now, not of the last statistics event (an interrupt can
    // come before the first).
    let last = match client.stats(handle.id).await {
        Ok(Some(now)) => Some(now),
        _ => watch.last.take(),
    };
    progress.finish();
    // What each web seed delivered, for the summary (asked before the client stops).
    let web_seeds = client
        .web_seeds(handle.id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let stopping = Instant::now();
    if matches!(outcome, Outcome::Interrupted) {
        progress.note("interrupted: stopping (announcing, flushing, saving resume data)...");
    }
    if let Err(e) = client.stop().await {
        tracing::warn!("stopping: {e}");
    }
    tracing::debug!("stopped in {:.2} s", stopping.elapsed().as_secs_f64());
    let summary = last.as_ref().map(|s| summary(s, started.elapsed()));
    let print_summary = || {
        if let (Some(text), false) = (&summary, plan.quiet) {
            emit(&format!("{text}\n"));
            for w in &web_seeds {
                emit(&format!("web seed {}: {} bytes\n", w.url, w.downloaded));
            }
        }
    };
    match outcome {
        Outcome::Complete => {
            print_summary();
            Ok(())
        }
        Outcome::Interrupted => {
            print_summary();
            if !plan.quiet {
                let place = state_dir.as_deref().map_or_else(
                    || "nowhere (no state directory)".to_string(),
                    |d| d.display().to_string(),
                );
                eprintln!("interrupted: state saved in {place}");
            }
            Err(Exit::Interrupted)
        }
        Outcome::Failed(reason) => Err(Exit::Fail(reason)),
    }
}

/// A pointer to `--ca-cert` after an error saying a server's certificate is not signed by a
/// trusted root; nothing otherwise.
fn ca_hint(error: &TrackerError) -> &'static str {
    match error {
        TrackerError::Transport(TransportError::Tls(TlsError::UntrustedCertificate)) => {
            " (trust its CA with --ca-cert FILE)"
        }
        _ => "",
    }
}

/// `downloaded N bytes in T s (R MB/s), uploaded M bytes, have H of W bytes`.
fn summary(s: &TorrentStats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "downloaded {} bytes in {:.1} s ({:.1} MB/s), uploaded {} bytes, have {} of {} bytes ({})",
        s.downloaded,
        secs,
        s.downloaded as f64 / 1e6 / secs,
        s.uploaded,
        s.have_bytes,
        s.wanted_bytes,
        size(s.have_bytes),
    )
}

/// The loop watching one torrent.
struct Watch<'a, R: AsyncRuntime> {
    client: &'a Client<R>,
    id: TorrentId,
    plan: &'a Plan,
    progress: &'a mut Progress,
    row: usize,
    last: Option<TorrentStats>,
}

/// What the events told the loop so far.
#[derive(Default)]
struct Seen {
    complete: bool,
    /// The latest error: the exit reason if the torrent stopped.
    last_error: Option<String>,
    /// Messages shown already (each once).
    warned: HashSet<String>,
    /// The session is checking the torrent again after data went missing from disk: its
    /// stop on the way is no failure.
    rechecking: bool,
}

impl<R: AsyncRuntime> Watch<'_, R> {
    async fn run(&mut self, wake: &Wake) -> Outcome {
        let mut seen = Seen::default();
        let mut last_peer = Instant::now();
        loop {
            // Events are handled as they come (completion is seen at once, not at the next
            // tick); the display and the peer watchdog move on ticks.
            let woke = futures_lite::future::or(
                async {
                    wake.next().await;
                    None
                },
                async { Some(self.client.next_event().await) },
            )
            .await;
            if wake.interrupted() {
                return Outcome::Interrupted;
            }
            let now = Instant::now();
            let ticked = woke.is_none();
            let force = match self.drain(woke, &mut seen) {
                Ok(force) => force,
                Err(outcome) => return outcome,
            };
            if !ticked && !force {
                continue;
            }
            let Ok(Some(stats)) = self.client.stats(self.id).await else {
                return Outcome::Failed(
                    seen.last_error
                        .unwrap_or_else(|| "the torrent disappeared".into()),
                );
            };
            // Every event sent before these statistics is queued by now: read them first, so
            // a stop is seen with its reason (a recheck's, or an error's).
            if let Err(outcome) = self.drain(None, &mut seen) {
                return outcome;
            }
            self.progress.update(self.row, &stats, now, force);
            let phase = stats.phase;
            self.last = Some(stats);
            if matches!(phase, TorrentPhase::Stopping | TorrentPhase::Stopped) && !seen.rechecking {
                // We did not stop it: the session did, after a disk error.
                return Outcome::Failed(
                    seen.last_error
                        .unwrap_or_else(|| "the torrent stopped".into()),
                );
            }
            if seen.complete && self.plan.goal == Goal::Download {
                return Outcome::Complete;
            }
            if let Some(reason) = self.no_peers(now, &mut last_peer) {
                return Outcome::Failed(reason);
            }
        }
    }

    /// Handles `first` (if any) and every event queued. `Ok(force)`: whether to refresh the
    /// display now; `Err`: the run is over.
    fn drain(
        &mut self,
        mut first: Option<Option<Event>>,
        seen: &mut Seen,
    ) -> Result<bool, Outcome> {
        let mut force = false;
        loop {
            let polled = match first.take() {
                Some(event) => event,
                None => match self.client.try_event() {
                    Some(polled) => polled,
                    None => return Ok(force),
                },
            };
            let Some(event) = polled else {
                return Err(Outcome::Failed("the client stopped unexpectedly".into()));
            };
            force |= self.handle(event, seen)?;
        }
    }

    /// Handles one event. `Ok(force)`: whether to refresh the display now; `Err`: the run is
    /// over.
    fn handle(&mut self, event: Event, seen: &mut Seen) -> Result<bool, Outcome> {
        match event {
            Event::TorrentComplete { torrent } if torrent == self.id => {
                seen.complete = true;
                return Ok(true);
            }
            Event::Checked { torrent, have, .. } if torrent == self.id => {
                seen.rechecking = false;
                if let Some(reason) = self.check_result(have) {
                    return Err(Outcome::Failed(reason));
                }
                return Ok(true);
            }
            Event::MetadataReceived { torrent, .. } if torrent == self.id => {
                self.progress.note("metadata received");
            }
            Event::Error { torrent, error } if torrent.is_none_or(|t| t == self.id) => {
                match error {
                    SessionError::DataMissing { .. } => seen.rechecking = true,
                    // The check itself failed: the torrent stops for good.
                    SessionError::Disk(_) => seen.rechecking = false,
                    _ => {}
                }
                let message = error.to_string();
                // Shown once; if it stopped the torrent it becomes the exit reason.
                if seen.warned.insert(message.clone()) {
                    tracing::warn!("{message}");
                }
                seen.last_error = Some(message);
            }
            Event::TrackerError { url, error, .. } => {
                let text = format!("tracker {url}: {error}{}", ca_hint(&error));
                // Each distinct failure once; retries repeat it every few seconds.
                if seen.warned.insert(text.clone()) {
                    tracing::warn!("{text}");
                } else {
                    tracing::debug!("{text}");
                }
            }
            Event::WebSeedFailed {
                url,
                error,
                retry_in,
                ..
            } => {
                let hint = match &error {
                    WebSeedError::Transport(e) => ca_hint(e),
                    _ => "",
                };
                let text = format!("web seed {url}: {error}{hint}");
                if seen.warned.insert(text.clone()) {
                    tracing::warn!("{text} (retry in {} s)", retry_in.as_secs());
                } else {
                    tracing::debug!("{text}");
                }
            }
            Event::WebSeedDropped { url, error, .. } => {
                tracing::warn!("web seed {url} dropped: {error}");
            }
            Event::PortMapping(e) => tracing::info!("port mapping: {e:?}"),
            Event::PeerConnected { addr, utp, .. } => {
                let over = if utp { "uTP" } else { "TCP" };
                tracing::debug!("peer {addr} connected over {over}");
            }
            Event::PeerClosed { addr, reason, .. } => {
                tracing::debug!("peer {addr} closed: {reason}");
            }
            _ => {}
        }
        Ok(false)
    }

    /// For `seed`: the check must have found data.
    fn check_result(&mut self, have: u32) -> Option<String> {
        if !self.plan.options.seed_only {
            return None;
        }
        let TorrentSource::Metainfo(meta) = &self.plan.source else {
            return None;
        };
        let dir = self.plan.dir.display();
        if have == 0 && meta.piece_count() > 0 {
            return Some(format!(
                "no data of {} found in {dir} (seed reads it from -o DIR)",
                meta.name()
            ));
        }
        if have < meta.piece_count() {
            tracing::warn!(
                "only {have} of {} pieces of {} are in {dir}: seeding those",
                meta.piece_count(),
                meta.name()
            );
        }
        None
    }

    /// The no-peers timeout: `Some(reason)` once no peer was connected for too long while
    /// data is still missing.
    fn no_peers(&self, now: Instant, last_peer: &mut Instant) -> Option<String> {
        let timeout = self.plan.no_peers_timeout?;
        let stats = self.last.as_ref()?;
        let waiting = matches!(
            stats.phase,
            TorrentPhase::Downloading | TorrentPhase::FetchingMetadata
        );
        if stats.peers_connected > 0 || !waiting {
            *last_peer = now;
            return None;
        }
        (now.duration_since(*last_peer) >= timeout).then(|| {
            format!(
                "no peer connected for {} s ({} addresses known); try --peer, trackers or the DHT",
                timeout.as_secs(),
                stats.peers_known + stats.peers_connecting
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(sparse: bool) -> Settings<'static> {
        Settings {
            bind: Some("127.0.0.1"),
            port: 0,
            dht: false,
            lsd: true,
            port_mapping: Some(PortMapConfig {
                lifetime: 30,
                ..PortMapConfig::default()
            }),
            ca_certs: &[],
            bootstrap: &[],
            state_dir: Some(PathBuf::from("/nonexistent/state")),
            max_peers: Some(7),
            download_limit: 0,
            upload_limit: 5,
            sparse,
            max_open_files: 9,
            encryption: Encryption::Prefer,
            transport: TransportArg::Utp,
        }
    }

    #[test]
    fn settings_reach_the_client_config() {
        let c = client_config(settings(false)).unwrap();
        assert!(c.storage.preallocate, "files are reserved by default");
        assert_eq!(c.session.max_connections_per_torrent, 7);
        assert_eq!(c.session.upload_rate_limit, Some(5));
        assert_eq!(c.session.download_rate_limit, None);
        assert!(!c.session.dht);
        assert!(
            c.session.local_discovery.is_some(),
            "discovery is on by default"
        );
        assert_eq!(c.session.outgoing_encryption, OutgoingEncryption::Prefer);
        assert_eq!(
            c.session.transport,
            sanstorrent_core::session::Transport::Utp
        );
        let sparse = client_config(settings(true)).unwrap();
        assert!(!sparse.storage.preallocate, "--sparse");
        assert_eq!(c.storage.max_open_files, 9, "--max-open-files");
        let mut closed = settings(false);
        closed.max_open_files = 0;
        assert!(matches!(client_config(closed), Err(Exit::Usage(_))));
        let mut none = settings(false);
        none.max_peers = Some(0);
        assert!(matches!(client_config(none), Err(Exit::Usage(_))));
        assert_eq!(
            c.session.port_mapping.as_ref().map(|p| p.lifetime),
            Some(30),
            "--port-mapping-lifetime"
        );
        assert!(c.extra_roots.is_empty());
        let mut no_lsd = settings(false);
        no_lsd.lsd = false;
        assert!(
            client_config(no_lsd)
                .unwrap()
                .session
                .local_discovery
                .is_none()
        );
    }
}
