#!/usr/bin/env python3
"""A connection flood against a BitTorrent listener on loopback.

Holds N sockets to TARGET, each from its own source address in 127.0.0.0/8 (slot i binds
127.0.(1 + i // 250).(1 + i % 250): several hundred addresses, never 127.0.0.1), each in one
of four behaviours by slot (i % 4):
  0 silent                    connects and sends nothing
  1 half handshake            the first 34 bytes of a BitTorrent handshake, then nothing
  2 trickle                   a valid handshake one byte every 3 s
  3 handshake then silence    a valid handshake (for --info-hash), then nothing
With --kind NAME every slot behaves alike: silent, half, trickle, handshake (the four above)
or interested (a valid handshake and `interested`, then nothing: it never requests, whatever
it is sent; --interested is the same); --kind mixed (the default) is the four by slot. Whatever is received is read and dropped. A socket
closed or refused is reopened after --reconnect seconds, so the flood never lets go.

Usage: conn_flood.py --target 127.0.0.1:PORT --info-hash HEX [--sockets 400] [--seconds 120]
                     [--kind mixed|silent|half|trickle|handshake|interested]
Prints (flushed) 'FLOOD t=S open=N connects=N refused=N closed=N' every second; exits after
--seconds.
"""
import argparse
import errno
import selectors
import socket
import sys
import time

TRICKLE = 3.0


def handshake(info_hash, slot):
    peer_id = b"-XX0000-" + slot.to_bytes(12, "big")
    return b"\x13BitTorrent protocol" + bytes(8) + info_hash + peer_id


INTERESTED = b"\x00\x00\x00\x01\x02"


KINDS = {"silent": 0, "half": 1, "trickle": 2, "handshake": 3, "interested": 4}


class Slot:
    def __init__(self, i, hs, kind):
        self.i = i
        self.kind = i % 4 if kind == "mixed" else KINDS[kind]
        self.src = "127.0.%d.%d" % (1 + i // 250, 1 + i % 250)
        self.hs = hs
        self.sock = None
        self.connected = False
        self.sent = 0
        self.next_at = 0.0  # when to (re)connect, or to send the next trickle byte


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--info-hash", required=True)
    ap.add_argument("--sockets", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--reconnect", type=float, default=0.2)
    ap.add_argument("--interested", action="store_true")
    ap.add_argument("--kind", choices=["mixed"] + list(KINDS), default="mixed")
    a = ap.parse_args()
    if a.interested:
        a.kind = "interested"
    host, port = a.target.rsplit(":", 1)
    target = (host, int(port))
    info_hash = bytes.fromhex(a.info_hash)
    if len(info_hash) != 20 or a.sockets > 250 * 250:
        sys.exit("bad --info-hash or --sockets")
    sel = selectors.DefaultSelector()
    slots = [Slot(i, handshake(info_hash, i), a.kind) for i in range(a.sockets)]
    stats = {"connects": 0, "refused": 0, "closed": 0}
    start = time.monotonic()
    for s in slots:
        s.next_at = start + s.i * 0.002

    def drop(s, now, counter):
        if s.sock is not None:
            try:
                sel.unregister(s.sock)
            except (KeyError, ValueError):
                pass
            s.sock.close()
        s.sock, s.connected, s.sent = None, False, 0
        s.next_at = now + a.reconnect
        stats[counter] += 1

    def send(s, data, now):
        try:
            s.sock.send(data)
            s.sent += len(data)
        except OSError:
            drop(s, now, "closed")

    def opened(s, now):
        s.connected = True
        sel.modify(s.sock, selectors.EVENT_READ, s)
        if s.kind == 1:
            send(s, s.hs[:34], now)
        elif s.kind == 2:
            send(s, s.hs[:1], now)
            s.next_at = now + TRICKLE
        elif s.kind == 3:
            send(s, s.hs, now)
        elif s.kind == 4:
            send(s, s.hs + INTERESTED, now)

    next_report = start + 1
    while True:
        now = time.monotonic()
        if now - start >= a.seconds:
            break
        for s in slots:
            if s.next_at > now:
                continue
            if s.sock is None:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    sock.bind((s.src, 0))
                    err = sock.connect_ex(target)
                except OSError as e:
                    err = e.errno
                stats["connects"] += 1
                s.sock = sock
                if err not in (0, errno.EINPROGRESS):
                    drop(s, now, "refused")
                    continue
                sel.register(sock, selectors.EVENT_WRITE, s)
                s.next_at = float("inf")
            elif s.connected and s.kind == 2 and s.sent < len(s.hs):
                send(s, s.hs[s.sent:s.sent + 1], now)
                if s.sock is not None:
                    s.next_at = now + TRICKLE
            else:
                s.next_at = float("inf")
        for key, events in sel.select(timeout=0.05):
            s = key.data
            now = time.monotonic()
            if not s.connected:
                err = s.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    drop(s, now, "refused")
                else:
                    opened(s, now)
                continue
            try:
                data = s.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                drop(s, now, "closed")
        if now >= next_report:
            open_ = sum(1 for s in slots if s.connected)
            print("FLOOD t=%.0f open=%d connects=%d refused=%d closed=%d"
                  % (now - start, open_, stats["connects"], stats["refused"], stats["closed"]),
                  flush=True)
            next_report += 1


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
