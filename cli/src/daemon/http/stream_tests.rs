//! `/stream/…` over a real server on loopback (fake backend, whose file 0 is
//! [`STREAM_LEN`] bytes of `i % 251`): status, headers and exact bytes for whole, ranged,
//! unsatisfiable and `HEAD` requests; auth, Host check, methods and bad paths.

use super::tests::{exchange, start, status};
use super::*;
use crate::daemon::fake::{STREAM_LEN, view};

/// The stream path of the fake's torrent 1, file `index`.
fn path(index: &str) -> String {
    format!("/stream/{}/{index}", view(1, "one").hash.to_hex())
}

fn get(method: &str, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    raw.into_bytes()
}

/// The head (lowercase) and the body of an answer.
fn split(answer: &str) -> (String, Vec<u8>) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    (head.to_ascii_lowercase(), body.as_bytes().to_vec())
}

fn pattern(start: u64, end: u64) -> Vec<u8> {
    (start..=end).map(|i| (i % 251) as u8).collect()
}

/// Bytes answers: the pattern is above 127, so the answer is read as Latin-1 here.
fn exchange_bytes(addr: SocketAddr, raw: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(raw).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    out.into_iter().map(char::from).collect()
}

fn latin1(text: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(text)
        .chars()
        .map(|c| c as u32 as u8)
        .collect()
}

#[test]
fn whole_ranged_and_unsatisfiable_answers() {
    let s = start(None, Limits::default());
    let answer = exchange_bytes(s.addr, &get("GET", &path("0"), &[]));
    let (head, body) = split(&answer);
    assert_eq!(status(&answer), 200, "{head}");
    assert!(
        head.contains(&format!("content-length: {STREAM_LEN}")),
        "{head}"
    );
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert!(head.contains("content-type: video/x-matroska"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'; sandbox"),
        "{head}"
    );
    assert_eq!(latin1(&body), pattern(0, STREAM_LEN - 1));

    for (range, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=500000-", 500_000, STREAM_LEN - 1),
        ("bytes=-10", STREAM_LEN - 10, STREAM_LEN - 1),
        ("bytes=999990-2000000", 999_990, STREAM_LEN - 1),
    ] {
        let answer = exchange_bytes(
            s.addr,
            &get("GET", &path("0"), &[&format!("Range: {range}")]),
        );
        let (head, body) = split(&answer);
        assert_eq!(status(&answer), 206, "{range}: {head}");
        assert!(
            head.contains(&format!(
                "content-range: bytes {start}-{end}/{STREAM_LEN}\r\n"
            )) || head.ends_with(&format!("content-range: bytes {start}-{end}/{STREAM_LEN}")),
            "{range}: {head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", end - start + 1)),
            "{range}: {head}"
        );
        assert_eq!(latin1(&body), pattern(start, end), "{range}");
    }

    let answer = exchange(s.addr, &get("GET", &path("0"), &["Range: bytes=1000000-"]));
    assert_eq!(status(&answer), 416, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("content-range: bytes */{STREAM_LEN}")),
        "{answer}"
    );
    // Several ranges: the whole file.
    let answer = exchange_bytes(s.addr, &get("GET", &path("0"), &["Range: bytes=0-1,5-6"]));
    assert_eq!(status(&answer), 200);
    let answer = exchange(s.addr, &get("HEAD", &path("0"), &["Range: bytes=0-9"]));
    let (head, body) = split(&answer);
    assert_eq!(status(&answer), 206, "{head}");
    assert!(head.contains("content-length: 10"), "{head}");
    assert!(body.is_empty());
}

#[test]
fn paths_methods_host_and_auth() {
    let s = start(None, Limits::default());
    for bad in [
        path("1"),
        path("x"),
        "/stream/00/0".into(),
        format!("{}/", path("0")),
    ] {
        let answer = exchange(s.addr, &get("GET", &bad, &[]));
        assert_eq!(status(&answer), 404, "{bad}: {answer}");
    }
    let answer = exchange(s.addr, &get("DELETE", &path("0"), &[]));
    assert_eq!(status(&answer), 405, "{answer}");
    let mut raw = get("GET", &path("0"), &[]);
    let text = String::from_utf8(raw.clone())
        .unwrap()
        .replace("127.0.0.1", "evil.example");
    raw = text.into_bytes();
    assert_eq!(status(&exchange(s.addr, &raw)), 421);

    let s = start(Some("u:p"), Limits::default());
    let answer = exchange(s.addr, &get("HEAD", &path("0"), &[]));
    assert_eq!(status(&answer), 401, "{answer}");
    assert!(answer.contains("WWW-Authenticate") || answer.contains("www-authenticate"));
    let auth = format!(
        "Authorization: Basic {}",
        base64::engine::general_purpose::STANDARD.encode("u:p")
    );
    let answer = exchange(s.addr, &get("HEAD", &path("0"), &[&auth]));
    assert_eq!(status(&answer), 200, "{answer}");
    let answer = exchange(s.addr, &get("HEAD", &path("0"), &["Cookie: SID=made-up"]));
    assert_eq!(status(&answer), 401, "{answer}");
}
