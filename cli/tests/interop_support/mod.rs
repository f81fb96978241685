//! Helpers for the interop matrix: the real `sanstorrent` binary as a bounded background
//! process, generated test data, byte-for-byte tree comparison, and a time bound per test.
//! The real peers (libtorrent, opentracker, Transmission) come from
//! `sanstorrent_tests::interop` (`../shared/interop/`, installed by `setup.sh`).

#![allow(dead_code, unreachable_pub)]

pub mod mirror;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sanstorrent_tests::interop::{Proc, WorkDir, free_port, lt_peer, mktorrent};

/// The `sanstorrent` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sanstorrent")
}

/// `path` as `&str` (every path here is made by the tests and is UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A process run under `timeout -k 5 SECS`, so that it dies by itself even if the test
/// thread that owns it is gone. Dropping it sends SIGTERM to `timeout`, which passes it on
/// (SIGKILL, as [`Proc`]'s own drop sends, would kill `timeout` and orphan the command).
pub struct Bounded(Proc);

impl Bounded {
    /// Starts `program args...` under `timeout`, with its output in `log`.
    pub fn spawn(
        secs: u32,
        program: &str,
        args: &[&str],
        envs: &[(&str, PathBuf)],
        log: PathBuf,
    ) -> Self {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", &secs.to_string(), program]).args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Self(Proc::spawn(cmd, log))
    }
}

impl std::ops::Deref for Bounded {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.0
    }
}

impl std::ops::DerefMut for Bounded {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.0
    }
}

impl Drop for Bounded {
    fn drop(&mut self) {
        if self.0.try_wait().is_some() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.0.try_wait().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `sanstorrent args...` in the background (bounded by `secs`, see [`Bounded`]), with
/// its output in `work/<name>.log`. Its platform data directory is redirected into `work` so
/// that no test touches the user's state.
pub fn sanstorrent(work: &WorkDir, name: &str, secs: u32, args: &[&str]) -> Bounded {
    let home = work.join(&format!("{name}-home"));
    fs::create_dir_all(&home).expect("home dir");
    let envs = [
        ("HOME", home.clone()),
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_STATE_HOME", home.join("state")),
        ("XDG_CONFIG_HOME", home.join("config")),
        ("XDG_CACHE_HOME", home.join("cache")),
    ];
    Bounded::spawn(secs, bin(), args, &envs, work.join(&format!("{name}.log")))
}

/// Waits for a `sanstorrent download` (without `--seed`) to exit 0; panics with its log.
pub fn expect_success(p: &mut Proc, what: &str, timeout: Duration) {
    let status = p.wait(timeout);
    let log = p.output();
    assert!(status.success(), "{what} exited with {status}; log:\n{log}");
    assert!(
        !log.contains("panicked") && !log.contains("RUST_BACKTRACE"),
        "{what} panicked:\n{log}"
    );
}

/// A generated torrent: its file, the directory holding the data (the `-o` of a seeder), the
/// info-hash (hex) and its magnet link.
pub struct Data {
    pub torrent: PathBuf,
    pub dir: PathBuf,
    pub info_hash: String,
    pub magnet: String,
}

impl Data {
    /// The name of a "single" layout's one file (the first entry of its directory).
    pub fn single_file_name(&self) -> String {
        self.dir
            .read_dir()
            .expect("the data dir")
            .next()
            .expect("one file")
            .expect("an entry")
            .file_name()
            .to_string_lossy()
            .into_owned()
    }
}

/// Generates `size` bytes of data in `layout` ("single" or "multi": nested directories,
/// files smaller than a piece and a zero-length file) and its .torrent, with `trackers` and
/// any further `mktorrent.py` flags (`--private`).
pub fn data(
    work: &WorkDir,
    layout: &str,
    size: u64,
    piece: u32,
    trackers: &[&str],
    extra: &[&str],
) -> Data {
    let dir = work.join(&format!("src-{layout}"));
    let torrent = work.join(&format!("{layout}.torrent"));
    let (size, piece) = (size.to_string(), piece.to_string());
    let mut args = vec![
        "both",
        "--layout",
        layout,
        "--dir",
        s(&dir),
        "--size",
        &size,
        "--seed",
        "7",
        "--piece-size",
        &piece,
        "--torrent",
        s(&torrent),
    ];
    for t in trackers {
        args.extend(["--tracker", t]);
    }
    args.extend(extra);
    let json = mktorrent(&args);
    let field = |key: &str| -> String {
        json.split(&format!("\"{key}\": \""))
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("mktorrent.py printed no {key}: {json}"))
            .to_string()
    };
    let info_hash = field("infohash");
    assert_eq!(info_hash.len(), 40, "{json}");
    Data {
        torrent,
        dir,
        info_hash,
        magnet: field("magnet"),
    }
}

/// Every file under `a` exists under `b` with the same bytes, and the other way round.
pub fn assert_same_tree(a: &Path, b: &Path) {
    if let Err(e) = compare_trees(a, b) {
        panic!("{e}");
    }
}

/// Polls until the tree under `b` equals the one under `a` (for peers that keep seeding
/// after they finish); panics with the last difference after `timeout`.
pub fn wait_same_tree(a: &Path, b: &Path, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    loop {
        match compare_trees(a, b) {
            Ok(()) => return,
            Err(e) if Instant::now() >= deadline => {
                panic!("{what}: not complete within {timeout:?}: {e}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn compare_trees(a: &Path, b: &Path) -> Result<(), String> {
    let (fa, fb) = (files(a), files(b));
    if fa.is_empty() {
        return Err(format!("no files under {a:?}"));
    }
    if fa != fb {
        return Err(format!(
            "file lists differ between {a:?} and {b:?}: {fa:?} vs {fb:?}"
        ));
    }
    for rel in fa {
        let x = fs::read(a.join(&rel)).map_err(|e| format!("{rel:?}: {e}"))?;
        let y = fs::read(b.join(&rel)).map_err(|e| format!("{rel:?}: {e}"))?;
        if x != y {
            return Err(format!(
                "{rel:?} differs ({} vs {} bytes)",
                x.len(),
                y.len()
            ));
        }
    }
    Ok(())
}

/// Regular files under `root`, relative, sorted; a missing root has none.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// Runs `f` on its own thread and fails the test if it takes longer than `secs`.
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test took more than {secs} s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test body panicked (see above)"),
    }
}

/// A libtorrent seeder of `d` (TCP only, no initial hash check) that has printed `SEEDING`.
pub fn lt_seeder(work: &WorkDir, name: &str, d: &Data, extra: &[&str]) -> Proc {
    let mut args = vec![
        "--torrent",
        s(&d.torrent),
        "--save",
        s(&d.dir),
        "--seed",
        "--seed-mode",
        "--no-utp",
    ];
    args.extend(extra);
    let p = lt_peer(work, name, 170, &args);
    p.wait_for_line("SEEDING", Duration::from_secs(30));
    p
}

/// The full v2 hash (64 hex digits) of `d`, from its libtorrent magnet link.
pub fn v2_hex(d: &Data) -> String {
    let at = d
        .magnet
        .find("urn:btmh:1220")
        .expect("a btmh in the magnet")
        + 13;
    d.magnet[at..at + 64].to_string()
}

/// `magnet:?xt=urn:btmh:1220<v2>` with these trackers and nothing else.
pub fn btmh(d: &Data, trackers: &[&str]) -> String {
    let mut m = format!("magnet:?xt=urn:btmh:1220{}", v2_hex(d));
    for t in trackers {
        m.push_str("&tr=");
        m.push_str(t);
    }
    m
}

/// Two libtorrent DHT nodes on 127.0.0.1 bootstrapping from each other; they and their
/// addresses.
pub fn lt_dht_nodes(work: &WorkDir) -> (Vec<Proc>, Vec<String>) {
    let ports = [free_port(), free_port()];
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let nodes: Vec<Proc> = (0..2)
        .map(|i| {
            let port = ports[i].to_string();
            let args = [
                "--dht-node",
                "--print-dht-port",
                "--port",
                &port,
                "--dht-bootstrap",
                &addrs[1 - i],
            ];
            lt_peer(work, &format!("dht-{i}"), 170, &args)
        })
        .collect();
    for n in &nodes {
        n.wait_for_line("DHT_PORT ", Duration::from_secs(20));
    }
    (nodes, addrs)
}

/// The `--peer` value of a libtorrent peer: `127.0.0.1:PORT` from its `LISTEN` line.
pub fn lt_addr(p: &Proc) -> String {
    format!(
        "127.0.0.1:{}",
        sanstorrent_tests::interop::lt_listen_port(p)
    )
}

/// Lines of a libtorrent peer's log starting with `PEER ` and containing `src=<src>`.
pub fn lt_peers_from(p: &Proc, src: &str) -> Vec<String> {
    p.output()
        .lines()
        .filter(|l| l.starts_with("PEER ") && l.contains(&format!("src={src}")))
        .map(str::to_string)
        .collect()
}

/// `sanstorrent seed TORRENT -o DIR -p PORT --bind 127.0.0.1 extra...`.
pub fn seed(work: &WorkDir, name: &str, d: &Data, port: u16, secs: u32, extra: &[&str]) -> Bounded {
    let port = port.to_string();
    let mut args = vec![
        "seed",
        s(&d.torrent),
        "-o",
        s(&d.dir),
        "-p",
        &port,
        "--bind",
        "127.0.0.1",
    ];
    args.extend(extra);
    sanstorrent(work, name, secs, &args)
}
