use super::*;
use crate::bencode::{DecodeErrorKind, Encoder};
use crate::id::{InfoHash, PeerId};
use crate::tracker::{AnnounceEvent, UrlError};

fn request() -> AnnounceRequest {
    let mut info_hash = [0u8; 20];
    for (i, b) in info_hash.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(0x7e);
    }
    AnnounceRequest {
        info_hash: InfoHash(info_hash),
        peer_id: PeerId(*b"-ST0100-ab cd~ef.g_%"),
        port: 6881,
        uploaded: 1,
        downloaded: 2,
        left: 1 << 40,
        event: AnnounceEvent::Started,
        numwant: Some(50),
        key: 0xDEAD_BEEF,
        ip: Some("10.0.0.1".parse().unwrap()),
        tracker_id: Some(b"id&=1".to_vec()),
    }
}

fn head_and_query(bytes: &[u8]) -> (String, String) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let line = text.lines().next().unwrap().to_string();
    let target = line
        .strip_prefix("GET ")
        .unwrap()
        .strip_suffix(" HTTP/1.1")
        .unwrap();
    (text.clone(), target.split_once('?').unwrap().1.to_string())
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap(), 16).unwrap(),
            );
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn announce_request_encodes_every_parameter() {
    let url = TrackerUrl::parse("http://t.example:8080/ann?passkey=x%20y").unwrap();
    let req = request();
    let (text, query) = head_and_query(&announce_request(&url, &req));
    assert!(text.contains("\r\nHost: t.example:8080\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"));
    assert!(text.ends_with("\r\n\r\n"));
    assert!(text.starts_with("GET /ann?passkey=x%20y&info_hash="));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .map(|kv| kv.split_once('=').unwrap())
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| *n == k).unwrap().1;
    assert_eq!(percent_decode(get("info_hash")), req.info_hash.0);
    assert_eq!(percent_decode(get("peer_id")), req.peer_id.0);
    assert_eq!(get("peer_id"), "-ST0100-ab%20cd~ef.g_%25");
    assert_eq!(get("port"), "6881");
    assert_eq!(get("uploaded"), "1");
    assert_eq!(get("downloaded"), "2");
    assert_eq!(get("left"), "1099511627776");
    assert_eq!(get("compact"), "1");
    assert_eq!(get("numwant"), "50");
    assert_eq!(get("key"), "DEADBEEF");
    assert_eq!(get("event"), "started");
    assert_eq!(get("ip"), "10.0.0.1");
    assert_eq!(get("trackerid"), "id%26%3D1");
    // Only unreserved characters and escapes in the target.
    assert!(
        query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%&=".contains(&b))
    );

    let mut plain = request();
    plain.event = AnnounceEvent::None;
    plain.numwant = None;
    plain.ip = None;
    plain.tracker_id = None;
    let url = TrackerUrl::parse("http://[::1]/announce?a=1&").unwrap();
    let (text, query) = head_and_query(&announce_request(&url, &plain));
    assert!(text.contains("\r\nHost: [::1]\r\n"));
    assert!(query.starts_with("a=1&info_hash="), "{query}");
    for absent in ["event=", "numwant=", "ip=", "trackerid="] {
        assert!(!query.contains(absent), "{query}");
    }
}

fn read_all(input: &[u8], limit: usize) -> Result<HttpResponse, HttpError> {
    let mut r = ResponseReader::new(limit);
    match r.push(input)? {
        Some(resp) => Ok(resp),
        None => r.eof(),
    }
}

#[test]
fn reads_responses_in_any_chunking() {
    let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";
    let with_len = [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes(),
        body.to_vec(),
    ]
    .concat();
    let chunked = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
        b"5\r\nd8:in\r\n".to_vec(),
        format!("{:x};ext=1\r\n", body.len() - 5).into_bytes(),
        body[5..].to_vec(),
        b"\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(),
    ]
    .concat();
    let until_close = [b"HTTP/1.0 200 OK\r\n\r\n".to_vec(), body.to_vec()].concat();
    for input in [&with_len, &chunked] {
        // One byte at a time and all at once give the same response.
        let whole = read_all(input, 4096).unwrap();
        let mut r = ResponseReader::new(4096);
        let mut got = None;
        for b in input.iter() {
            if let Some(resp) = r.push(&[*b]).unwrap() {
                got = Some(resp);
                break;
            }
        }
        assert_eq!(got.as_ref(), Some(&whole));
        assert_eq!(whole.body(), body);
        assert_eq!(whole.status(), 200);
    }
    let resp = read_all(&until_close, 4096).unwrap();
    assert_eq!(resp.body(), body);
    let url = TrackerUrl::parse("http://t/announce").unwrap();
    let HttpOutcome::Done(a) = announce_outcome(&url, &resp).unwrap() else {
        panic!("not done")
    };
    assert_eq!(a.interval, Some(Duration::from_secs(1800)));
    assert_eq!(a.peers, vec!["127.0.0.1:6881".parse().unwrap()]);

    let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(read_all(interim, 4096).unwrap().status(), 204);
}

#[test]
fn hostile_http_framing_gives_exact_errors() {
    let big_head = format!(
        "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEAD + 10)
    );
    let cases: Vec<(&str, Vec<u8>, HttpError)> = vec![
        (
            "truncated head",
            b"HTTP/1.1 200 OK\r\nContent-Le".to_vec(),
            HttpError::TruncatedHead { received: 27 },
        ),
        (
            "empty",
            Vec::new(),
            HttpError::TruncatedHead { received: 0 },
        ),
        (
            "truncated body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nd4:ab".to_vec(),
            HttpError::TruncatedBody {
                expected: 10,
                received: 5,
            },
        ),
        (
            "huge content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n".to_vec(),
            HttpError::TooLarge { limit: 1000 },
        ),
        (
            "content-length overflowing usize",
            b"HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999999999\r\n\r\n".to_vec(),
            HttpError::BadContentLength("999999999999999999999999".into()),
        ),
        (
            "negative content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".to_vec(),
            HttpError::BadContentLength("-1".into()),
        ),
        (
            "conflicting content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            HttpError::ConflictingContentLength,
        ),
        (
            "huge body without length",
            [b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), vec![b'x'; 2000]].concat(),
            HttpError::TooLarge { limit: 1000 },
        ),
        (
            "huge chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nab".to_vec(),
            HttpError::TooLarge { limit: 1000 },
        ),
        (
            "chunk size overflow",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n"
                .to_vec(),
            HttpError::BadChunk,
        ),
        (
            "chunk without CRLF",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd0\r\n\r\n".to_vec(),
            HttpError::BadChunk,
        ),
        (
            "bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            HttpError::BadChunk,
        ),
        (
            "truncated chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab".to_vec(),
            HttpError::TruncatedChunked,
        ),
        (
            "gzip transfer encoding",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(),
            HttpError::UnsupportedTransferEncoding("gzip, chunked".into()),
        ),
        (
            "gzip content encoding",
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n".to_vec(),
            HttpError::UnsupportedContentEncoding("gzip".into()),
        ),
        (
            "not http",
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
            HttpError::Malformed("invalid HTTP version".into()),
        ),
        (
            "bad status",
            b"HTTP/1.1 2x0 OK\r\n\r\n".to_vec(),
            HttpError::Malformed("invalid response status".into()),
        ),
        (
            "head too large",
            big_head.into_bytes(),
            HttpError::HeadTooLarge,
        ),
    ];
    for (name, input, want) in cases {
        let limit = if want == HttpError::HeadTooLarge {
            1 << 20
        } else {
            1000
        };
        assert_eq!(read_all(&input, limit), Err(want), "{name}");
    }
    let many_headers: String = (0..MAX_HEADERS + 1)
        .map(|i| format!("H{i}: v\r\n"))
        .collect();
    let input = format!("HTTP/1.1 200 OK\r\n{many_headers}\r\n");
    assert_eq!(
        read_all(input.as_bytes(), 1 << 20),
        Err(HttpError::Malformed("too many headers".into()))
    );
}

fn response(status_line: &str, headers: &str, body: &[u8]) -> HttpResponse {
    let input = [
        format!(
            "HTTP/1.1 {status_line}\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes(),
        body.to_vec(),
    ]
    .concat();
    read_all(&input, 1 << 20).unwrap()
}

#[test]
fn statuses_and_redirects() {
    let url = TrackerUrl::parse("http://t.org/announce?k=1").unwrap();
    let r = response("302 Found", "Location: /other?k=2\r\n", b"");
    assert_eq!(
        announce_outcome(&url, &r),
        Ok(HttpOutcome::Redirect(
            TrackerUrl::parse("http://t.org/other?k=2").unwrap()
        ))
    );
    let r = response("301 Moved", "", b"");
    assert_eq!(
        announce_outcome(&url, &r),
        Err(TrackerError::Redirect(RedirectError::MissingLocation))
    );
    let r = response("307 Temporary", "Location: udp://t.org:80\r\n", b"");
    assert_eq!(
        announce_outcome(&url, &r),
        Err(TrackerError::Redirect(RedirectError::NotHttp(
            "udp://t.org:80/".into()
        )))
    );
    let r = response("308 Perm", "Location: what\r\n", b"");
    assert_eq!(
        announce_outcome(&url, &r),
        Err(TrackerError::Url(UrlError::BadLocation("what".into())))
    );
    let r = response("404 Not Found", "", b"<html>nope</html>");
    assert_eq!(
        announce_outcome(&url, &r),
        Err(TrackerError::Status {
            code: 404,
            reason: "Not Found".into()
        })
    );
    let r = response("400 Bad", "", b"d14:failure reason9:not allowe");
    assert_eq!(
        announce_outcome(&url, &r),
        Err(TrackerError::Response(ResponseError::Failure(
            "not allow".into()
        )))
    );
}

fn encode(build: impl FnOnce(&mut Encoder)) -> Vec<u8> {
    let mut e = Encoder::new();
    build(&mut e);
    e.finish()
}

#[test]
fn parses_a_full_announce_body() {
    let body = encode(|e| {
        e.dict();
        e.bytes(b"complete").int(5);
        e.bytes(b"incomplete").int(7);
        e.bytes(b"interval").int(1800);
        e.bytes(b"min interval").int(60);
        e.bytes(b"peers")
            .bytes(&[10, 0, 0, 1, 0, 80, 10, 0, 0, 2, 0, 81]);
        let mut v6 = [0u8; 18];
        v6[15] = 1;
        v6[17] = 9;
        e.bytes(b"peers6").bytes(&v6);
        e.bytes(b"tracker id").bytes(b"xyz");
        e.bytes(b"warning message").bytes(b"be nice");
        e.end();
    });
    let r = parse_announce(&body).unwrap();
    assert_eq!(r.interval, Some(Duration::from_secs(1800)));
    assert_eq!(r.min_interval, Some(Duration::from_secs(60)));
    assert_eq!((r.complete, r.incomplete), (Some(5), Some(7)));
    assert_eq!(r.warning.as_deref(), Some("be nice"));
    assert_eq!(r.tracker_id.as_deref(), Some(&b"xyz"[..]));
    let want: Vec<SocketAddr> = ["10.0.0.1:80", "10.0.0.2:81", "[::1]:9"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(r.peers, want);

    let dict_peers = encode(|e| {
        e.dict();
        e.bytes(b"interval").int(900);
        e.bytes(b"peers").list();
        for (ip, port) in [
            ("1.2.3.4", 1),
            ("tracker.host", 2),
            ("::2", 3),
            ("[::3]", 4),
        ] {
            e.dict();
            e.bytes(b"ip").bytes(ip.as_bytes());
            e.bytes(b"peer id").bytes(&[0; 20]);
            e.bytes(b"port").int(port);
            e.end();
        }
        e.end();
        e.end();
    });
    let r = parse_announce(&dict_peers).unwrap();
    let want: Vec<SocketAddr> = ["1.2.3.4:1", "[::2]:3", "[::3]:4"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(r.peers, want);
}

#[test]
fn hostile_announce_bodies_give_exact_errors() {
    let cases: Vec<(&str, Vec<u8>, ResponseError)> = vec![
        (
            "failure",
            b"d14:failure reason12:unregisterede".to_vec(),
            ResponseError::Failure("unregistered".into()),
        ),
        (
            "failure not a string",
            b"d14:failure reasoni1ee".to_vec(),
            ResponseError::WrongType {
                key: "failure reason",
                expected: "byte string",
            },
        ),
        (
            "a list",
            b"le".to_vec(),
            ResponseError::NotADictionary("list"),
        ),
        (
            "compact peers not a multiple of 6",
            b"d8:intervali1e5:peers7:abcdefge".to_vec(),
            ResponseError::CompactPeersLength(7),
        ),
        (
            "peers6 not a multiple of 18",
            b"d8:intervali1e6:peers64:abcde".to_vec(),
            ResponseError::CompactPeers6Length(4),
        ),
        (
            "peers an integer",
            b"d5:peersi3ee".to_vec(),
            ResponseError::WrongType {
                key: "peers",
                expected: "byte string or list",
            },
        ),
        (
            "negative interval",
            b"d8:intervali-5ee".to_vec(),
            ResponseError::OutOfRange {
                key: "interval",
                value: -5,
            },
        ),
        (
            "interval a string",
            b"d8:interval2:10e".to_vec(),
            ResponseError::WrongType {
                key: "interval",
                expected: "integer",
            },
        ),
        (
            "huge complete",
            b"d8:completei99999999999ee".to_vec(),
            ResponseError::OutOfRange {
                key: "complete",
                value: 99_999_999_999,
            },
        ),
        (
            "dict peer without port",
            b"d5:peersld2:ip7:1.2.3.4eee".to_vec(),
            ResponseError::BadPeer(0),
        ),
        (
            "dict peer port out of range",
            b"d5:peersld2:ip7:1.2.3.44:porti70000eeee".to_vec(),
            ResponseError::BadPeer(0),
        ),
        (
            "dict peer not a dict",
            b"d5:peersli1eee".to_vec(),
            ResponseError::BadPeer(0),
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(parse_announce(&input), Err(want), "{name}");
    }
    // Bad bencode names the offset and the fault.
    let Err(ResponseError::Bencode(e)) = parse_announce(b"d8:interval") else {
        panic!("truncated bencode accepted")
    };
    assert_eq!((e.offset, e.kind), (11, DecodeErrorKind::UnexpectedEof));
    let Err(ResponseError::Bencode(e)) = parse_announce(b"d5:peers999999999:xe") else {
        panic!("lying string length accepted")
    };
    assert_eq!(e.offset, 8);
    let Err(ResponseError::Bencode(e)) = parse_announce(b"<html>") else {
        panic!("html accepted")
    };
    assert_eq!(e.kind, DecodeErrorKind::UnexpectedByte(b'<'));
}

#[test]
fn bytes_past_a_complete_response_are_reported_as_surplus() {
    let exact: [&[u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
    ];
    for raw in exact {
        let mut reader = ResponseReader::new(1024);
        assert!(reader.push(raw).expect("valid").is_some());
        assert!(!reader.has_surplus(), "{}", String::from_utf8_lossy(raw));
        let mut reader = ResponseReader::new(1024);
        assert!(reader.push(&[raw, b"H"].concat()).expect("valid").is_some());
        assert!(reader.has_surplus(), "{}", String::from_utf8_lossy(raw));
    }
    let mut reader = ResponseReader::new(1024);
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nX";
    assert!(reader.push(chunked).expect("valid").is_some());
    assert!(reader.has_surplus());
    let mut partial = ResponseReader::new(1024);
    assert!(
        partial
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab")
            .expect("valid")
            .is_none()
    );
    assert!(!partial.has_surplus());
}
