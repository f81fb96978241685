//! Fetching a .torrent file by URL (Transmission's `torrent-add` `filename`, qBittorrent's
//! `urls`), Sans-IO: a [`UrlFetch`] gives the bytes of each GET request and reads each
//! response into the next step, following redirects up to a bound; the runtime carries the
//! bytes.
//!
//! Only `http` and `https` are fetched; any other scheme is refused with the reason. A
//! redirect to a `magnet:` link (as indexers such as Prowlarr and Jackett answer for
//! magnet-only releases), or a body that is a magnet link, ends the fetch with that link.

use std::fmt;

use crate::tracker::http::{HttpResponse, MAX_HEAD, USER_AGENT};
use crate::tracker::{Scheme, TrackerUrl, UrlError};

/// The largest .torrent file fetched (its body; the head has its own cap, [`MAX_HEAD`]).
pub const MAX_TORRENT_FILE: usize = 16 << 20;
/// The most redirects followed.
pub const MAX_REDIRECTS: u32 = 5;
/// The cap to give the response reader: a whole .torrent file and a full head.
pub const MAX_RESPONSE: usize = MAX_TORRENT_FILE + MAX_HEAD;

/// What a URL gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The body: the bytes of a .torrent file (not parsed here).
    Metainfo(Vec<u8>),
    /// A magnet link the URL redirected to or held.
    Magnet(String),
}

/// The next step of a fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Finished.
    Done(Fetched),
    /// Send [`UrlFetch::request`] to [`UrlFetch::url`] again (a redirect was taken).
    Again,
}

/// Why a URL gave no torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL (or a redirect's `Location`) is not a URL this parser accepts.
    Url(UrlError),
    /// The scheme is not `http` or `https`.
    Scheme(String),
    /// The server answered with this status and reason.
    Status(u16, String),
    /// A redirect without a usable `Location`.
    MissingLocation,
    /// More than [`MAX_REDIRECTS`] redirects.
    TooManyRedirects,
    /// The body is empty.
    Empty,
    /// The body is larger than [`MAX_TORRENT_FILE`].
    TooLarge(usize),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(e) => write!(f, "bad URL: {e:?}"),
            Self::Scheme(s) => write!(
                f,
                "refusing to fetch a `{s}` URL: only http and https URLs are fetched"
            ),
            Self::Status(code, reason) => write!(f, "the server answered {code} {reason}"),
            Self::MissingLocation => write!(f, "a redirect without a Location"),
            Self::TooManyRedirects => write!(f, "more than {MAX_REDIRECTS} redirects"),
            Self::Empty => write!(f, "the server sent an empty body"),
            Self::TooLarge(n) => write!(
                f,
                "the body has {n} bytes, more than the {MAX_TORRENT_FILE} a .torrent may have"
            ),
        }
    }
}

impl std::error::Error for FetchError {}

/// One fetch of a URL, across its redirects.
#[derive(Clone, Debug)]
pub struct UrlFetch {
    url: TrackerUrl,
    redirects: u32,
}

impl UrlFetch {
    /// Starts a fetch of `input`; refuses anything but an `http`/`https` URL.
    pub fn new(input: &str) -> Result<Self, FetchError> {
        let input = input.trim();
        if let Some((scheme, _)) = input.split_once(':')
            && !scheme.eq_ignore_ascii_case("http")
            && !scheme.eq_ignore_ascii_case("https")
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(FetchError::Scheme(scheme.to_ascii_lowercase()));
        }
        let url = TrackerUrl::parse(input).map_err(FetchError::Url)?;
        http_only(&url)?;
        Ok(Self { url, redirects: 0 })
    }

    /// Where the next request goes.
    pub fn url(&self) -> &TrackerUrl {
        &self.url
    }

    /// The bytes of the next GET request.
    pub fn request(&self) -> Vec<u8> {
        let mut target = self.url.path().to_string();
        if let Some(query) = self.url.query() {
            target.push('?');
            target.push_str(query);
        }
        format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
             Accept: application/x-bittorrent, */*\r\nAccept-Encoding: identity\r\n\
             Connection: close\r\n\r\n",
            self.url.host_header()
        )
        .into_bytes()
    }

    /// Reads the response to the last request: the torrent, or a redirect taken.
    pub fn on_response(&mut self, response: &HttpResponse) -> Result<Step, FetchError> {
        match response.status() {
            200..=299 => {
                let body = response.body();
                if body.is_empty() {
                    return Err(FetchError::Empty);
                }
                if body.len() > MAX_TORRENT_FILE {
                    return Err(FetchError::TooLarge(body.len()));
                }
                if let Some(link) = magnet_in(body) {
                    return Ok(Step::Done(Fetched::Magnet(link)));
                }
                Ok(Step::Done(Fetched::Metainfo(body.to_vec())))
            }
            301 | 302 | 303 | 307 | 308 => {
                let location = response
                    .header("location")
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .ok_or(FetchError::MissingLocation)?;
                if let Some(link) = magnet_in(location.as_bytes()) {
                    return Ok(Step::Done(Fetched::Magnet(link)));
                }
                if self.redirects >= MAX_REDIRECTS {
                    return Err(FetchError::TooManyRedirects);
                }
                if let Some((scheme, _)) = location.split_once("://")
                    && !scheme.eq_ignore_ascii_case("http")
                    && !scheme.eq_ignore_ascii_case("https")
                {
                    return Err(FetchError::Scheme(scheme.to_ascii_lowercase()));
                }
                let next = self.url.join(location).map_err(FetchError::Url)?;
                http_only(&next)?;
                self.url = next;
                self.redirects += 1;
                Ok(Step::Again)
            }
            code => Err(FetchError::Status(code, response.reason().to_string())),
        }
    }
}

fn http_only(url: &TrackerUrl) -> Result<(), FetchError> {
    match url.scheme() {
        Scheme::Http | Scheme::Https => Ok(()),
        _ => Err(FetchError::Scheme("udp".into())),
    }
}

/// A magnet link, if `bytes` (trimmed) is one.
fn magnet_in(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes.trim_ascii()).ok()?;
    let prefix = text.get(..7)?;
    prefix
        .eq_ignore_ascii_case("magnet:")
        .then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::ResponseReader;

    fn response(raw: &str) -> HttpResponse {
        let mut reader = ResponseReader::new(MAX_RESPONSE);
        match reader.push(raw.as_bytes()).expect("valid") {
            Some(r) => r,
            None => reader.eof().expect("complete"),
        }
    }

    #[test]
    fn refuses_other_schemes_with_the_reason() {
        for (url, scheme) in [
            ("ftp://h/a.torrent", "ftp"),
            ("file:///etc/passwd", "file"),
            ("udp://h:1/announce", "udp"),
            ("FILE:/x", "file"),
        ] {
            let e = UrlFetch::new(url).expect_err(url);
            assert_eq!(e, FetchError::Scheme(scheme.into()), "{url}");
            assert!(e.to_string().contains("only http and https"), "{e}");
        }
        assert!(matches!(
            UrlFetch::new("http://u:p@h/a"),
            Err(FetchError::Url(UrlError::UserInfo))
        ));
    }

    #[test]
    fn the_request_keeps_path_and_query() {
        let f = UrlFetch::new("http://127.0.0.1:8080/dl/a.torrent?apikey=x&id=3").expect("url");
        let req = String::from_utf8(f.request()).expect("ascii");
        assert!(
            req.starts_with("GET /dl/a.torrent?apikey=x&id=3 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("\r\nHost: 127.0.0.1:8080\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn a_body_is_the_torrent_and_a_magnet_body_is_a_magnet() {
        let mut f = UrlFetch::new("https://h/a").expect("url");
        let step = f
            .on_response(&response(
                "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nd1:ai1ee",
            ))
            .expect("ok");
        assert_eq!(step, Step::Done(Fetched::Metainfo(b"d1:ai1ee".to_vec())));
        let step = f
            .on_response(&response(
                "HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\n magnet:?xt=urn:btih:abc\r\n",
            ))
            .expect("ok");
        assert_eq!(
            step,
            Step::Done(Fetched::Magnet("magnet:?xt=urn:btih:abc".into()))
        );
        assert_eq!(
            f.on_response(&response("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")),
            Err(FetchError::Empty)
        );
        assert_eq!(
            f.on_response(&response(
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
            )),
            Err(FetchError::Status(404, "Not Found".into()))
        );
    }

    #[test]
    fn redirects_are_followed_up_to_the_bound() {
        let mut f = UrlFetch::new("http://h/a").expect("url");
        let hop = "HTTP/1.1 302 Found\r\nLocation: /b?x=1\r\nContent-Length: 0\r\n\r\n";
        for _ in 0..MAX_REDIRECTS {
            assert_eq!(f.on_response(&response(hop)), Ok(Step::Again));
        }
        assert_eq!(f.url().path(), "/b");
        assert_eq!(f.url().query(), Some("x=1"));
        assert_eq!(
            f.on_response(&response(hop)),
            Err(FetchError::TooManyRedirects)
        );

        let mut f = UrlFetch::new("http://h/a").expect("url");
        let to_other = "HTTP/1.1 301 Moved\r\nLocation: https://o:8443/t\r\n\r\n";
        assert_eq!(f.on_response(&response(to_other)), Ok(Step::Again));
        assert_eq!(f.url().scheme(), Scheme::Https);
        assert_eq!(f.url().port(), 8443);
        let to_ftp = "HTTP/1.1 301 Moved\r\nLocation: ftp://o/t\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            f.on_response(&response(to_ftp)),
            Err(FetchError::Scheme("ftp".into()))
        );
        let bare = "HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            f.on_response(&response(bare)),
            Err(FetchError::MissingLocation)
        );
    }

    #[test]
    fn a_redirect_to_a_magnet_ends_with_the_magnet() {
        let mut f = UrlFetch::new("http://h/a").expect("url");
        let raw = "HTTP/1.1 302 Found\r\nLocation: magnet:?xt=urn:btih:abc&dn=x\r\n\
                   Content-Length: 0\r\n\r\n";
        assert_eq!(
            f.on_response(&response(raw)),
            Ok(Step::Done(Fetched::Magnet(
                "magnet:?xt=urn:btih:abc&dn=x".into()
            )))
        );
    }
}
