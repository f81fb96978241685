#!/usr/bin/env bash
# Runs every test of sanstorrent: unit, simulation, fuzz-corpus replay and interop tests against
# real peers (libtorrent, opentracker, Transmission) on 127.0.0.1. Installs those peers first.
set -euo pipefail
cd "$(dirname "$0")"
INTEROP="${SANSTORRENT_INTEROP_DIR:-../shared/interop}"
bash "$INTEROP/setup.sh"
cargo test --workspace --release --features sanstorrent-cli/tokio "$@"
