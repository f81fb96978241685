//! Tracker URLs: `http://`, `https://` and `udp://`, with a host name, an IPv4 address or a
//! bracketed IPv6 address, an optional port, a path and an optional query.
//!
//! Tracker URLs are simple, so this is a small hand-written parser that rejects anything it does
//! not understand (user info, spaces and control characters, bad ports) with a typed error.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// The longest tracker URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// A parsed tracker URL.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerUrl {
    /// The parts, shared by every clone: a torrent's announcer, announce log and scrape table
    /// name the same URL, and a session hands one URL to every torrent announcing to it (see
    /// [`UrlTable`](crate::tracker::UrlTable)).
    parts: Arc<Parts>,
}

/// The parts of a [`TrackerUrl`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Parts {
    scheme: Scheme,
    host: Host,
    port: u16,
    path: Box<str>,
    query: Option<Box<str>>,
}

/// The transport a tracker URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Scheme {
    /// HTTP over TCP (BEP 3).
    Http,
    /// HTTP over TLS.
    Https,
    /// The UDP tracker protocol (BEP 15).
    Udp,
}

/// The host part of a tracker URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name (lower-cased), resolved by the runtime.
    Name(String),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 literal (written `[…]` in the URL).
    V6(Ipv6Addr),
}

/// Why a string is not a tracker URL.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL is longer than [`MAX_URL_LEN`].
    TooLong(usize),
    /// There is no `scheme://` prefix.
    MissingScheme,
    /// The scheme is not http, https or udp.
    UnsupportedScheme(String),
    /// The host is empty.
    EmptyHost,
    /// The authority has user info (`user@host`), which trackers never use.
    UserInfo,
    /// A `[` opened an IPv6 literal that is not closed or not an IPv6 address.
    BadIpv6(String),
    /// The host name holds a character not allowed in a host name.
    BadHost(String),
    /// The port is not a number in 1..=65535.
    BadPort(String),
    /// A UDP URL has no port (there is no default UDP tracker port).
    MissingPort,
    /// The URL holds a space, a control character or a non-ASCII byte.
    InvalidCharacter(char),
    /// A redirect `Location` is empty or of a form this parser does not follow.
    BadLocation(String),
}

impl TrackerUrl {
    /// Parses a tracker URL; a `#fragment` is dropped.
    pub fn parse(input: &str) -> Result<Self, UrlError> {
        if input.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong(input.len()));
        }
        if let Some(c) = input
            .chars()
            .find(|c| !c.is_ascii() || c.is_ascii_control() || *c == ' ')
        {
            return Err(UrlError::InvalidCharacter(c));
        }
        let input = input.split('#').next().unwrap_or_default();
        let Some((scheme, rest)) = input.split_once("://") else {
            return Err(UrlError::MissingScheme);
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "udp" => Scheme::Udp,
            _ => return Err(UrlError::UnsupportedScheme(scheme.to_string())),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = parse_authority(authority)?;
        let port = match (port, scheme) {
            (Some(p), _) => p,
            (None, Scheme::Http) => 80,
            (None, Scheme::Https) => 443,
            (None, Scheme::Udp) => return Err(UrlError::MissingPort),
        };
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Self {
            parts: Arc::new(Parts {
                scheme,
                host,
                port,
                path: path.into(),
                query: query.map(String::into_boxed_str),
            }),
        })
    }

    /// Resolves an HTTP redirect's `Location` against this URL: an absolute http(s) URL, a
    /// scheme-relative `//host/path`, or an absolute path `/path?query`.
    pub fn join(&self, location: &str) -> Result<Self, UrlError> {
        let location = location.trim();
        if location.contains("://") {
            return Self::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = match self.parts.scheme {
                Scheme::Http => "http",
                Scheme::Https => "https",
                Scheme::Udp => "udp",
            };
            return Self::parse(&format!("{scheme}://{rest}"));
        }
        if location.starts_with('/') {
            let parsed = Self::parse(&format!("http://h{location}"))?;
            return Ok(Self {
                parts: Arc::new(Parts {
                    path: parsed.parts.path.clone(),
                    query: parsed.parts.query.clone(),
                    ..(*self.parts).clone()
                }),
            });
        }
        Err(UrlError::BadLocation(location.to_string()))
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.parts.host
    }

    /// The port (the scheme's default if the URL had none).
    pub fn port(&self) -> u16 {
        self.parts.port
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.parts.path
    }

    /// The query string without its `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.parts.query.as_deref()
    }

    /// The socket address, if the host is an IP literal (a name must be resolved first).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.parts.host {
            Host::V4(ip) => Some(SocketAddr::new(IpAddr::V4(ip), self.parts.port)),
            Host::V6(ip) => Some(SocketAddr::new(IpAddr::V6(ip), self.parts.port)),
            Host::Name(_) => None,
        }
    }

    /// The host as a name to resolve or to give as TLS server name (IPv6 without brackets).
    pub fn host_str(&self) -> String {
        match &self.parts.host {
            Host::Name(n) => n.clone(),
            Host::V4(ip) => ip.to_string(),
            Host::V6(ip) => ip.to_string(),
        }
    }

    /// The value of an HTTP `Host` header: the host, with the port unless it is the default.
    pub fn host_header(&self) -> String {
        let host = match &self.parts.host {
            Host::V6(ip) => format!("[{ip}]"),
            _ => self.host_str(),
        };
        let default = match self.parts.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Udp => 0,
        };
        if self.parts.port == default {
            host
        } else {
            format!("{host}:{}", self.parts.port)
        }
    }

    /// Whether this is the only handle to its parts (no clone of it lives elsewhere).
    pub(crate) fn is_unique(&self) -> bool {
        Arc::strong_count(&self.parts) == 1
    }

    pub(crate) fn with_path(&self, path: String) -> Self {
        Self {
            parts: Arc::new(Parts {
                path: path.into(),
                ..(*self.parts).clone()
            }),
        }
    }
}

fn parse_authority(authority: &str) -> Result<(Host, Option<u16>), UrlError> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(UrlError::BadIpv6(authority.to_string()));
        };
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| UrlError::BadIpv6(authority.to_string()))?;
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(p),
                None => return Err(UrlError::BadIpv6(authority.to_string())),
            },
        };
        (Host::V6(ip), port)
    } else {
        let (h, p) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if h.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        let host = if let Ok(ip) = h.parse::<Ipv4Addr>() {
            Host::V4(ip)
        } else if h
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            Host::Name(h.to_ascii_lowercase())
        } else {
            return Err(UrlError::BadHost(h.to_string()));
        };
        (host, p)
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::BadPort(p.to_string())),
        },
    };
    Ok((host, port))
}

impl fmt::Display for TrackerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.parts.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Udp => "udp",
        };
        let host = match &self.parts.host {
            Host::V6(ip) => format!("[{ip}]"),
            _ => self.host_str(),
        };
        write!(
            f,
            "{scheme}://{host}:{}{}",
            self.parts.port, self.parts.path
        )?;
        if let Some(q) = &self.parts.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TrackerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.parts;
        f.debug_struct("TrackerUrl")
            .field("scheme", &p.scheme)
            .field("host", &p.host)
            .field("port", &p.port)
            .field("path", &p.path)
            .field("query", &p.query)
            .finish()
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong(n) => write!(f, "tracker URL is {n} bytes, over {MAX_URL_LEN}"),
            Self::MissingScheme => write!(f, "tracker URL has no scheme://"),
            Self::UnsupportedScheme(s) => {
                write!(f, "tracker URL scheme {s:?} is not http, https or udp")
            }
            Self::EmptyHost => write!(f, "tracker URL has an empty host"),
            Self::UserInfo => write!(f, "tracker URL has user info (user@host)"),
            Self::BadIpv6(s) => write!(f, "tracker URL has a bad IPv6 literal {s:?}"),
            Self::BadHost(s) => write!(f, "tracker URL host {s:?} has invalid characters"),
            Self::BadPort(s) => write!(f, "tracker URL port {s:?} is not in 1..=65535"),
            Self::MissingPort => write!(f, "UDP tracker URL has no port"),
            Self::InvalidCharacter(c) => {
                write!(f, "tracker URL holds the invalid character {c:?}")
            }
            Self::BadLocation(s) => write!(f, "redirect location {s:?} cannot be followed"),
        }
    }
}

impl std::error::Error for UrlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let u = TrackerUrl::parse("http://tracker.example.org:6969/announce").unwrap();
        assert_eq!(u.scheme(), Scheme::Http);
        assert_eq!(u.host(), &Host::Name("tracker.example.org".into()));
        assert_eq!((u.port(), u.path(), u.query()), (6969, "/announce", None));
        assert_eq!(u.host_header(), "tracker.example.org:6969");

        let u =
            TrackerUrl::parse("HTTPS://Example.COM/a/announce.php?passkey=ab%20c#frag").unwrap();
        assert_eq!((u.scheme(), u.port()), (Scheme::Https, 443));
        assert_eq!(u.host_header(), "example.com");
        assert_eq!(u.query(), Some("passkey=ab%20c"));

        let u = TrackerUrl::parse("udp://[::1]:1337").unwrap();
        assert_eq!(u.host(), &Host::V6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.path(), "/");
        assert_eq!(u.socket_addr(), Some("[::1]:1337".parse().unwrap()));
        assert_eq!(u.to_string(), "udp://[::1]:1337/");

        let u = TrackerUrl::parse("http://127.0.0.1?x=1").unwrap();
        assert_eq!(u.host(), &Host::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((u.path(), u.query()), ("/", Some("x=1")));
        assert_eq!(u.host_str(), "127.0.0.1");
        let u = TrackerUrl::parse("http://[::1]:8080/a").unwrap();
        assert_eq!(u.host_header(), "[::1]:8080");
    }

    #[test]
    fn rejects_bad_urls_with_the_exact_error() {
        let cases: &[(&str, UrlError)] = &[
            ("tracker.org/announce", UrlError::MissingScheme),
            ("ftp://a/b", UrlError::UnsupportedScheme("ftp".into())),
            ("http:///announce", UrlError::EmptyHost),
            ("http://:80/announce", UrlError::EmptyHost),
            ("http://u:p@host/", UrlError::UserInfo),
            ("udp://[::1/", UrlError::BadIpv6("[::1".into())),
            ("udp://[zz]:1/", UrlError::BadIpv6("[zz]:1".into())),
            ("udp://[::1]x/", UrlError::BadIpv6("[::1]x".into())),
            ("http://a%b/", UrlError::BadHost("a%b".into())),
            ("http://h:0/", UrlError::BadPort("0".into())),
            ("http://h:65536/", UrlError::BadPort("65536".into())),
            ("http://h:+80/", UrlError::BadPort("+80".into())),
            ("udp://h/announce", UrlError::MissingPort),
            ("http://h/a b", UrlError::InvalidCharacter(' ')),
            ("http://h/\n", UrlError::InvalidCharacter('\n')),
            ("http://h/é", UrlError::InvalidCharacter('é')),
        ];
        for (input, want) in cases {
            assert_eq!(TrackerUrl::parse(input).as_ref(), Err(want), "{input}");
        }
        let long = format!("http://h/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(TrackerUrl::parse(&long), Err(UrlError::TooLong(long.len())));
    }

    #[test]
    fn joins_redirect_locations() {
        let base = TrackerUrl::parse("https://t.org:8443/announce?a=1").unwrap();
        let abs = base.join("http://other.org/x?y").unwrap();
        assert_eq!(abs.to_string(), "http://other.org:80/x?y");
        let rel = base.join("/new?b=2").unwrap();
        assert_eq!(rel.to_string(), "https://t.org:8443/new?b=2");
        let sch = base.join("//h2.org/p").unwrap();
        assert_eq!(sch.to_string(), "https://h2.org:443/p");
        assert_eq!(
            base.join("relative/path"),
            Err(UrlError::BadLocation("relative/path".into()))
        );
        assert_eq!(base.join(""), Err(UrlError::BadLocation(String::new())));
    }
}
