#!/usr/bin/env bash
# Alternated A/B runs of our leecher against N long-running libtorrent seeders (not a
# benchmark: no tracker, no rqbit, no table; see bench/README.md, session 22).
#
#   bash bench/ab.sh ROUNDS LABEL:BINARY[:VAR=VALUE,...] ...
#
# Starts NSEED (default 4) `lt_peer.py --seed` processes on the torrent in $DATA (default
# /tmp/st-probe/data, made by probe.sh: t.torrent and seed/), waits for their hash checks, then
# runs every variant once per round, in the order given: BINARY downloads the torrent with the
# seeders given as `--peer` (`--transport tcp`), with the variables set in its environment.
# One line per run: wall, user+sys CPU-s and peak RSS KiB of the leecher (/usr/bin/time), the
# seeders' CPU-s over the run (/proc), whether the download matches, the load average.
# PREFIX= runs the leecher under a wrapper (e.g. heaptrack, bench/rss_split.py); its stdout
# is kept in $DATA/ab-LABEL-ROUND.out.
set -euo pipefail
ROUNDS=$1; shift
HERE="$(cd "$(dirname "$0")" && pwd)"
INTEROP="${SANSTORRENT_INTEROP_DIR:-$HERE/../../shared/interop}"
PY=/usr/bin/python3
DATA=${DATA:-/tmp/st-probe/data}; N=${NSEED:-4}
[[ -f $DATA/t.torrent ]] || { echo "ab: no $DATA/t.torrent (run bench/probe.sh once)" >&2; exit 1; }
W=$(mktemp -d "$DATA/ab.XXXX")
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

PEERS=()
for i in $(seq 1 "$N"); do
  port=$(free_port)
  $PY "$INTEROP/lt_peer.py" --torrent "$DATA/t.torrent" --save "$DATA/seed" --status-interval 0 \
    --no-utp --port "$port" --seed --no-tracker --timeout 7200 >"$W/lt$i.log" 2>&1 &
  pids+=($!); PEERS+=(--peer "127.0.0.1:$port")
done
for i in $(seq 1 "$N"); do
  for _ in $(seq 1 600); do grep -q '^SEEDING' "$W/lt$i.log" && break; sleep 0.1; done
done
sleep 1

for r in $(seq 1 "$ROUNDS"); do
  for variant in "$@"; do
    IFS=: read -r label bin vars <<<"$variant"
    env=(); [[ -n ${vars:-} ]] && IFS=, read -ra env <<<"$vars"
    rm -rf "$W/out" "$W/state"
    before=$(pids_ticks)
    # shellcheck disable=SC2086
    env "${env[@]}" /usr/bin/time -o "$W/time" -f "%e %U %S %M" ${PREFIX:-} "$bin" download \
      "$DATA/t.torrent" -o "$W/out" -p "$(free_port)" --bind 127.0.0.1 --no-dht --quiet \
      --state-dir "$W/state" --transport tcp "${PEERS[@]}" >"$DATA/ab-$label-$r.out" 2>&1 || true
    after=$(pids_ticks)
    diff -rq "$W/out" "$DATA/seed" >/dev/null && ok=ok || ok=CORRUPT
    read -r wall user sys rss <"$W/time"
    echo "$label r$r wall=$wall cpu=$(echo "$user + $sys" | bc) rss_kb=$rss" \
      "seeders=$(echo "($after - $before) / 100" | bc -l | cut -c1-5) $ok" \
      "load=$(cut -d' ' -f1 /proc/loadavg)"
  done
done
