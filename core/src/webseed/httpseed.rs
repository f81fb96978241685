//! BEP 17 HTTP seeds (`httpseeds`): a script that serves a torrent's pieces by number,
//! `<url>?info_hash=<hash>&piece=<n>&ranges=<a>-<b>` (byte offsets in the piece, both
//! inclusive), answering `200` with exactly those bytes, or `503` with a body giving the
//! seconds to wait ("busy, retry then"). A run of blocks is asked for one piece at a time
//! ([`piece_ranges`]); the answer is checked here ([`read_piece`]).

use std::time::Duration;

use super::response::redirect_target;
use super::{RunPlan, WebSeedError};
use crate::id::InfoHash;
use crate::layout::Layout;
use crate::tracker::http::{HttpResponse, USER_AGENT, percent_encode};
use crate::tracker::{Scheme, TrackerUrl};

/// The longest wait a `503` may ask for; a longer one is cut to this.
pub const MAX_BUSY_WAIT: Duration = Duration::from_secs(3600);
/// The wait after a `503` whose body gives no number of seconds.
pub const DEFAULT_BUSY_WAIT: Duration = Duration::from_secs(30);

/// One BEP 17 request of a run: `len` bytes of piece `piece` from `begin`, which go at
/// `buffer_offset` in the run's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PieceRange {
    /// The piece.
    pub piece: u32,
    /// Offset in the piece.
    pub begin: u32,
    /// Bytes asked for (at least one).
    pub len: u32,
    /// Where its bytes go in the run's buffer.
    pub buffer_offset: usize,
}

/// What an HTTP seed's answer gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PieceOutcome {
    /// The body is the range's bytes.
    Data,
    /// Ask again at this URL (a redirect was taken).
    Redirect(TrackerUrl),
    /// The server is busy: ask it nothing before this long.
    Busy(Duration),
}

/// The run cut at piece boundaries: one request per piece it touches, in stream order.
pub fn piece_ranges(layout: &Layout, run: &RunPlan) -> Vec<PieceRange> {
    let mut out = Vec::new();
    let mut pos = run.start;
    let end = run.start + run.len;
    while pos < end {
        let Ok(piece) = u32::try_from(pos / u64::from(layout.piece_length())) else {
            break;
        };
        let piece_start = layout.piece_offset(piece);
        let piece_end = piece_start + u64::from(layout.piece_len(piece));
        if piece_end <= pos {
            break;
        }
        let stop = piece_end.min(end);
        let (Ok(begin), Ok(len), Ok(buffer_offset)) = (
            u32::try_from(pos - piece_start),
            u32::try_from(stop - pos),
            usize::try_from(pos - run.start),
        ) else {
            break;
        };
        out.push(PieceRange {
            piece,
            begin,
            len,
            buffer_offset,
        });
        pos = stop;
    }
    out
}

/// The URL asking HTTP seed `base` for `range` of the torrent `info_hash`; `None` if `base`
/// is not an http(s) URL.
pub fn piece_url(base: &str, info_hash: &InfoHash, range: &PieceRange) -> Option<TrackerUrl> {
    let base = base.trim().split('#').next().unwrap_or_default();
    let parsed = TrackerUrl::parse(base).ok()?;
    if !matches!(parsed.scheme(), Scheme::Http | Scheme::Https) {
        return None;
    }
    let mut url = base.to_string();
    url.push(if parsed.query().is_some() { '&' } else { '?' });
    url.push_str("info_hash=");
    percent_encode(&mut url, &info_hash.0);
    let last = u64::from(range.begin) + u64::from(range.len.max(1)) - 1;
    url.push_str(&format!(
        "&piece={}&ranges={}-{last}",
        range.piece, range.begin
    ));
    TrackerUrl::parse(&url).ok()
}

/// The bytes of a GET of `url` (HTTP/1.1, keep-alive).
pub fn piece_request(url: &TrackerUrl) -> Vec<u8> {
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept-Encoding: identity\r\nConnection: keep-alive\r\n\r\n",
        url.host_header()
    )
    .into_bytes()
}

/// Checks `response` to the request of `range` sent to `url`, after `redirects` redirects
/// already taken.
pub fn read_piece(
    url: &TrackerUrl,
    range: &PieceRange,
    redirects: u32,
    response: &HttpResponse,
) -> Result<PieceOutcome, WebSeedError> {
    match response.status() {
        200 => {
            let got = response.body().len() as u64;
            if got != u64::from(range.len) {
                return Err(WebSeedError::WrongLength {
                    expected: u64::from(range.len),
                    got,
                });
            }
            Ok(PieceOutcome::Data)
        }
        503 => Ok(PieceOutcome::Busy(busy_wait(response.body()))),
        301 | 302 | 303 | 307 | 308 => {
            redirect_target(url, redirects, response).map(PieceOutcome::Redirect)
        }
        code => Err(WebSeedError::Status(code)),
    }
}

/// The wait a `503` body asks for: its number of seconds (at most [`MAX_BUSY_WAIT`], at
/// least one), or [`DEFAULT_BUSY_WAIT`] if it holds no number.
fn busy_wait(body: &[u8]) -> Duration {
    let text = std::str::from_utf8(body).unwrap_or_default().trim();
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return DEFAULT_BUSY_WAIT;
    }
    text.parse::<u64>()
        .map(|s| Duration::from_secs(s.max(1)).min(MAX_BUSY_WAIT))
        .unwrap_or(DEFAULT_BUSY_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pieces::BlockRef;
    use crate::tracker::ResponseReader;
    use crate::webseed::MAX_REDIRECTS;
    use crate::webseed::plan;

    fn response(raw: &[u8]) -> HttpResponse {
        let mut reader = ResponseReader::new(1 << 20);
        match reader.push(raw).expect("valid") {
            Some(r) => r,
            None => reader.eof().expect("complete"),
        }
    }

    fn range(piece: u32, begin: u32, len: u32) -> PieceRange {
        PieceRange {
            piece,
            begin,
            len,
            buffer_offset: 0,
        }
    }

    #[test]
    fn a_run_is_one_request_per_piece_it_touches() {
        // Pieces of 32 KiB, 80 000 bytes: the last piece is 14 464 bytes.
        let layout = Layout::new(32 * 1024, [(80_000, false)]).expect("layout");
        let block = |piece, offset, length| BlockRef {
            piece,
            offset,
            length,
        };
        let blocks = [
            block(0, 16384, 16384),
            block(1, 0, 16384),
            block(1, 16384, 16384),
            block(2, 0, 14_464),
        ];
        let runs = plan(&layout, &blocks, u64::MAX);
        assert_eq!(runs.len(), 1);
        let ranges = piece_ranges(&layout, &runs[0]);
        assert_eq!(
            ranges,
            [
                PieceRange {
                    piece: 0,
                    begin: 16384,
                    len: 16384,
                    buffer_offset: 0
                },
                PieceRange {
                    piece: 1,
                    begin: 0,
                    len: 32768,
                    buffer_offset: 16384
                },
                PieceRange {
                    piece: 2,
                    begin: 0,
                    len: 14_464,
                    buffer_offset: 49152
                },
            ]
        );
    }

    #[test]
    fn the_url_carries_the_hash_piece_and_inclusive_range() {
        let hash = InfoHash([0xab; 20]);
        let u = piece_url("http://h:8/seed.php", &hash, &range(3, 16384, 16384)).expect("url");
        assert_eq!(u.path(), "/seed.php");
        let q = u.query().expect("query");
        assert_eq!(
            q,
            format!("info_hash={}&piece=3&ranges=16384-32767", "%AB".repeat(20))
        );
        let u = piece_url("https://h/s?k=v#frag", &hash, &range(0, 0, 1)).expect("url");
        assert!(u.query().expect("query").starts_with("k=v&info_hash="));
        assert!(u.query().expect("query").ends_with("&piece=0&ranges=0-0"));
        assert!(piece_url("udp://h:8/x", &hash, &range(0, 0, 1)).is_none());
        assert!(piece_url("not a url", &hash, &range(0, 0, 1)).is_none());
        let request = String::from_utf8(piece_request(&u)).expect("ascii");
        assert!(request.starts_with("GET /s?k=v&info_hash=%AB"), "{request}");
        assert!(!request.contains("Range:"), "{request}");
    }

    #[test]
    fn answers_are_data_busy_redirects_or_errors() {
        let url = TrackerUrl::parse("http://h/seed").expect("url");
        let r = range(1, 0, 4);
        let ok = response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(read_piece(&url, &r, 0, &ok), Ok(PieceOutcome::Data));
        let short = response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(
            read_piece(&url, &r, 0, &short),
            Err(WebSeedError::WrongLength {
                expected: 4,
                got: 3
            })
        );
        let busy = |body: &str| {
            let raw = format!(
                "HTTP/1.1 503 Busy\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            read_piece(&url, &r, 0, &response(raw.as_bytes()))
        };
        assert_eq!(busy("7"), Ok(PieceOutcome::Busy(Duration::from_secs(7))));
        assert_eq!(
            busy(" 12\n"),
            Ok(PieceOutcome::Busy(Duration::from_secs(12)))
        );
        assert_eq!(busy("0"), Ok(PieceOutcome::Busy(Duration::from_secs(1))));
        assert_eq!(busy("99999999"), Ok(PieceOutcome::Busy(MAX_BUSY_WAIT)));
        assert_eq!(busy(""), Ok(PieceOutcome::Busy(DEFAULT_BUSY_WAIT)));
        assert_eq!(busy("soon"), Ok(PieceOutcome::Busy(DEFAULT_BUSY_WAIT)));
        assert_eq!(
            busy("99999999999999999999999"),
            Ok(PieceOutcome::Busy(DEFAULT_BUSY_WAIT))
        );
        let moved =
            response(b"HTTP/1.1 302 Found\r\nLocation: /other?x=1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            read_piece(&url, &r, 0, &moved),
            Ok(PieceOutcome::Redirect(
                TrackerUrl::parse("http://h/other?x=1").expect("url")
            ))
        );
        assert_eq!(
            read_piece(&url, &r, MAX_REDIRECTS, &moved),
            Err(WebSeedError::TooManyRedirects)
        );
        let missing = response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            read_piece(&url, &r, 0, &missing),
            Err(WebSeedError::Status(404))
        );
    }
}
