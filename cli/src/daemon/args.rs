//! `sanstorrent daemon`'s flags (a public contract: tests outside the project use them) and
//! the checks clap cannot make.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Exit;
use crate::args::{DEFAULT_MAX_OPEN_FILES, PortMapArgs, Runtime, TransportArg};
use crate::net;

/// The default RPC address: loopback only, Transmission's port.
pub(crate) const DEFAULT_HTTP: &str = "127.0.0.1:9091";

/// `sanstorrent daemon`
#[derive(clap::Args, Debug)]
pub(crate) struct DaemonArgs {
    /// Directory new torrents download into (requests may name directories under it).
    #[arg(short = 'o', value_name = "DOWNLOAD_DIR", default_value = ".")]
    pub(crate) output: PathBuf,
    /// Where the torrent list, resume data and DHT state are kept.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Address of the HTTP server (Transmission RPC at /transmission/rpc).
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_HTTP)]
    pub(crate) http: String,
    /// Require HTTP basic auth with these credentials (needed for a non-loopback --http).
    #[arg(long, value_name = "USER:PASS")]
    pub(crate) http_auth: Option<String>,
    /// A .torrent dropped here is added, then renamed `.added`.
    #[arg(long, value_name = "DIR")]
    pub(crate) watch_dir: Option<PathBuf>,
    /// TCP (and DHT UDP) port for peers; 0 picks a free one.
    #[arg(short = 'p', value_name = "PORT", default_value_t = 6881)]
    pub(crate) port: u16,
    /// Local address for peer connections.
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
    /// A PEM file of root certificates trusted for HTTPS trackers, web seeds and the
    /// `filename` URLs of added torrents, besides the bundled Mozilla roots (repeatable).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_cert: Vec<PathBuf>,
    /// A DHT node to bootstrap from (repeatable).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) dht_bootstrap: Vec<String>,
    /// The async runtime.
    #[arg(long, value_enum, default_value_t = Runtime::preferred())]
    pub(crate) runtime: Runtime,
    /// Which transports peer connections use: uTP (on the UDP port), TCP, or both.
    #[arg(long, value_enum, default_value_t = TransportArg::default())]
    pub(crate) transport: TransportArg,
    /// Most files kept open at once, across all torrents (least recently used closed first).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_OPEN_FILES)]
    pub(crate) max_open_files: usize,
    /// Create files sparse instead of reserving their whole size on disk up front.
    #[arg(long)]
    pub(crate) sparse: bool,
    /// Release a complete torrent's metainfo and per-peer state after this many seconds
    /// without a peer (it keeps seeding and announcing; its .torrent is read back from the
    /// state directory when a peer comes); 0: never.
    #[arg(long, value_name = "SECS", default_value_t = super::released::DEFAULT_RELEASE_IDLE_SECS)]
    pub(crate) release_idle_after: u64,
    /// Print only errors.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// The HTTP server's address and credentials, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HttpSettings {
    /// Where to listen.
    pub(crate) addr: SocketAddr,
    /// `user:password`, if auth is on.
    pub(crate) credentials: Option<String>,
}

/// Checks `--http` and `--http-auth`: a reachable address, credentials of the form
/// `USER:PASS`, and no unauthenticated server beyond loopback.
pub(crate) fn http_settings(args: &DaemonArgs) -> Result<HttpSettings, Exit> {
    let addr = net::resolve("--http", &args.http).map_err(|e| match e {
        net::AddrError::Syntax(why) | net::AddrError::Resolve(why) => Exit::Usage(why),
    })?;
    let credentials = match &args.http_auth {
        None => None,
        Some(auth) => match auth.split_once(':') {
            Some((user, _)) if !user.is_empty() => Some(auth.clone()),
            _ => {
                return Err(Exit::Usage(
                    "--http-auth must be USER:PASS (a user name, a colon, a password)".into(),
                ));
            }
        },
    };
    if credentials.is_none() && !addr.ip().is_loopback() {
        return Err(Exit::Usage(format!(
            "--http {addr} is not a loopback address: anyone who reaches it could control \
             the daemon and its files; add --http-auth USER:PASS, or listen on 127.0.0.1"
        )));
    }
    Ok(HttpSettings { addr, credentials })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn parse(extra: &[&str]) -> DaemonArgs {
        let cli = Cli::try_parse_from(["sanstorrent", "daemon"].iter().chain(extra)).unwrap();
        let Command::Daemon(args) = cli.command else {
            panic!("not daemon")
        };
        args
    }

    #[test]
    fn the_contract_parses() {
        let args = parse(&[
            "-o",
            "dl",
            "--state-dir",
            "s",
            "--http",
            "127.0.0.1:9999",
            "--http-auth",
            "u:p",
            "--watch-dir",
            "w",
            "-p",
            "0",
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--dht-bootstrap",
            "127.0.0.1:1",
            "--dht-bootstrap",
            "127.0.0.1:2",
            "--runtime",
            "smol",
            "--quiet",
            "--port-mapping-protocol",
            "natpmp",
            "--port-mapping-lifetime",
            "60",
            "--ca-cert",
            "a.pem",
            "--ca-cert",
            "b.pem",
        ]);
        let mapping = args.port_mapping.config().unwrap();
        assert_eq!(mapping.lifetime, 60);
        assert_eq!(mapping.method, sanstorrent_core::portmap::Method::NatPmp);
        assert_eq!(
            args.ca_cert,
            [PathBuf::from("a.pem"), PathBuf::from("b.pem")]
        );
        assert_eq!(
            parse(&[]).port_mapping.config(),
            Some(sanstorrent_core::portmap::PortMapConfig::default())
        );
        assert_eq!(parse(&["--no-port-mapping"]).port_mapping.config(), None);
        assert_eq!(args.dht_bootstrap.len(), 2);
        assert!(args.no_dht && args.quiet);
        assert_eq!(args.transport, TransportArg::Both);
        assert_eq!(args.port, 0);
        let http = http_settings(&args).unwrap();
        assert_eq!(http.addr, SocketAddr::from(([127, 0, 0, 1], 9999)));
        assert_eq!(http.credentials.as_deref(), Some("u:p"));
        assert_eq!(parse(&[]).http, DEFAULT_HTTP);
        assert_eq!(http_settings(&parse(&[])).unwrap().credentials, None);
    }

    #[test]
    fn an_open_server_needs_auth() {
        let open = parse(&["--http", "0.0.0.0:9091"]);
        let Err(Exit::Usage(why)) = http_settings(&open) else {
            panic!("accepted")
        };
        assert!(why.contains("--http-auth"), "{why}");
        assert!(http_settings(&parse(&["--http", "0.0.0.0:9091", "--http-auth", "a:b"])).is_ok());
        assert!(http_settings(&parse(&["--http", "[::1]:9091"])).is_ok());
        assert!(matches!(
            http_settings(&parse(&["--http-auth", "nocolon"])),
            Err(Exit::Usage(_))
        ));
        assert!(matches!(
            http_settings(&parse(&["--http", "nonsense"])),
            Err(Exit::Usage(_))
        ));
    }
}
