//! The HTTP client against hostile servers on 127.0.0.1, run on each runtime by
//! [`crate::runtime_tests`]: endless headers, a never-ending chunked body, a body far larger
//! than announced, a slow trickle and redirect loops (tracker announce and .torrent fetch).
//! Each is cut off at a bound with a typed error, and the client closes the connection (the
//! server sees its writes fail) instead of reading on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use sanstorrent_core::Rng;
use sanstorrent_core::fetch::FetchError;
use sanstorrent_core::tracker::http::{MAX_HEAD, announce_outcome, announce_request};
use sanstorrent_core::tracker::{
    Announcer, AnnouncerConfig, AnnouncerEvent, HttpError, RedirectError, TrackerError, TrackerUrl,
};

use crate::TorrentFetchError;
use crate::http::tests::request;
use crate::http::{HttpClient, HttpClientConfig, HttpClientError};
use crate::runtime::Runtime;

/// The response cap of the client under test (above core's head cap, so that an endless head
/// meets the head cap).
const CAP: usize = 64 * 1024;
const _: () = assert!(MAX_HEAD < CAP);

/// What a hostile server does after reading a request head, on every connection.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// A status line, then `X-Junk: …` header lines forever.
    EndlessHeaders,
    /// A status line, then one header line that never ends.
    EndlessHeaderLine,
    /// A chunked body whose chunks never stop.
    EndlessChunks,
    /// `Content-Length: 15`, then 15 bytes and megabytes more.
    LongerThanAnnounced,
    /// No length: a body until close that never closes.
    EndlessUntilClose,
    /// A whole valid response, one byte every 50 ms.
    Trickle,
    /// `302` to the same URL (its query dropped), for ever.
    RedirectToItself,
    /// `302` to `/r<n+1>`, a new URL each time.
    RedirectChain,
}

/// The bytes a server writes after its first ones: call `n`, for `n` = 0, 1, …; empty means
/// done.
type More = Box<dyn FnMut(u64) -> Vec<u8> + Send>;
/// An exchange's result: the body, or why there is none.
type Outcome = Result<Vec<u8>, HttpClientError>;
/// Whether an outcome is the expected one.
type Check = fn(&Outcome) -> bool;

/// Counters a server keeps: connections accepted, and connections whose writes failed (the
/// client closed them).
#[derive(Default)]
struct Seen {
    accepted: AtomicU64,
    closed_by_client: AtomicU64,
    written: AtomicU64,
}

/// Serves `how` on 127.0.0.1 for every connection; returns the port.
async fn serve<R: Runtime>(how: Hostile, seen: Arc<Seen>) -> u16 {
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

async fn answer<R: Runtime>(mut s: R::TcpStream, how: Hostile, seen: Arc<Seen>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let path = head
        .split(|&b| b == b' ')
        .nth(1)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_default();
    let (first, mut next): (Vec<u8>, More) = match how {
        Hostile::EndlessHeaders => (
            b"HTTP/1.1 200 OK\r\n".to_vec(),
            Box::new(|i| format!("X-Junk-{i}: {}\r\n", "j".repeat(40)).into_bytes()),
        ),
        Hostile::EndlessHeaderLine => (
            b"HTTP/1.1 200 OK\r\nX-Junk: ".to_vec(),
            Box::new(|_| vec![b'j'; 1024]),
        ),
        Hostile::EndlessChunks => (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            Box::new(|_| [&b"400\r\n"[..], &[b'c'; 1024], b"\r\n"].concat()),
        ),
        Hostile::LongerThanAnnounced => (
            b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\nd8:intervali9ee".to_vec(),
            Box::new(|_| vec![b'x'; 64 * 1024]),
        ),
        Hostile::EndlessUntilClose => (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec(),
            Box::new(|_| vec![b'u'; 16 * 1024]),
        ),
        Hostile::Trickle => {
            // 54 bytes: at one per 50 ms, 2.7 s.
            let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\nd8:intervali9ee".to_vec();
            (
                Vec::new(),
                Box::new(move |i| whole.get(i as usize).map_or(Vec::new(), |&b| vec![b])),
            )
        }
        Hostile::RedirectToItself => (
            format!(
                "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
                path.split('?').next().unwrap_or("/")
            )
            .into_bytes(),
            Box::new(|_| Vec::new()),
        ),
        Hostile::RedirectChain => {
            let n: u64 = path
                .trim_start_matches("/r")
                .split('?')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            (
                format!(
                    "HTTP/1.1 302 Found\r\nLocation: /r{}\r\nContent-Length: 0\r\n\r\n",
                    n + 1
                )
                .into_bytes(),
                Box::new(|_| Vec::new()),
            )
        }
    };
    if s.write_all(&first).await.is_err() {
        seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
        return;
    }
    seen.written
        .fetch_add(first.len() as u64, Ordering::Relaxed);
    let trickle = matches!(how, Hostile::Trickle);
    for i in 0.. {
        let more = next(i);
        if more.is_empty() {
            if trickle {
                // Whole: hold the connection open (the client has given up long before).
                R::sleep(Duration::from_secs(30)).await;
            }
            let _ = s.flush().await;
            return;
        }
        if s.write_all(&more).await.is_err() {
            seen.closed_by_client.fetch_add(1, Ordering::Relaxed);
            return;
        }
        seen.written.fetch_add(more.len() as u64, Ordering::Relaxed);
        if trickle {
            R::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn client<R: Runtime>() -> HttpClient<R> {
    HttpClient::<R>::new(HttpClientConfig {
        max_response: CAP,
        request_timeout: Duration::from_secs(2),
        webpki_roots: false,
        ..HttpClientConfig::default()
    })
    .unwrap()
}

/// One announce exchange against a server doing `how`: the result, how long it took, and
/// the server's counters once the client has closed the connection (or 5 s passed).
async fn announce_to<R: Runtime>(how: Hostile) -> (Outcome, Duration, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let port = serve::<R>(how, Arc::clone(&seen)).await;
    let url = TrackerUrl::parse(&format!("http://127.0.0.1:{port}/announce")).unwrap();
    let started = Instant::now();
    let result = client::<R>()
        .fetch(&url, &announce_request(&url, &request()))
        .await
        .map(|r| r.body().to_vec());
    let took = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.closed_by_client.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        R::sleep(Duration::from_millis(20)).await;
    }
    (result, took, seen)
}

/// Endless headers, a never-ending chunked or close-delimited body, and a body longer than
/// announced are each cut off at the cap (or read only as far as announced), quickly, with
/// the connection closed under the server.
pub async fn hostile_bodies_and_heads_are_cut_off_at_a_bound<R: Runtime>() {
    let cases: [(Hostile, Check); 5] = [
        (
            Hostile::EndlessHeaders,
            |r| matches!(r, Err(HttpClientError::Http(HttpError::Malformed(m))) if m.contains("headers")),
        ),
        (Hostile::EndlessHeaderLine, |r| {
            matches!(r, Err(HttpClientError::Http(HttpError::HeadTooLarge)))
        }),
        (Hostile::EndlessChunks, |r| {
            matches!(
                r,
                Err(HttpClientError::Http(HttpError::TooLarge { limit: CAP }))
            )
        }),
        (Hostile::EndlessUntilClose, |r| {
            matches!(
                r,
                Err(HttpClientError::Http(HttpError::TooLarge { limit: CAP }))
            )
        }),
        (
            Hostile::LongerThanAnnounced,
            |r| matches!(r, Ok(body) if body == b"d8:intervali9ee"),
        ),
    ];
    for (how, expected) in cases {
        let (result, took, seen) = announce_to::<R>(how).await;
        assert!(expected(&result), "{how:?}: {result:?}");
        assert!(took < Duration::from_secs(2), "{how:?} took {took:?}");
        assert_eq!(seen.accepted.load(Ordering::Relaxed), 1, "{how:?}");
        assert_eq!(
            seen.closed_by_client.load(Ordering::Relaxed),
            1,
            "{how:?}: the client kept the connection open"
        );
        // The server could only push what the cap and the socket buffers hold.
        let written = seen.written.load(Ordering::Relaxed);
        assert!(written < 64 << 20, "{how:?}: {written} bytes written");
    }
}

/// A server that trickles a valid response, one byte every 50 ms, is cut off by the request
/// timeout (the whole exchange, not the gap between bytes).
pub async fn a_slow_trickle_is_cut_off_by_the_request_timeout<R: Runtime>() {
    let (result, took, seen) = announce_to::<R>(Hostile::Trickle).await;
    assert!(
        matches!(result, Err(HttpClientError::Timeout)),
        "{result:?}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(
        seen.written.load(Ordering::Relaxed) < 54,
        "the trickle finished before the timeout"
    );
    assert_eq!(
        seen.closed_by_client.load(Ordering::Relaxed),
        1,
        "the client kept the trickling connection open"
    );
    let e: TrackerError = HttpClientError::Timeout.into();
    assert_eq!(e, TrackerError::Timeout);
}

/// Redirect loops: an announce redirected to itself fails with `Redirect(Loop)` without
/// another connection, one redirected to a new URL each time with `Redirect(TooMany)` after
/// five, and a .torrent fetch stops at `TooManyRedirects` after five.
pub async fn redirect_loops_stop_with_a_typed_error<R: Runtime>() {
    for (how, max_conns) in [(Hostile::RedirectToItself, 1), (Hostile::RedirectChain, 6)] {
        let seen = Arc::new(Seen::default());
        let port = serve::<R>(how, Arc::clone(&seen)).await;
        let url = TrackerUrl::parse(&format!("http://127.0.0.1:{port}/r0")).unwrap();
        let error = announce_until_failure::<R>(url).await;
        let expected = match how {
            Hostile::RedirectToItself => matches!(
                &error,
                TrackerError::Redirect(RedirectError::Loop(u)) if u.ends_with("/r0")
            ),
            _ => matches!(error, TrackerError::Redirect(RedirectError::TooMany(5))),
        };
        assert!(expected, "{how:?}: {error:?}");
        let conns = seen.accepted.load(Ordering::Relaxed);
        assert_eq!(conns, max_conns, "{how:?}: {conns} connections");
    }

    for how in [Hostile::RedirectToItself, Hostile::RedirectChain] {
        let seen = Arc::new(Seen::default());
        let port = serve::<R>(how, Arc::clone(&seen)).await;
        let result = client::<R>()
            .fetch_torrent(&format!("http://127.0.0.1:{port}/r0"))
            .or(async {
                R::sleep(Duration::from_secs(20)).await;
                panic!("{how:?}: the redirects never stopped")
            })
            .await;
        assert!(
            matches!(
                result,
                Err(TorrentFetchError::Fetch(FetchError::TooManyRedirects))
            ),
            "{how:?}: {result:?}"
        );
        let conns = seen.accepted.load(Ordering::Relaxed);
        assert_eq!(conns, 6, "{how:?}: the first request and five redirects");
    }
}

/// Runs one announcer's announces through the client until a tracker fails; its error.
async fn announce_until_failure<R: Runtime>(url: TrackerUrl) -> TrackerError {
    let mut rng = Rng::new(1);
    let mut announcer = Announcer::new(vec![vec![url]], AnnouncerConfig::default(), &mut rng);
    let now = Instant::now();
    announcer.start(now);
    let http = client::<R>();
    for _ in 0..20 {
        while let Some(event) = announcer.poll_event() {
            if let AnnouncerEvent::TrackerFailed { error, .. } = event {
                return error;
            }
        }
        let job = announcer.poll_job().expect("a job while announcing");
        let req = job.request(
            request().info_hash,
            request().peer_id,
            6881,
            Default::default(),
        );
        let outcome = match http
            .fetch(&job.url, &announce_request(&job.url, &req))
            .await
        {
            Ok(response) => announce_outcome(&job.url, &response),
            Err(e) => Err(e.into()),
        };
        assert!(announcer.handle_result(now, job.id, outcome));
    }
    panic!("the announcer never gave up")
}
