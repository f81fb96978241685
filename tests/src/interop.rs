//! Drives the real BitTorrent software of `../shared/interop/` on 127.0.0.1: libtorrent peers
//! (`lt_peer.py`), opentracker, and the test-data generator (`mktorrent.py`).
//!
//! Nothing is skipped: if a peer is missing the helper panics and says to run `setup.sh`.
//! Every process started here is killed when its handle is dropped.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `shared/interop` directory: `$SANSTORRENT_INTEROP_DIR`, or the first `shared/interop`
/// found beside the repository or one of its ancestors (CI clones the repo next to `shared/`).
pub fn interop_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SANSTORRENT_INTEROP_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared/interop"))
        .find(|d| d.join("lt_peer.py").exists())
        .unwrap_or_else(|| {
            panic!(
                "shared/interop not found above {}: set SANSTORRENT_INTEROP_DIR",
                manifest.display()
            )
        })
}

/// Debian's python3, which can import libtorrent (installed by `setup.sh`).
pub fn python() -> &'static str {
    const PY: &str = "/usr/bin/python3";
    let ok = Command::new(PY)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{PY} cannot import libtorrent: run `bash ../shared/interop/setup.sh`"
    );
    PY
}

/// Panics with a clear message unless `tool` is on PATH.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is not installed: run `bash ../shared/interop/setup.sh`"
    );
}

/// A port free on 127.0.0.1 for both TCP and UDP.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else { continue };
        if UdpSocket::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A scratch directory, removed on drop unless `KEEP_WORK=1`.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    /// Creates a new empty directory under the system temp dir, named after `label`.
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "sanstorrent-{label}-{}-{n}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create work dir");
        Self { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_WORK").is_none_or(|v| v != "1") {
            let _ = fs::remove_dir_all(&self.path);
        } else {
            eprintln!("work dir kept: {}", self.path.display());
        }
    }
}

/// A background process whose stdout and stderr go to a log file; killed on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with output to `log`.
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Self {
        let out = fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Self { child, log }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until a line starting with `prefix` is printed and returns it; panics with the log
    /// after `timeout`.
    pub fn wait_for_line(&self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.output().lines().find(|l| l.starts_with(prefix)) {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no line starting with {prefix:?} within {timeout:?}; log {}:\n{}",
                self.log.display(),
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process has exited (and its status).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits for the process to exit, at most `timeout`; kills it and panics past that.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!(
                    "process did not exit within {timeout:?}; log:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A libtorrent peer run by `lt_peer.py` (see its `--help`); bounded by `--timeout`.
pub fn lt_peer(work: &WorkDir, name: &str, timeout_secs: u32, args: &[&str]) -> Proc {
    let mut cmd = Command::new(python());
    cmd.arg(interop_dir().join("lt_peer.py"))
        .arg("--timeout")
        .arg(timeout_secs.to_string());
    cmd.args(args);
    Proc::spawn(cmd, work.join(&format!("{name}.log")))
}

/// The TCP/UDP port a libtorrent peer printed in its `LISTEN 127.0.0.1:P` line.
pub fn lt_listen_port(peer: &Proc) -> u16 {
    let line = peer.wait_for_line("LISTEN ", Duration::from_secs(20));
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .expect("LISTEN line has a port")
}

/// Runs `mktorrent.py` with `args` and returns its JSON output.
pub fn mktorrent(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(interop_dir().join("mktorrent.py"))
        .args(args)
        .output()
        .expect("run mktorrent.py");
    assert!(
        out.status.success(),
        "mktorrent.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("mktorrent.py prints UTF-8")
}

/// opentracker on one free port of 127.0.0.1, for HTTP and UDP. Whitelist-only: call
/// [`Tracker::allow`] for every info-hash first.
#[derive(Debug)]
pub struct Tracker {
    dir: PathBuf,
    port: u16,
    proc: Proc,
}

impl Tracker {
    /// Starts opentracker with its state in `work/<name>`.
    pub fn start(work: &WorkDir, name: &str) -> Self {
        require_tool("opentracker");
        let dir = work.join(name);
        fs::create_dir_all(&dir).expect("tracker dir");
        // As root opentracker chroots into the dir and drops to `nobody`: make it readable.
        let _ = Command::new("chmod")
            .arg("755")
            .arg(&dir)
            .arg(work.path())
            .status();
        fs::write(dir.join("whitelist.txt"), "").expect("whitelist");
        let _ = Command::new("chmod")
            .arg("644")
            .arg(dir.join("whitelist.txt"))
            .status();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new("opentracker");
            cmd.args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-P",
                &port.to_string(),
            ]);
            cmd.arg("-d").arg(&dir).args(["-w", "whitelist.txt"]);
            let mut proc = Proc::spawn(cmd, dir.join("opentracker.log"));
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && proc.try_wait().is_none() {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { dir, port, proc };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("opentracker failed to start");
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    /// `udp://127.0.0.1:PORT/announce`
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// The port (TCP and UDP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whitelists an info-hash (hex) and makes opentracker reload its list.
    pub fn allow(&self, info_hash_hex: &str) {
        self.allow_all(&[info_hash_hex]);
    }

    /// Adds every info-hash (40 hex digits) to the whitelist, with one reload.
    pub fn allow_all(&self, info_hash_hexes: &[&str]) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("whitelist.txt"))
            .expect("open whitelist");
        for hex in info_hash_hexes {
            writeln!(f, "{}", hex.to_ascii_lowercase()).expect("write whitelist");
        }
        drop(f);
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(self.proc.id().to_string())
            .status();
        std::thread::sleep(Duration::from_millis(300)); // the reload is asynchronous
    }
}

/// A libtorrent seeder of `torrent` whose data is in `save_dir` (trusted: `--seed-mode`), with
/// `extra` arguments (e.g. `--no-tracker`, `--dht`); waits until it says `SEEDING` and returns
/// it with its listen port.
pub fn lt_seeder(
    work: &WorkDir,
    name: &str,
    timeout_secs: u32,
    torrent: &Path,
    save_dir: &Path,
    extra: &[&str],
) -> (Proc, u16) {
    let mut args = vec![
        "--torrent",
        torrent.to_str().expect("utf-8 torrent path"),
        "--save",
        save_dir.to_str().expect("utf-8 save path"),
        "--seed",
        "--seed-mode",
    ];
    args.extend_from_slice(extra);
    let seeder = lt_peer(work, name, timeout_secs, &args);
    let port = lt_listen_port(&seeder);
    seeder.wait_for_line("SEEDING", Duration::from_secs(30));
    (seeder, port)
}
