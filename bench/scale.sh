#!/usr/bin/env bash
# Scale benchmark (issue 25): N small seeding torrents in one daemon: ours, Transmission's and
# a libtorrent session (bench/scale_lt.py).
#
#   bash bench/scale.sh [--n 1000] [--clients sanstorrent,transmission,libtorrent]
#                       [--idle SECS] [--timeout SECS] [--gets RUNS] [--st-args "DAEMON FLAGS"]
#                       [--st-env "VAR=VALUE ..."]
#   bash bench/scale.sh --n 500 --peers 2000 [--limit 2000] [--seconds 60]
#
# Generates N single-file torrents of 4 KiB (bench/scale.py gen) with their data, written
# straight into each daemon's state directory (sanstorrent: <state>/daemon/torrents.json and
# the .torrent files; transmission-daemon: <config>/torrents/; libtorrent: <state>/torrents/,
# read by bench/scale_lt.py, which saves libtorrent's resume data into <state>/resume/ when
# stopped and adds the torrents from it on the restart), all announcing to opentracker
# on loopback (whitelisted, stats open to 127.0.0.1). For each client, twice (the first start,
# which checks the data, then a restart over the state the first run left), it prints:
#   rpc_s       seconds from exec to the first RPC answer (session-get); scale_lt.py answers
#               it once every torrent was added and get_torrents() lists them all
#   announced_s seconds from exec until opentracker holds all N torrents (its
#               /stats?mode=torr; the tracker is restarted empty before each run)
#   cpu_min     CPU seconds per minute while idle (measured over --idle seconds, 10 s after
#               everything was announced)
#   get_ms      torrent-get of every torrent, 8 fields incl. trackerStats: best and median of
#               --gets (default 5), each given --timeout seconds (at least 120) to answer;
#               scale_lt.py's is get_torrent_status of all, trackers() of each, then JSON
#   rest_mib    VmRSS at rest, before the torrent-gets
#   hwm_mib     the peak (VmHWM) before the torrent-gets (the start's)
#   get_peak_mib the peak during the torrent-gets (VmHWM reset through clear_refs first)
#   rss_mib     VmRSS at the end; kib_per_torrent = (VmRSS at rest - the same daemon's VmRSS
#               with no torrent) / N (libtorrent's: the Python process, interpreter included,
#               less the same process with an empty session; printed on stderr as "with no
#               torrent")
#   stop_s      seconds from SIGTERM to the process's exit (killed after --timeout, at least
#               60 s: then "killed"); libtorrent's includes saving every torrent's resume data
# With --peers P (our daemon only): many peers on many torrents. After the N torrents are
# seeding and the global connection limit is set to --limit (default P), bench/scale_peers.py
# opens P leecher connections, each from its own loopback address, spread over the N torrents,
# asking for a 4 KiB block once a second while unchoked. Two rows: "idle" (10 s before the
# peers) and "peers" (--seconds, starting 20 s after the first connect), with
#   held        the daemon's accepted peer connections (max / median of samples every 0.25 s)
#   peers_seen  the most connections the peers saw handshaken; blocks/s they received
#   session_get_ms / torrent_get_ms   RPC latency (median/p99/max): torrent-get of one
#               torrent's peersConnected goes through the session's loop, so it stands for
#               the loop's latency; rss_mib / hwm_mib; cpu_pct of the daemon (100 = one core)
# Nothing here is a test: it prints figures and never fails because something is slow. The
# machine is shared; figures are noisy. Needs opentracker (../shared/interop/setup.sh) and
# installs Debian's transmission-daemon when missing; libtorrent needs a Python that imports
# it (python3-libtorrent: Debian's /usr/bin/python3, or INTEROP_PYTHON).
# Our daemon is the `dist` build (release with fat LTO and panic=abort, smol only: the default
# features, the binary users get); a `release` build has 3.5-4.5 MiB more of its code resident
# (bench/README.md, session 24). ST=/path/to/sanstorrent skips the build. --st-args adds flags
# to our daemon's command line (e.g. "--release-idle-after 30"); --st-env sets variables in
# our daemon's environment only, the empty one's included (e.g. "MALLOC_ARENA_MAX=2" or
# "_RJEM_MALLOC_CONF=background_thread:true": bench/README.md, session 25).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
N=1000; CLIENTS=sanstorrent,transmission; IDLE=60; TIMEOUT=900; PEERS=0; LIMIT=""; SECS=60; GETS=5
ST_ARGS=""; ST_ENV=""
while (($#)); do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --idle) IDLE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    --limit) LIMIT=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --gets) GETS=$2; shift 2 ;;
    --st-args) ST_ARGS=$2; shift 2 ;;
    --st-env) ST_ENV=$2; shift 2 ;;
    -h|--help) sed -n '2,55p' "$0"; exit 0 ;;
    *) echo "scale: unknown flag $1" >&2; exit 2 ;;
  esac
done
command -v opentracker >/dev/null || { echo "scale: no opentracker: run shared/interop/setup.sh" >&2; exit 1; }
(( PEERS > 0 )) && CLIENTS=sanstorrent
if [[ ,$CLIENTS, == *,transmission,* ]] && ! command -v transmission-daemon >/dev/null; then
  apt-get install -y -qq transmission-daemon >/dev/null || { echo "scale: cannot install transmission-daemon" >&2; exit 1; }
fi
LTPY=""
if [[ ,$CLIENTS, == *,libtorrent,* ]]; then
  for p in "${INTEROP_PYTHON:-}" /usr/bin/python3 python3; do
    [[ -n "$p" ]] && "$p" -c 'import libtorrent' >/dev/null 2>&1 && { LTPY=$p; break; }
  done
  [[ -n "$LTPY" ]] || { echo "scale: no Python imports libtorrent: run shared/interop/setup.sh" >&2; exit 1; }
fi
if [[ -z "${ST:-}" && ,$CLIENTS, == *,sanstorrent,* ]]; then
  (cd "$ROOT" && cargo build --profile dist -q -p sanstorrent-cli) || exit 1
  ST="${CARGO_TARGET_DIR:-$ROOT/target}/dist/sanstorrent"
fi
PYH="python3 $HERE/scale.py"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

TRK="$WORK/trk"; mkdir -p "$TRK"; chmod 755 "$TRK" "$WORK"
TPORT=$(free_port)
echo "access.stats 127.0.0.1" > "$TRK/ot.conf"; : > "$TRK/whitelist.txt"; chmod 644 "$TRK"/*
TRACKER_PID=""
tracker_restart() {
  [[ -n "$TRACKER_PID" ]] && { kill -TERM "$TRACKER_PID" 2>/dev/null; wait "$TRACKER_PID" 2>/dev/null; }
  opentracker -i 127.0.0.1 -p "$TPORT" -P "$TPORT" -d "$TRK" -w whitelist.txt -f "$TRK/ot.conf" \
    > "$TRK/log" 2>&1 &
  TRACKER_PID=$!; PIDS+=("$TRACKER_PID")
  for _ in $(seq 1 50); do [[ $($PYH torrents "http://127.0.0.1:$TPORT") -ge 0 ]] && return; sleep 0.1; done
  echo "scale: opentracker did not start: $(cat "$TRK/log")" >&2; exit 1
}

echo "== generating $N torrents" >&2
t0=$(date +%s.%N)
$PYH gen "$N" "$WORK/data" "http://127.0.0.1:$TPORT/announce" "$WORK/st" "$WORK/tr" "$TRK/whitelist.txt" \
  "$WORK/lt"
printf '   %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" >&2

RPCPORT=$(free_port); PEERPORT=$(free_port)
start_client() { # client state_dir -> sets CPID, RPC
  local c=$1 dir=$2
  case "$c" in
    sanstorrent)
      env $ST_ENV "$ST" daemon -o "$WORK/data" --state-dir "$dir" --http "127.0.0.1:$RPCPORT" -p "$PEERPORT" \
        --no-dht --no-lsd --no-port-mapping --quiet $ST_ARGS > "$WORK/$c.log" 2>&1 &
      CPID=$!; RPC="http://127.0.0.1:$RPCPORT/transmission/rpc" ;;
    transmission)
      mkdir -p "$dir"
      [[ -f "$dir/settings.json" ]] || cat > "$dir/settings.json" <<EOF
{"download-dir": "$WORK/data", "rpc-bind-address": "127.0.0.1", "rpc-port": $RPCPORT,
 "rpc-authentication-required": false, "rpc-whitelist-enabled": false,
 "rpc-host-whitelist-enabled": false, "peer-port": $PEERPORT, "dht-enabled": false,
 "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
 "port-forwarding-enabled": false, "download-queue-enabled": false,
 "seed-queue-enabled": false, "start-added-torrents": true, "message-level": 1}
EOF
      transmission-daemon -f -g "$dir" > "$WORK/$c.log" 2>&1 &
      CPID=$!; RPC="http://127.0.0.1:$RPCPORT/transmission/rpc" ;;
    libtorrent)
      "$LTPY" "$HERE/scale_lt.py" --state "$dir" --data "$WORK/data" --port "$PEERPORT" \
        --rpc "$RPCPORT" > "$WORK/$c.log" 2>&1 &
      CPID=$!; RPC="http://127.0.0.1:$RPCPORT/transmission/rpc" ;;
  esac
  PIDS+=("$CPID")
}
STOPWAIT=$(( TIMEOUT > 60 ? TIMEOUT : 60 ))
stop_client() { # sets STOP_S: seconds from SIGTERM to exit, or "killed"
  local s; s=$(date +%s.%N); STOP_S=killed
  kill -TERM "$CPID" 2>/dev/null
  while (( $(echo "$(date +%s.%N) - $s < $STOPWAIT" | bc) )); do
    kill -0 "$CPID" 2>/dev/null || { STOP_S=$(printf '%.1f' "$(echo "$(date +%s.%N) - $s" | bc)"); break; }
    sleep 0.1
  done
  kill -KILL "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null
}
empty_rss() { # client -> VmRSS KiB of the daemon with no torrent
  local c=$1 rss
  start_client "$c" "$WORK/empty-$c"
  $PYH wait-rpc "$RPC" 30 >/dev/null; sleep 2
  rss=$($PYH proc "$CPID" | cut -d' ' -f2)
  stop_client; echo "$rss"
}

if (( PEERS > 0 )); then
  LIMIT=${LIMIT:-$PEERS}
  PP="python3 $HERE/scale_peers.py"
  tracker_restart
  start_client sanstorrent "$WORK/st"
  RPCURL=$RPC
  [[ $($PYH wait-rpc "$RPCURL" "$TIMEOUT") != -1 ]] || { echo "scale: no RPC: $(cat "$WORK/sanstorrent.log")" >&2; exit 1; }
  waited=$($PP settle --rpc "$RPCURL" --n "$N" --limit "$LIMIT" --secs "$TIMEOUT") || exit 1
  echo "   $N torrents seeding after ${waited} s more; limit $LIMIT connections" >&2
  printf 'phase\tN\tpeers\tlimit\theld_max\theld_median\tpeers_seen\tblocks_s\tsession_get_ms\ttorrent_get_ms\trss_mib\thwm_mib\tcpu_pct\n'
  row() { # phase peers probe_line peers_seen blocks_s
    local kv; declare -A v; for kv in $3; do v[${kv%%=*}]=${kv#*=}; done
    printf '%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$N" "$2" "$LIMIT" \
      "${v[held_max]}" "${v[held_median]}" "$4" "$5" "${v[session_get_ms]}" "${v[torrent_get_ms]}" \
      "${v[rss_mib]}" "${v[hwm_mib]}" "${v[cpu_pct]}"
  }
  idle=$($PP probe --rpc "$RPCURL" --pid "$CPID" --port "$PEERPORT" --seconds 10 | tail -1)
  row idle 0 "$idle" - -
  $PP peers --target "127.0.0.1:$PEERPORT" --hashes "$TRK/whitelist.txt" --count "$PEERS" \
    --seconds $((SECS + 30)) --out "$WORK/peers.log" &
  PIDS+=("$!"); sleep 20
  b0=$(grep -o 'blocks=[0-9]*' "$WORK/peers.log" | tail -1 | cut -d= -f2); t0=$(date +%s.%N)
  busy=$($PP probe --rpc "$RPCURL" --pid "$CPID" --port "$PEERPORT" --seconds "$SECS" | tail -1)
  b1=$(grep -o 'blocks=[0-9]*' "$WORK/peers.log" | tail -1 | cut -d= -f2)
  rate=$(printf '%.0f' "$(echo "(${b1:-0} - ${b0:-0}) / ($(date +%s.%N) - $t0)" | bc -l)")
  seen=$(grep -o 'handshaken=[0-9]*' "$WORK/peers.log" | cut -d= -f2 | sort -n | tail -1)
  row peers "$PEERS" "$busy" "${seen:-0}" "$rate"
  echo "   peers: $(tail -1 "$WORK/peers.log")" >&2
  stop_client
  exit 0
fi

printf 'client\tN\trun\trpc_s\tannounced_s\tcpu_min\tget_best_ms\tget_median_ms\trest_mib\thwm_mib\tget_peak_mib\trss_mib\tkib_per_torrent\tstop_s\n'
IFS=, read -ra CL <<< "$CLIENTS"
for c in "${CL[@]}"; do
  base=$(empty_rss "$c")
  echo "   $c with no torrent: VmRSS $base KiB" >&2
  case "$c" in
    sanstorrent) dir="$WORK/st" ;; transmission) dir="$WORK/tr" ;; libtorrent) dir="$WORK/lt" ;;
    *) echo "scale: unknown client $c" >&2; continue ;;
  esac
  for run in first restart; do
    tracker_restart
    s=$(date +%s.%N)
    start_client "$c" "$dir"
    rpc_s=$($PYH wait-rpc "$RPC" "$TIMEOUT" "$s")
    announced="-"
    while :; do
      el=$(echo "$(date +%s.%N) - $s" | bc)
      if [[ $($PYH torrents "http://127.0.0.1:$TPORT") -ge $N ]]; then announced=$(printf '%.1f' "$el"); break; fi
      if (( $(echo "$el > $TIMEOUT" | bc) )) || ! kill -0 "$CPID" 2>/dev/null; then
        announced="not all ($($PYH torrents "http://127.0.0.1:$TPORT")/$N)"; break
      fi
      sleep 0.5
    done
    sleep 10
    c0=$($PYH proc "$CPID" | cut -d' ' -f1); sleep "$IDLE"; c1=$($PYH proc "$CPID" | cut -d' ' -f1)
    cpu=$(printf '%.2f' "$(echo "scale=3; ($c1 - $c0) * 60 / $IDLE" | bc)")
    read -r _ rest hwm <<< "$($PYH proc "$CPID")"
    echo 5 > "/proc/$CPID/clear_refs" 2>/dev/null  # VmHWM := VmRSS: the next peak is the gets'
    read -r count best median <<< "$($PYH rpc "$RPC" "$GETS" "$STOPWAIT")"
    read -r _ rss get_hwm <<< "$($PYH proc "$CPID")"
    per=$(printf '%.1f' "$(echo "scale=3; ($rest - $base) / $N" | bc)")
    [[ "$count" == "$N" ]] || echo "   ($c listed $count torrents over RPC)" >&2
    stop_client
    printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n' "$c" "$N" "$run" "$rpc_s" "$announced" "$cpu" \
      "$best" "$median" $((rest / 1024)) $((hwm / 1024)) $((get_hwm / 1024)) $((rss / 1024)) "$per" "$STOP_S"
    if [[ $c == libtorrent ]]; then # the torrent-get's parts, medians (scale_lt.py's GET lines)
      echo "   libtorrent $run: $(grep '^GET ' "$WORK/$c.log" | $PYH medians), $(grep -E '^(READY|SAVED)' "$WORK/$c.log" | tr '\n' ' ')" >&2
    fi
  done
done
