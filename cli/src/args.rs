//! The command-line contract: every subcommand and flag, parsed by clap.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use sanstorrent_core::portmap::{DEFAULT_LIFETIME, Method, PortMapConfig};

/// `--max-open-files`' default (download, seed, daemon).
pub(crate) const DEFAULT_MAX_OPEN_FILES: usize = 512;

/// A Sans-IO BitTorrent client.
#[derive(Parser, Debug)]
#[command(name = "sanstorrent", version, about)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Download a torrent (from a .torrent file or a magnet link).
    Download(DownloadArgs),
    /// Seed a torrent whose data is already on disk.
    Seed(SeedArgs),
    /// Create a .torrent from a file or a directory.
    Create(CreateArgs),
    /// Show what a .torrent file or magnet link describes.
    Info(InfoArgs),
    /// Run a whole swarm on loopback: one seeder and several leechers.
    Demo(DemoArgs),
    /// Run as a daemon managing many torrents, driven through the Transmission RPC.
    Daemon(crate::daemon::DaemonArgs),
}

/// Which async runtime drives the core.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Runtime {
    /// smol + async-io (the default).
    #[default]
    Smol,
    /// tokio (needs the `tokio` cargo feature).
    Tokio,
}

#[cfg(not(any(feature = "smol", feature = "tokio")))]
compile_error!("enable the `smol` feature, the `tokio` feature, or both");

impl Runtime {
    /// The default: smol, or tokio in a binary built without smol.
    pub(crate) const fn preferred() -> Self {
        if cfg!(feature = "smol") {
            Self::Smol
        } else {
            Self::Tokio
        }
    }

    /// Whether this binary was built with this runtime.
    pub(crate) fn available(self) -> bool {
        match self {
            Self::Smol => cfg!(feature = "smol"),
            Self::Tokio => cfg!(feature = "tokio"),
        }
    }

    /// Runs `work` to completion on this runtime (its client tasks run there too). Callers
    /// check [`Runtime::available`] first.
    pub(crate) fn block_on<W: OnRuntime>(self, work: W) -> W::Output {
        match self {
            #[cfg(feature = "smol")]
            Self::Smol => sanstorrent_smol::block_on(work.run::<sanstorrent_smol::SmolRuntime>()),
            #[cfg(feature = "tokio")]
            Self::Tokio => {
                sanstorrent_tokio::block_on(work.run::<sanstorrent_tokio::TokioRuntime>())
            }
            #[allow(unreachable_patterns)] // Reached only when a feature is off.
            _ => unreachable!("runtime availability is checked when the arguments are read"),
        }
    }
}

/// Work written once for any runtime, run on the one chosen with `--runtime`.
pub(crate) trait OnRuntime {
    /// What the work gives back.
    type Output;

    /// The work on runtime `R` (polled inside `R`'s `block_on`).
    fn run<R: sanstorrent_runtime_common::Runtime>(self) -> impl Future<Output = Self::Output>;
}

/// How connections we open begin (`--encryption`); peers may always connect to us either way.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Encryption {
    /// Plain BitTorrent only.
    Never,
    /// Plain BitTorrent; the encrypted handshake (MSE) for a peer that hangs up on it.
    #[default]
    Fallback,
    /// The encrypted handshake first; plain BitTorrent for a peer that hangs up on it.
    Prefer,
}

/// Which protocol port mapping speaks to the gateway (`--port-mapping-protocol`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum PortMapProtocol {
    /// PCP (falling back to NAT-PMP when the gateway does not speak it) and UPnP IGD
    /// together; the first to map a port is kept.
    #[default]
    Auto,
    /// PCP only (RFC 6887).
    Pcp,
    /// NAT-PMP only (RFC 6886).
    Natpmp,
    /// UPnP IGD only (SSDP, then SOAP over HTTP).
    Upnp,
}

/// Port mapping on the home gateway (download, seed and daemon).
#[derive(clap::Args, Debug)]
pub(crate) struct PortMapArgs {
    /// Do not map the listening ports on the home gateway (NAT-PMP, PCP, UPnP); never
    /// done when bound to a loopback or IPv6 address.
    #[arg(long)]
    pub(crate) no_port_mapping: bool,
    /// The protocol port mapping speaks to the gateway.
    #[arg(long, value_enum, default_value_t = PortMapProtocol::Auto)]
    pub(crate) port_mapping_protocol: PortMapProtocol,
    /// The lifetime asked for each port mapping, in seconds; a mapping is renewed at half of
    /// what the gateway grants.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = DEFAULT_LIFETIME,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub(crate) port_mapping_lifetime: u32,
}

impl PortMapArgs {
    /// The session's setting: `None` with `--no-port-mapping`.
    pub(crate) fn config(&self) -> Option<PortMapConfig> {
        (!self.no_port_mapping).then(|| PortMapConfig {
            method: match self.port_mapping_protocol {
                PortMapProtocol::Auto => Method::Auto,
                PortMapProtocol::Pcp => Method::Pcp,
                PortMapProtocol::Natpmp => Method::NatPmp,
                PortMapProtocol::Upnp => Method::Upnp,
            },
            lifetime: self.port_mapping_lifetime,
            ..PortMapConfig::default()
        })
    }
}

/// Which transports carry peer connections (`--transport`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum TransportArg {
    /// Dial over uTP only (BEP 29); accept both.
    Utp,
    /// TCP only: no uTP connection is opened or accepted.
    Tcp,
    /// Dial over uTP first, over TCP when uTP gets no answer; accept both.
    #[default]
    Both,
}

impl TransportArg {
    /// The session's setting.
    pub(crate) fn session(self) -> sanstorrent_core::session::Transport {
        use sanstorrent_core::session::Transport;
        match self {
            Self::Utp => Transport::Utp,
            Self::Tcp => Transport::Tcp,
            Self::Both => Transport::Both,
        }
    }
}

/// `sanstorrent download`
#[derive(clap::Args, Debug)]
pub(crate) struct DownloadArgs {
    /// A .torrent file or a magnet link.
    #[arg(value_name = "TORRENT_FILE|MAGNET")]
    pub(crate) source: String,
    /// Directory to download into.
    #[arg(short = 'o', value_name = "DIR", default_value = ".")]
    pub(crate) output: PathBuf,
    /// TCP (and DHT UDP) port to listen on; 0 picks a free one.
    #[arg(short = 'p', value_name = "PORT", default_value_t = 6881)]
    pub(crate) port: u16,
    /// Local address to bind.
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,
    /// Most peers connected at once.
    #[arg(short = 'j', value_name = "MAX_PEERS", default_value_t = 50)]
    pub(crate) max_peers: usize,
    /// Do not use the DHT.
    #[arg(long)]
    pub(crate) no_dht: bool,
    /// Do not look for peers on the local network (BEP 14 local service discovery; never
    /// used for private torrents or when bound to a loopback address).
    #[arg(long)]
    pub(crate) no_lsd: bool,
    /// Port mapping on the home gateway.
    #[command(flatten)]
    pub(crate) port_mapping: PortMapArgs,
    /// A PEM file of root certificates trusted for HTTPS trackers and web seeds, besides the
    /// bundled Mozilla roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Vec<PathBuf>,
    /// A DHT node to bootstrap from (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) dht_bootstrap: Vec<String>,
    /// A peer to connect to directly (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) peer: Vec<String>,
    /// Keep seeding after the download completes.
    #[arg(long)]
    pub(crate) seed: bool,
    /// The async runtime.
    #[arg(long, value_enum, default_value_t = Runtime::preferred())]
    pub(crate) runtime: Runtime,
    /// Where to keep resume state.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Print only errors.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Give up (exit 1) when no peer has been connected for this long.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub(crate) no_peers_timeout: u64,
    /// Download at most this many bytes per second (0: unlimited).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(crate) download_limit: u64,
    /// Upload at most this many bytes per second (0: unlimited).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(crate) upload_limit: u64,
    /// Create files sparse instead of reserving their whole size on disk up front.
    #[arg(long)]
    pub(crate) sparse: bool,
    /// Most files kept open at once, across all torrents (least recently used closed first).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPEN_FILES)]
    pub(crate) max_open_files: usize,
    /// How connections we open begin: plain BitTorrent or the encrypted handshake (MSE).
    #[arg(long, value_enum, default_value_t = Encryption::default())]
    pub(crate) encryption: Encryption,
    /// Which transports peer connections use: uTP (on the UDP port), TCP, or both.
    #[arg(long, value_enum, default_value_t = TransportArg::default())]
    pub(crate) transport: TransportArg,
    /// Download only these files: comma-separated 0-based indexes as `info` numbers them
    /// (ranges like 2-5 allowed). Other files are not created, except for the part of a
    /// piece they share with a chosen file.
    #[arg(long, value_name = "INDEXES", value_parser = parse_only)]
    pub(crate) only: Option<BTreeSet<u64>>,
    /// Download pieces in order (to play a file while it downloads) instead of rarest first.
    #[arg(long)]
    pub(crate) sequential: bool,
}

/// `--only`'s list, or why it is refused.
fn parse_only(text: &str) -> Result<BTreeSet<u64>, String> {
    crate::select::parse(text).map_err(|e| e.to_string())
}

/// `sanstorrent seed`
#[derive(clap::Args, Debug)]
pub(crate) struct SeedArgs {
    /// The .torrent file.
    #[arg(value_name = "TORRENT_FILE")]
    pub(crate) torrent: PathBuf,
    /// Directory holding the data.
    #[arg(short = 'o', value_name = "DIR", default_value = ".")]
    pub(crate) output: PathBuf,
    /// TCP (and DHT UDP) port to listen on; 0 picks a free one.
    #[arg(short = 'p', value_name = "PORT", default_value_t = 6881)]
    pub(crate) port: u16,
    /// Local address to bind.
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,
    /// Do not use the DHT.
    #[arg(long)]
    pub(crate) no_dht: bool,
    /// Do not look for peers on the local network (BEP 14 local service discovery; never
    /// used for private torrents or when bound to a loopback address).
    #[arg(long)]
    pub(crate) no_lsd: bool,
    /// Port mapping on the home gateway.
    #[command(flatten)]
    pub(crate) port_mapping: PortMapArgs,
    /// A PEM file of root certificates trusted for HTTPS trackers and web seeds, besides the
    /// bundled Mozilla roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Vec<PathBuf>,
    /// A DHT node to bootstrap from (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) dht_bootstrap: Vec<String>,
    /// The async runtime.
    #[arg(long, value_enum, default_value_t = Runtime::preferred())]
    pub(crate) runtime: Runtime,
    /// Where to keep the DHT state.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Print only errors.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Upload at most this many bytes per second (0: unlimited).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub(crate) upload_limit: u64,
    /// How connections we open begin: plain BitTorrent or the encrypted handshake (MSE).
    #[arg(long, value_enum, default_value_t = Encryption::default())]
    pub(crate) encryption: Encryption,
    /// Which transports peer connections use: uTP (on the UDP port), TCP, or both.
    #[arg(long, value_enum, default_value_t = TransportArg::default())]
    pub(crate) transport: TransportArg,
    /// Most files kept open at once, across all torrents (least recently used closed first).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPEN_FILES)]
    pub(crate) max_open_files: usize,
    /// A peer to connect to directly (repeatable): for leechers that never dial us.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) peer: Vec<String>,
}

/// `sanstorrent create`
#[derive(clap::Args, Debug)]
pub(crate) struct CreateArgs {
    /// The file or directory to share.
    #[arg(value_name = "PATH")]
    pub(crate) path: PathBuf,
    /// A tracker URL (repeatable; each one is its own tier).
    #[arg(short = 't', value_name = "TRACKER_URL", required = true)]
    pub(crate) trackers: Vec<String>,
    /// Piece length in bytes: a multiple of 16384, a power of two for v2 and hybrid
    /// (default: chosen by total size).
    #[arg(long, value_name = "BYTES")]
    pub(crate) piece_length: Option<u32>,
    /// Which BitTorrent versions the torrent carries: v1, v2 (BEP 52) or hybrid (both, read
    /// by v1 and v2 clients alike).
    #[arg(long, value_enum, default_value_t = CreateFormat::Hybrid)]
    pub(crate) format: CreateFormat,
    /// Mark the torrent private (BEP 27: no DHT, no PEX).
    #[arg(long)]
    pub(crate) private: bool,
    /// A comment stored in the torrent.
    #[arg(long, value_name = "TEXT")]
    pub(crate) comment: Option<String>,
    /// A web seed URL (BEP 19 `url-list`; repeatable): an HTTP server holding the files.
    #[arg(long = "web-seed", value_name = "URL")]
    pub(crate) web_seeds: Vec<String>,
    /// An HTTP seed URL (BEP 17 `httpseeds`; repeatable): a script serving the torrent's
    /// pieces by number (`?info_hash=...&piece=N&ranges=A-B`).
    #[arg(long = "http-seed", value_name = "URL")]
    pub(crate) http_seeds: Vec<String>,
    /// Where to write the .torrent.
    #[arg(short = 'o', value_name = "FILE.torrent", required = true)]
    pub(crate) output: PathBuf,
}

/// `create --format`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreateFormat {
    /// BitTorrent v1 only (SHA-1 pieces).
    V1,
    /// BitTorrent v2 only (SHA-256 merkle trees, BEP 52).
    V2,
    /// Both halves, describing the same files (BEP 52 hybrid, with BEP 47 padding files).
    Hybrid,
}

impl From<CreateFormat> for sanstorrent_core::create::TorrentFormat {
    fn from(format: CreateFormat) -> Self {
        match format {
            CreateFormat::V1 => Self::V1,
            CreateFormat::V2 => Self::V2,
            CreateFormat::Hybrid => Self::Hybrid,
        }
    }
}

/// `sanstorrent info`
#[derive(clap::Args, Debug)]
pub(crate) struct InfoArgs {
    /// A .torrent file or a magnet link.
    #[arg(value_name = "TORRENT_FILE|MAGNET")]
    pub(crate) source: String,
}

/// `sanstorrent demo`
#[derive(clap::Args, Debug)]
pub(crate) struct DemoArgs {
    /// Bytes of generated content.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) size: u64,
    /// Number of files the content is split into.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) files: usize,
    /// Number of leechers.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) leechers: usize,
    /// The async runtime.
    #[arg(long, value_enum, default_value_t = Runtime::preferred())]
    pub(crate) runtime: Runtime,
    /// Print only errors.
    #[arg(long)]
    pub(crate) quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_parses() {
        Cli::command_for_test().debug_assert();
        let cli = Cli::try_parse_from([
            "sanstorrent",
            "download",
            "x.torrent",
            "-o",
            "d",
            "-p",
            "0",
            "--bind",
            "127.0.0.1",
            "-j",
            "9",
            "--no-dht",
            "--dht-bootstrap",
            "127.0.0.1:1",
            "--dht-bootstrap",
            "127.0.0.1:2",
            "--peer",
            "127.0.0.1:3",
            "--seed",
            "--runtime",
            "tokio",
            "--state-dir",
            "s",
            "--quiet",
            "--only",
            "0,3-4",
            "--sequential",
        ])
        .unwrap();
        let Command::Download(d) = cli.command else {
            panic!("not download")
        };
        assert_eq!(d.only, Some(BTreeSet::from([0, 3, 4])));
        assert!(d.sequential);
        let err = Cli::try_parse_from(["sanstorrent", "download", "x", "--only", "1,,2"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty file index"), "{err}");
        assert_eq!(d.max_peers, 9);
        assert_eq!(d.dht_bootstrap.len(), 2);
        assert_eq!(d.runtime, Runtime::Tokio);
        assert!(d.no_dht && d.seed && d.quiet);
        let cli = Cli::try_parse_from([
            "sanstorrent",
            "create",
            "p",
            "-t",
            "http://a",
            "-t",
            "http://b",
            "--piece-length",
            "32768",
            "--private",
            "--comment",
            "c",
            "-o",
            "out.torrent",
        ])
        .unwrap();
        let Command::Create(c) = cli.command else {
            panic!("not create")
        };
        assert_eq!(c.trackers, ["http://a", "http://b"]);
        assert_eq!(c.piece_length, Some(32768));
        assert!(Cli::try_parse_from(["sanstorrent", "create", "p", "-o", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["sanstorrent", "seed", "t", "-o", "d", "-p", "1", "--no-dht"])
                .is_ok()
        );
        assert!(
            Cli::try_parse_from([
                "sanstorrent",
                "demo",
                "--size",
                "1",
                "--files",
                "2",
                "--leechers",
                "3",
                "--runtime",
                "smol"
            ])
            .is_ok()
        );
    }

    impl Cli {
        fn command_for_test() -> clap::Command {
            <Self as clap::CommandFactory>::command()
        }
    }
}
