"""A UDP relay that counts datagram sizes: datagrams to LISTEN go on to TARGET from a socket of
its own, and the answers go back to whoever last wrote to LISTEN. Every second (and at
SIGTERM) it writes OUT: one line per direction, `to-target|to-client COUNT MAX OVER1200`,
OVER1200 counting datagrams of more than 1,200 bytes (uTP's first packet size).

    python3 udp_relay.py LISTEN_PORT TARGET_PORT OUT   (both on 127.0.0.1)
"""
import selectors
import signal
import socket
import sys
import time

listen_port, target_port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", listen_port))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
back.bind(("127.0.0.1", 0))
target = ("127.0.0.1", target_port)
stats = {"to-target": [0, 0, 0], "to-client": [0, 0, 0]}
client = None


def count(way, n):
    s = stats[way]
    s[0] += 1
    s[1] = max(s[1], n)
    s[2] += n > 1200


def dump(*_):
    with open(out + ".tmp", "w") as f:
        for way, (n, big, over) in stats.items():
            f.write(f"{way} {n} {big} {over}\n")
    import os

    os.replace(out + ".tmp", out)


def stop(*_):
    dump()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
sel = selectors.DefaultSelector()
sel.register(front, selectors.EVENT_READ)
sel.register(back, selectors.EVENT_READ)
last = time.monotonic()
while True:
    for key, _ in sel.select(0.5):
        data, addr = key.fileobj.recvfrom(65536)
        if key.fileobj is front:
            client = addr
            count("to-target", len(data))
            back.sendto(data, target)
        elif client is not None:
            count("to-client", len(data))
            front.sendto(data, client)
    if time.monotonic() - last > 1:
        dump()
        last = time.monotonic()
