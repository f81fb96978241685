//! Streaming from the daemon while the torrent downloads from a throttled libtorrent seeder
//! (about 200 kB/s, so the whole video takes tens of seconds): `curl` range requests at the
//! start, middle and end of the file get exactly the seeder's bytes (206 with
//! `Content-Range`), each before the torrent is complete; `ffprobe` reads the video's stream
//! from the URL (it seeks to the MP4 index at the end) while it is still downloading; a whole
//! `HEAD`, a range past the end (416), a missing file (404) and a request without credentials
//! (401) get their answers, and a qBittorrent `SID` cookie is accepted instead of basic auth.
//! A file the user had skipped is turned on (wanted, high priority) by a `GET` of its stream,
//! and `ffprobe` reads it; a `HEAD` leaves it skipped.

mod common;
mod interop_support;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Scratch, s, start_daemon};
use interop_support::{Data, bounded, lt_addr, lt_seeder};
use sanstorrent_tests::interop::{WorkDir, mktorrent};

const AUTH: &str = "user:secret";

/// A 20-second test video (MPEG-4 part 2 in MP4, its index at the end), about 7.5 MB.
fn make_video(work: &WorkDir) -> Data {
    let dir = work.join("src");
    fs::create_dir_all(&dir).unwrap();
    let video = dir.join("clip.mp4");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=duration=20:size=640x360:rate=25")
        // Noise, so that the test pattern does not compress to almost nothing: 3 Mbit/s.
        .args(["-vf", "noise=alls=12:allf=t", "-c:v", "mpeg4", "-g", "25"])
        .args(["-b:v", "3M", "-maxrate", "3M", "-bufsize", "3M"])
        .arg(&video)
        .output()
        .expect("run ffmpeg (test.sh installs Debian's ffmpeg package)");
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let len = fs::metadata(&video).unwrap().len();
    assert!(len > 4 << 20, "the video is only {len} bytes");
    let torrent = work.join("clip.torrent");
    let json = mktorrent(&[
        "make",
        "--data",
        s(&video),
        "--piece-size",
        "65536",
        "--torrent",
        s(&torrent),
    ]);
    let field = |key: &str| {
        json.split(&format!("\"{key}\": \""))
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap_or_else(|| panic!("no {key} in {json}"))
            .to_string()
    };
    Data {
        torrent,
        dir,
        info_hash: field("infohash"),
        magnet: field("magnet"),
    }
}

/// `curl` with the daemon's credentials and `args`: (status, headers, body).
fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "60", "-D", "-", "-u", AUTH])
        .args(args)
        .output()
        .expect("run curl");
    split_response(&out.stdout)
}

/// Splits what `curl -D -` printed into the status, the head and the body.
fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head, raw[end + 4..].to_vec())
}

/// The value of header `name` (lowercase) in a response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Whether a response head has `line` (compared without case).
fn has(head: &str, line: &str) -> bool {
    head.to_ascii_lowercase().lines().any(|l| l.trim() == line)
}

/// A Transmission RPC call (the session-id handshake first): the answer's JSON text.
fn rpc(port: u16, body: &str) -> String {
    let url = format!("http://127.0.0.1:{port}/transmission/rpc");
    let (_, head, _) = curl(&["-X", "POST", "-d", body, &url]);
    let id = header(&head, "x-transmission-session-id").expect("a session id");
    let session = format!("X-Transmission-Session-Id: {id}");
    let (status, _, json) = curl(&["-X", "POST", "-H", &session, "-d", body, &url]);
    let json = String::from_utf8_lossy(&json).into_owned();
    assert_eq!(status, 200, "{json}");
    assert!(json.contains(r#""result":"success""#), "{json}");
    json
}

/// The torrent's `percentDone` from the Transmission RPC.
fn percent_done(port: u16) -> f64 {
    let json = rpc(
        port,
        r#"{"method":"torrent-get","arguments":{"fields":["percentDone"]}}"#,
    );
    json.split("\"percentDone\":")
        .nth(1)
        .and_then(|x| x.split(['}', ',']).next())
        .and_then(|x| x.trim().parse().ok())
        .unwrap_or_else(|| panic!("no percentDone in {json}"))
}

#[test]
fn a_file_streams_with_ranges_while_it_downloads() {
    sanstorrent_tests::interop::require_tool("ffprobe");
    bounded(250, || {
        let work = WorkDir::new("stream");
        let d = make_video(&work);
        let source = fs::read(d.dir.join("clip.mp4")).unwrap();
        let len = source.len();
        // About 200 kB/s: the whole file takes 30 s or more.
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "200000"]);
        let w = Scratch::new("stream");
        let (daemon, port) = start_daemon(&w, &w.join("dl"), &["--http-auth", AUTH]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        let add = format!(
            r#"{{"method":"torrent-add","arguments":{{"filename":"{}"}}}}"#,
            magnet.replace('"', "")
        );
        let url = format!("http://127.0.0.1:{port}/stream/{}/0", d.info_hash);
        let rpc = format!("http://127.0.0.1:{port}/transmission/rpc");
        let (_, head, _) = curl(&["-X", "POST", "-d", &add, &rpc]);
        let id = header(&head, "x-transmission-session-id").expect("a session id");
        let session = format!("X-Transmission-Session-Id: {id}");
        let (status, _, answer) = curl(&["-X", "POST", "-H", &session, "-d", &add, &rpc]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));

        // The file is known once the magnet's metadata arrived: HEAD answers at once.
        let started = Instant::now();
        let head = loop {
            let (status, head, _) = curl(&["-I", &url]);
            if status == 200 {
                break head;
            }
            assert_eq!(status, 503, "{head}");
            assert!(started.elapsed() < Duration::from_secs(30), "no metadata");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(has(&head, &format!("content-length: {len}")), "{head}");
        assert!(has(&head, "accept-ranges: bytes"), "{head}");
        assert!(has(&head, "content-type: video/mp4"), "{head}");
        assert!(has(&head, "x-content-type-options: nosniff"), "{head}");

        // A player: ffprobe reads the header, then seeks to the index at the end.
        let asked = Instant::now();
        let auth_url = url.replace("http://", &format!("http://{AUTH}@"));
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_type,width,height")
            .args(["-of", "csv=p=0", &auth_url])
            .output()
            .expect("run ffprobe");
        let done = percent_done(port);
        let out = String::from_utf8_lossy(&probe.stdout);
        assert!(
            probe.status.success() && out.trim() == "video,640,360",
            "ffprobe: {out} {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        assert!(done < 1.0, "ffprobe: the torrent was complete ({done})");
        eprintln!(
            "ffprobe: {} in {:.1} s, torrent {:.0} % done",
            out.trim(),
            asked.elapsed().as_secs_f64(),
            done * 100.0
        );

        // Start, middle and end: exactly the seeder's bytes, before the download is over.
        let mid = len / 2;
        for (range, start, end) in [
            ("bytes=0-99999".to_string(), 0, 99_999),
            (format!("bytes={mid}-{}", mid + 150_000), mid, mid + 150_000),
            ("bytes=-100000".to_string(), len - 100_000, len - 1),
        ] {
            let asked = Instant::now();
            let (status, head, body) = curl(&["-H", &format!("Range: {range}"), &url]);
            let done = percent_done(port);
            assert_eq!(status, 206, "{range}: {head}");
            assert!(
                has(&head, &format!("content-range: bytes {start}-{end}/{len}")),
                "{range}: {head}"
            );
            assert!(body == source[start..=end], "{range}: wrong bytes");
            assert!(done < 1.0, "{range}: the torrent was complete ({done})");
            eprintln!(
                "{range}: {} bytes in {:.1} s, torrent {:.0} % done",
                body.len(),
                asked.elapsed().as_secs_f64(),
                done * 100.0
            );
        }

        // The other answers.
        let (status, head, _) = curl(&["-H", &format!("Range: bytes={len}-"), &url]);
        assert_eq!(status, 416, "{head}");
        assert!(
            has(&head, &format!("content-range: bytes */{len}")),
            "{head}"
        );
        let (status, _, _) = curl(&["-I", &url.replace("/0", "/1")]);
        assert_eq!(status, 404);
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
        // A qBittorrent session cookie instead of basic auth.
        let login = format!("http://127.0.0.1:{port}/api/v2/auth/login");
        let out = Command::new("curl")
            .args([
                "-s",
                "-D",
                "-",
                "-d",
                "username=user&password=secret",
                &login,
            ])
            .output()
            .unwrap();
        let (_, head, _) = split_response(&out.stdout);
        let sid = header(&head, "set-cookie")
            .and_then(|c| c.strip_prefix("SID="))
            .and_then(|c| c.split(';').next())
            .expect("a SID cookie")
            .to_string();
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "-H", "Range: bytes=0-9"])
            .args(["-b", &format!("SID={sid}"), &url])
            .output()
            .unwrap();
        let (status, _, body) = split_response(&out.stdout);
        assert_eq!((status, body.as_slice()), (206, &source[..10]));
        drop(daemon);
        drop(seeder);
    });
}

/// The torrent's files' `wanted` flags, priorities and bytes completed, from `torrent-get`
/// `fileStats`.
fn file_stats(port: u16) -> Vec<(bool, i64, u64)> {
    let json = rpc(
        port,
        r#"{"method":"torrent-get","arguments":{"fields":["fileStats"]}}"#,
    );
    let number = |text: &str, key: &str| -> i64 {
        text.split(&format!(r#""{key}":"#))
            .nth(1)
            .and_then(|p| p.split([',', '}']).next())
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {json}"))
    };
    json.split(r#"{"bytesCompleted":"#)
        .skip(1)
        .map(|stat| {
            let stat = format!(r#"{{"bytesCompleted":{stat}"#);
            let wanted = stat.contains(r#""wanted":true"#);
            let done = u64::try_from(number(&stat, "bytesCompleted")).unwrap();
            (wanted, number(&stat, "priority"), done)
        })
        .collect()
}

#[test]
fn streaming_a_skipped_file_turns_it_on() {
    sanstorrent_tests::interop::require_tool("ffprobe");
    bounded(200, || {
        let work = WorkDir::new("stream-skipped");
        let d = make_video(&work);
        let len = fs::metadata(d.dir.join("clip.mp4")).unwrap().len();
        let seeder = lt_seeder(&work, "seeder", &d, &["--upload-limit", "400000"]);
        let w = Scratch::new("stream-skipped");
        let (daemon, port) = start_daemon(&w, &w.join("dl"), &["--http-auth", AUTH]);
        let magnet = format!("{}&x.pe={}", d.magnet, lt_addr(&seeder));
        rpc(
            port,
            &format!(
                r#"{{"method":"torrent-add","arguments":{{"filename":"{}"}}}}"#,
                magnet.replace('"', "")
            ),
        );
        let url = format!("http://127.0.0.1:{port}/stream/{}/0", d.info_hash);
        let started = Instant::now();
        while curl(&["-I", &url]).0 != 200 {
            assert!(started.elapsed() < Duration::from_secs(30), "no metadata");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The user skips the file (a few pieces may have come meanwhile).
        rpc(
            port,
            r#"{"method":"torrent-set","arguments":{"files-unwanted":[0]}}"#,
        );
        let skipped = |stats: Vec<(bool, i64, u64)>| {
            assert_eq!(stats.len(), 1, "{stats:?}");
            assert_eq!((stats[0].0, stats[0].1), (false, 0), "{stats:?}");
            assert!(stats[0].2 < len, "the file was complete before the stream");
        };
        skipped(file_stats(port));
        // A HEAD only looks.
        let (status, head, _) = curl(&["-I", &url]);
        assert_eq!(status, 200, "{head}");
        skipped(file_stats(port));

        // A player reads it: the file is turned on, first in line, and streams.
        let asked = Instant::now();
        let auth_url = url.replace("http://", &format!("http://{AUTH}@"));
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_type,width,height")
            .args(["-of", "csv=p=0", &auth_url])
            .output()
            .expect("run ffprobe");
        let out = String::from_utf8_lossy(&probe.stdout);
        assert!(
            probe.status.success() && out.trim() == "video,640,360",
            "ffprobe: {out} {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let stats = file_stats(port);
        assert_eq!((stats[0].0, stats[0].1), (true, 1), "{stats:?}");
        eprintln!(
            "skipped file streamed: ffprobe {} in {:.1} s, torrent {:.0} % done",
            out.trim(),
            asked.elapsed().as_secs_f64(),
            percent_done(port) * 100.0
        );
        drop(daemon);
        drop(seeder);
    });
}
