//! The daemon's management operations end to end through `transmission-remote`: adding by URL
//! from a local HTTP server (a .torrent, a redirect to it, a redirect to a magnet link, a
//! refused scheme).

mod common;

use std::process::{Child, Command};

use common::{Scratch, create_torrent, free_port, remote, s, start_daemon, wait_listening};

/// A small HTTP server on 127.0.0.1: serves the files of its directory, and redirects
/// `/to-torrent` to `/share.torrent`, `/to-magnet` to a magnet link, `/to-ftp` to an ftp URL.
const SERVER: &str = r#"
import http.server, sys, functools
class H(http.server.SimpleHTTPRequestHandler):
    REDIRECTS = {
        "/to-torrent": "/share.torrent",
        "/to-magnet": "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=via-redirect",
        "/to-ftp": "ftp://127.0.0.1/share.torrent",
    }
    def do_GET(self):
        target = self.REDIRECTS.get(self.path)
        if target:
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            super().do_GET()
    def log_message(self, *args):
        pass
handler = functools.partial(H, directory=sys.argv[2])
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"#;

/// The HTTP server, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `dir` on a free port; the port.
fn serve(dir: &str) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-c", SERVER, &port.to_string(), dir])
        .spawn()
        .expect("run python3");
    let server = Server(child);
    wait_listening(port);
    (server, port)
}

#[test]
fn torrents_are_added_by_url_from_a_local_server() {
    let w = Scratch::new("daemon-url");
    w.file("share/a.bin", 300_000, 7);
    create_torrent(&w, "share");
    let (_server, web) = serve(s(w.path()));
    let (daemon, port) = start_daemon(&w, &w.join("dl"), &[]);

    let url = format!("http://127.0.0.1:{web}/share.torrent");
    assert!(remote(port, &["-a", &url]).contains("success"));
    let list = remote(port, &["-l"]);
    assert!(list.contains("share"), "{list}");
    assert!(remote(port, &["-t", "1", "-f"]).contains("share/a.bin"));
    // The same torrent through a redirect: a duplicate, not a second torrent.
    remote(port, &["-a", &format!("http://127.0.0.1:{web}/to-torrent")]);
    assert_eq!(remote(port, &["-l"]).lines().count(), list.lines().count());

    remote(port, &["-a", &format!("http://127.0.0.1:{web}/to-magnet")]);
    let list = remote(port, &["-l"]);
    assert!(list.contains("via-redirect"), "{list}");
    let info = remote(port, &["-t", "2", "-i"]);
    assert!(info.contains(&"ab".repeat(20)), "{info}");

    for (path, why) in [
        ("to-ftp", "only http and https"),
        ("missing.torrent", "404"),
    ] {
        let out = Command::new("transmission-remote")
            .arg(format!("127.0.0.1:{port}"))
            .args(["-a", &format!("http://127.0.0.1:{web}/{path}")])
            .output()
            .expect("run transmission-remote");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(why), "{path}: {text}");
    }
    assert_eq!(
        remote(port, &["-l"]).lines().count(),
        list.lines().count(),
        "a failed add added something"
    );
    drop(daemon);
}

/// Logs in to the qBittorrent API on `sys.argv[1]`, then either creates a category and a tag
/// (`create`) or prints the categories and tags (`show`), with the standard library only.
const QBIT_GROUPS: &str = r#"
import sys, json, urllib.request, urllib.parse, http.cookiejar
base = f"http://127.0.0.1:{sys.argv[1]}/api/v2/"
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
def call(path, **form):
    data = urllib.parse.urlencode(form).encode() if form else None
    return opener.open(base + path, data).read().decode()
assert call("auth/login", username="u", password="p") == "Ok."
if sys.argv[2] == "create":
    call("torrents/createCategory", category="tv", savePath=sys.argv[3])
    call("torrents/createTags", tags="unused")
else:
    cats = json.loads(call("torrents/categories"))
    print(json.dumps({"categories": {k: v["savePath"] for k, v in cats.items()},
                      "tags": json.loads(call("torrents/tags"))}, sort_keys=True))
"#;

#[test]
fn categories_and_unused_tags_survive_a_kill_9() {
    let w = Scratch::new("daemon-groups");
    let tv = w.join("dl/tv");
    let qbit = |port: u16, args: &[&str]| {
        let out = Command::new("python3")
            .args(["-c", QBIT_GROUPS, &port.to_string()])
            .args(args)
            .output()
            .expect("run python3");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (daemon, port) = start_daemon(&w, &w.join("dl"), &[]);
    qbit(port, &["create", s(&tv)]);
    drop(daemon); // SIGKILL
    let (daemon, port) = start_daemon(&w, &w.join("dl"), &[]);
    let shown = qbit(port, &["show"]);
    let expected = format!(
        "{{\"categories\": {{\"tv\": \"{}\"}}, \"tags\": [\"unused\"]}}",
        s(&tv)
    );
    assert_eq!(shown.trim(), expected);
    drop(daemon);
}
