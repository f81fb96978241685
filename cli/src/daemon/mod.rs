//! `sanstorrent daemon`: a long-running client driven over HTTP through the Transmission RPC.
//!
//! The parts, one idea each:
//! - [`args`]: the command line and its checks (no open server without auth).
//! - [`backend`]: the management API front ends use ([`backend::Backend`]) and what a
//!   torrent shows ([`backend::TorrentView`]).
//! - [`rpc`]: Transmission's protocol over any `Backend`; [`qbit`]: qBittorrent's Web API v2.
//! - [`http`]: the hyper server (routes, Host check, basic auth, bounds) on smol or tokio.
//! - [`stream`]: `/stream/<info-hash>/<file>`, files served while they download.
//! - [`client`]: the `Backend` over today's client; [`store`]: the torrent list saved in the
//!   state dir; [`watch`]: the watch folder.
//!
//! `README.md` beside this file says what the real backend still needs from the client.

mod args;
mod backend;
mod client;
#[cfg(any(test, feature = "fuzzing"))]
#[cfg_attr(not(test), allow(dead_code))]
mod fake;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod http;
mod id_set;
mod moves;
mod qbit;
mod queue;
mod released;
mod rename;
mod rpc;
mod schedule;
mod seed_limits;
mod space;
mod store;
mod stream;
mod totals;
mod trim;
mod watch;
mod webui;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sanstorrent_core::lsd::LsdConfig;
use sanstorrent_core::session::{SessionConfig, Transport};
use sanstorrent_runtime_common::{
    Client, ClientConfig, HttpClient, HttpClientConfig, Runtime as AsyncRuntime,
};

pub(crate) use self::args::DaemonArgs;
use self::args::HttpSettings;
use self::backend::Settings;
use self::client::ClientBackend;
use self::http::{Access, Limits, Server};
use self::rpc::{AllowedDirs, Rpc};
use crate::Exit;
use crate::args::{OnRuntime, Runtime};
use crate::net::{self, AddrError};
use crate::signals::Wake;

/// How often the daemon's loop wakes (events, the watch folder, Ctrl+C).
const TICK: Duration = Duration::from_secs(1);
/// The longest one exchange of fetching a `filename` URL may take (each redirect gets its own).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the daemon until Ctrl+C, SIGTERM or `session-close`.
pub(crate) fn run(args: &DaemonArgs) -> Result<(), Exit> {
    if !args.runtime.available() {
        return Err(Exit::Usage(format!(
            "--runtime {:?}: this binary was built without it",
            args.runtime
        )));
    }
    let http = args::http_settings(args)?;
    let download_dir = absolute_dir("-o", &args.output)?;
    let watch_dir = args
        .watch_dir
        .as_deref()
        .map(|d| absolute_dir("--watch-dir", d))
        .transpose()?;
    let state_dir = args.state_dir.clone().or_else(net::default_state_dir);
    let Some(state_dir) = state_dir else {
        return Err(Exit::Fail(
            "no state directory: set HOME or give --state-dir".into(),
        ));
    };
    let state_dir = absolute_dir("--state-dir", &state_dir)?;
    let listen = net::listen_addr(args.bind.as_deref(), args.port).map_err(addr_exit)?;
    let storage = crate::run::storage_options(args.max_open_files, args.sparse)?;
    let mut session = SessionConfig {
        dht: !args.no_dht,
        local_discovery: (!args.no_lsd).then(LsdConfig::default),
        port_mapping: args.port_mapping.config(),
        transport: args.transport.session(),
        ..SessionConfig::default()
    };
    if session.dht {
        session.dht_bootstrap = net::bootstrap(&args.dht_bootstrap).map_err(addr_exit)?;
    }
    let mut settings = Settings {
        dht_enabled: session.dht,
        utp_enabled: session.transport.utp(),
        tcp_enabled: session.transport != Transport::Utp,
        peer_limit_global: u32::try_from(session.max_connections).unwrap_or(u32::MAX),
        peer_limit_per_torrent: u32::try_from(session.max_connections_per_torrent)
            .unwrap_or(u32::MAX),
        ..Settings::new(download_dir.clone(), args.port, state_dir.clone())
    };
    // Settings changed at run time (limits, DHT, PEX) survive a restart.
    match store::Store::open(state_dir.join("daemon")).and_then(|s| s.load_settings(&settings)) {
        Ok(saved) => settings = saved,
        Err(e) => tracing::error!("the saved session settings are lost: {e}"),
    }
    client::live::apply_saved_settings(&mut session, &mut settings);
    let release_idle_after = released::idle_time(args.release_idle_after);
    let metainfo = match release_idle_after {
        Some(_) => Some(released::source(
            store::Store::open(state_dir.join("daemon"))
                .map_err(|e| Exit::Fail(format!("state directory {}: {e}", state_dir.display())))?,
        )),
        None => None,
    };
    let config = ClientConfig {
        listen,
        state_dir: Some(state_dir.clone()),
        session: session.clone(),
        storage,
        extra_roots: crate::certs::read(&args.ca_cert)?,
        metainfo,
        release_idle_after,
        ..ClientConfig::default()
    };
    let mut allowed = vec![download_dir];
    allowed.extend(watch_dir.clone());
    let plan = Plan {
        runtime: args.runtime,
        config,
        settings,
        http,
        allowed: AllowedDirs::new(allowed),
        watch_dir,
        quiet: args.quiet,
    };
    let wake = Wake::install(TICK)?;
    args.runtime.block_on(Serve { plan, wake: &wake })
}

/// A daemon run, on the chosen runtime.
struct Serve<'a> {
    plan: Plan,
    wake: &'a Wake,
}

impl OnRuntime for Serve<'_> {
    type Output = Result<(), Exit>;

    fn run<R: AsyncRuntime>(self) -> impl Future<Output = Self::Output> {
        serve::<R>(self.plan, self.wake)
    }
}

/// What one daemon run needs, checked.
struct Plan {
    runtime: Runtime,
    config: ClientConfig,
    settings: Settings,
    http: HttpSettings,
    allowed: AllowedDirs,
    watch_dir: Option<PathBuf>,
    quiet: bool,
}

async fn serve<R: AsyncRuntime>(plan: Plan, wake: &Wake) -> Result<(), Exit> {
    let listen = plan.config.listen;
    let fetcher = HttpClient::<R>::new(HttpClientConfig {
        request_timeout: FETCH_TIMEOUT,
        extra_roots: plan.config.extra_roots.clone(),
        ..HttpClientConfig::default()
    })
    .map_err(|e| Exit::Fail(format!("cannot configure the HTTP client: {e}")))?;
    let client = Client::<R>::new(plan.config)
        .await
        .map_err(|e| Exit::Fail(format!("cannot start on {listen}: {e}")))?;
    let mut settings = plan.settings;
    settings.peer_port = client.listen_addr().port();
    settings.lpd_available = client.local_discovery_available();
    settings.port_forwarding_enabled = client.port_mapping();
    let store = store::Store::open(settings.state_dir.join("daemon"))
        .map_err(|e| Exit::Fail(format!("--state-dir: {e}")));
    let store = match store {
        Ok(store) => store,
        Err(e) => {
            let _ = client.stop().await;
            return Err(e);
        }
    };
    // Moves a crash interrupted: finished or undone before any torrent is added.
    for (journal, what) in moves::recover(&store) {
        match what {
            moves::Recovered::Failed(e) => {
                tracing::error!("{}: an interrupted move: {e}", journal.display());
            }
            done => tracing::info!("{}: an interrupted move, {done:?}", journal.display()),
        }
    }
    let backend = Arc::new(ClientBackend::new(client, settings, Some(store)).with_fetcher(fetcher));
    match backend.restore().await {
        Ok(n) if n > 0 && !plan.quiet => eprintln!("restored {n} torrents"),
        Ok(_) => {}
        Err(e) => {
            backend.shutdown().await;
            return Err(Exit::Fail(e));
        }
    }
    // What the restore parsed and dropped goes back to the system, not kept as the peak.
    trim::release_freed();
    R::spawn(Arc::clone(&backend).run_moves());
    let (close_tx, close_rx) = async_channel::bounded(1);
    let rpc = Rpc::new(
        Arc::clone(&backend),
        plan.allowed,
        plan.http.credentials.is_some(),
        plan.http.addr.port(),
        Some(close_tx),
    );
    let served = start_http(plan.runtime, rpc, &plan.http).await;
    let addr = match served {
        Ok(addr) => addr,
        Err(e) => {
            backend.shutdown().await;
            return Err(Exit::Fail(format!(
                "cannot serve HTTP on {}: {e}",
                plan.http.addr
            )));
        }
    };
    if !plan.quiet {
        eprintln!(
            "sanstorrent daemon: Transmission RPC at http://{addr}/transmission/rpc, \
             qBittorrent Web API at http://{addr}/api/v2/"
        );
    }
    loop {
        // Events are handled as they come (a stream waits for its pieces); the queue and the
        // watch folder move on ticks.
        let ticked = futures_lite::future::or(
            async {
                wake.next().await;
                true
            },
            async {
                backend.wait_event().await;
                false
            },
        )
        .await;
        if wake.interrupted() || close_rx.try_recv().is_ok() {
            break;
        }
        backend.drain_events().await;
        if !ticked {
            continue;
        }
        if let Err(e) = backend.enforce_due().await {
            tracing::warn!("applying the queue: {e}");
        }
        if let Err(e) = backend.apply_schedule().await {
            tracing::warn!("applying the alternative-speed schedule: {e}");
        }
        if let Some(dir) = &plan.watch_dir {
            watch::scan(&*backend, dir).await;
        }
    }
    if !plan.quiet {
        eprintln!("stopping (announcing, flushing, saving)...");
    }
    backend.shutdown().await;
    if wake.interrupted() {
        Err(Exit::Interrupted)
    } else {
        Ok(())
    }
}

/// Binds the HTTP server and starts its accept loop on `runtime`; the bound address.
async fn start_http<R: AsyncRuntime>(
    runtime: Runtime,
    rpc: Rpc<ClientBackend<R>>,
    http: &HttpSettings,
) -> std::io::Result<std::net::SocketAddr> {
    let access = |bound| Access {
        credentials: http.credentials.clone(),
        bound,
    };
    match runtime {
        #[cfg(feature = "smol")]
        Runtime::Smol => {
            let listener = http::smol::bind(http.addr).await?;
            let bound = listener.local_addr()?;
            let server = Arc::new(Server::new(
                rpc,
                access(bound),
                Limits::default(),
                http::smol::timer(),
            ));
            http::smol::start(server, listener)?;
            Ok(bound)
        }
        #[cfg(feature = "tokio")]
        Runtime::Tokio => {
            let listener = http::tokio::bind(http.addr)?;
            let bound = listener.local_addr()?;
            let server = Arc::new(Server::new(
                rpc,
                access(bound),
                Limits::default(),
                http::tokio::timer(),
            ));
            http::tokio::start(server, listener)?;
            Ok(bound)
        }
        #[allow(unreachable_patterns)] // Reached only when a feature is off.
        other => Err(std::io::Error::other(format!(
            "built without the {other:?} runtime"
        ))),
    }
}

/// `dir` made if missing, as an absolute path.
fn absolute_dir(flag: &str, dir: &Path) -> Result<PathBuf, Exit> {
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::canonicalize(dir))
        .map_err(|e| Exit::Fail(format!("{flag} {}: {e}", dir.display())))
}

fn addr_exit(e: AddrError) -> Exit {
    match e {
        AddrError::Syntax(m) => Exit::Usage(m),
        AddrError::Resolve(m) => Exit::Fail(m),
    }
}
