#!/usr/bin/env bash
# Runs every test of sanstorrent: unit, simulation, fuzz-corpus replay and interop tests against
# real peers (libtorrent, opentracker, Transmission) on 127.0.0.1. Installs those peers first.
set -euo pipefail
cd "$(dirname "$0")"
INTEROP="${SANSTORRENT_INTEROP_DIR:-../shared/interop}"
bash "$INTEROP/setup.sh"
# The Python clients the daemon's tests drive (Transmission's and qBittorrent's), and
# Playwright, which drives the web UI test in Debian's chromium (from the Python package index;
# Playwright's own browser download is never used).
PYENV=target/transmission-rpc
if ! "$PYENV/bin/python" -c 'import transmission_rpc, qbittorrentapi, playwright' 2>/dev/null; then
    python3 -c 'import ensurepip' 2>/dev/null || apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$PYENV"
    python3 -m venv "$PYENV"
    "$PYENV/bin/pip" install --quiet transmission-rpc qbittorrent-api playwright
fi
if ! command -v chromium >/dev/null; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq chromium >/dev/null
fi
# ffmpeg makes the video the streaming test plays, and its ffprobe reads it from the daemon.
if ! command -v ffprobe >/dev/null; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq ffmpeg >/dev/null
fi
# nginx serves the web seed tests (cli/tests/webseed*.rs).
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq nginx-light >/dev/null
fi
# iproute2 and util-linux's unshare build the network namespace of the local discovery test
# (cli/tests/lsd.rs).
if ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
    apt-get update -qq >/dev/null
    apt-get install -y -qq iproute2 util-linux >/dev/null
fi
# miniupnpd (nftables backend) is the real gateway of the port mapping test
# (cli/tests/port_mapping.rs).
if ! [ -x /usr/sbin/miniupnpd ] || ! command -v nft >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq miniupnpd nftables >/dev/null
fi
# Everything above is installed: a test that finds a peer or tool missing fails, never skips.
export SANSTORRENT_FULL_TESTS=1
cargo test --workspace --release --features sanstorrent-cli/tokio "$@"
