//! Helpers shared by the CLI tests: run the real binary, make scratch directories.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The `sanstorrent` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sanstorrent")
}

/// Runs `sanstorrent args...`, returning (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(bin())
        .args(args)
        .output()
        .expect("run sanstorrent");
    let code = out.status.code().expect("exited normally, not by a signal");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "sanstorrent {args:?} panicked:\n{stderr}"
    );
    (code, stdout, stderr)
}

/// The value after `key:` on the line starting with it.
pub fn field<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{stdout}"))
}

/// A scratch directory removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(label: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sanstorrent-cli-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// Writes `len` deterministic pseudo-random bytes to `rel`, creating directories.
    pub fn file(&self, rel: &str, len: usize, seed: u64) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(&path, data).expect("write file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A path as &str (scratch paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A TCP port free on 127.0.0.1 a moment ago (UDP on it too: the client binds both).
pub fn free_port() -> u16 {
    loop {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = tcp.local_addr().expect("bound").port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `sanstorrent` process, killed on drop if still running.
pub struct Running(pub std::process::Child);

impl Running {
    /// Starts `sanstorrent args...` with stdout and stderr piped.
    pub fn start(args: &[&str]) -> Self {
        let child = Command::new(bin())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start sanstorrent");
        Self(child)
    }

    /// Sends SIGINT (as Ctrl+C does).
    pub fn interrupt(&self) {
        self.signal("INT");
    }

    /// Sends the signal `name` (`INT`, `TERM`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
    }

    /// Waits at most `secs` for the exit; returns (code, stdout, stderr).
    pub fn wait(mut self, secs: u64) -> (i32, String, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                let mut out = String::new();
                let mut err = String::new();
                use std::io::Read;
                if let Some(mut o) = self.0.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Some(mut e) = self.0.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                assert!(
                    !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
                    "sanstorrent panicked:\n{err}"
                );
                let code = status.code().expect("exited normally, not by a signal");
                return (code, out, err);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sanstorrent still running after {secs} s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (at most 20 s) until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// N from the summary line `downloaded N bytes ...` on stdout.
pub fn downloaded(stdout: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("downloaded "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `downloaded N bytes` line in:\n{stdout}"))
}

/// Makes `<scratch>/<dir>.torrent` of the directory `<scratch>/<dir>` (its tracker URL is one
/// nothing listens on); returns the .torrent's path.
pub fn create_torrent(w: &Scratch, dir: &str) -> String {
    let torrent = w.join(&format!("{dir}.torrent"));
    let (code, _, err) = run(&[
        "create",
        s(&w.join(dir)),
        "-t",
        "http://127.0.0.1:1/announce",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "{err}");
    s(&torrent).to_owned()
}

/// Starts `sanstorrent daemon` on a free loopback HTTP port, downloading under
/// `download_dir`, its state in `<scratch>/state`, no DHT, plus `extra` arguments; returns it
/// once its HTTP port listens, with that port.
pub fn start_daemon(w: &Scratch, download_dir: &Path, extra: &[&str]) -> (Running, u16) {
    let extra = [&["--quiet"], extra].concat();
    let (daemon, http) = spawn_daemon(w, download_dir, 0, &extra, None);
    wait_listening(http);
    (daemon, http)
}

/// Starts the daemon as [`start_daemon`] does, not quiet: its log, filtered by `RUST_LOG`
/// `filter`, goes to the file `log`.
pub fn start_daemon_logged(
    w: &Scratch,
    download_dir: &Path,
    extra: &[&str],
    filter: &str,
    log: &Path,
) -> (Running, u16) {
    start_daemon_on(w, download_dir, 0, extra, filter, log)
}

/// Starts the daemon as [`start_daemon_logged`] does, its peers listening on `peer`
/// (0: any free port).
pub fn start_daemon_on(
    w: &Scratch,
    download_dir: &Path,
    peer: u16,
    extra: &[&str],
    filter: &str,
    log: &Path,
) -> (Running, u16) {
    let (daemon, http) = spawn_daemon(w, download_dir, peer, extra, Some((filter, log)));
    wait_listening(http);
    (daemon, http)
}

/// `sanstorrent daemon` with the arguments [`start_daemon`] gives, peers on port `peer`, its
/// stderr piped or into the log file of `log` (`RUST_LOG` filter, path).
fn spawn_daemon(
    w: &Scratch,
    download_dir: &Path,
    peer: u16,
    extra: &[&str],
    log: Option<(&str, &Path)>,
) -> (Running, u16) {
    let http = free_port();
    let http_addr = format!("127.0.0.1:{http}");
    let state = w.join("state");
    let peer = peer.to_string();
    let mut args = vec![
        "daemon",
        "-o",
        s(download_dir),
        "--state-dir",
        s(&state),
        "--http",
        &http_addr,
        "-p",
        &peer,
        "--bind",
        "127.0.0.1",
        "--no-dht",
    ];
    args.extend_from_slice(extra);
    let Some((filter, log)) = log else {
        return (Running::start(&args), http);
    };
    let child = Command::new(bin())
        .args(&args)
        .env("RUST_LOG", filter)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start the daemon");
    (Running(child), http)
}

/// Whether a test must fail rather than skip when a real peer or tool it drives is missing:
/// under CI and under test.sh (`SANSTORRENT_FULL_TESTS`), which install every one of them.
pub fn skips_forbidden() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("SANSTORRENT_FULL_TESTS").is_some()
}

/// The Python of the virtual environment `test.sh` makes (`$SANSTORRENT_TRANSMISSION_RPC_PYTHON`
/// overrides it), if it can import every one of `modules`. `None` means the test should skip:
/// allowed outside CI only, since test.sh (and so CI) installs them.
pub fn test_python(modules: &[&str]) -> Option<String> {
    let python = std::env::var("SANSTORRENT_TRANSMISSION_RPC_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../target/transmission-rpc/bin/python"
        )
        .into()
    });
    let ready = modules.iter().all(|m| {
        Command::new(&python)
            .args(["-c", &format!("import {m}")])
            .status()
            .is_ok_and(|s| s.success())
    });
    if ready {
        return Some(python);
    }
    assert!(
        !skips_forbidden(),
        "{python} cannot import {modules:?}: run test.sh"
    );
    eprintln!("skipped: {python} cannot import {modules:?} (test.sh installs them)");
    None
}

/// Runs `transmission-remote 127.0.0.1:port args...`; its stdout, after checking it succeeded.
pub fn remote(port: u16, args: &[&str]) -> String {
    let out = Command::new("transmission-remote")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .output()
        .expect("run transmission-remote (the interop set-up installs transmission-cli)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "transmission-remote {args:?}: {stdout} {stderr}"
    );
    stdout
}

/// `curl -s -i` with `args`: (HTTP status, head and body as text).
pub fn curl_text(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A Transmission RPC call with `body` on the daemon at `port` (the session-id handshake
/// first); the answer as text, after checking it is HTTP 200.
pub fn rpc_text(port: u16, body: &str) -> String {
    let url = format!("http://127.0.0.1:{port}/transmission/rpc");
    let (_, head) = curl_text(&["-X", "POST", "-d", body, &url]);
    let id = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-transmission-session-id")
                .then(|| value.trim().to_owned())
        })
        .expect("a session id");
    let session = format!("X-Transmission-Session-Id: {id}");
    let (status, text) = curl_text(&["-X", "POST", "-H", &session, "-d", body, &url]);
    assert_eq!(status, 200, "{text}");
    text
}

/// The daemon's torrents as (name, Transmission status, percentDone) from `torrent-get`,
/// sorted by name.
pub fn torrent_states(port: u16) -> Vec<(String, u64, f64)> {
    let body = r#"{"method":"torrent-get","arguments":{"fields":["name","status","percentDone"]}}"#;
    let text = rpc_text(port, body);
    let json = text
        .split_once("\r\n\r\n")
        .map_or(text.as_str(), |(_, b)| b);
    let value: serde_json::Value = serde_json::from_str(json).expect("torrent-get answer");
    let mut list: Vec<(String, u64, f64)> = value["arguments"]["torrents"]
        .as_array()
        .expect("a torrent list")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                t["status"].as_u64().unwrap_or(99),
                t["percentDone"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

/// The arguments of a loopback `download` of `torrent` into `out`, its state in `state`
/// (port 0, bound to 127.0.0.1, no DHT); callers add the peers and limits they need.
pub fn loopback_download<'a>(torrent: &'a str, out: &'a Path, state: &'a Path) -> Vec<&'a str> {
    loopback("download", torrent, out, state)
}

/// The arguments of `verb` (`download`, `seed`) of `torrent` with its data in `out`, its
/// state in `state`, on loopback (port 0, bound to 127.0.0.1, no DHT).
pub fn loopback<'a>(
    verb: &'a str,
    torrent: &'a str,
    out: &'a Path,
    state: &'a Path,
) -> Vec<&'a str> {
    vec![
        verb,
        torrent,
        "-o",
        s(out),
        "-p",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--state-dir",
        s(state),
    ]
}

/// Moves the modification time of the file at `path` `by` later, its bytes untouched.
pub fn touch_later(path: &Path, by: std::time::Duration) {
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(mtime + by))
        .expect("touch");
}
