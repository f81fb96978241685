//! Web seed range requests against hostile mirrors on 127.0.0.1, run on each runtime by
//! [`crate::runtime_tests`]: the runtime's kept-alive client carries each request with the
//! cap core gives (the part plus a head) and core's [`read_part`] judges each answer and its
//! redirects, as the session does. Endless headers, a never-ending chunked body, a trickle,
//! redirect loops, a redirect to another scheme, a 206 of another range, a 200 with the whole
//! file, a gzip'd body and a body longer than announced each end with a typed error (or, for
//! the last, the announced bytes on a connection that is not reused), quickly, with the
//! connection closed under the server and only what the cap and socket buffers hold written.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use sanstorrent_core::tracker::http::MAX_HEAD;
use sanstorrent_core::tracker::{HttpError, TrackerError, TrackerUrl};
use sanstorrent_core::webseed::{Part, PartOutcome, WebSeedError, range_request, read_part};

use crate::http::{HttpClient, HttpClientConfig};
use crate::runtime::Runtime;

/// The mirror's file: its length, and the part asked for.
const FILE_LEN: u64 = 1 << 20;
const PART: Part = Part {
    file: 0,
    file_offset: 16 * 1024,
    len: 16 * 1024,
    buffer_offset: 0,
};
/// The client's request timeout.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What a hostile mirror answers to every range request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mirror {
    /// A status line, then header lines forever.
    EndlessHeaders,
    /// A chunked body whose chunks never stop.
    EndlessChunks,
    /// The right head and range, then one byte a second.
    Trickle,
    /// `302` to the same URL, for ever.
    RedirectLoop,
    /// `302` to an `ftp://` URL on another host.
    RedirectToFtp,
    /// A `206` whose `Content-Range` is another range.
    WrongRange,
    /// A `200` with the whole file, ignoring `Range`.
    WholeFile,
    /// The right range, gzip'd (`Content-Encoding: gzip`).
    Gzip,
    /// The right `206` head and body, then a bogus second answer in the same write.
    LongerThanAsked,
}

/// A deterministic byte of the file at `offset`.
fn byte(offset: u64) -> u8 {
    (offset.wrapping_mul(2_654_435_761) >> 7) as u8
}

/// The part's bytes as the file holds them.
fn part_bytes() -> Vec<u8> {
    (PART.file_offset..PART.file_offset + PART.len)
        .map(byte)
        .collect()
}

/// Counters the mirror keeps.
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    requests: AtomicU64,
    closed_by_client: AtomicU64,
    written: AtomicU64,
}

/// Serves `how` on 127.0.0.1; returns the port.
async fn serve<R: Runtime>(how: Mirror, seen: Arc<Seen>) -> u16 {
    let listener = R::bind_tcp("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let port = R::listener_addr(&listener).unwrap().port();
    R::spawn(async move {
        while let Ok((stream, _)) = R::accept(&listener).await {
            seen.accepted.fetch_add(1, Ordering::Relaxed);
            R::spawn(answer::<R>(stream, how, Arc::clone(&seen)));
        }
    });
    port
}

/// Reads one request head; false once the client has gone.
async fn read_head<S: AsyncReadExt + Unpin>(s: &mut S) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

/// Answers the requests of one connection (several, kept alive, for the complete answers).
async fn answer<R: Runtime>(mut s: R::TcpStream, how: Mirror, seen: Arc<Seen>) {
    while read_head(&mut s).await {
        seen.requests.fetch_add(1, Ordering::Relaxed);
        let (a, b) = (PART.file_offset, PART.file_offset + PART.len - 1);
        let ranged = |body: &[u8], extra: &str| {
            [
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {a}-{b}/{FILE_LEN}\r\n\
                     Content-Length: {}\r\n{extra}\r\n",
                    body.len()
                )
                .as_bytes(),
                body,
            ]
            .concat()
        };
        let (first, endless): (Vec<u8>, Option<Vec<u8>>) = match how {
            Mirror::EndlessHeaders => (
                b"HTTP/1.1 206 Partial Content\r\n".to_vec(),
                Some(format!("X-Junk: {}\r\n", "j".repeat(40)).into_bytes()),
            ),
            Mirror::EndlessChunks => (
                b"HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                Some([&b"400\r\n"[..], &[b'c'; 1024], b"\r\n"].concat()),
            ),
            Mirror::Trickle => {
                // The head alone; the body follows a byte a second.
                let whole = ranged(&part_bytes(), "");
                (whole[..whole.len() - part_bytes().len()].to_vec(), None)
            }
            Mirror::RedirectLoop => (
                b"HTTP/1.1 302 Found\r\nLocation: /f.bin\r\nContent-Length: 0\r\n\r\n".to_vec(),
                None,
            ),
            Mirror::RedirectToFtp => (
                b"HTTP/1.1 302 Found\r\nLocation: ftp://other.example/f.bin\r\n\
                  Content-Length: 0\r\n\r\n"
                    .to_vec(),
                None,
            ),
            Mirror::WrongRange => {
                let body = part_bytes();
                let head = format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-{}/{FILE_LEN}\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len() - 1,
                    body.len()
                );
                ([head.as_bytes(), &body].concat(), None)
            }
            Mirror::WholeFile => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {FILE_LEN}\r\n\r\n");
                let body: Vec<u8> = (0..FILE_LEN).map(byte).collect();
                ([head.as_bytes(), &body].concat(), None)
            }
            Mirror::Gzip => (ranged(&part_bytes(), "Content-Encoding: gzip\r\n"), None),
            Mirror::LongerThanAsked => {
                // In the same write as the answer: a bogus second answer.
                let tail = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\n\r\nbad";
                ([ranged(&part_bytes(), ""), tail.repeat(10)].concat(), None)
            }
        };
        if s.write_all(&first).await.is_err() {
            seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
            return;
        }
        seen.written
            .fetch_add(first.len() as u64, Ordering::Relaxed);
        if how == Mirror::Trickle {
            for b in part_bytes() {
                R::sleep(Duration::from_secs(1)).await;
                if s.write_all(&[b]).await.is_err() {
                    seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                seen.written.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(more) = endless {
            // Written until the client closes (a write fails) or 64 MiB: the latter fails the
            // test through `written`.
            while seen.written.load(Ordering::Relaxed) < 64 << 20 {
                if s.write_all(&more).await.is_err() {
                    seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                seen.written.fetch_add(more.len() as u64, Ordering::Relaxed);
            }
        }
    }
    seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
}

/// The part from a mirror at `port` as the session asks for it: each request with the cap
/// core gives, redirects followed as `read_part` says.
async fn part_from<R: Runtime>(http: &HttpClient<R>, port: u16) -> Result<Vec<u8>, WebSeedError> {
    let mut url = TrackerUrl::parse(&format!("http://127.0.0.1:{port}/f.bin")).unwrap();
    let max = usize::try_from(PART.len).unwrap() + MAX_HEAD;
    for redirects in 0.. {
        let request = range_request(&url, PART.file_offset, PART.len);
        let response = http
            .fetch_kept_alive(&url, &request, max)
            .await
            .map_err(|e| WebSeedError::Transport(e.into()))?;
        match read_part(&url, &PART, FILE_LEN, redirects, &response)? {
            PartOutcome::Data => return Ok(response.body().to_vec()),
            PartOutcome::Redirect(next) => url = next,
        }
    }
    unreachable!("read_part bounds the redirects")
}

fn client<R: Runtime>() -> HttpClient<R> {
    HttpClient::<R>::new(HttpClientConfig {
        request_timeout: TIMEOUT,
        webpki_roots: false,
        ..HttpClientConfig::default()
    })
    .unwrap()
}

/// Each hostile mirror ends the part with its typed error, within the request timeout (a
/// trickle at it), the connection closed under the mirror and at most the cap and socket
/// buffers written.
pub async fn hostile_mirrors_end_a_part_with_a_typed_error<R: Runtime>() {
    type Check = fn(&Result<Vec<u8>, WebSeedError>) -> bool;
    let cases: [(Mirror, Check); 8] = [
        (Mirror::EndlessHeaders, |r| {
            matches!(
                r,
                Err(WebSeedError::Transport(TrackerError::Http(
                    HttpError::HeadTooLarge | HttpError::Malformed(_) | HttpError::TooLarge { .. }
                )))
            )
        }),
        (Mirror::EndlessChunks, |r| {
            matches!(
                r,
                Err(WebSeedError::Transport(TrackerError::Http(
                    HttpError::TooLarge { .. }
                )))
            )
        }),
        (Mirror::Trickle, |r| {
            matches!(r, Err(WebSeedError::Transport(TrackerError::Timeout)))
        }),
        (Mirror::RedirectLoop, |r| {
            matches!(r, Err(WebSeedError::TooManyRedirects))
        }),
        (
            Mirror::RedirectToFtp,
            |r| matches!(r, Err(WebSeedError::Url(u)) if u.starts_with("ftp://")),
        ),
        (Mirror::WrongRange, |r| {
            matches!(r, Err(WebSeedError::WrongRange))
        }),
        (Mirror::WholeFile, |r| {
            matches!(
                r,
                Err(WebSeedError::Transport(TrackerError::Http(
                    HttpError::TooLarge { .. }
                )))
            )
        }),
        (Mirror::Gzip, |r| {
            matches!(
                r,
                Err(WebSeedError::Transport(TrackerError::Http(
                    HttpError::UnsupportedContentEncoding(e)
                ))) if e == "gzip"
            )
        }),
    ];
    for (how, expected) in cases {
        let seen = Arc::new(Seen::default());
        let port = serve::<R>(how, Arc::clone(&seen)).await;
        let http = client::<R>();
        let started = Instant::now();
        let result = part_from(&http, port).await;
        let took = started.elapsed();
        assert!(expected(&result), "{how:?}: {result:?}");
        let bound = if how == Mirror::Trickle {
            TIMEOUT * 2
        } else {
            TIMEOUT
        };
        assert!(took < bound, "{how:?} took {took:?}");
        if how == Mirror::Trickle {
            assert!(
                took >= TIMEOUT,
                "{how:?} ended before the timeout: {took:?}"
            );
        }
        let requests = seen.requests.load(Ordering::Relaxed);
        let expected_requests = if how == Mirror::RedirectLoop { 6 } else { 1 };
        assert_eq!(requests, expected_requests, "{how:?}: requests");
        // Kept-alive connections are reused only after a whole, acceptable answer: the
        // redirects may share one; every error closes it.
        drop(http);
        let deadline = Instant::now() + Duration::from_secs(5);
        while seen.closed_by_client.load(Ordering::Relaxed) < seen.accepted.load(Ordering::Relaxed)
            && Instant::now() < deadline
        {
            R::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            seen.closed_by_client.load(Ordering::Relaxed),
            seen.accepted.load(Ordering::Relaxed),
            "{how:?}: the client kept a connection open"
        );
        let written = seen.written.load(Ordering::Relaxed);
        assert!(written < 16 << 20, "{how:?}: {written} bytes written");
    }
}

/// A mirror that sends more than its `Content-Length` gives the announced bytes, but its
/// connection is not reused: the next part goes on a fresh one and is not read from the tail.
pub async fn a_body_longer_than_announced_is_not_read_as_the_next_answer<R: Runtime>() {
    let seen = Arc::new(Seen::default());
    let port = serve::<R>(Mirror::LongerThanAsked, Arc::clone(&seen)).await;
    let http = client::<R>();
    for _ in 0..2 {
        let got = part_from(&http, port).await;
        assert_eq!(got.as_deref(), Ok(&part_bytes()[..]));
    }
    assert_eq!(seen.requests.load(Ordering::Relaxed), 2);
    assert_eq!(
        seen.accepted.load(Ordering::Relaxed),
        2,
        "the connection with a tail after the body was reused"
    );
}
