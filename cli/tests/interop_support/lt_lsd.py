"""A libtorrent 2.0 peer that finds others by local service discovery (BEP 14) only.

Usage: lt_lsd.py TORRENT SAVE_DIR INTERFACE_IP SECONDS [--seed]

No tracker, no DHT, no UPnP/NAT-PMP: the only way it learns of a peer is an LSD announce (or a
peer that connects to it). Prints `LISTEN ip:port`, `PEER ip:port src=lsd|incoming|...` for
each new connection, `DONE` when it has the whole torrent (a leecher exits then), `EXIT`.
"""
import re
import sys
import time

import libtorrent as lt


def main():
    torrent, save, iface, secs = sys.argv[1:5]
    seed = "--seed" in sys.argv[5:]
    s = lt.session({
        "listen_interfaces": f"{iface}:0",
        "outgoing_interfaces": iface,
        "enable_lsd": True,
        "enable_dht": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.peer_notification,
    })
    h = s.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
    print(f"LISTEN {iface}:{s.listen_port()}", flush=True)
    seen = set()
    deadline = time.time() + float(secs)
    done = False
    while time.time() < deadline:
        for a in s.pop_alerts():
            # The bindings have no lsd_peer_alert class: its message names the endpoint.
            m = re.search(r"\[ ([0-9.]+:[0-9]+) ", a.message()) if a.what() == "lsd_peer" else None
            if m and ("lsd", m.group(1)) not in seen:
                seen.add(("lsd", m.group(1)))
                print(f"LSD_PEER {m.group(1)}", flush=True)
        for p in h.get_peer_info():
            key = f"{p.ip[0]}:{p.ip[1]}"
            if key in seen:
                continue
            seen.add(key)
            src = [n for bit, n in ((1, "tracker"), (2, "dht"), (4, "pex"), (8, "lsd"),
                                    (16, "resume"), (32, "incoming")) if p.source & bit]
            print(f"PEER {key} src={'|'.join(src) or 'none'}", flush=True)
        if h.status().is_seeding and not done:
            done = True
            print("DONE", flush=True)
            if not seed:
                break
        time.sleep(0.2)
    print("EXIT", flush=True)


if __name__ == "__main__":
    main()
