#!/usr/bin/env python3
"""A libtorrent peer that requires encryption: every connection must complete the MSE
handshake (libtorrent's out_enc_policy and in_enc_policy "forced": plain BitTorrent is hung
up on), and with --rc4-only the payload must be RC4-encrypted too (allowed_enc_level "rc4").
It prints "LISTEN 127.0.0.1:P" once listening and finds peers through the torrent's trackers
on 127.0.0.1, if any. A leecher prints "DONE secs=S" once it has every piece and exits 0, or
exits 1 at --timeout. With --seed (the data is in --save) it prints "SEEDING" once checked,
then serves until --timeout and exits 0. (lt_peer.py in ../shared/interop has no encryption
settings.)"""

import argparse
import sys
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--torrent", required=True)
    ap.add_argument("--save", required=True)
    ap.add_argument("--rc4-only", action="store_true")
    ap.add_argument("--seed", action="store_true")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "ssrf_mitigation": False,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "min_reconnect_time": 1,
        "out_enc_policy": int(lt.enc_policy.pe_forced),
        "in_enc_policy": int(lt.enc_policy.pe_forced),
        "allowed_enc_level": int(lt.enc_level.pe_rc4 if a.rc4_only else lt.enc_level.pe_both),
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification,
    }
    ses = lt.session(settings)
    params = {"ti": lt.torrent_info(a.torrent), "save_path": a.save}
    if a.seed:
        params["flags"] = lt.torrent_flags.seed_mode
    handle = ses.add_torrent(params)
    start = time.time()
    listening = False
    seeding = False
    while time.time() - start < a.timeout:
        if not listening and ses.listen_port() != 0:
            print(f"LISTEN 127.0.0.1:{ses.listen_port()}", flush=True)
            listening = True
        if handle.status().is_seeding and not a.seed:
            print(f"DONE secs={time.time() - start:.3f}", flush=True)
            return 0
        if handle.status().is_seeding and not seeding:
            print("SEEDING", flush=True)
            seeding = True
        for alert in ses.pop_alerts():
            print("ALERT", alert.message(), flush=True)
        time.sleep(0.05)
    print(f"TIMEOUT progress={handle.status().progress:.3f}", flush=True)
    return 0 if a.seed else 1


if __name__ == "__main__":
    sys.exit(main())
