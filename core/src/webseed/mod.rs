//! Web seeds (BEP 19, `url-list`): HTTP servers that hold a torrent's files, used as a peer
//! that has every piece. Sans-IO, like the rest of core: this module builds each file's URL,
//! plans the HTTP range requests of a run of blocks ([`plan`]: one range per file the run
//! touches), reads each response ([`read_part`]: the right range and length, or a redirect to
//! follow) and keeps each server's health ([`Health`]: exponential back-off, then dropped).
//! The session drives it (`session::webseeds`); the runtime only carries the bytes. BEP 17
//! HTTP seeds (`httpseeds`), which serve pieces by number, share all of this but the requests
//! ([`httpseed`]).

mod health;
mod httpseed;
mod plan;
mod response;
mod url;

use std::fmt;
use std::io;
use std::time::Duration;

pub use health::{Health, Verdict};
pub use httpseed::{
    DEFAULT_BUSY_WAIT, MAX_BUSY_WAIT, PieceOutcome, PieceRange, piece_ranges, piece_request,
    piece_url, read_piece,
};
pub use plan::{Part, RunPlan, plan};
pub use response::{PartOutcome, range_request, read_part};
pub use url::{file_url, percent_encode};

use crate::tracker::TrackerError;

/// The most redirects followed for one range request.
pub const MAX_REDIRECTS: u32 = 5;
/// Consecutive failures after which a web seed is dropped.
pub const MAX_FAILURES: u32 = 6;
/// The first back-off after a failure; it doubles with each further failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Which protocol a web seed speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WebSeedProtocol {
    /// BEP 19 (`url-list`, a magnet's `ws=`): files fetched with HTTP range requests.
    #[default]
    UrlList,
    /// BEP 17 (`httpseeds`): pieces fetched by number from a script.
    HttpSeed,
}

/// Why a web seed's request failed (the server is backed off; repeated, dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSeedError {
    /// The web seed's URL (or a redirect's) is not an http(s) URL this client accepts.
    Url(String),
    /// The server answered with a status that is neither a range nor a redirect (404, 416,
    /// 5xx, ...).
    Status(u16),
    /// A 206 whose `Content-Range` is missing or is not the range asked for.
    WrongRange,
    /// A body of another length than asked for.
    WrongLength {
        /// Bytes asked for.
        expected: u64,
        /// Bytes the server sent (or announced).
        got: u64,
    },
    /// A redirect without a usable `Location`.
    MissingLocation,
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// The request could not be carried (connect, TLS, I/O, bad framing, too large).
    Transport(TrackerError),
    /// No answer within the request's time bound.
    Timeout,
    /// Data from this server failed a piece's hash check.
    HashFailed {
        /// The piece.
        piece: u32,
    },
    /// The smart ban proved a block from this server bad.
    Banned,
    /// A BEP 17 server answered `503`: busy, ask again later (not counted as a failure).
    Busy,
}

impl fmt::Display for WebSeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(u) => write!(f, "not a usable web seed URL: {u}"),
            Self::Status(code) => write!(f, "the server answered {code}"),
            Self::WrongRange => f.write_str("the server sent another range than asked for"),
            Self::WrongLength { expected, got } => write!(
                f,
                "the server sent {got} bytes where {expected} were asked for"
            ),
            Self::MissingLocation => f.write_str("a redirect without a Location"),
            Self::TooManyRedirects => write!(f, "more than {MAX_REDIRECTS} redirects"),
            Self::Transport(TrackerError::Transport(e)) => {
                write!(f, "cannot reach the server: {e}")
            }
            Self::Transport(TrackerError::Resolve(io::ErrorKind::NotFound)) => {
                f.write_str("cannot resolve the server's host: no address")
            }
            Self::Transport(TrackerError::Resolve(kind)) => {
                write!(f, "cannot resolve the server's host: {kind}")
            }
            Self::Transport(TrackerError::Timeout) => f.write_str("the request timed out"),
            Self::Transport(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("the request timed out"),
            Self::HashFailed { piece } => write!(f, "piece {piece} from it failed its hash check"),
            Self::Banned => f.write_str("data from it was proven bad (smart ban)"),
            Self::Busy => f.write_str("the server is busy (503)"),
        }
    }
}

impl std::error::Error for WebSeedError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::{TlsError, TransportError};

    #[test]
    fn transport_failures_name_the_server_not_a_tracker() {
        let untrusted = WebSeedError::Transport(TrackerError::Transport(TransportError::Tls(
            TlsError::UntrustedCertificate,
        )));
        assert_eq!(
            untrusted.to_string(),
            "cannot reach the server: TLS: the certificate is not signed by a trusted root"
        );
        let unknown = WebSeedError::Transport(TrackerError::Resolve(io::ErrorKind::NotFound));
        assert_eq!(
            unknown.to_string(),
            "cannot resolve the server's host: no address"
        );
        let late = WebSeedError::Transport(TrackerError::Timeout);
        assert_eq!(late.to_string(), "the request timed out");
    }
}
