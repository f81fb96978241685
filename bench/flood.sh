#!/usr/bin/env bash
# Issue 22's figures in two tables, ours beside libtorrent's in the same run:
#  1. an honest libtorrent leecher served by a seeder (ours, libtorrent's) while a connection
#     flood of --sockets loopback addresses holds its listener, one row per flood kind
#     (bench/conn_flood.py: time to be served, the seeder's peak RSS and open fds);
#  2. a magnet fetched through libtorrent DHT nodes while the fetcher's own DHT node takes a
#     KRPC flood, and without one (bench/dht_flood.py: time to the whole torrent, peak RSS and
#     fds, answers the flood got).
# Prints figures; never fails because something is slow. Not a test; not part of CI.
#
#   bash bench/flood.sh [--runs N] [--sockets N] [--kinds "mixed silent ..."] [--rate N]
#                       [--bin target/release/sanstorrent]
set -euo pipefail
cd "$(dirname "$0")/.."

runs=1
sockets=400
kinds="mixed silent half trickle handshake interested"
rate=8000
bin=target/release/sanstorrent
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --sockets) sockets=$2; shift 2 ;;
        --kinds) kinds=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || cargo build --release -p sanstorrent-cli
py=/usr/bin/python3

echo "| seeder, flood of $sockets sockets | served (median of $runs) | runs served | peak RSS | peak fds |"
echo "|---|---|---|---|---|"
for kind in $kinds; do
    "$py" bench/conn_flood.py --runs "$runs" --sockets "$sockets" --kind "$kind" --bin "$bin" \
        --table-only
done
echo
echo "| fetcher of a magnet (3 MB, DHT only) | done (median of $runs) | runs done | peak RSS | peak fds | flood queries answered |"
echo "|---|---|---|---|---|---|"
"$py" bench/dht_flood.py --runs "$runs" --rate 0 --bin "$bin" --table-only
"$py" bench/dht_flood.py --runs "$runs" --rate "$rate" --bin "$bin" --table-only
