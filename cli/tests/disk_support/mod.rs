//! What the daemon's disk-fault tests share: a tracker the test steers, torrents of 32 KiB
//! pieces, the daemon read through the Transmission RPC, our own seeder, and a mount
//! namespace of the test's own (where a tmpfs fills up, a directory turns read-only, a FUSE
//! filesystem fails reads).

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Running, Scratch, free_port, remote, rpc_text, run, s, wait_listening};

/// The piece length of every torrent made here.
pub const PIECE: u64 = 32 * 1024;
/// A mebibyte.
pub const MIB: usize = 1024 * 1024;

/// An HTTP tracker on loopback answering every announce with the peers the test sets.
pub struct Tracker {
    pub url: String,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Tracker {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the tracker");
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        let peers = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&peers);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let mut compact = Vec::new();
                for peer in shared.lock().unwrap().iter() {
                    if let SocketAddr::V4(v4) = peer {
                        compact.extend_from_slice(&v4.ip().octets());
                        compact.extend_from_slice(&v4.port().to_be_bytes());
                    }
                }
                let mut body =
                    format!("d8:intervali30e12:min intervali1e5:peers{}:", compact.len())
                        .into_bytes();
                body.extend_from_slice(&compact);
                body.push(b'e');
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Self { url, peers }
    }

    /// From now on, announces name `peer`.
    pub fn name(&self, peer: SocketAddr) {
        self.peers.lock().unwrap().push(peer);
    }
}

/// `<scratch>/<name>.torrent` of `<scratch>/<dir>/<name>` with 32 KiB pieces, announcing to
/// `tracker`.
pub fn torrent_of(w: &Scratch, dir: &str, name: &str, tracker: &str) -> String {
    let torrent = w.join(&format!("{name}.torrent"));
    let (code, _, err) = run(&[
        "create",
        s(&w.join(&format!("{dir}/{name}"))),
        "-t",
        tracker,
        "--piece-length",
        &PIECE.to_string(),
        "--format",
        "v1",
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "create: {err}");
    s(&torrent).to_owned()
}

/// A running daemon: the process, its RPC port, its peer port and its log file.
pub struct Daemon {
    pub proc: Running,
    pub http: u16,
    pub peer: u16,
    log: PathBuf,
}

impl Daemon {
    /// `[prefix...] sanstorrent daemon` downloading into `dl`, its state in `state`, peers on
    /// `peer`, plus `extra`.
    pub fn start(prefix: &[&str], dl: &Path, state: &Path, peer: u16, extra: &[&str]) -> Self {
        let http = free_port();
        let (http_addr, peer_port) = (format!("127.0.0.1:{http}"), peer.to_string());
        let mut args = vec![
            "daemon",
            "-o",
            s(dl),
            "--state-dir",
            s(state),
            "--http",
            &http_addr,
            "-p",
            &peer_port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--no-lsd",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let (program, before) = match prefix.split_first() {
            Some((first, rest)) => (*first, [rest, &[common::bin()]].concat()),
            None => (common::bin(), Vec::new()),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::log_path(state))
            .expect("open the daemon's log");
        let child = Command::new(program)
            .args(before)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        let proc = Running(child);
        wait_listening(http);
        Self {
            proc,
            http,
            peer,
            log: Self::log_path(state),
        }
    }

    /// Where the daemon with state directory `state` logs (stderr, every run appended).
    pub fn log_path(state: &Path) -> PathBuf {
        state.with_extension("log")
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it as Ctrl+C does and checks that it exits cleanly.
    pub fn stop(self) {
        self.proc.interrupt();
        let log = self.log.clone();
        let (code, _, _) = self.proc.wait(60);
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!err.contains("panicked"), "the daemon panicked: {err}");
        assert_eq!(code, 130, "the daemon's exit: {err}");
    }

    /// Every torrent, by name.
    pub fn torrents(&self) -> Vec<Value> {
        let body = r#"{"method":"torrent-get","arguments":{"fields":["id","name","status",
            "error","errorString","percentDone","haveValid","downloadedEver"]}}"#;
        let text = rpc_text(self.http, body);
        let json = text.rsplit("\r\n\r\n").next().unwrap_or_default();
        let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"));
        v["arguments"]["torrents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (at most `secs`) until `ready` holds for the torrents, which it returns.
    pub fn wait_until(
        &self,
        what: &str,
        secs: u64,
        ready: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let torrents = self.torrents();
            if ready(&torrents) {
                return torrents;
            }
            assert!(Instant::now() < deadline, "{what}: {torrents:#?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Each torrent's name and qBittorrent state (`torrents/info`), by name; `jar`: a file
    /// for the login cookie.
    pub fn qbit_states(&self, jar: &Path) -> Vec<(String, String)> {
        let url = |path: &str| format!("http://127.0.0.1:{}/api/v2/{path}", self.http);
        let curl = |args: &[&str]| {
            let out = Command::new("curl")
                .args(["-sS", "-b", s(jar), "-c", s(jar)])
                .args(args)
                .output()
                .expect("run curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let login = curl(&["-d", "username=admin&password=any", &url("auth/login")]);
        assert_eq!(login, "Ok.");
        let listed = curl(&[&url("torrents/info")]);
        let v: Value = serde_json::from_str(&listed).unwrap_or_else(|e| panic!("{e}: {listed}"));
        let mut states: Vec<(String, String)> = v
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|t| {
                let field = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (field("name"), field("state"))
            })
            .collect();
        states.sort();
        states
    }

    /// Adds a .torrent through transmission-remote.
    pub fn add(&self, torrent: &str) {
        assert!(remote(self.http, &["-a", torrent]).contains("success"));
    }
}

/// The torrent named `name` in `torrents`.
pub fn named<'a>(torrents: &'a [Value], name: &str) -> &'a Value {
    torrents
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no torrent {name}: {torrents:#?}"))
}

/// Whether the torrent is a complete seed without an error (Transmission status 6).
pub fn seeding(t: &Value) -> bool {
    t["percentDone"] == 1.0 && t["status"] == 6 && t["error"] == 0
}

/// `haveValid` of the torrent.
pub fn have(t: &Value) -> u64 {
    t["haveValid"].as_u64().expect("haveValid")
}

/// `downloadedEver` of the torrent.
pub fn downloaded_ever(t: &Value) -> u64 {
    t["downloadedEver"].as_u64().expect("downloadedEver")
}

/// `sanstorrent download torrent` from `peer` into `out`, its state in `state`.
pub fn leech_args<'a>(
    torrent: &'a str,
    out: &'a Path,
    peer: &'a str,
    state: &'a Path,
) -> Vec<&'a str> {
    let mut args = common::loopback_download(torrent, out, state);
    args.extend([
        "--no-lsd",
        "--peer",
        peer,
        "--no-peers-timeout",
        "30",
        "--quiet",
    ]);
    args
}

/// Every piece of `got` (as long as `want` or shorter) is zeros or `want`'s: nothing wrong was
/// written.
pub fn nothing_wrong(got: &Path, want: &Path) {
    let got = std::fs::read(got).unwrap_or_default();
    let want = std::fs::read(want).unwrap();
    for (i, (g, w)) in got
        .chunks(PIECE as usize)
        .zip(want.chunks(PIECE as usize))
        .enumerate()
    {
        assert!(g == w || g.iter().all(|b| *b == 0), "piece {i} is wrong");
    }
}

/// A mount namespace of the test's own, kept alive by a process sleeping in it; commands
/// enter it with `nsenter`. Mounts made there are invisible outside.
pub struct Namespace {
    holder: std::process::Child,
}

impl Namespace {
    /// A namespace in which `setup` (a shell script) ran; `None` (the reason printed) where
    /// this machine gives no mount namespace (the test then skips: it needs root).
    pub fn new(setup: &str) -> Option<Self> {
        let script = format!("{setup} || exit 97; echo ready; exec sleep 600");
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare");
        let mut line = [0; 6];
        let ready = holder
            .stdout
            .as_mut()
            .is_some_and(|o| o.read_exact(&mut line).is_ok() && &line == b"ready\n");
        if !ready {
            let _ = holder.kill();
            let out = holder.wait_with_output().expect("unshare's output");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_ne!(
                out.status.code(),
                Some(97),
                "the namespace setup failed: {err}"
            );
            assert!(
                !common::skips_forbidden(),
                "no mount namespace in CI: {err}"
            );
            eprintln!("skipped: `unshare -m` needs root here: {err}");
            return None;
        }
        Some(Self { holder })
    }

    /// `nsenter` arguments that run a command inside.
    pub fn enter(&self) -> [String; 5] {
        ["nsenter", "-t", &self.holder.id().to_string(), "-m", "--"].map(String::from)
    }

    /// Runs the shell command `cmd` inside; its stdout, after checking it succeeded.
    pub fn sh(&self, cmd: &str) -> String {
        let out = Command::new("nsenter")
            .args([
                "-t",
                &self.holder.id().to_string(),
                "-m",
                "--",
                "sh",
                "-c",
                cmd,
            ])
            .output()
            .expect("run nsenter");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd}: {err}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Our seeder of `<w>/<dir>/<torrent's name>` on a free port (its state beside it), named by
/// `tracker` from now on.
pub fn seeder(w: &Scratch, torrent: &str, dir: &str, tracker: &Tracker) -> Running {
    let port = free_port();
    let (p, st) = (port.to_string(), w.join(&format!("seed-state-{port}")));
    let seeder = Running::start(&[
        "seed",
        torrent,
        "-o",
        s(&w.join(dir)),
        "-p",
        &p,
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--no-lsd",
        "--state-dir",
        s(&st),
        "--quiet",
    ]);
    wait_listening(port);
    tracker.name(SocketAddr::from(([127, 0, 0, 1], port)));
    seeder
}
