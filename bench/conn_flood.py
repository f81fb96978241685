#!/usr/bin/env python3
"""Figures for the connection flood (issue 22, "earn your slot"): how long an honest
libtorrent leecher takes to be served while a flood holds the seeder's listener, for our
seeder (`sanstorrent seed`) and a libtorrent seeder (`lt_peer.py --seed`) in the same run,
and the seeder's peak RSS and open fds under the flood.

Each run, for each seeder in turn: start it, start `tests/interop/conn_flood.py` against it
(--sockets sockets from as many loopback addresses), wait --warmup seconds, then start a
libtorrent leecher given the seeder's address and time it from start to exit (download
complete; capped at --cap seconds, shown as '>cap'). The seeder's VmRSS and fd count are
sampled every 0.2 s from the flood's start. Medians over --runs runs. Prints figures, never
fails because something is slow. Not a test; not part of CI.

  cargo build --release -p sanstorrent-cli
  /usr/bin/python3 bench/conn_flood.py [--runs 3] [--sockets 400] [--size 4000000]
      [--before OLD_SANSTORRENT_BINARY]   # adds a row for an older build of ours
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLOOD = os.path.join(ROOT, "tests", "interop", "conn_flood.py")
PY = "/usr/bin/python3"


def interop_dir():
    if os.environ.get("SANSTORRENT_INTEROP_DIR"):
        return os.environ["SANSTORRENT_INTEROP_DIR"]
    d = ROOT
    while d != "/":
        if os.path.exists(os.path.join(d, "shared", "interop", "lt_peer.py")):
            return os.path.join(d, "shared", "interop")
        d = os.path.dirname(d)
    sys.exit("shared/interop not found: set SANSTORRENT_INTEROP_DIR")


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, secs):
    import socket
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Sampler(threading.Thread):
    """Peak RSS (KiB) and open fds of a process, sampled every 0.2 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.rss, self.fds, self.stop = pid, 0, 0, False

    def run(self):
        while not self.stop:
            try:
                with open("/proc/%d/status" % self.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.rss = max(self.rss, int(line.split()[1]))
                self.fds = max(self.fds, len(os.listdir("/proc/%d/fd" % self.pid)))
            except OSError:
                pass
            time.sleep(0.2)


def kill(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one(kind, a, work, torrent, data_dir, info_hash, run, interop):
    port = free_port()
    log = open(os.path.join(work, "%s-%d-seeder.log" % (kind, run)), "w")
    if kind in ("sanstorrent", "before"):
        home = os.path.join(work, "home-%d" % run)
        env = dict(os.environ, HOME=home, XDG_DATA_HOME=home, XDG_STATE_HOME=home,
                   XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home)
        binary = a.bin if kind == "sanstorrent" else a.before
        cmd = [binary, "seed", torrent, "-o", data_dir, "-p", str(port), "--bind",
               "127.0.0.1", "--no-dht"]
        seeder = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    else:
        cmd = [PY, os.path.join(interop, "lt_peer.py"), "--torrent", torrent, "--save",
               data_dir, "--seed", "--seed-mode", "--no-utp", "--port", str(port),
               "--timeout", str(a.cap + a.warmup + 60), "--status-interval", "0"]
        seeder = subprocess.Popen(cmd, stdout=log, stderr=log)
    if not wait_port(port, 30):
        kill(seeder)
        return None
    time.sleep(1)
    sampler = Sampler(seeder.pid)
    sampler.start()
    flog = open(os.path.join(work, "%s-%d-flood.log" % (kind, run)), "w")
    flood = subprocess.Popen([PY, FLOOD, "--target", "127.0.0.1:%d" % port, "--info-hash",
                              info_hash, "--sockets", str(a.sockets), "--seconds",
                              str(a.cap + a.warmup + 30), "--kind", a.kind],
                             stdout=flog, stderr=flog)
    time.sleep(a.warmup)
    out = os.path.join(work, "%s-%d-out" % (kind, run))
    llog = open(os.path.join(work, "%s-%d-leecher.log" % (kind, run)), "w")
    start = time.time()
    leecher = subprocess.Popen([PY, os.path.join(interop, "lt_peer.py"), "--torrent", torrent,
                                "--save", out, "--exit-on-done", "--no-utp", "--peer",
                                "127.0.0.1:%d" % port, "--timeout", str(a.cap)],
                               stdout=llog, stderr=llog)
    try:
        code = leecher.wait(a.cap + 15)
    except subprocess.TimeoutExpired:
        code = None
    took = time.time() - start
    sampler.stop = True
    for p in (leecher, flood, seeder):
        kill(p)
    ok = code == 0
    return {"secs": took if ok else None, "rss": sampler.rss, "fds": sampler.fds}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sockets", type=int, default=400)
    ap.add_argument("--size", type=int, default=4_000_000)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--cap", type=int, default=60)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "sanstorrent"))
    ap.add_argument("--before", help="an older sanstorrent binary, for a before/after row")
    ap.add_argument("--kind", default="mixed",
                    help="the flood's behaviour (tests/interop/conn_flood.py --kind)")
    ap.add_argument("--table-only", action="store_true",
                    help="print only the table's rows (for bench/flood.sh)")
    a = ap.parse_args()
    interop = interop_dir()
    work = tempfile.mkdtemp(prefix="flood-bench-")
    data_dir = os.path.join(work, "data")
    torrent = os.path.join(work, "t.torrent")
    js = subprocess.check_output([PY, os.path.join(interop, "mktorrent.py"), "both", "--layout",
                                  "single", "--dir", data_dir, "--size", str(a.size), "--seed",
                                  "7", "--piece-size", "65536", "--torrent", torrent]).decode()
    info_hash = js.split('"infohash": "')[1].split('"')[0]
    kinds = ["sanstorrent", "libtorrent"] + (["before"] if a.before else [])
    results = {k: [] for k in kinds}
    for run in range(a.runs):
        order = kinds[run % len(kinds):] + kinds[:run % len(kinds)]
        for kind in order:
            r = one(kind, a, work, torrent, data_dir, info_hash, run, interop)
            results[kind].append(r)
            if not a.table_only:
                print("run %d %s: %s" % (run + 1, kind, r), flush=True)
    if not a.table_only:
        print()
        print("| seeder under %d flood sockets | served (median of %d) | runs served | peak RSS | peak fds |"
              % (a.sockets, a.runs))
        print("|---|---|---|---|---|")
    for kind, rs in results.items():
        rs = [r for r in rs if r]
        secs = [r["secs"] for r in rs if r["secs"] is not None]
        med = "%.1f s" % statistics.median(secs) if secs else ">%d s" % a.cap
        rss = "%.1f MiB" % (statistics.median([r["rss"] for r in rs]) / 1024) if rs else "-"
        fds = "%d" % statistics.median([r["fds"] for r in rs]) if rs else "-"
        label = "%s, %s" % (kind, a.kind) if a.table_only else kind
        print("| %s | %s | %d/%d | %s | %s |" % (label, med, len(secs), a.runs, rss, fds),
              flush=True)
    if not os.environ.get("KEEP_WORK"):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("work dir:", work)


if __name__ == "__main__":
    main()
