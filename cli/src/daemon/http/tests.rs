//! Raw HTTP against a real server on loopback (fake backend): the 409 handshake, auth, the
//! Host check, the bounds; every exchange has a read timeout, so a hang fails the test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::daemon::fake::Fake;
use crate::daemon::rpc::AllowedDirs;

/// A server's address and session id.
pub(super) struct Running {
    pub(super) addr: SocketAddr,
    pub(super) session_id: String,
}

fn server_parts(
    credentials: Option<&str>,
    bound: SocketAddr,
    limits: Limits,
    timer: SharedTimer,
) -> (Arc<Server<Fake>>, String) {
    let rpc = Rpc::new(
        Arc::new(Fake::new()),
        AllowedDirs::new(vec!["/dl".into()]),
        credentials.is_some(),
        bound.port(),
        None,
    );
    let session_id = rpc.session_id().to_owned();
    let access = Access {
        credentials: credentials.map(str::to_owned),
        bound,
    };
    (
        Arc::new(Server::new(rpc, access, limits, timer)),
        session_id,
    )
}

/// Starts a server on smol as the daemon does: its own executor on a thread of its own (it
/// lives until the test process ends).
#[cfg(feature = "smol")]
pub(super) fn start(credentials: Option<&str>, limits: Limits) -> Running {
    let listener = ::smol::block_on(smol::bind(SocketAddr::from(([127, 0, 0, 1], 0)))).unwrap();
    let bound = listener.local_addr().unwrap();
    let (server, session_id) = server_parts(credentials, bound, limits, smol::timer());
    smol::start(server, listener).unwrap();
    Running {
        addr: bound,
        session_id,
    }
}

/// Starts a server on tokio as the daemon does: its own runtime on a thread of its own.
#[cfg(feature = "tokio")]
fn start_tokio(credentials: Option<&str>, limits: Limits) -> Running {
    let listener = tokio::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let bound = listener.local_addr().unwrap();
    let (server, session_id) = server_parts(credentials, bound, limits, tokio::timer());
    tokio::start(server, listener).unwrap();
    Running {
        addr: bound,
        session_id,
    }
}

/// Sends `raw`, reads until the server closes (or 10 s pass: a failure).
pub(super) fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    read_all(&mut stream)
}

pub(super) fn read_all(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no answer in time: {e} (got {:?})",
                String::from_utf8_lossy(&out)
            ),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn post(path: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    raw.into_bytes()
}

pub(super) fn status(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

const GET_SESSION: &str = r#"{"method":"session-get","arguments":{"fields":["version"]},"tag":1}"#;

fn handshake(s: &Running) {
    let first = exchange(
        s.addr,
        &post("/transmission/rpc", &["Host: localhost:9091"], GET_SESSION),
    );
    assert_eq!(status(&first), 409, "{first}");
    let header = format!("x-transmission-session-id: {}", s.session_id);
    assert!(
        first
            .to_ascii_lowercase()
            .contains(&header.to_ascii_lowercase()),
        "{first}"
    );
    let id = format!("X-Transmission-Session-Id: {}", s.session_id);
    let second = exchange(
        s.addr,
        &post(
            "/transmission/rpc",
            &["Host: localhost:9091", &id],
            GET_SESSION,
        ),
    );
    assert_eq!(status(&second), 200, "{second}");
    let json: serde_json::Value = serde_json::from_str(body(&second)).unwrap();
    assert_eq!(json["result"], "success");
    assert!(
        json["arguments"]["version"]
            .as_str()
            .unwrap()
            .contains("sanstorrent")
    );
    let wrong = exchange(
        s.addr,
        &post(
            "/transmission/rpc",
            &["Host: localhost", "X-Transmission-Session-Id: nope"],
            GET_SESSION,
        ),
    );
    assert_eq!(status(&wrong), 409);
}

#[cfg(feature = "smol")]
#[test]
fn the_409_handshake_on_smol() {
    handshake(&start(None, Limits::default()));
}

/// The session's loop runs on smol's global executor: with that executor's thread held busy
/// (one thread unless `SMOL_THREADS` says more), the server still answers, on its own
/// executor and thread. Before, its connections were tasks of the global executor and this
/// exchange got no answer until the executor was freed.
#[cfg(feature = "smol")]
#[test]
fn answers_while_the_loops_executor_is_held() {
    let (held_tx, held) = std::sync::mpsc::channel();
    let (free, free_rx) = std::sync::mpsc::channel::<()>();
    ::smol::spawn(async move {
        let _ = held_tx.send(());
        // Blocks the executor's thread until the exchange is over (or the test failed).
        let _ = free_rx.recv();
    })
    .detach();
    held.recv().unwrap();
    handshake(&start(None, Limits::default()));
    drop(free);
}

#[cfg(feature = "tokio")]
#[test]
fn the_409_handshake_on_tokio() {
    handshake(&start_tokio(None, Limits::default()));
}

#[cfg(feature = "smol")]
#[test]
fn basic_auth_guards_everything() {
    let s = start(Some("user:secret"), Limits::default());
    let none = exchange(s.addr, &post("/transmission/rpc", &[], GET_SESSION));
    assert_eq!(status(&none), 401);
    assert!(
        none.to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{none}"
    );
    let wrong = exchange(
        s.addr,
        &post("/", &["Authorization: Basic dXNlcjp3cm9uZw=="], ""),
    );
    assert_eq!(status(&wrong), 401);
    let garbage = exchange(s.addr, &post("/", &["Authorization: Basic %%%"], ""));
    assert_eq!(status(&garbage), 401);
    // user:secret; any Host is accepted once auth is on.
    let auth = "Authorization: Basic dXNlcjpzZWNyZXQ=";
    let page = exchange(s.addr, &post("/", &[auth, "Host: seedbox.example"], ""));
    assert_eq!(status(&page), 200, "{page}");
    let id = format!("X-Transmission-Session-Id: {}", s.session_id);
    let ok = exchange(
        s.addr,
        &post("/transmission/rpc", &[auth, &id], GET_SESSION),
    );
    assert_eq!(status(&ok), 200, "{ok}");
}

#[cfg(feature = "smol")]
#[test]
fn the_host_header_must_name_this_machine() {
    let s = start(None, Limits::default());
    for host in [
        "evil.example",
        "evil.example:9091",
        "localhost.evil.example",
        "10.1.2.3",
    ] {
        let answer = exchange(s.addr, &post("/", &[&format!("Host: {host}")], ""));
        assert_eq!(status(&answer), 421, "{host}: {answer}");
    }
    for host in [
        "localhost",
        "LOCALHOST:9091",
        "127.0.0.1:9091",
        "[::1]:9091",
        "127.0.0.2",
    ] {
        let answer = exchange(s.addr, &post("/", &[&format!("Host: {host}")], ""));
        assert_eq!(status(&answer), 200, "{host}: {answer}");
    }
}

#[cfg(feature = "smol")]
#[test]
fn routes_page_and_404() {
    let s = start(None, Limits::default());
    let page = exchange(
        s.addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&page), 200);
    assert!(page.contains("<title>sanstorrent</title>") && page.contains("app.js"));
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'self'")
    );
    let script = exchange(
        s.addr,
        b"GET /app.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&script), 200);
    assert!(script.contains("text/javascript") && script.contains("transmission/rpc"));
    let missing = exchange(
        s.addr,
        b"GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&missing), 404);
}

#[cfg(feature = "smol")]
#[test]
fn bodies_are_bounded() {
    let limits = Limits {
        rpc_body: 1024,
        body_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let s = start(None, limits);
    let id = format!("X-Transmission-Session-Id: {}", s.session_id);
    // Declared too large: refused before any body is read.
    let declared = exchange(
        s.addr,
        format!("POST /transmission/rpc HTTP/1.1\r\nHost: localhost\r\n{id}\r\nContent-Length: 17000000\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status(&declared), 413, "{declared}");
    // Chunked, growing past the limit.
    let mut raw = format!(
        "POST /transmission/rpc HTTP/1.1\r\nHost: localhost\r\n{id}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    for _ in 0..3 {
        raw.push_str(&format!("400\r\n{}\r\n", "x".repeat(0x400)));
    }
    raw.push_str("0\r\n\r\n");
    let chunked = exchange(s.addr, raw.as_bytes());
    assert_eq!(status(&chunked), 413, "{chunked}");
    // A body that never comes: 408 after the body timeout.
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(format!("POST /transmission/rpc HTTP/1.1\r\nHost: localhost\r\n{id}\r\nContent-Length: 100\r\n\r\n{{").as_bytes())
        .unwrap();
    let slow = read_all(&mut stream);
    assert_eq!(status(&slow), 408, "{slow}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[cfg(feature = "smol")]
#[test]
fn malformed_json_gets_a_json_error() {
    let s = start(None, Limits::default());
    let id = format!("X-Transmission-Session-Id: {}", s.session_id);
    for bad in ["{", "null", "[]", "{\"method\": 1}", "\u{0}"] {
        let answer = exchange(
            s.addr,
            &post("/transmission/rpc", &["Host: localhost", &id], bad),
        );
        assert_eq!(status(&answer), 200, "{bad}: {answer}");
        let json: serde_json::Value = serde_json::from_str(body(&answer)).unwrap();
        let failed = json.get("error").is_some() || json["result"] != "success";
        assert!(failed, "{bad}: {json}");
    }
}

#[cfg(feature = "smol")]
#[test]
fn garbage_and_slow_heads_never_hang() {
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let s = start(None, limits);
    let garbage = exchange(s.addr, b"\x00\x01GARBAGE\r\n\r\n");
    assert!(garbage.is_empty() || status(&garbage) == 400, "{garbage}");
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: local").unwrap();
    let _ = read_all(&mut stream);
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection is closed too.
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = read_all(&mut stream);
    assert_eq!(status(&answer), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle connection kept open"
    );
    let huge_head = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let answer = exchange(s.addr, huge_head.as_bytes());
    assert!(
        answer.is_empty() || status(&answer) == 431 || status(&answer) == 400,
        "{answer}"
    );
}

#[cfg(feature = "smol")]
#[test]
fn connections_are_capped() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let s = start(None, limits);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = exchange(
        s.addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(refused.is_empty(), "{refused}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    let served = exchange(
        s.addr,
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&served), 200);
}

/// The qBittorrent API on the wire: the login form and its `SID` cookie (basic auth is not
/// asked for under `/api/v2/`), a multipart add with a .torrent part and form fields, an
/// urlencoded call, a JSON answer, and 403 without the cookie.
#[cfg(feature = "smol")]
#[test]
fn the_qbittorrent_api_on_the_wire() {
    let s = start(Some("admin:secret"), Limits::default());
    let host = "Host: 127.0.0.1:8080";
    let form = "application/x-www-form-urlencoded";
    let no_cookie = exchange(s.addr, &post("/api/v2/app/version", &[host], ""));
    assert_eq!(status(&no_cookie), 403, "{no_cookie}");
    let login = exchange(
        s.addr,
        &post(
            "/api/v2/auth/login",
            &[host, &format!("Content-Type: {form}")],
            "username=admin&password=secret",
        ),
    );
    assert_eq!(status(&login), 200, "{login}");
    assert_eq!(body(&login), "Ok.");
    let cookie_line = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: sid="))
        .unwrap_or_else(|| panic!("no SID cookie in {login}"));
    assert!(cookie_line.contains("HttpOnly"), "{cookie_line}");
    let sid = cookie_line["set-cookie: ".len()..]
        .split(';')
        .next()
        .unwrap();
    let cookie = format!("Cookie: {sid}");

    let version = exchange(s.addr, &post("/api/v2/app/version", &[host, &cookie], ""));
    assert_eq!(body(&version), "v5.0.0");
    let csrf = exchange(
        s.addr,
        &post(
            "/api/v2/app/version",
            &[host, &cookie, "Origin: http://evil.example"],
            "",
        ),
    );
    assert_eq!(status(&csrf), 401, "{csrf}");

    let boundary = "XyZzY";
    let multipart = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"torrents\"; \
         filename=\"a.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n\
         d4:infod4:name1:xee\r\n--{boundary}\r\nContent-Disposition: form-data; \
         name=\"category\"\r\n\r\ntv\r\n--{boundary}\r\nContent-Disposition: form-data; \
         name=\"tags\"\r\n\r\nx,y\r\n--{boundary}\r\nContent-Disposition: form-data; \
         name=\"paused\"\r\n\r\ntrue\r\n--{boundary}--\r\n"
    );
    let add = exchange(
        s.addr,
        &post(
            "/api/v2/torrents/add",
            &[
                host,
                &cookie,
                &format!("Content-Type: multipart/form-data; boundary={boundary}"),
            ],
            &multipart,
        ),
    );
    assert_eq!(status(&add), 200, "{add}");
    assert_eq!(body(&add), "Ok.");

    let info = exchange(
        s.addr,
        &post(
            "/api/v2/torrents/info?category=tv",
            &[host, &cookie, &format!("Content-Type: {form}")],
            "filter=stopped",
        ),
    );
    assert_eq!(status(&info), 200, "{info}");
    assert!(
        info.to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    let list: serde_json::Value = serde_json::from_str(body(&info)).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["tags"], "x, y");
    assert_eq!(list[0]["state"], "stoppedDL");

    let logout = exchange(s.addr, &post("/api/v2/auth/logout", &[host, &cookie], ""));
    assert_eq!(status(&logout), 200);
    let after = exchange(s.addr, &post("/api/v2/app/version", &[host, &cookie], ""));
    assert_eq!(status(&after), 403);
    // The Transmission RPC still asks for basic auth.
    let rpc = exchange(s.addr, &post("/transmission/rpc", &[host], GET_SESSION));
    assert_eq!(status(&rpc), 401);
}

/// Basic auth bans like the qBittorrent login, on one record per address: five wrong
/// passwords and even the right one gets 403, on the RPC, the web UI and the qBittorrent
/// login alike; requests without credentials (a browser's first) do not count.
#[cfg(feature = "smol")]
#[test]
fn wrong_basic_auth_passwords_ban_the_address_everywhere() {
    use base64::Engine;
    let s = start(Some("admin:secret"), Limits::default());
    let host = "Host: 127.0.0.1:8080";
    let basic = |pair: &str| {
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let (good, bad) = (basic("admin:secret"), basic("admin:guess"));
    for _ in 0..10 {
        let bare = exchange(s.addr, &post("/transmission/rpc", &[host], GET_SESSION));
        assert_eq!(status(&bare), 401, "{bare}");
    }
    let ok = exchange(
        s.addr,
        &post("/transmission/rpc", &[host, &good], GET_SESSION),
    );
    assert_eq!(status(&ok), 409, "let in (the session id handshake): {ok}");
    for _ in 0..5 {
        let wrong = exchange(
            s.addr,
            &post("/transmission/rpc", &[host, &bad], GET_SESSION),
        );
        assert_eq!(status(&wrong), 401, "{wrong}");
    }
    let banned = exchange(
        s.addr,
        &post("/transmission/rpc", &[host, &good], GET_SESSION),
    );
    assert_eq!(status(&banned), 403, "{banned}");
    assert!(body(&banned).contains("banned"), "{banned}");
    let page = exchange(
        s.addr,
        format!("GET / HTTP/1.1\r\n{host}\r\n{good}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(status(&page), 403, "{page}");
    let login = exchange(
        s.addr,
        &post(
            "/api/v2/auth/login",
            &[host, "Content-Type: application/x-www-form-urlencoded"],
            "username=admin&password=secret",
        ),
    );
    assert_eq!(status(&login), 403, "{login}");
}
