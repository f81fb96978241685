//! Hostile clients against the daemon's HTTP server: a body or a head trickled a byte at a
//! time meets the whole-request deadline (not a per-read one), a qBittorrent upload past the
//! body cap gets a 413, and a crowd of silent connections past the connection cap cannot keep
//! an honest client out for longer than the header timeout.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Limits;
use super::tests::{exchange, read_all, start, status};

/// Writes `bytes` one at a time, `gap` apart, on a thread, until done or the server closes;
/// the thread returns how many bytes it wrote.
fn trickle(stream: &TcpStream, bytes: Vec<u8>, gap: Duration) -> std::thread::JoinHandle<usize> {
    let mut writer = stream.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut sent = 0;
        for b in bytes {
            if writer.write_all(&[b]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(gap);
        }
        sent
    })
}

#[test]
fn a_trickled_body_meets_the_body_deadline() {
    let limits = Limits {
        body_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let s = start(None, limits);
    let id = format!("X-Transmission-Session-Id: {}", s.session_id);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "POST /transmission/rpc HTTP/1.1\r\nHost: localhost\r\n{id}\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    // A byte every 100 ms: each read is quick, the whole body would take 10 s.
    let writer = trickle(&stream, vec![b' '; 100], Duration::from_millis(100));
    let answer = read_all(&mut stream);
    let took = started.elapsed();
    assert_eq!(status(&answer), 408, "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(stream);
    assert!(writer.join().unwrap() < 100);
}

#[test]
fn a_trickled_head_meets_the_header_deadline() {
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let s = start(None, limits);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 200));
    let writer = trickle(&stream, head, Duration::from_millis(50));
    let _ = read_all(&mut stream);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "the trickled head held on {took:?}"
    );
    drop(stream);
    assert!(writer.join().unwrap() < 200);
}

#[test]
fn a_qbittorrent_upload_past_the_cap_is_refused() {
    let limits = Limits {
        rpc_body: 4096,
        ..Limits::default()
    };
    let s = start(None, limits);
    let declared = exchange(
        s.addr,
        b"POST /api/v2/torrents/add HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 17000000\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&declared), 413, "{declared}");
    let mut raw = "POST /api/v2/torrents/add HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string();
    for _ in 0..8 {
        raw.push_str(&format!("400\r\n{}\r\n", "x".repeat(0x400)));
    }
    raw.push_str("0\r\n\r\n");
    let chunked = exchange(s.addr, raw.as_bytes());
    assert_eq!(status(&chunked), 413, "{chunked}");
}

#[test]
fn silent_connections_past_the_cap_free_their_slots() {
    let limits = Limits {
        max_connections: 8,
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let s = start(None, limits);
    // Fifty connections that never send a byte: eight take the slots, the rest are closed.
    let silent: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let served = loop {
        let answer = exchange(s.addr, request);
        if !answer.is_empty() {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the silent connections kept their slots"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status(&served), 200, "{served}");
    // Every silent connection has been closed by now.
    for mut stream in silent {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = read_all(&mut stream);
    }
    assert!(started.elapsed() < Duration::from_secs(8));
}
