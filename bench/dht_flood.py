#!/usr/bin/env python3
"""Figures for the KRPC flood (issue 22, "DHT under load"): how long a magnet link takes to
resolve and download through libtorrent DHT nodes while the fetching client's own DHT node is
flooded, for our client (`sanstorrent download MAGNET`) and a libtorrent client
(`lt_peer.py --magnet`) in the same run, with the fetcher's peak RSS and open fds and how many
flood queries it answered.

Each run, for each fetcher in turn: two libtorrent DHT nodes bootstrap from each other and a
libtorrent seeder announces the torrent through them (no tracker); the flood starts at
--rate queries a second from --sources loopback addresses (127.0.x.y, never 127.0.0.1) at the
fetcher's port (ping, find_node, get_peers of a random info-hash, announce_peer with a forged
token, each from a new random node id); one second later the fetcher starts, given the two
nodes, and is timed from start to the whole torrent on disk (capped at --cap seconds, shown as
'>cap'). --rate 0 runs without a flood. Medians over --runs runs. Not a test; not part of CI.

  cargo build --release -p sanstorrent-cli
  /usr/bin/python3 bench/dht_flood.py [--runs 1] [--rate 8000] [--sources 256] [--table-only]
"""
import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conn_flood import PY, ROOT, Sampler, free_port, interop_dir, kill  # noqa: E402


def bencode(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, dict):
        return b"d" + b"".join(bencode(k) + bencode(x[k]) for k in sorted(x)) + b"e"
    raise TypeError(x)


def query(i, rng):
    """The i-th flood query: ping, find_node, get_peers, announce_peer with a forged token."""
    rand = lambda: bytes(rng.getrandbits(8) for _ in range(20))  # noqa: E731
    args = {b"id": rand()}
    kind = i % 4
    if kind == 0:
        q = b"ping"
    elif kind == 1:
        q, args[b"target"] = b"find_node", rand()
    elif kind == 2:
        q, args[b"info_hash"] = b"get_peers", rand()
    else:
        q = b"announce_peer"
        args.update({b"info_hash": rand(), b"port": 6881, b"token": rand()[:4]})
    return bencode({b"t": i.to_bytes(4, "big"), b"y": b"q", b"q": q, b"a": args})


class Flood(threading.Thread):
    """KRPC queries at `rate` a second from `sources` loopback addresses to `port`, counting
    the answers (any non-query message) that come back."""

    def __init__(self, port, rate, sources):
        super().__init__(daemon=True)
        self.port, self.rate, self.stop = port, rate, False
        self.sent = self.answers = 0
        self.socks = []
        for n in range(sources):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.%d.%d" % (1 + n // 64, 1 + n % 64), 0))
            s.setblocking(False)
            self.socks.append(s)
        # A pool of queries, so that encoding does not limit the rate.
        rng = random.Random(7)
        self.pool = [query(i, rng) for i in range(4096)]

    def run(self):
        start = time.monotonic()
        target = ("127.0.0.1", self.port)
        while not self.stop:
            due = int((time.monotonic() - start) * self.rate)
            while self.sent < due:
                sock = self.socks[self.sent % len(self.socks)]
                try:
                    sock.sendto(self.pool[self.sent % len(self.pool)], target)
                except OSError:
                    pass
                self.sent += 1
            for sock in self.socks:
                while True:
                    try:
                        data = sock.recv(2048)
                    except OSError:
                        break
                    if b"1:y1:q" not in data:
                        self.answers += 1
            time.sleep(0.005)


def dht_nodes(interop, work, procs):
    ports = [free_port(), free_port()]
    addrs = ["127.0.0.1:%d" % p for p in ports]
    for i, port in enumerate(ports):
        log = open(os.path.join(work, "dht%d.log" % i), "w")
        procs.append(subprocess.Popen(
            [PY, os.path.join(interop, "lt_peer.py"), "--dht-node", "--print-dht-port",
             "--port", str(port), "--dht-bootstrap", addrs[1 - i], "--timeout", "3600"],
            stdout=log, stderr=log))
    return ",".join(addrs)


def one(kind, a, work, magnet, boot, run, interop):
    port = free_port()
    out = os.path.join(work, "%s-%d-out" % (kind, run))
    log = open(os.path.join(work, "%s-%d.log" % (kind, run)), "w")
    flood = None
    if a.rate > 0:
        flood = Flood(port, a.rate, a.sources)
        flood.start()
        time.sleep(1)
    start = time.time()
    if kind == "sanstorrent":
        home = os.path.join(work, "home-%s-%d" % (kind, run))
        cmd = [a.bin, "download", magnet, "-o", out, "-p", str(port), "--bind", "127.0.0.1",
               "--state-dir", home, "--no-lsd", "--quiet"]
        for b in boot.split(","):
            cmd += ["--dht-bootstrap", b]
    else:
        cmd = [PY, os.path.join(interop, "lt_peer.py"), "--magnet", magnet, "--save", out,
               "--dht", "--dht-bootstrap", boot, "--no-tracker", "--port", str(port),
               "--exit-on-done", "--timeout", str(a.cap), "--status-interval", "0"]
    fetcher = subprocess.Popen(cmd, stdout=log, stderr=log)
    sampler = Sampler(fetcher.pid)
    sampler.start()
    try:
        code = fetcher.wait(a.cap + 15)
    except subprocess.TimeoutExpired:
        code = None
    took = time.time() - start
    sampler.stop = True
    kill(fetcher)
    if flood:
        flood.stop = True
        flood.join()
    ok = code == 0 and os.path.exists(out)
    return {"secs": took if ok else None, "rss": sampler.rss, "fds": sampler.fds,
            "sent": flood.sent if flood else 0, "answers": flood.answers if flood else 0,
            "flooded": took + 1 if flood else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--rate", type=int, default=8000)
    ap.add_argument("--sources", type=int, default=256)
    ap.add_argument("--size", type=int, default=3_000_000)
    ap.add_argument("--cap", type=int, default=120)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "sanstorrent"))
    ap.add_argument("--table-only", action="store_true")
    a = ap.parse_args()
    interop = interop_dir()
    work = tempfile.mkdtemp(prefix="dht-flood-bench-")
    procs = []
    try:
        data_dir = os.path.join(work, "data")
        torrent = os.path.join(work, "t.torrent")
        js = subprocess.check_output(
            [PY, os.path.join(interop, "mktorrent.py"), "both", "--layout", "single", "--dir",
             data_dir, "--size", str(a.size), "--seed", "9", "--piece-size", "65536",
             "--torrent", torrent]).decode()
        magnet = js.split('"magnet": "')[1].split('"')[0]
        boot = dht_nodes(interop, work, procs)
        time.sleep(3)
        slog = open(os.path.join(work, "seeder.log"), "w")
        procs.append(subprocess.Popen(
            [PY, os.path.join(interop, "lt_peer.py"), "--torrent", torrent, "--save", data_dir,
             "--seed", "--seed-mode", "--dht", "--dht-bootstrap", boot, "--no-tracker",
             "--timeout", "3600", "--status-interval", "0"], stdout=slog, stderr=slog))
        time.sleep(5)
        kinds = ["sanstorrent", "libtorrent"]
        results = {k: [] for k in kinds}
        for run in range(a.runs):
            for kind in kinds[run % 2:] + kinds[:run % 2]:
                r = one(kind, a, work, magnet, boot, run, interop)
                results[kind].append(r)
                if not a.table_only:
                    print("run %d %s: %s" % (run + 1, kind, r), flush=True)
        if not a.table_only:
            print()
            print("| magnet fetched under a KRPC flood | done (median of %d) | runs done | "
                  "peak RSS | peak fds | flood answered |" % a.runs)
            print("|---|---|---|---|---|---|")
        for kind, rs in results.items():
            secs = [r["secs"] for r in rs if r["secs"] is not None]
            med = "%.1f s" % statistics.median(secs) if secs else ">%d s" % a.cap
            rss = "%.1f MiB" % (statistics.median([r["rss"] for r in rs]) / 1024)
            fds = "%d" % statistics.median([r["fds"] for r in rs])
            sent = sum(r["sent"] for r in rs)
            answered = sum(r["answers"] for r in rs)
            secs_flooded = sum(r["flooded"] for r in rs) or 1
            flood = ("%d of %d (%.0f/s)" % (answered, sent, answered / secs_flooded)
                     if sent else "no flood")
            label = "%s, KRPC %d/s from %d addresses" % (kind, a.rate, a.sources) \
                if a.rate else "%s, no flood" % kind
            print("| %s | %s | %d/%d | %s | %s | %s |"
                  % (label, med, len(secs), a.runs, rss, fds, flood), flush=True)
    finally:
        for p in procs:
            kill(p)
        if not os.environ.get("KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work dir:", work)


if __name__ == "__main__":
    main()
