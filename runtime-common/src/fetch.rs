//! Fetching a .torrent by URL over the [`HttpClient`]: core's [`UrlFetch`] builds each request
//! and reads each response (redirects, magnet links, the size cap); this only carries the
//! bytes, each exchange within the client's request timeout.

use std::fmt;

use sanstorrent_core::fetch::{FetchError, Fetched, MAX_RESPONSE, Step, UrlFetch};

use crate::http::{HttpClient, HttpClientError};
use crate::runtime::Runtime;

/// Why a URL gave no torrent.
#[derive(Debug)]
#[non_exhaustive]
pub enum TorrentFetchError {
    /// The URL, a redirect or the answer was refused (core said why).
    Fetch(FetchError),
    /// The exchange failed (connect, TLS, timeout, malformed or too large a response).
    Http(HttpClientError),
}

impl fmt::Display for TorrentFetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fetch(e) => e.fmt(f),
            Self::Http(HttpClientError::Timeout) => write!(f, "the request timed out"),
            Self::Http(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TorrentFetchError {}

impl<R: Runtime> HttpClient<R> {
    /// Fetches the .torrent at `url` (`http`/`https` only), following redirects, or the
    /// magnet link it leads to. The body is capped at core's
    /// [`MAX_TORRENT_FILE`](sanstorrent_core::fetch::MAX_TORRENT_FILE).
    pub async fn fetch_torrent(&self, url: &str) -> Result<Fetched, TorrentFetchError> {
        let mut fetch = UrlFetch::new(url).map_err(TorrentFetchError::Fetch)?;
        loop {
            let response = self
                .fetch_capped(fetch.url(), &fetch.request(), MAX_RESPONSE)
                .await
                .map_err(TorrentFetchError::Http)?;
            match fetch
                .on_response(&response)
                .map_err(TorrentFetchError::Fetch)?
            {
                Step::Done(fetched) => return Ok(fetched),
                Step::Again => {}
            }
        }
    }
}
