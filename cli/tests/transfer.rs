//! The real binary moving data on loopback: our `seed` → our `download` with `--peer` and no
//! DHT (single- and multi-file, both runtimes), Ctrl+C then resume, a corrupted byte fetched
//! again alone, the no-peers timeout, progress lines, `--quiet`, and `demo`.

mod common;

use std::path::{Path, PathBuf};

use common::{
    Running, Scratch, downloaded, free_port, loopback, loopback_download, run, s, wait_listening,
};

/// The runtimes this build has (test.sh enables the cli's `tokio` feature).
const RUNTIMES: &[&str] = if cfg!(feature = "tokio") {
    &["smol", "tokio"]
} else {
    &["smol"]
};

/// A torrent made by `sanstorrent create` from generated files, and a seeder for it.
struct Swarm {
    w: Scratch,
    torrent: PathBuf,
    /// The data's name (a file or a directory under `w/src`).
    name: String,
    size: u64,
    seeder: Option<Running>,
    port: u16,
}

impl Swarm {
    /// `files` files of `each` bytes (1 file: a single-file torrent), pieces of 32 KiB.
    fn new(label: &str, files: usize, each: usize) -> Self {
        let w = Scratch::new(label);
        let name = if files == 1 {
            w.file("src/one.bin", each, 11);
            "one.bin".to_string()
        } else {
            for i in 0..files {
                w.file(
                    &format!("src/many/sub{}/f{i}.bin", i % 2),
                    each,
                    i as u64 + 1,
                );
            }
            "many".to_string()
        };
        let torrent = w.join("t.torrent");
        let (code, _, err) = run(&[
            "create",
            s(&w.join("src").join(&name)),
            "-t",
            "http://127.0.0.1:1/announce",
            "--piece-length",
            "32768",
            "-o",
            s(&torrent),
        ]);
        assert_eq!(code, 0, "create: {err}");
        Self {
            w,
            torrent,
            name,
            size: (files * each) as u64,
            seeder: None,
            port: 0,
        }
    }

    /// Starts `sanstorrent seed` on a free port and waits until it listens.
    fn seed(&mut self, runtime: &str) {
        self.port = free_port();
        let port = self.port.to_string();
        let seeder = Running::start(&[
            "seed",
            s(&self.torrent),
            "-o",
            s(&self.w.join("src")),
            "-p",
            &port,
            "--bind",
            "127.0.0.1",
            "--no-dht",
            "--state-dir",
            s(&self.w.join("seed-state")),
            "--runtime",
            runtime,
        ]);
        self.seeder = Some(seeder);
        wait_listening(self.port);
    }

    /// `download` arguments into `out` from our seeder, plus `extra`.
    fn download_args(&self, out: &str, extra: &[&str]) -> Vec<String> {
        let (out, state) = (self.w.join(out), self.w.join("state"));
        let peer = format!("127.0.0.1:{}", self.port);
        let mut args = loopback_download(s(&self.torrent), &out, &state);
        args.extend(["--peer", &peer, "--no-peers-timeout", "30"]);
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect()
    }

    fn download(&self, out: &str, extra: &[&str]) -> (i32, String, String) {
        let args = self.download_args(out, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    }

    /// The downloaded tree under `out` equals the source.
    fn assert_complete(&self, out: &str) {
        assert_same_tree(
            &self.w.join("src").join(&self.name),
            &self.w.join(out).join(&self.name),
        );
    }

    /// Stops the seeder with Ctrl+C: it exits 130.
    fn stop_seeder(&mut self) {
        self.stop_seeder_with("INT");
    }

    /// Stops the seeder with a signal (`INT` or `TERM`): it exits 130.
    fn stop_seeder_with(&mut self, signal: &str) {
        if let Some(seeder) = self.seeder.take() {
            seeder.signal(signal);
            let (code, _, err) = seeder.wait(30);
            assert_eq!(code, 130, "seeder: {err}");
        }
    }
}

fn assert_same_tree(a: &Path, b: &Path) {
    if a.is_file() {
        assert!(
            std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
            "{b:?} differs from {a:?}"
        );
        return;
    }
    for entry in std::fs::read_dir(a).unwrap() {
        let name = entry.unwrap().file_name();
        assert_same_tree(&a.join(&name), &b.join(&name));
    }
}

fn seed_then_download(runtime: &str, files: usize) {
    let mut swarm = Swarm::new(&format!("xfer-{runtime}-{files}"), files, 300_000);
    swarm.seed(runtime);
    let (code, out, err) = swarm.download("out", &["--runtime", runtime]);
    assert_eq!(code, 0, "download: {out}{err}");
    swarm.assert_complete("out");
    assert_eq!(downloaded(&out), swarm.size, "{out}");
    // Not a terminal: plain progress lines on stderr, ending at 100 %.
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{}: 100.0% ", swarm.name))),
        "no final progress line in:\n{err}"
    );
    swarm.stop_seeder_with("TERM");
}

#[test]
fn seed_to_download_single_file_smol() {
    seed_then_download("smol", 1);
}

#[test]
fn seed_to_download_multi_file_smol() {
    seed_then_download("smol", 5);
}

#[cfg(feature = "tokio")]
#[test]
fn seed_to_download_single_file_tokio() {
    seed_then_download("tokio", 1);
}

#[cfg(feature = "tokio")]
#[test]
fn seed_to_download_multi_file_tokio() {
    seed_then_download("tokio", 5);
}

#[test]
fn sparse_download_completes() {
    let mut swarm = Swarm::new("sparse", 3, 200_000);
    swarm.seed("smol");
    let (code, out, err) = swarm.download("out", &["--sparse"]);
    assert_eq!(code, 0, "download: {out}{err}");
    swarm.assert_complete("out");
    swarm.stop_seeder();
}

/// Waits until a file under `dir` holds a byte that is not zero (the generated data has
/// them in every block), at most two minutes.
fn wait_for_data(dir: &Path) {
    fn any_data(dir: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let path = e.path();
            if path.is_dir() {
                any_data(&path)
            } else {
                std::fs::read(&path).is_ok_and(|b| b.iter().any(|&x| x != 0))
            }
        })
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !any_data(dir) {
        assert!(
            std::time::Instant::now() < deadline,
            "no data under {dir:?} after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn interrupted_download_resumes_with_fewer_bytes() {
    let mut swarm = Swarm::new("resume", 4, 4_000_000);
    swarm.seed("smol");
    // 2 MB/s: the 16 MB download is still running when Ctrl+C arrives, which it does once
    // the first data is on disk (a fixed wait had no byte yet on a loaded CI machine).
    let args = swarm.download_args("out", &["--download-limit", "2000000"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = Running::start(&args);
    wait_for_data(&swarm.w.join("out"));
    first.interrupt();
    let (code, out, err) = first.wait(30);
    assert_eq!(code, 130, "interrupted run: {out}{err}");
    assert!(err.contains("interrupted: state saved in"), "{err}");
    let got_first = downloaded(&out);
    assert!(
        got_first > 0 && got_first < swarm.size,
        "first run downloaded {got_first} of {}",
        swarm.size
    );
    let (code, out, err) = swarm.download("out", &[]);
    assert_eq!(code, 0, "second run: {out}{err}");
    swarm.assert_complete("out");
    let got_second = downloaded(&out);
    // Only what was missing (give or take the pieces in flight at the interrupt).
    assert!(
        got_second + got_first / 2 <= swarm.size,
        "second run downloaded {got_second} of {} after {got_first}",
        swarm.size
    );
    swarm.stop_seeder();
}

#[test]
fn a_corrupted_byte_refetches_only_its_piece() {
    let mut swarm = Swarm::new("corrupt", 1, 1_000_000);
    swarm.seed("smol");
    let (code, out, err) = swarm.download("out", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let file = swarm.w.join("out").join(&swarm.name);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[500_000] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let (code, out, err) = swarm.download("out", &["--runtime", RUNTIMES[RUNTIMES.len() - 1]]);
    assert_eq!(code, 0, "{out}{err}");
    swarm.assert_complete("out");
    assert_eq!(downloaded(&out), 32_768, "one piece: {out}");
    swarm.stop_seeder();
}

#[test]
fn quiet_prints_nothing_on_success() {
    let mut swarm = Swarm::new("quiet", 2, 100_000);
    swarm.seed("smol");
    let (code, out, err) = swarm.download("out", &["--quiet"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    swarm.assert_complete("out");
    swarm.stop_seeder();
}

#[test]
fn no_peers_times_out_with_one_line() {
    let swarm = Swarm::new("nopeers", 1, 50_000);
    let dead = free_port().to_string();
    let (out, state) = (swarm.w.join("out"), swarm.w.join("state"));
    let peer = format!("127.0.0.1:{dead}");
    let mut args = loopback_download(s(&swarm.torrent), &out, &state);
    args.extend(["--peer", &peer, "--no-peers-timeout", "1", "--quiet"]);
    let (code, out, err) = run(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: no peer connected for 1 s"), "{err}");
}

#[test]
fn a_download_that_cannot_write_fails_with_one_line() {
    let mut swarm = Swarm::new("nowrite", 1, 100_000);
    swarm.seed("smol");
    std::fs::write(swarm.w.join("notadir"), b"x").unwrap();
    let (code, out, err) = swarm.download("notadir", &["--quiet"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: disk error"), "{err}");
    assert!(err.contains("notadir"), "{err}");
    swarm.stop_seeder();
}

#[test]
fn seed_without_data_fails() {
    let swarm = Swarm::new("nodata", 1, 50_000);
    let (empty, state) = (swarm.w.join("empty"), swarm.w.join("state"));
    let mut args = loopback("seed", s(&swarm.torrent), &empty, &state);
    args.push("--quiet");
    let (code, _, err) = run(&args);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no data of one.bin found in"), "{err}");
}

#[test]
fn demo_runs_on_both_runtimes() {
    for runtime in RUNTIMES {
        let (code, out, err) = run(&[
            "demo",
            "--size",
            "3000000",
            "--files",
            "3",
            "--leechers",
            "2",
            "--runtime",
            runtime,
        ]);
        assert_eq!(code, 0, "{runtime}: {out}{err}");
        assert!(out.contains("demo: 2 leecher(s) each downloaded"), "{out}");
        assert!(
            out.contains("every byte of every leecher verified"),
            "{out}"
        );
    }
}
