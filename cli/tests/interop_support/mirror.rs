//! Web-seed test helpers: Debian's nginx as a mirror (plain HTTP or TLS, started on a free
//! 127.0.0.1 port with its configuration, pid, logs and temp files in the test's directory),
//! generated file contents, `create --web-seed` and a `download` whose summary is read.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use sanstorrent_tests::interop::{Proc, WorkDir};

use super::{expect_success, s, sanstorrent};

/// nginx serving `root` on 127.0.0.1:`port`, stopped when dropped.
pub struct Nginx {
    _proc: Proc,
}

impl Nginx {
    /// Plain HTTP. `limit_rate`: nginx's cap per response in bytes per second (0: none;
    /// without `sendfile` and with small output buffers so that it holds for small
    /// responses too).
    pub fn start(work: &WorkDir, root: &Path, port: u16, limit_rate: u32) -> Self {
        Self::launch(work, root, port, limit_rate, "")
    }

    /// HTTPS with the certificate chain `cert` (PEM) and its private key `key`.
    pub fn start_tls(work: &WorkDir, root: &Path, port: u16, cert: &Path, key: &Path) -> Self {
        let tls = format!(
            " ssl;\n    ssl_certificate {};\n    ssl_certificate_key {}",
            s(cert),
            s(key)
        );
        Self::launch(work, root, port, 0, &tls)
    }

    fn launch(work: &WorkDir, root: &Path, port: u16, limit_rate: u32, tls: &str) -> Self {
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx is not installed: run test.sh (apt-get install nginx-light)");
        let dir = work.join("nginx");
        fs::create_dir_all(dir.join("tmp")).expect("nginx dir");
        let d = s(&dir);
        let conf = format!(
            "user root;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n\
               proxy_temp_path {d}/tmp/proxy;\n  fastcgi_temp_path {d}/tmp/fastcgi;\n\
               keepalive_requests 1000;\n  limit_rate {limit_rate};\n\
               sendfile off;\n  output_buffers 1 32k;\n\
               server {{\n    listen 127.0.0.1:{port}{tls};\n    root {root};\n  }}\n}}\n",
            root = s(root),
        );
        fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
        let mut cmd = Command::new(nginx);
        cmd.args([
            "-p",
            d,
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            "daemon off;",
        ]);
        let proc = Proc::spawn(cmd, work.join("nginx.log"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen: {}",
                proc.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { _proc: proc }
    }

    /// The lines of its access log.
    pub fn requests(&self, work: &WorkDir) -> Vec<String> {
        fs::read_to_string(work.join("nginx/access.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Deterministic bytes (xorshift) of length `len`.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes `data` to `path`, making its directories.
pub fn write(path: &Path, data: &[u8]) {
    fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    fs::write(path, data).expect("write");
}

/// `sanstorrent create PATH -t ... --web-seed URL --piece-length 65536 -o OUT`.
pub fn create(work: &WorkDir, path: &Path, web_seed: &str, out: &Path) {
    let mut p = sanstorrent(
        work,
        "create",
        60,
        &[
            "create",
            s(path),
            "-t",
            "http://127.0.0.1:1/announce",
            "--piece-length",
            "65536",
            "--web-seed",
            web_seed,
            "-o",
            s(out),
        ],
    );
    expect_success(&mut p, "sanstorrent create", Duration::from_secs(60));
}

/// The arguments of a loopback `download` of `torrent` into `work/NAME-out` (state in
/// `work/NAME-state`, no DHT), followed by `extra`.
pub fn download_args(work: &WorkDir, name: &str, torrent: &Path, extra: &[&str]) -> Vec<String> {
    let out = work.join(&format!("{name}-out"));
    let state = work.join(&format!("{name}-state"));
    let mut args: Vec<String> = [
        "download",
        s(torrent),
        "-o",
        s(&out),
        "-p",
        "0",
        "--bind",
        "127.0.0.1",
        "--no-dht",
        "--state-dir",
        s(&state),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Downloads `torrent` into `work/NAME-out` with `extra` flags and expects success; returns
/// the log.
pub fn download(work: &WorkDir, name: &str, torrent: &Path, extra: &[&str]) -> String {
    let args = download_args(work, name, torrent, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut p = sanstorrent(work, name, 170, &args);
    expect_success(&mut p, "sanstorrent download", Duration::from_secs(175));
    let log = p.output();
    eprintln!(
        "{name}: {}",
        log.lines()
            .filter(|l| l.starts_with("downloaded") || l.starts_with("web seed"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    log
}

/// Bytes the summary says web seed `url` delivered.
pub fn web_seed_bytes(log: &str, url: &str) -> u64 {
    let prefix = format!("web seed {url}: ");
    log.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.strip_suffix(" bytes"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{log}"))
}
