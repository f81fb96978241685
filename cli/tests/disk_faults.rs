//! Real disk faults, end to end. A full disk (a small tmpfs) and a read-only directory (a
//! read-only bind mount) need a mount namespace of our own: `unshare -m` as root, else
//! `unshare -Urm` (a user namespace); where neither is allowed the test says why and skips.
//! A file truncated under `sanstorrent seed`, and a torrent whose directory cannot be made
//! (shown by the daemon to both its APIs), need nothing and always run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{
    Running, Scratch, create_torrent, downloaded, free_port, loopback_download, remote, run, s,
    start_daemon, wait_listening,
};

const PIECE: &str = "32768";
const SIZE: usize = 3 * 1024 * 1024;

/// A torrent of one 3 MiB file `<scratch>/src/one.bin`.
fn source(label: &str) -> (Scratch, String) {
    let w = Scratch::new(label);
    w.file("src/one.bin", SIZE, 5);
    let torrent = w.join("t.torrent");
    let (code, _, err) = run(&[
        "create",
        s(&w.join("src/one.bin")),
        "-t",
        "http://127.0.0.1:1/announce",
        "--piece-length",
        PIECE,
        "-o",
        s(&torrent),
    ]);
    assert_eq!(code, 0, "create: {err}");
    (w, s(&torrent).to_owned())
}

/// The `unshare` arguments that give a process its own mounts here, or why there are none.
fn mount_namespace() -> Result<&'static [&'static str], &'static str> {
    static PROBED: OnceLock<Result<&'static [&'static str], &'static str>> = OnceLock::new();
    *PROBED.get_or_init(|| {
        let w = Scratch::new("probe-ns");
        let options: [&'static [&'static str]; 2] = [
            &["-m", "--propagation", "private"],
            &["-Urm", "--propagation", "private"],
        ];
        for prefix in options {
            let mounted = Command::new("unshare")
                .args(prefix)
                .args(["sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$1\"", "sh"])
                .arg(w.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if mounted {
                return Ok(prefix);
            }
        }
        Err(
            "`unshare -m` and `unshare -Urm` cannot mount here (no CAP_SYS_ADMIN and no user \
             namespaces)",
        )
    })
}

/// `sanstorrent args...` in a mount namespace, run by the shell `script` as `"$@"` (`$DIR`
/// is `dir`; exit 97 means the setup failed); stdout and stderr piped. `None` (the reason
/// printed) if this machine has no mount namespaces.
fn in_namespace(script: &str, dir: &Path, args: &[&str]) -> Option<Command> {
    let prefix = match mount_namespace() {
        Ok(prefix) => prefix,
        Err(why) => {
            assert!(!common::skips_forbidden(), "no mount namespace: {why}");
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let mut cmd = Command::new("unshare");
    cmd.args(prefix)
        .args(["sh", "-c", script, "sh"])
        .arg(common::bin())
        .args(args)
        .env("DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Some(cmd)
}

/// A script that runs `setup`, then becomes sanstorrent.
fn then_exec(setup: &str) -> String {
    format!("{setup} || exit 97; exec \"$@\"")
}

/// Runs `cmd` to its end: (exit code, stdout, stderr).
fn finish(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("run unshare");
    let code = out.status.code().expect("exited normally");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(code, 97, "the namespace setup failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (code, stdout, stderr)
}

/// `seed` of `torrent` from `dir` on `port` (not quiet: its warnings are checked).
fn seed_args<'a>(torrent: &'a str, dir: &'a Path, port: &'a str, state: &'a Path) -> Vec<&'a str> {
    vec![
        "seed",
        torrent,
        "-o",
        s(dir),
        "-p",
        port,
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--state-dir",
        s(state),
    ]
}

/// `download` of `torrent` into `out` from `peer`, plus `extra`.
fn download_args<'a>(
    torrent: &'a str,
    out: &'a Path,
    peer: &'a str,
    state: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = loopback_download(torrent, out, state);
    args.extend(["--peer", peer, "--no-peers-timeout", "20"]);
    args.extend_from_slice(extra);
    args
}

/// Our seeder of `<w>/src` on a free port, listening; returns it with `127.0.0.1:port`.
fn seeder(w: &Scratch, torrent: &str) -> (Running, String) {
    let port = free_port();
    let p = port.to_string();
    let state = w.join("seed-state");
    let seeder = Running::start(&seed_args(torrent, &w.join("src"), &p, &state));
    wait_listening(port);
    (seeder, format!("127.0.0.1:{port}"))
}

#[test]
fn a_full_disk_fails_the_download_with_one_line_and_its_resume_data_holds() {
    let (w, torrent) = source("enospc");
    let (seeder, peer) = seeder(&w, &torrent);
    let out = w.join("out");
    let keep = w.join("keep");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&keep).unwrap();
    let state = w.join("state");

    // Reserved files (the default): the reservation fails at once.
    let args = download_args(&torrent, &out, &peer, &state, &["--quiet"]);
    let tmpfs = "mount -t tmpfs -o size=1m tmpfs \"$DIR\"";
    let Some(cmd) = in_namespace(&then_exec(tmpfs), &out, &args) else {
        return;
    };
    let (code, stdout, err) = finish(cmd);
    assert_eq!(code, 1, "{stdout}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: disk error"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");

    // Sparse files: writes fail a third of the way; what was written stays (copied out of
    // the tmpfs before it goes), and the resume data saved at the stop must hold for it.
    let args = download_args(&torrent, &out, &peer, &state, &["--sparse", "--quiet"]);
    let script = format!("{tmpfs} || exit 97; \"$@\"; rc=$?; cp -a \"$DIR/.\" \"$KEEP\"; exit $rc");
    let mut cmd = in_namespace(&script, &out, &args).expect("probed already");
    cmd.env("KEEP", &keep);
    let (code, stdout, err) = finish(cmd);
    assert_eq!(code, 1, "{stdout}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("one.bin"), "{err}");
    assert!(keep.join("one.bin").exists(), "the partial file was kept");

    // Resumed on a disk with room: completes with the right bytes, fetching only the rest.
    let args = download_args(&torrent, &keep, &peer, &state, &[]);
    let (code, stdout, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(keep.join("one.bin")).unwrap(),
        std::fs::read(w.join("src/one.bin")).unwrap()
    );
    assert!(downloaded(&stdout) < SIZE as u64, "{stdout}");
    seeder.interrupt();
    let (code, _, err) = seeder.wait(30);
    assert_eq!(code, 130, "{err}");
}

#[test]
fn a_read_only_directory_fails_a_download_and_serves_a_seed() {
    let (w, torrent) = source("erofs");
    let out = w.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let read_only = "mount --bind \"$DIR\" \"$DIR\" && mount -o remount,bind,ro \"$DIR\"";

    // Downloading into it: one line naming the file and the cause.
    let state = w.join("state");
    let dead = format!("127.0.0.1:{}", free_port());
    let args = download_args(&torrent, &out, &dead, &state, &["--quiet"]);
    let Some(cmd) = in_namespace(&then_exec(read_only), &out, &args) else {
        return;
    };
    let (code, stdout, err) = finish(cmd);
    assert_eq!(code, 1, "{stdout}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: disk error"), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(err.contains("one.bin"), "{err}");

    // Seeding from it (data on read-only media) works: a leecher gets every byte.
    let port = free_port();
    let p = port.to_string();
    let src = w.join("src");
    let seed_state = w.join("seed-state");
    let args = seed_args(&torrent, &src, &p, &seed_state);
    let mut cmd = in_namespace(&then_exec(read_only), &src, &args).expect("probed already");
    let seeder = Running(cmd.spawn().expect("start the seeder"));
    wait_listening(port);
    let got = w.join("got");
    let peer = format!("127.0.0.1:{port}");
    let leech_state = w.join("leech-state");
    let args = download_args(&torrent, &got, &peer, &leech_state, &[]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(got.join("one.bin")).unwrap(),
        std::fs::read(src.join("one.bin")).unwrap()
    );
    seeder.interrupt();
    let (code, _, err) = seeder.wait(30);
    assert_eq!(code, 130, "{err}");
}

#[test]
fn a_file_truncated_under_a_seed_is_checked_again_and_never_served() {
    let (w, torrent) = source("truncated");
    let (seeder, peer) = seeder(&w, &torrent);
    // A first leecher gets everything: the seeder has checked its data and serves it.
    let (first, first_state) = (w.join("first"), w.join("first-state"));
    let args = download_args(&torrent, &first, &peer, &first_state, &[]);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");

    // The file is emptied under the running seed; the next leecher's requests find it so.
    std::fs::OpenOptions::new()
        .write(true)
        .open(w.join("src/one.bin"))
        .unwrap()
        .set_len(0)
        .unwrap();
    let (second, second_state) = (w.join("second"), w.join("second-state"));
    let mut args = download_args(&torrent, &second, &peer, &second_state, &["--quiet"]);
    let timeout = args.iter().position(|a| *a == "20").unwrap();
    args[timeout] = "3";
    let (code, stdout, err) = run(&args);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(err.contains("no peer connected"), "{err}");
    let got = std::fs::read(second.join("one.bin")).unwrap_or_default();
    assert!(got.iter().all(|b| *b == 0), "nothing was served");

    // The seed checked again, found nothing, and said so.
    let (code, _, err) = seeder.wait(30);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is missing from disk"), "{err}");
    assert!(err.contains("checking the torrent again"), "{err}");
    assert!(err.contains("no data of one.bin found"), "{err}");
}

#[test]
fn the_daemon_shows_a_torrents_disk_error_to_both_apis() {
    let w = Scratch::new("daemon-disk-error");
    w.file("share/a.bin", 300_000, 7);
    let torrent = create_torrent(&w, "share");
    // The torrent's directory cannot be made: a file has its name.
    let dl = w.join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(dl.join("share"), b"in the way").unwrap();
    let (daemon, port) = start_daemon(&w, &dl, &[]);
    assert!(remote(port, &["-a", &torrent]).contains("success"));

    let deadline = Instant::now() + Duration::from_secs(30);
    let info = loop {
        let info = remote(port, &["-t", "1", "-i"]);
        if info.contains("Error:") {
            break info;
        }
        assert!(Instant::now() < deadline, "no error shown:\n{info}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(info.contains("share/a.bin"), "{info}");
    assert!(info.contains("Not a directory"), "{info}");
    assert!(info.contains("Stopped"), "{info}");

    let jar = w.join("cookies");
    let url = |path: &str| format!("http://127.0.0.1:{port}/api/v2/{path}");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-b", s(&jar), "-c", s(&jar)])
            .args(args)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let login = curl(&["-d", "username=admin&password=any", &url("auth/login")]);
    assert_eq!(login, "Ok.");
    let listed = curl(&[&url("torrents/info")]);
    assert!(listed.contains("\"state\":\"error\""), "{listed}");
    drop(daemon);
}
