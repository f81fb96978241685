//! Bodies of the daemon's cargo-fuzz targets (`fuzz/fuzz_targets/daemon_*.rs`), compiled on
//! stable behind the `fuzzing` feature and in tests, which replay the committed corpus
//! (`fuzz/corpus/daemon_*`) through them.
//!
//! Each body builds a fresh HTTP server over the in-memory fake backend and sends it one
//! in-memory request through [`Server::respond`]: routing, the Host check, body reading and
//! the whole API handler, with no socket. It panics only on a broken invariant.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::rt::{Sleep, Timer};

use super::fake::Fake;
use super::http::{Access, Limits, Server, SharedTimer};
use super::rpc::{AllowedDirs, Rpc, SESSION_ID_HEADER};

/// The address the fuzzed server pretends to listen on.
const BOUND: ([u8; 4], u16) = ([127, 0, 0, 1], 9091);

/// One Transmission RPC request whose body is `data`, with the right session id: the JSON
/// envelope (legacy and JSON-RPC 2.0, batches) and every method's parameters. A 200 answer
/// must be JSON; anything else but a 204 (a notification) is a bug.
pub fn rpc(data: &[u8]) {
    let (server, session_id) = server();
    let request = Request::post("/transmission/rpc")
        .header(header::HOST, "127.0.0.1:9091")
        .header(SESSION_ID_HEADER, session_id)
        .body(Full::new(Bytes::copy_from_slice(data)));
    let Ok(request) = request else {
        unreachable!("a fixed path and headers make a valid request")
    };
    let (status, _, body) = respond(&server, request);
    match status {
        200 => {
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
                panic!("a 200 answer that is not JSON ({e}): {body:?}");
            }
        }
        204 => assert!(body.is_empty(), "a 204 with a body"),
        other => panic!("status {other}: {}", String::from_utf8_lossy(&body)),
    }
}

/// One qBittorrent Web API request, written as `PATH?QUERY\n` (after `/api/v2/`), then
/// `Name: value\n` header lines, an empty line and the body: the query and the urlencoded or
/// multipart form parsing (multer), the cookie and CSRF headers, and every method. Requests
/// that cannot be built (a bad path or header) are skipped. A JSON answer must be JSON, and
/// the server never answers with a 5xx for a request it could parse, except the 500 the
/// backend's refusals map to.
pub fn qbit(data: &[u8]) {
    let Some(request) = qbit_request(data) else {
        return;
    };
    let (server, _) = server();
    let (status, json, body) = respond(&server, request);
    assert!((200..600).contains(&status), "status {status}");
    if json && let Err(e) = serde_json::from_slice::<serde_json::Value>(&body) {
        panic!("a JSON answer that is not JSON ({e}): {body:?}");
    }
}

/// The request `data` describes (see [`qbit`]), or `None` if it is not a valid one.
fn qbit_request(data: &[u8]) -> Option<Request<Full<Bytes>>> {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut lines = head.split(|&b| b == b'\n');
    let path = std::str::from_utf8(lines.next()?).ok()?;
    let mut builder = Request::post(format!("/api/v2/{path}"));
    let mut host = false;
    for line in lines {
        let at = line.iter().position(|&b| b == b':')?;
        let name = HeaderName::from_bytes(&line[..at]).ok()?;
        let value = HeaderValue::from_bytes(line[at + 1..].trim_ascii()).ok()?;
        host |= name == header::HOST;
        builder = builder.header(name, value);
    }
    if !host {
        builder = builder.header(header::HOST, "127.0.0.1:9091");
    }
    builder.body(Full::new(Bytes::copy_from_slice(body))).ok()
}

/// A server over a fresh fake backend (no auth, so loopback Host names only) and its RPC
/// session id.
fn server() -> (Server<Fake>, String) {
    let bound = SocketAddr::from(BOUND);
    let rpc = Rpc::new(
        Arc::new(Fake::new()),
        AllowedDirs::new(vec!["/dl".into()]),
        false,
        bound.port(),
        None,
    );
    let session_id = rpc.session_id().to_owned();
    let access = Access {
        credentials: None,
        bound,
    };
    let timer = SharedTimer(Arc::new(NoTimer));
    (
        Server::new(rpc, access, Limits::default(), timer),
        session_id,
    )
}

/// Runs `request` through the server: the status, whether the answer is JSON, the body.
fn respond(server: &Server<Fake>, request: Request<Full<Bytes>>) -> (u16, bool, Vec<u8>) {
    let response = futures_lite::future::block_on(server.respond(request));
    let status = response.status().as_u16();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = futures_lite::future::block_on(response.into_body().collect());
    match body {
        Ok(body) => (status, json, body.to_bytes().to_vec()),
        Err(e) => panic!("the answer's body failed: {e}"),
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A timer whose sleeps never end: in-memory bodies are read at once, so no timeout fires.
struct NoTimer;

/// A sleep of [`NoTimer`].
struct Never;

impl Future for Never {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Sleep for Never {}

impl Timer for NoTimer {
    fn sleep(&self, _: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(Never)
    }

    fn sleep_until(&self, _: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(Never)
    }

    fn reset(&self, _: &mut Pin<Box<dyn Sleep>>, _: Instant) {}
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// Every file of a target's committed corpus (`fuzz/corpus/<target>`).
    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            })
            .collect()
    }

    #[test]
    fn rpc_corpus_replays() {
        let files = corpus("daemon_rpc");
        assert!(files.len() >= 10, "only {} seeds", files.len());
        for (path, data) in files {
            eprintln!("{}", path.display());
            super::rpc(&data);
        }
    }

    #[test]
    fn qbit_corpus_replays() {
        let files = corpus("daemon_qbit");
        assert!(files.len() >= 10, "only {} seeds", files.len());
        for (path, data) in files {
            eprintln!("{}", path.display());
            super::qbit(&data);
        }
    }

    /// The seeds reach the handlers: a method call answers 200 with its result, and a
    /// multipart upload reaches `torrents/add`.
    #[test]
    fn seeds_reach_the_handlers() {
        let (server, session_id) = super::server();
        let request = hyper::Request::post("/transmission/rpc")
            .header("X-Transmission-Session-Id", session_id)
            .body(http_body_util::Full::new(hyper::body::Bytes::from_static(
                br#"{"method":"torrent-get","arguments":{"fields":["id","name"]}}"#,
            )))
            .unwrap();
        let (status, _, body) = super::respond(&server, request);
        assert_eq!(status, 200);
        let body = String::from_utf8(body).unwrap();
        assert!(body.contains(r#""name":"one""#), "{body}");

        let request = super::qbit_request(b"torrents/info?filter=all\nCookie: SID=x\n\n").unwrap();
        let (status, json, body) = super::respond(&server, request);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(json);
        assert!(String::from_utf8(body).unwrap().contains("\"two\""));

        let multipart = b"torrents/add\nContent-Type: multipart/form-data; boundary=XX\n\n\
            --XX\r\nContent-Disposition: form-data; name=\"urls\"\r\n\r\nmagnet:?xt=urn:btih:\
            0123456789abcdef0123456789abcdef01234567\r\n--XX--\r\n";
        let request = super::qbit_request(multipart).unwrap();
        let (status, _, body) = super::respond(&server, request);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(super::qbit_request(b"bad path\n\n").is_none());
    }
}
