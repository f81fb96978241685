#!/usr/bin/env python3
"""Helpers of bench/scale.sh (standard library only).

  scale.py gen N DATA TRACKER_URL ST_STATE TR_CONF WHITELIST [LT_STATE]
      N single-file torrents of 4 KiB each (bytes drawn from the index, reproducible), the
      data in DATA/t<i>; sanstorrent's state dir (daemon/torrents.json and <hash>.torrent);
      Transmission's config dir (torrents/<name>.<hash16>.torrent); libtorrent's state dir
      for bench/scale_lt.py (torrents/<hash>.torrent), when given; every info-hash appended
      to WHITELIST (opentracker's).
  scale.py torrents TRACKER_BASE
      how many torrents opentracker holds (its /stats?mode=torr), or -1 if it does not answer
  scale.py rpc URL [RUNS] [SECS]
      times a Transmission `torrent-get` of every torrent (8 fields) RUNS times (default 5),
      each given SECS (default 120) to answer; prints "count best_ms median_ms", or "-1 0 0"
      when the RPC does not answer
  scale.py wait-rpc URL SECS [START]
      waits until the RPC answers session-get; prints the seconds it took (-1: it did not),
      counted from START (seconds since the epoch, `date +%s.%N` before the exec) if given,
      else from its own start
  scale.py proc PID
      prints "utime_stime_seconds vmrss_kib vmhwm_kib" of a process
  scale.py medians < LINES
      the median of each key=value field over lines such as bench/scale_lt.py's
      "GET status_ms=.. trackers_ms=.. json_ms=.. count=..": "status_ms=.. trackers_ms=.."
"""
import hashlib
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request

PIECE = 16384
SIZE = 4096


def bencode(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, str):
        return bencode(x.encode())
    if isinstance(x, dict):
        out = b"d"
        for k in sorted(x, key=lambda k: k.encode() if isinstance(k, str) else k):
            out += bencode(k) + bencode(x[k])
        return out + b"e"
    raise TypeError(type(x))


def gen(n, data, tracker, st_state, tr_conf, whitelist, lt_state=None):
    n = int(n)
    os.makedirs(data, exist_ok=True)
    st_dir = os.path.join(st_state, "daemon")
    tr_dir = os.path.join(tr_conf, "torrents")
    os.makedirs(st_dir, exist_ok=True)
    os.makedirs(tr_dir, exist_ok=True)
    lt_dir = os.path.join(lt_state, "torrents") if lt_state else None
    if lt_dir:
        os.makedirs(lt_dir, exist_ok=True)
    saved = []
    hashes = []
    for i in range(n):
        name = "t%06d" % i
        seed = hashlib.sha256(b"scale %d" % i).digest()
        content = (seed * (SIZE // len(seed) + 1))[:SIZE]
        path = os.path.join(data, name)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(content)
        info = {
            "length": SIZE,
            "name": name,
            "piece length": PIECE,
            "pieces": hashlib.sha1(content).digest(),
        }
        ih = hashlib.sha1(bencode(info)).hexdigest()
        meta = bencode({"announce": tracker, "info": info})
        with open(os.path.join(st_dir, ih + ".torrent"), "wb") as f:
            f.write(meta)
        with open(os.path.join(tr_dir, "%s.%s.torrent" % (name, ih[:16])), "wb") as f:
            f.write(meta)
        if lt_dir:
            with open(os.path.join(lt_dir, ih + ".torrent"), "wb") as f:
                f.write(meta)
        saved.append({"hash": ih, "download_dir": os.path.abspath(data), "added_date": 1})
        hashes.append(ih)
    with open(os.path.join(st_dir, "torrents.json"), "w") as f:
        json.dump({"version": 1, "torrents": saved}, f)
    with open(whitelist, "a") as f:
        f.write("".join(h + "\n" for h in hashes))


def torrents(base):
    try:
        with urllib.request.urlopen(base + "/stats?mode=torr", timeout=5) as r:
            return int(r.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


class Rpc:
    def __init__(self, url):
        self.url = url
        self.sid = ""

    def call(self, method, arguments, timeout=120):
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(2):
            req = urllib.request.Request(
                self.url, data=body, headers={"X-Transmission-Session-Id": self.sid}
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code != 409:
                    raise
                self.sid = e.headers.get("X-Transmission-Session-Id", "")
        raise OSError("no session id")


FIELDS = ["id", "name", "status", "percentDone", "rateUpload", "uploadedEver",
          "peersConnected", "trackerStats"]


def rpc(url, runs=5, secs=120):
    r = Rpc(url)
    times = []
    count = -1
    try:
        for _ in range(int(runs)):
            t0 = time.monotonic()
            ans = r.call("torrent-get", {"fields": FIELDS}, timeout=max(120.0, float(secs)))
            times.append((time.monotonic() - t0) * 1000)
            count = len(ans["arguments"]["torrents"])
    except (OSError, ValueError, KeyError):
        print("-1 0 0")
        return
    print("%d %.1f %.1f" % (count, min(times), statistics.median(times)))


def wait_rpc(url, secs, start=None):
    r = Rpc(url)
    t0 = time.monotonic()
    since = float(start) if start else time.time()
    while time.monotonic() - t0 < float(secs):
        try:
            r.call("session-get", {}, timeout=5)
            print("%.2f" % (time.time() - since))
            return
        except (OSError, ValueError):
            time.sleep(0.1)
    print("-1")


def proc(pid):
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = hwm = 0
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    print("%.2f %d %d" % (cpu, rss, hwm))


def medians(lines):
    values = {}
    for line in lines:
        for word in line.split()[1:]:
            key, sep, value = word.partition("=")
            try:
                number = float(value)
            except ValueError:
                continue
            if sep:
                values.setdefault(key, []).append(number)
    print(" ".join("%s=%g" % (k, statistics.median(v)) for k, v in values.items()) or "-")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(*args)
    elif cmd == "torrents":
        print(torrents(*args))
    elif cmd == "rpc":
        rpc(*args)
    elif cmd == "wait-rpc":
        wait_rpc(*args)
    elif cmd == "proc":
        proc(*args)
    elif cmd == "medians":
        medians(sys.stdin)
    else:
        print(__doc__)
        sys.exit(2)
