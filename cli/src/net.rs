//! Addresses and places the commands need before a client starts: the listen address, peer
//! and DHT bootstrap addresses (`HOST:PORT`, resolved here with std's resolver), and the
//! default state directory.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// The DHT routers used unless `--dht-bootstrap` is given.
pub(crate) const DEFAULT_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// Why an address argument is unusable: a usage mistake (exit 2) or a lookup failure (exit 1).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AddrError {
    /// Not `HOST:PORT` (or not an IP address for `--bind`).
    Syntax(String),
    /// The name did not resolve.
    Resolve(String),
}

/// The TCP listen address from `--bind ADDR` (an IP; by default `[::]`, every interface over
/// IPv4 and IPv6 on one dual-stack socket, or IPv4 alone where the host has no IPv6) and `-p`.
pub(crate) fn listen_addr(bind: Option<&str>, port: u16) -> Result<SocketAddr, AddrError> {
    let ip = match bind {
        None => IpAddr::from(std::net::Ipv6Addr::UNSPECIFIED),
        Some(text) => text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .map_err(|_| AddrError::Syntax(format!("--bind {text}: not an IP address")))?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// Resolves `HOST:PORT` (a name or an IP, IPv6 in brackets) to its first address.
pub(crate) fn resolve(flag: &str, text: &str) -> Result<SocketAddr, AddrError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(AddrError::Syntax(format!(
            "{flag} {text}: expected HOST:PORT"
        )));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(AddrError::Syntax(format!(
            "{flag} {text}: expected HOST:PORT"
        )));
    }
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| AddrError::Resolve(format!("{flag} {text}: {e}")))?;
    // Prefer IPv4: the listener binds IPv4 by default.
    let all: Vec<SocketAddr> = addrs.by_ref().collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| AddrError::Resolve(format!("{flag} {text}: no address found")))
}

/// The DHT bootstrap addresses: `given`, or the default routers; names that do not resolve
/// are skipped with a warning (the DHT also starts from its saved nodes).
pub(crate) fn bootstrap(given: &[String]) -> Result<Vec<SocketAddr>, AddrError> {
    let names: Vec<&str> = if given.is_empty() {
        DEFAULT_ROUTERS.to_vec()
    } else {
        given.iter().map(String::as_str).collect()
    };
    let mut out = Vec::new();
    let flag = if given.is_empty() {
        "DHT router"
    } else {
        "--dht-bootstrap"
    };
    for name in names {
        match resolve(flag, name) {
            Ok(a) => out.push(a),
            Err(AddrError::Resolve(why)) => tracing::warn!("skipping DHT bootstrap node: {why}"),
            Err(e @ AddrError::Syntax(_)) => return Err(e),
        }
    }
    Ok(out)
}

/// The platform's data directory for sanstorrent: `$XDG_DATA_HOME/sanstorrent`, else
/// `~/.local/share/sanstorrent` (`~/Library/Application Support/sanstorrent` on macOS,
/// `%APPDATA%\sanstorrent` on Windows). `None` if no home is known.
pub(crate) fn default_state_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if cfg!(windows) {
        return env("APPDATA").map(|d| d.join("sanstorrent"));
    }
    if cfg!(target_os = "macos") {
        return env("HOME").map(|h| h.join("Library/Application Support/sanstorrent"));
    }
    if let Some(d) = env("XDG_DATA_HOME").filter(|d| d.is_absolute()) {
        return Some(d.join("sanstorrent"));
    }
    env("HOME").map(|h| h.join(".local/share/sanstorrent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_addr(None, 7).unwrap(),
            "[::]:7".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            listen_addr(Some("127.0.0.1"), 0).unwrap(),
            "127.0.0.1:0".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            listen_addr(Some("[::1]"), 9).unwrap(),
            "[::1]:9".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            listen_addr(Some("nope"), 1),
            Err(AddrError::Syntax(_))
        ));
    }

    #[test]
    fn resolves_ips_names_and_rejects_garbage() {
        assert_eq!(
            resolve("--peer", "127.0.0.1:80").unwrap(),
            "127.0.0.1:80".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(resolve("--peer", "localhost:81").unwrap().port(), 81);
        for bad in ["127.0.0.1", "host:", ":80", "h:99999", "h:x", ""] {
            assert!(
                matches!(resolve("--peer", bad), Err(AddrError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            resolve("--peer", "no-such-host.invalid:1"),
            Err(AddrError::Resolve(_))
        ));
    }

    #[test]
    fn bootstrap_skips_unresolvable_names() {
        let got = bootstrap(&["no-such-host.invalid:1".into(), "127.0.0.1:6881".into()]);
        assert_eq!(got.unwrap(), vec!["127.0.0.1:6881".parse().unwrap()]);
        assert!(matches!(
            bootstrap(&["nonsense".into()]),
            Err(AddrError::Syntax(_))
        ));
    }
}
