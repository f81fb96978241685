//! HTTPS web seeds end to end: Debian's nginx with TLS is the only source of a multi-file
//! torrent whose names need percent-encoding. Its certificate (for 127.0.0.1) is signed by a
//! CA the test makes with the openssl CLI. With `--ca-cert` naming that CA the download
//! completes, every byte compared; without it the mirror is refused with a TLS error saying
//! the certificate is not signed by a trusted root (and pointing to `--ca-cert`), nginx never
//! sees a request, and the download gives up without completing.

mod interop_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use interop_support::mirror::{
    Nginx, bytes, create, download, download_args, web_seed_bytes, write,
};
use interop_support::{assert_same_tree, s, sanstorrent};
use sanstorrent_tests::interop::{WorkDir, free_port};

/// A test CA and a server certificate it signed.
struct Certs {
    /// The CA's certificate (PEM): what `--ca-cert` names.
    ca: PathBuf,
    /// The server's certificate (PEM), valid for the IP address 127.0.0.1.
    cert: PathBuf,
    /// The server's private key (PEM).
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA (P-256) and a certificate for 127.0.0.1 signed by it, in `work/pki`.
fn test_ca(work: &WorkDir) -> Certs {
    let dir = work.join("pki");
    fs::create_dir_all(&dir).expect("pki dir");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_args = [
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=sanstorrent test CA",
    ];
    let ca_out = ["-keyout", "ca.key", "-out", "ca.pem"];
    openssl(&dir, &[&ca_args[..], &ec, &ca_out].concat());
    let csr = [
        "req",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    openssl(&dir, &[&csr[..], &ec].concat());
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    Certs {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

#[test]
fn an_https_mirror_is_used_with_its_ca_and_refused_without() {
    let work = WorkDir::new("webseed-tls");
    let certs = test_ca(&work);
    let port = free_port();
    let src = work.join("src");
    let name = "tls dir ü";
    let files = [
        ("sub dir/a b.bin", 2_000_001usize),
        ("ñ+%.bin", 70_000),
        ("c.txt", 10),
    ];
    for (i, (path, len)) in files.iter().enumerate() {
        write(&src.join(name).join(path), &bytes(*len, i as u64 + 20));
    }
    let url = format!("https://127.0.0.1:{port}/mirror");
    let torrent = work.join("tls.torrent");
    create(&work, &src.join(name), &url, &torrent);
    let www = work.join("www");
    fs::create_dir_all(&www).expect("www");
    let status = Command::new("cp")
        .args(["-r", s(&src), s(&www.join("mirror"))])
        .status()
        .expect("cp");
    assert!(status.success());
    let nginx = Nginx::start_tls(&work, &www, port, &certs.cert, &certs.key);

    // Without the CA: the handshake is refused, so nginx logs no request, and with no other
    // source the download gives up (exit 1) after its no-peer timeout.
    let args = download_args(&work, "untrusted", &torrent, &["--no-peers-timeout", "8"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut refused = sanstorrent(&work, "untrusted", 60, &args);
    let status = refused.wait(Duration::from_secs(65));
    let log = refused.output();
    assert_eq!(status.code(), Some(1), "{log}");
    let tls = format!(
        "web seed {url}: cannot reach the server: TLS: the certificate is not signed by a \
         trusted root (trust its CA with --ca-cert FILE)"
    );
    assert!(log.contains(&tls), "no `{tls}` in:\n{log}");
    assert!(!log.contains("downloaded "), "{log}");
    let got = fs::read(work.join("untrusted-out").join(name).join("c.txt")).unwrap_or_default();
    assert_ne!(
        got,
        bytes(10, 22),
        "a file was completed without a trusted mirror"
    );
    assert!(
        nginx.requests(&work).is_empty(),
        "{:?}",
        nginx.requests(&work)
    );

    // With the CA: every byte from the mirror.
    let log = download(&work, "trusted", &torrent, &["--ca-cert", s(&certs.ca)]);
    assert_same_tree(&src, &work.join("trusted-out"));
    let total: usize = files.iter().map(|(_, len)| len).sum();
    assert!(web_seed_bytes(&log, &url) >= total as u64, "{log}");
    let requests = nginx.requests(&work);
    assert!(
        requests.iter().any(
            |l| l.contains("/mirror/tls%20dir%20%C3%BC/%C3%B1%2B%25.bin") && l.contains(" 206 ")
        ),
        "{requests:?}"
    );
}
