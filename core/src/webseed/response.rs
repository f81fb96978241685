//! One range request on the wire and the checks on its answer: a `206 Partial Content` with
//! the `Content-Range` asked for and exactly that many bytes (or a `200` with the whole file
//! when the whole file was asked for), or a redirect to follow within the bound. Anything
//! else is an error; the runtime reads at most the bytes asked for plus a head, so a larger
//! body never reaches memory.

use super::{MAX_REDIRECTS, Part, WebSeedError};
use crate::tracker::http::{HttpResponse, USER_AGENT};
use crate::tracker::{Scheme, TrackerUrl};

/// What a response to a range request gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartOutcome {
    /// The body is the part's bytes.
    Data,
    /// Ask again at this URL (a redirect was taken).
    Redirect(TrackerUrl),
}

/// The bytes of a GET of `len` bytes at `offset` of the file at `url` (HTTP/1.1, keep-alive).
pub fn range_request(url: &TrackerUrl, offset: u64, len: u64) -> Vec<u8> {
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let last = offset + len.max(1) - 1;
    format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Range: bytes={offset}-{last}\r\nAccept-Encoding: identity\r\n\
         Connection: keep-alive\r\n\r\n",
        url.host_header()
    )
    .into_bytes()
}

/// Checks `response` to the range request of `part` (of a file of `file_len` bytes) sent to
/// `url`, after `redirects` redirects already taken.
pub fn read_part(
    url: &TrackerUrl,
    part: &Part,
    file_len: u64,
    redirects: u32,
    response: &HttpResponse,
) -> Result<PartOutcome, WebSeedError> {
    let got = response.body().len() as u64;
    match response.status() {
        206 => {
            let range = response
                .header("content-range")
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(content_range)
                .ok_or(WebSeedError::WrongRange)?;
            if range != (part.file_offset, part.file_offset + part.len - 1) {
                return Err(WebSeedError::WrongRange);
            }
            if got != part.len {
                return Err(WebSeedError::WrongLength {
                    expected: part.len,
                    got,
                });
            }
            Ok(PartOutcome::Data)
        }
        200 if part.file_offset == 0 && part.len == file_len => {
            if got != part.len {
                return Err(WebSeedError::WrongLength {
                    expected: part.len,
                    got,
                });
            }
            Ok(PartOutcome::Data)
        }
        // A server that ignores `Range` sends the whole file: not what was asked.
        200 => Err(WebSeedError::WrongLength {
            expected: part.len,
            got,
        }),
        301 | 302 | 303 | 307 | 308 => {
            redirect_target(url, redirects, response).map(PartOutcome::Redirect)
        }
        code => Err(WebSeedError::Status(code)),
    }
}

/// Where a redirect `response` to a request sent to `url` leads, after `redirects` redirects
/// already taken: an http(s) URL from its `Location`, or why it cannot be followed.
pub(super) fn redirect_target(
    url: &TrackerUrl,
    redirects: u32,
    response: &HttpResponse,
) -> Result<TrackerUrl, WebSeedError> {
    if redirects >= MAX_REDIRECTS {
        return Err(WebSeedError::TooManyRedirects);
    }
    let location = response
        .header("location")
        .and_then(|l| std::str::from_utf8(l).ok())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .ok_or(WebSeedError::MissingLocation)?;
    let next = url
        .join(location)
        .map_err(|_| WebSeedError::Url(location.to_string()))?;
    if !matches!(next.scheme(), Scheme::Http | Scheme::Https) {
        return Err(WebSeedError::Url(location.to_string()));
    }
    Ok(next)
}

/// The first and last byte of a `Content-Range: bytes a-b/total` value.
fn content_range(value: &str) -> Option<(u64, u64)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, _total) = rest.split_once('/')?;
    let (a, b) = range.trim().split_once('-')?;
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::ResponseReader;

    fn response(raw: &[u8]) -> HttpResponse {
        let mut reader = ResponseReader::new(1 << 20);
        match reader.push(raw).expect("valid") {
            Some(r) => r,
            None => reader.eof().expect("complete"),
        }
    }

    const PART: Part = Part {
        file: 0,
        file_offset: 100,
        len: 4,
        buffer_offset: 0,
    };

    fn url() -> TrackerUrl {
        TrackerUrl::parse("http://h:8080/a%20b?x=1").expect("url")
    }

    #[test]
    fn the_request_asks_for_the_range_with_keep_alive() {
        let req = String::from_utf8(range_request(&url(), 100, 4)).expect("ascii");
        assert!(req.starts_with("GET /a%20b?x=1 HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nHost: h:8080\r\n"), "{req}");
        assert!(req.contains("\r\nRange: bytes=100-103\r\n"), "{req}");
        assert!(req.contains("\r\nConnection: keep-alive\r\n"), "{req}");
    }

    #[test]
    fn a_partial_answer_must_be_the_range_and_length_asked() {
        let ok = response(b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 100-103/900\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(read_part(&url(), &PART, 900, 0, &ok), Ok(PartOutcome::Data));
        let other = response(b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 0-3/900\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(
            read_part(&url(), &PART, 900, 0, &other),
            Err(WebSeedError::WrongRange)
        );
        let none = response(b"HTTP/1.1 206 Partial\r\nContent-Length: 4\r\n\r\nabcd");
        assert_eq!(
            read_part(&url(), &PART, 900, 0, &none),
            Err(WebSeedError::WrongRange)
        );
        let short = response(b"HTTP/1.1 206 Partial\r\nContent-Range: bytes 100-103/900\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!(
            read_part(&url(), &PART, 900, 0, &short),
            Err(WebSeedError::WrongLength {
                expected: 4,
                got: 3
            })
        );
    }

    #[test]
    fn a_whole_file_answer_is_taken_only_when_the_whole_file_was_asked() {
        let whole = response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd");
        let all = Part {
            file_offset: 0,
            ..PART
        };
        assert_eq!(read_part(&url(), &all, 4, 0, &whole), Ok(PartOutcome::Data));
        assert_eq!(
            read_part(&url(), &PART, 900, 0, &whole),
            Err(WebSeedError::WrongLength {
                expected: 4,
                got: 4
            })
        );
    }

    #[test]
    fn errors_and_redirects() {
        for code in [404u16, 416, 500, 503] {
            let r = response(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n").as_bytes());
            assert_eq!(
                read_part(&url(), &PART, 900, 0, &r),
                Err(WebSeedError::Status(code))
            );
        }
        let hop =
            response(b"HTTP/1.1 302 Found\r\nLocation: https://o/b\r\nContent-Length: 0\r\n\r\n");
        let Ok(PartOutcome::Redirect(next)) = read_part(&url(), &PART, 900, 0, &hop) else {
            panic!("a redirect");
        };
        assert_eq!((next.scheme(), next.path()), (Scheme::Https, "/b"));
        assert_eq!(
            read_part(&url(), &PART, 900, MAX_REDIRECTS, &hop),
            Err(WebSeedError::TooManyRedirects)
        );
        let udp =
            response(b"HTTP/1.1 302 Found\r\nLocation: udp://o:1/b\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            read_part(&url(), &PART, 900, 0, &udp),
            Err(WebSeedError::Url(_))
        ));
        let bare = response(b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            read_part(&url(), &PART, 900, 0, &bare),
            Err(WebSeedError::MissingLocation)
        );
    }
}
