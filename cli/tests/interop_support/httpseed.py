#!/usr/bin/env python3
"""A BEP 17 HTTP seed for the tests (no Debian package serves BEP 17).

Serves the pieces of one v1 torrent whose data lies under --dir (the directory a seeder's -o
names): GET <any path>?info_hash=<20 bytes, percent-encoded>&piece=<n>&ranges=<a>-<b>[,...]
answers 200 with those bytes of piece n (offsets in the piece, both inclusive; no ranges: the
whole piece). Every request within --busy-secs of the first is answered 503 with that number
as the body (BEP 17: "busy, retry in N seconds"); the first --corrupt distinct pieces asked for are sent with every
byte inverted, each time they are asked for. Prints
"LISTEN <port>" once it listens, then one line per request:
"REQ <monotonic seconds> <status> piece=<n> bytes=<len>".
"""

import argparse
import hashlib
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def bdecode(data, i=0):
    """Decodes the bencoded value at data[i]; returns (value, end). Dicts keep their keys as
    bytes and note the raw span of each value under (b"__raw__", key)."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            start = i
            v, i = bdecode(data, i)
            out[k] = v
            out[(b"__raw__", k)] = data[start:i]
        return out, i + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


class Torrent:
    """The torrent's pieces over the files under `root` (padding files read as zeros)."""

    def __init__(self, path, root):
        meta, _ = bdecode(open(path, "rb").read())
        info = meta[b"info"]
        self.info_hash = hashlib.sha1(meta[(b"__raw__", b"info")]).digest()
        self.piece_length = info[b"piece length"]
        name = info[b"name"].decode()
        # (path or None for padding, offset in the stream, length)
        self.files = []
        offset = 0
        if b"files" in info:
            for f in info[b"files"]:
                parts = [p.decode() for p in f[b"path"]]
                pad = b"p" in f.get(b"attr", b"")
                path = None if pad else os.path.join(root, name, *parts)
                self.files.append((path, offset, f[b"length"]))
                offset += f[b"length"]
        else:
            self.files.append((os.path.join(root, name), 0, info[b"length"]))
            offset = info[b"length"]
        self.total = offset

    def read(self, start, length):
        """`length` bytes of the stream from `start`."""
        out = bytearray()
        for path, offset, flen in self.files:
            lo, hi = max(start, offset), min(start + length, offset + flen)
            if lo >= hi:
                continue
            if path is None:
                out += bytes(hi - lo)
            else:
                with open(path, "rb") as f:
                    f.seek(lo - offset)
                    out += f.read(hi - lo)
        return bytes(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--busy-secs", type=int, default=0)
    ap.add_argument("--corrupt", type=int, default=0)
    args = ap.parse_args()
    torrent = Torrent(args.torrent, args.dir)
    state = {"first": None, "corrupt": set()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def reply(self, status, body, piece=-1):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            print(f"REQ {time.monotonic():.3f} {status} piece={piece} bytes={len(body)}",
                  flush=True)

        def do_GET(self):
            query = urllib.parse.urlsplit(self.path).query
            params = urllib.parse.parse_qs(query, keep_blank_values=True)
            raw = urllib.parse.unquote_to_bytes(
                next((p[len("info_hash="):] for p in query.split("&")
                      if p.startswith("info_hash=")), ""))
            if raw != torrent.info_hash:
                return self.reply(404, b"unknown torrent")
            now = time.monotonic()
            if state["first"] is None:
                state["first"] = now
            if now < state["first"] + args.busy_secs:
                return self.reply(503, str(args.busy_secs).encode())
            try:
                piece = int(params["piece"][0])
                start = piece * torrent.piece_length
                plen = min(torrent.piece_length, torrent.total - start)
                if piece < 0 or plen <= 0:
                    raise ValueError
                ranges = []
                for r in params.get("ranges", [f"0-{plen - 1}"])[0].split(","):
                    a, b = (int(x) for x in r.split("-"))
                    if not 0 <= a <= b < plen:
                        raise ValueError
                    ranges.append((a, b))
            except (KeyError, ValueError):
                return self.reply(400, b"bad request")
            body = b"".join(torrent.read(start + a, b - a + 1) for a, b in ranges)
            if len(state["corrupt"]) < args.corrupt:
                state["corrupt"].add(piece)
            if piece in state["corrupt"]:
                body = bytes(x ^ 0xFF for x in body)
            self.reply(200, body, piece)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"LISTEN {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
