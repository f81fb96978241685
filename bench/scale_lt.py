#!/usr/bin/env python3
"""libtorrent (python3-libtorrent 2.0.x) as the third client of bench/scale.sh.

  scale_lt.py --state DIR --data DIR --port PEER_PORT --rpc RPC_PORT

Run it with a Python that imports libtorrent (Debian's /usr/bin/python3). One libtorrent
session, every torrent of the state directory seeding from DATA:
  DIR/resume/<hash>.resume   resume data (libtorrent's write_resume_data, with the info
                             dictionary), read when present: a restart, no recheck;
  DIR/torrents/*.torrent     otherwise the .torrent files (a first start, which checks).
Settings as near to the other two clients' as libtorrent has them: listening on loopback only,
DHT, LSD, UPnP, NAT-PMP and uTP off, no queueing (every torrent started, none auto-managed),
the tracker on loopback allowed (ssrf_mitigation off); the rest are libtorrent's defaults.

Once every torrent was added (async_add_torrent of all, then every add_torrent_alert seen) and
get_torrents() answers with all of them, it answers the part of Transmission's RPC that
bench/scale.py uses, over HTTP on 127.0.0.1:RPC_PORT at /transmission/rpc, so that scale.sh
measures all three clients the same way:
  session-get   {"result": "success", "arguments": {"torrents": N}}, N as get_torrents()
                counted it at the start (no work per torrent, as Transmission's)
  torrent-get   the 8 fields of scale.py for every torrent: one get_torrent_status of all,
                then each torrent's trackers() (its trackerStats), then JSON
Each torrent-get prints "GET status_ms=.. trackers_ms=.. json_ms=.. count=.." on stdout, so
the share of libtorrent's own query can be told from the Python around it.
On SIGTERM or SIGINT: the session is paused, resume data of every torrent that needs it
saved (one save_resume_data each, the answers written to DIR/resume), then it exits; it prints
"SAVED n secs=.." first. It prints "READY torrents=.. errors=.. from=torrents|resume secs=.." when
it starts answering (secs: since the interpreter ran this file, after its imports).
"""
import argparse
import http.server
import json
import os
import signal
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

try:
    import libtorrent as lt
except ImportError:
    sys.stderr.write("scale_lt.py: cannot import libtorrent; use Debian's /usr/bin/python3 "
                     "after shared/interop/setup.sh (python3-libtorrent)\n")
    sys.exit(2)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def settings(port, queue):
    """The session's settings: loopback only, nothing that reaches the outside world."""
    return {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "listen_system_port_fallback": False,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        # the tracker is on 127.0.0.1 (as lt_peer.py: no SSRF filtering of loopback requests)
        "ssrf_mitigation": False,
        # the other clients announce to every tracker; there is one per torrent here
        "announce_to_all_trackers": True,
        # room for one add_torrent_alert and one save_resume_data_alert per torrent
        "alert_queue_size": queue,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.storage_notification,
    }


def load_params(state, data):
    """Add parameters of every torrent: from resume data when there is any, else .torrents."""
    resume = os.path.join(state, "resume")
    params = []
    if os.path.isdir(resume) and os.listdir(resume):
        for name in sorted(os.listdir(resume)):
            with open(os.path.join(resume, name), "rb") as f:
                atp = lt.read_resume_data(f.read())
            params.append(atp)
        return params, "resume"
    tdir = os.path.join(state, "torrents")
    for name in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(os.path.join(tdir, name))
        atp.save_path = data
        params.append(atp)
    return params, "torrents"


# torrent_handle::query_name (bit 6 of status_flags_t), which the 2.0.8 bindings do not name
QUERY_NAME = 64

STATES = {
    "checking_files": 2,
    "checking_resume_data": 2,
    "downloading_metadata": 4,
    "downloading": 4,
    "finished": 6,
    "seeding": 6,
}


def tracker_stats(entries):
    """Transmission's trackerStats from libtorrent's announce entries (first endpoint)."""
    stats = []
    for e in entries:
        ep = e.get("endpoints") or [{}]
        ih = (ep[0].get("info_hashes") or [ep[0]])[0] if ep else {}
        stats.append({
            "announce": e.get("url", ""),
            "tier": e.get("tier", 0),
            "lastAnnounceResult": ih.get("message", ""),
            "lastAnnounceSucceeded": ih.get("fails", 0) == 0,
            "seederCount": ih.get("scrape_complete", -1),
            "leecherCount": ih.get("scrape_incomplete", -1),
            "nextAnnounceTime": str(ih.get("next_announce", "")),
            "isUpdating": bool(ih.get("updating", False)),
        })
    return stats


class Driver:
    """The session and what the RPC thread asks of it."""

    def __init__(self, ses, ids, count):
        self.ses = ses
        self.ids = ids
        self.count = count

    def torrent_get(self):
        t0 = time.monotonic()
        sts = self.ses.get_torrent_status(lambda s: True, QUERY_NAME)
        t1 = time.monotonic()
        trackers = [s.handle.trackers() for s in sts]
        t2 = time.monotonic()
        rows = []
        for s, tr in zip(sts, trackers):
            rows.append({
                "id": self.ids.get(str(s.info_hashes.v1), 0),
                "name": s.name,
                "status": 0 if s.paused else STATES.get(str(s.state), 4),
                "percentDone": s.progress,
                "rateUpload": s.upload_rate,
                "uploadedEver": s.all_time_upload,
                "peersConnected": s.num_peers,
                "trackerStats": tracker_stats(tr),
            })
        body = json.dumps({"result": "success", "arguments": {"torrents": rows}}).encode()
        t3 = time.monotonic()
        out("GET status_ms=%.1f trackers_ms=%.1f json_ms=%.1f count=%d"
            % ((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, len(rows)))
        return body

    def session_get(self):
        return json.dumps({"result": "success", "arguments": {"torrents": self.count}}).encode()


def serve(driver, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                n = int(self.headers.get("Content-Length", "0"))
                method = json.loads(self.rfile.read(min(n, 1 << 20))).get("method")
            except (ValueError, AttributeError):
                method = None
            if method == "torrent-get":
                body = driver.torrent_get()
            elif method == "session-get":
                body = driver.session_get()
            else:
                body = json.dumps({"result": "unsupported method"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def save_all(ses, state):
    """Resume data of every torrent that needs it, written to STATE/resume; returns how many."""
    rdir = os.path.join(state, "resume")
    os.makedirs(rdir, exist_ok=True)
    ses.pause()
    asked = 0
    for h in ses.get_torrents():
        if h.need_save_resume_data():
            h.save_resume_data(lt.torrent_handle.save_info_dict)
            asked += 1
    saved = failed = 0
    while saved + failed < asked:
        ses.wait_for_alert(1000)
        for a in ses.pop_alerts():
            if isinstance(a, lt.save_resume_data_alert):
                ih = str(a.params.info_hashes.v1)
                tmp = os.path.join(rdir, ih + ".tmp")
                with open(tmp, "wb") as f:
                    f.write(lt.write_resume_data_buf(a.params))
                os.replace(tmp, os.path.join(rdir, ih + ".resume"))
                saved += 1
            elif isinstance(a, lt.save_resume_data_failed_alert):
                failed += 1
    return saved


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rpc", type=int, required=True)
    a = ap.parse_args()
    started = time.monotonic()
    state, data = os.path.abspath(a.state), os.path.abspath(a.data)
    os.makedirs(state, exist_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    params, source = load_params(state, data)
    n = len(params)
    ses = lt.session(settings(a.port, max(2000, 2 * n + 1000)))
    ids = {}
    for i, atp in enumerate(params):
        atp.flags &= ~lt.torrent_flags.auto_managed
        atp.flags &= ~lt.torrent_flags.paused
        atp.flags |= lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd
        ids[str(atp.ti.info_hashes().v1)] = i + 1
        ses.async_add_torrent(atp)
    del params
    added = errors = 0
    while added + errors < n and not stop.is_set():
        ses.wait_for_alert(500)
        for al in ses.pop_alerts():
            if isinstance(al, lt.add_torrent_alert):
                if al.error.value():
                    errors += 1
                else:
                    added += 1
    have = len(ses.get_torrents())
    out("READY torrents=%d errors=%d from=%s secs=%.1f"
        % (have, errors, source, time.monotonic() - started))
    srv = serve(Driver(ses, ids, have), a.rpc)

    while not stop.is_set():
        ses.wait_for_alert(1000)
        for al in ses.pop_alerts():
            if isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                out("ERROR %s" % al.message())
    srv.shutdown()
    t0 = time.monotonic()
    saved = save_all(ses, state)
    out("SAVED %d secs=%.1f" % (saved, time.monotonic() - t0))


if __name__ == "__main__":
    main()
