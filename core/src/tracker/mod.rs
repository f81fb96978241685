//! Trackers: HTTP/HTTPS (BEP 3, 23, 7), UDP (BEP 15), tiers (BEP 12), scrape (BEP 48).
//!
//! Everything here is Sans-IO:
//! - [`http`] builds the bytes of an HTTP/1.1 GET request ([`http::announce_request`],
//!   [`scrape::scrape_request`]) and parses the response bytes a runtime read back
//!   ([`http::ResponseReader`], then [`http::announce_outcome`] / [`scrape::scrape_outcome`]).
//!   Runtimes only carry the bytes over TCP or TLS.
//! - [`udp::UdpTracker`] is the BEP 15 state machine for one tracker address (connect, announce,
//!   scrape, retransmission); the session routes datagrams to it with [`udp::UdpTracker::matches`].
//! - [`announce::Announcer`] schedules announces for one torrent over its tiers: it emits
//!   [`announce::AnnounceJob`]s ("announce to URL X with event E") and takes back results.

pub mod announce;
pub mod http;
pub mod scrape;
pub mod tiers;
mod transport;
pub mod udp;
pub mod url;
mod url_table;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::id::{InfoHash, PeerId};

pub use announce::{AnnounceJob, Announcer, AnnouncerConfig, AnnouncerEvent, JobId};
pub use http::{HttpError, HttpOutcome, HttpResponse, ResponseError, ResponseReader};
pub use transport::{TlsError, TransportError};
pub use udp::{UdpConfig, UdpError, UdpEvent, UdpTracker};
pub use url::{Host, Scheme, TrackerUrl, UrlError};
pub use url_table::UrlTable;

/// The `event` of an announce; the numbers are BEP 15's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnnounceEvent {
    /// A regular announce.
    #[default]
    None = 0,
    /// The download finished (sent once).
    Completed = 1,
    /// The first announce of a session.
    Started = 2,
    /// The torrent is shutting down.
    Stopped = 3,
}

impl AnnounceEvent {
    /// The value of the HTTP `event` parameter, if any.
    pub fn as_str(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Completed => Some("completed"),
            Self::Started => Some("started"),
            Self::Stopped => Some("stopped"),
        }
    }
}

/// Everything one announce tells a tracker, over HTTP or UDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Our peer id.
    pub peer_id: PeerId,
    /// The port peers should connect to.
    pub port: u16,
    /// Bytes uploaded this session.
    pub uploaded: u64,
    /// Bytes downloaded this session.
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
    /// The event.
    pub event: AnnounceEvent,
    /// How many peers we want (`None`: the tracker's default).
    pub numwant: Option<u32>,
    /// A random key that identifies us across IP changes.
    pub key: u32,
    /// An address to announce instead of the one the tracker sees.
    pub ip: Option<IpAddr>,
    /// The `tracker id` the tracker gave in an earlier response, echoed back (HTTP only).
    pub tracker_id: Option<Vec<u8>>,
}

/// A tracker's answer to an announce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// How long to wait before the next regular announce.
    pub interval: Option<Duration>,
    /// Never announce sooner than this.
    pub min_interval: Option<Duration>,
    /// Seeders.
    pub complete: Option<u32>,
    /// Leechers.
    pub incomplete: Option<u32>,
    /// A warning to show the user; the announce still succeeded.
    pub warning: Option<String>,
    /// A tracker id to echo back in later announces.
    pub tracker_id: Option<Vec<u8>>,
    /// Peers, IPv4 and IPv6, in the order the tracker gave them.
    pub peers: Vec<SocketAddr>,
}

/// One torrent's counts in a scrape response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScrapeStats {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever reported.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
    /// Peers downloading now, if the tracker says (an HTTP scrape's optional `downloaders`,
    /// as Transmission reads it; UDP scrapes never carry it).
    pub downloaders: Option<u32>,
}

/// Why an announce or scrape failed, whichever transport carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackerError {
    /// The tracker URL is bad (or a redirect named a bad one).
    Url(UrlError),
    /// The HTTP framing was bad.
    Http(HttpError),
    /// The HTTP status was neither success nor a redirect.
    Status {
        /// The status code.
        code: u16,
        /// The reason phrase.
        reason: String,
    },
    /// A redirect could not be followed.
    Redirect(RedirectError),
    /// The bencoded body was bad, or the tracker answered with `failure reason`.
    Response(ResponseError),
    /// The UDP tracker protocol failed.
    Udp(UdpError),
    /// No answer in time.
    Timeout,
    /// The tracker's host name did not resolve (`NotFound`: it resolved to no address).
    Resolve(std::io::ErrorKind),
    /// The runtime could not carry the request (connect, TLS, I/O).
    Transport(TransportError),
}

/// Why an HTTP redirect was not followed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectError {
    /// A 3xx response had no `Location` header (or it was not UTF-8).
    MissingLocation,
    /// More redirects in a row than allowed.
    TooMany(u32),
    /// The redirect leads back to a URL already visited.
    Loop(String),
    /// The redirect leads to a non-HTTP URL.
    NotHttp(String),
}

impl fmt::Display for TrackerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(e) => e.fmt(f),
            Self::Http(e) => e.fmt(f),
            Self::Status { code, reason } => write!(f, "tracker answered HTTP {code} {reason}"),
            Self::Redirect(e) => e.fmt(f),
            Self::Response(e) => e.fmt(f),
            Self::Udp(e) => e.fmt(f),
            Self::Timeout => write!(f, "tracker did not answer in time"),
            Self::Resolve(std::io::ErrorKind::NotFound) => {
                f.write_str("cannot resolve tracker host: no address")
            }
            Self::Resolve(kind) => write!(f, "cannot resolve tracker host: {kind}"),
            Self::Transport(e) => write!(f, "cannot reach tracker: {e}"),
        }
    }
}

impl std::error::Error for TrackerError {}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingLocation => write!(f, "tracker redirect has no usable Location header"),
            Self::TooMany(n) => write!(f, "tracker redirected more than {n} times"),
            Self::Loop(u) => write!(f, "tracker redirect loops back to {u}"),
            Self::NotHttp(u) => write!(f, "tracker redirects to non-HTTP URL {u}"),
        }
    }
}

impl std::error::Error for RedirectError {}

impl From<UrlError> for TrackerError {
    fn from(e: UrlError) -> Self {
        Self::Url(e)
    }
}

impl From<HttpError> for TrackerError {
    fn from(e: HttpError) -> Self {
        Self::Http(e)
    }
}

impl From<ResponseError> for TrackerError {
    fn from(e: ResponseError) -> Self {
        Self::Response(e)
    }
}

impl From<UdpError> for TrackerError {
    fn from(e: UdpError) -> Self {
        Self::Udp(e)
    }
}

impl From<RedirectError> for TrackerError {
    fn from(e: RedirectError) -> Self {
        Self::Redirect(e)
    }
}

/// Compact IPv4 peers (BEP 23): 6 bytes each, address then port, both big-endian. `None` if the
/// length is not a multiple of 6.
pub(crate) fn compact_v4(bytes: &[u8]) -> Option<Vec<SocketAddr>> {
    if !bytes.len().is_multiple_of(6) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(6)
            .map(|c| {
                let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
                SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([c[4], c[5]]))
            })
            .collect(),
    )
}

/// Compact IPv6 peers (BEP 7): 18 bytes each. `None` if the length is not a multiple of 18.
pub(crate) fn compact_v6(bytes: &[u8]) -> Option<Vec<SocketAddr>> {
    if !bytes.len().is_multiple_of(18) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(18)
            .map(|c| {
                let mut ip = [0u8; 16];
                ip.copy_from_slice(&c[..16]);
                let ip = Ipv6Addr::from(ip);
                SocketAddr::new(IpAddr::V6(ip), u16::from_be_bytes([c[16], c[17]]))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_peers_decode() {
        let v4 = compact_v4(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80]).unwrap();
        assert_eq!(
            v4,
            vec![
                "127.0.0.1:6881".parse().unwrap(),
                "10.0.0.2:80".parse().unwrap()
            ]
        );
        assert!(compact_v4(&[1, 2, 3, 4, 5]).is_none());
        let mut v6 = vec![0u8; 18];
        v6[15] = 1;
        v6[17] = 7;
        assert_eq!(compact_v6(&v6).unwrap(), vec!["[::1]:7".parse().unwrap()]);
        assert!(compact_v6(&v6[..17]).is_none());
        assert_eq!(AnnounceEvent::Started.as_str(), Some("started"));
        assert_eq!(AnnounceEvent::None.as_str(), None);
    }
}
