#!/usr/bin/env python3
"""Many peers on many torrents (issue 25, "Also"): the peer side and the probe of
bench/scale.sh --peers (standard library only).

  scale_peers.py peers --target 127.0.0.1:PORT --hashes FILE --count N --seconds S
                       [--interval 1.0] [--out FILE]
      N leechers, connection i on torrent i % len(hashes) (FILE: one hex info-hash a line)
      and from its own loopback address 127.0.(1 + i // 250).(1 + i % 250), so the per-IP
      limit never decides. Each sends a handshake, then `interested`; while unchoked it asks
      for block 0 of piece 0 (4 KiB) at most once per --interval seconds, for as long as it
      runs, and sends a keep-alive every 30 s. A connection the target closes is opened
      again 5 s later. Connects are spread over the first seconds (100 every 0.1 s). Prints
      'PEERS t=S open=N handshaken=N unchoked=N blocks=N closed=N' every second and a last
      line 'PEERS_DONE max_handshaken=N blocks=N closed=N'.
  scale_peers.py probe --rpc URL --pid PID --port PORT --seconds S [--every 0.25]
      samples, every --every seconds: the latency of a Transmission `session-get` and of a
      `torrent-get` of one torrent's `peersConnected` (a round trip through the session's
      loop), the daemon's accepted connections on PORT (its socket fds that are established
      TCP sockets bound to PORT), its VmRSS, and its CPU time. Prints a last line
      'PROBE held_max=N held_median=N session_get_ms=MED/P99/MAX
       torrent_get_ms=MED/P99/MAX rss_mib=END hwm_mib=PEAK cpu_pct=P'.
  scale_peers.py settle --rpc URL --n N --limit L [--secs 600]
      sets the daemon's global connection limit (`session-set` `peer-limit-global`) to L and
      waits until N torrents are seeding; prints the seconds it waited (-1: they were not).
"""
import argparse
import os
import selectors
import socket
import statistics
import sys
import time

from scale import Rpc

BLOCK = 4096
KEEPALIVE = 30.0
RECONNECT = 5.0


def handshake(info_hash, slot):
    return b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-XX0000-" + slot.to_bytes(12, "big")


INTERESTED = b"\x00\x00\x00\x01\x02"
REQUEST = b"\x00\x00\x00\x0d\x06" + (0).to_bytes(4, "big") * 2 + BLOCK.to_bytes(4, "big")


class Peer:
    def __init__(self, slot, info_hash):
        self.slot = slot
        self.info_hash = info_hash
        self.sock = None
        self.buf = b""
        self.handshaken = False
        self.unchoked = False
        self.waiting = False
        self.next_request = 0.0
        self.last_sent = 0.0
        self.reopen_at = 0.0

    def addr(self):
        return "127.0.%d.%d" % (1 + self.slot // 250, 1 + self.slot % 250)


def peers(args):
    hashes = [bytes.fromhex(l.strip()) for l in open(args.hashes) if l.strip()]
    host, port = args.target.rsplit(":", 1)
    target = (host, int(port))
    sel = selectors.DefaultSelector()
    all_peers = [Peer(i, hashes[i % len(hashes)]) for i in range(args.count)]
    stats = {"blocks": 0, "closed": 0, "max_handshaken": 0}
    start = time.monotonic()
    for i, p in enumerate(all_peers):
        p.reopen_at = start + (i // 100) * 0.1

    def send(p, data):
        try:
            p.sock.sendall(data)
            p.last_sent = time.monotonic()
        except OSError:
            close(p)

    def close(p):
        if p.sock is None:
            return
        try:
            sel.unregister(p.sock)
        except (KeyError, ValueError):
            pass
        p.sock.close()
        p.sock = None
        p.handshaken = p.unchoked = p.waiting = False
        p.buf = b""
        p.reopen_at = time.monotonic() + RECONNECT
        stats["closed"] += 1

    def open_(p):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((p.addr(), 0))
        except OSError:
            s.close()
            p.reopen_at = time.monotonic() + RECONNECT
            return
        s.setblocking(False)
        err = s.connect_ex(target)
        p.sock = s
        if err not in (0, 115):  # EINPROGRESS
            close(p)
            return
        sel.register(s, selectors.EVENT_WRITE, p)

    def readable(p):
        try:
            data = p.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            close(p)
            return
        if not data:
            close(p)
            return
        p.buf += data
        if not p.handshaken:
            if len(p.buf) < 68:
                return
            if p.buf[28:48] != p.info_hash:
                close(p)
                return
            p.buf = p.buf[68:]
            p.handshaken = True
            send(p, INTERESTED)
        while p.sock is not None and len(p.buf) >= 4:
            n = int.from_bytes(p.buf[:4], "big")
            if len(p.buf) < 4 + n:
                break
            msg, p.buf = p.buf[4:4 + n], p.buf[4 + n:]
            if not msg:
                continue
            kind = msg[0]
            if kind == 0:
                p.unchoked = p.waiting = False
            elif kind == 1:
                p.unchoked = True
            elif kind == 7:
                p.waiting = False
                stats["blocks"] += 1
            elif kind == 16:  # reject (only with the fast extension, which we do not offer)
                p.waiting = False

    last_print = start
    end = start + args.seconds
    out = open(args.out, "w") if args.out else sys.stdout
    while True:
        now = time.monotonic()
        if now >= end:
            break
        for p in all_peers:
            if p.sock is None:
                if now >= p.reopen_at:
                    open_(p)
            elif p.handshaken:
                if p.unchoked and not p.waiting and now >= p.next_request:
                    p.waiting = True
                    p.next_request = now + args.interval
                    send(p, REQUEST)
                elif now - p.last_sent >= KEEPALIVE:
                    send(p, bytes(4))
        for key, mask in sel.select(timeout=0.05):
            p = key.data
            if p.sock is None:
                continue
            if mask & selectors.EVENT_WRITE:
                if p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    close(p)
                    continue
                sel.modify(p.sock, selectors.EVENT_READ, p)
                send(p, handshake(p.info_hash, p.slot))
            else:
                readable(p)
        if now - last_print >= 1.0:
            last_print = now
            hs = sum(1 for p in all_peers if p.handshaken)
            stats["max_handshaken"] = max(stats["max_handshaken"], hs)
            print("PEERS t=%d open=%d handshaken=%d unchoked=%d blocks=%d closed=%d" % (
                now - start, sum(1 for p in all_peers if p.sock is not None), hs,
                sum(1 for p in all_peers if p.unchoked), stats["blocks"], stats["closed"]),
                file=out, flush=True)
    print("PEERS_DONE max_handshaken=%d blocks=%d closed=%d" % (
        stats["max_handshaken"], stats["blocks"], stats["closed"]), file=out, flush=True)


def held(pid, port):
    """The daemon's established TCP sockets bound to `port` (IPv4 and IPv6 tables)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and inode in inodes:
                    n += 1
    return n


def cpu_rss(pid):
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu, rss, hwm


def spread(xs):
    xs = sorted(xs)
    if not xs:
        return "-"
    p99 = xs[min(len(xs) - 1, int(len(xs) * 0.99))]
    return "%.1f/%.1f/%.1f" % (statistics.median(xs), p99, xs[-1])


def probe(args):
    rpc = Rpc(args.rpc)
    ids = rpc.call("torrent-get", {"fields": ["id"]})["arguments"]["torrents"]
    one = ids[0]["id"]
    session_ms, torrent_ms, counts = [], [], []
    c0, _, _ = cpu_rss(args.pid)
    t0 = time.monotonic()
    end = t0 + args.seconds
    while time.monotonic() < end:
        s = time.monotonic()
        rpc.call("session-get", {"fields": ["version"]})
        m = time.monotonic()
        rpc.call("torrent-get", {"ids": [one], "fields": ["peersConnected"]})
        e = time.monotonic()
        session_ms.append((m - s) * 1000)
        torrent_ms.append((e - m) * 1000)
        counts.append(held(args.pid, args.port))
        time.sleep(max(0.0, args.every - (time.monotonic() - s)))
    c1, rss, hwm = cpu_rss(args.pid)
    pct = (c1 - c0) * 100 / (time.monotonic() - t0)
    print("PROBE held_max=%d held_median=%d session_get_ms=%s torrent_get_ms=%s "
          "rss_mib=%d hwm_mib=%d cpu_pct=%.0f" % (
              max(counts), statistics.median(counts), spread(session_ms), spread(torrent_ms),
              rss // 1024, hwm // 1024, pct), flush=True)


def settle(args):
    rpc = Rpc(args.rpc)
    rpc.call("session-set", {"peer-limit-global": args.limit})
    got = rpc.call("session-get", {"fields": ["peer-limit-global"]})["arguments"]
    if got.get("peer-limit-global") != args.limit:
        sys.exit("scale_peers: the limit did not take: %s" % got)
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.secs:
        ts = rpc.call("torrent-get", {"fields": ["status"]})["arguments"]["torrents"]
        if sum(1 for t in ts if t["status"] == 6) >= args.n:
            print("%.1f" % (time.monotonic() - t0))
            return
        time.sleep(0.5)
    print("-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("peers")
    p.add_argument("--target", required=True)
    p.add_argument("--hashes", required=True)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--out")
    q = sub.add_parser("probe")
    q.add_argument("--rpc", required=True)
    q.add_argument("--pid", type=int, required=True)
    q.add_argument("--port", type=int, required=True)
    q.add_argument("--seconds", type=float, default=30)
    q.add_argument("--every", type=float, default=0.25)
    r = sub.add_parser("settle")
    r.add_argument("--rpc", required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--limit", type=int, required=True)
    r.add_argument("--secs", type=float, default=600)
    args = ap.parse_args()
    {"peers": peers, "probe": probe, "settle": settle}[args.cmd](args)


if __name__ == "__main__":
    main()
