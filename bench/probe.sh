#!/usr/bin/env bash
# Load-independent figures of one short download (not a benchmark: one run, no rqbit, no table):
# CPU, context switches, page faults and syscalls of our leecher (and of our seeder in the
# pair), from `perf stat`; or their syscalls by kind (`strace -c`), a profile (`perf record`),
# or where each thread waits (sampled /proc wchan), or each thread's time on a core, waiting for
# one and asleep (`perf sched`, the whole machine recorded, our processes summed by
# bench/sched.py). See bench/README.md, session 14 and issue 28.
#
#   bash bench/probe.sh BINARY pair|four [stat|strace|perf|wchan|sched|timeline]
#
# pair: BINARY seeds to BINARY; four: four libtorrent seeders (lt_peer.py). The data (SIZE
# bytes, default 256 MiB, 1 MiB pieces) is made once in $PROBE_DIR (default /tmp/st-probe).
# `perf` leaves leech.data (and seed.data in the pair) there for `perf report -i`; `timeline`
# leaves timeline-MODE.txt (`strace -tt` of the leecher's connects, receives, syncs and exit;
# TRACE= other syscalls) and prints when the first and last bytes came and when it exited.
# TRANSPORT=utp runs the pair over uTP only (`--transport utp` on both sides; default tcp).
# LAYOUT=multi: the data in 200 files under nested directories (bench.py's multi layout).
set -euo pipefail
BIN=$(realpath "$1"); MODE=$2; HOW=${3:-stat}
HERE="$(cd "$(dirname "$0")" && pwd)"
INTEROP="${SANSTORRENT_INTEROP_DIR:-$HERE/../../shared/interop}"
PY=/usr/bin/python3
DIR=${PROBE_DIR:-/tmp/st-probe}; LAYOUT=${LAYOUT:-single}; SIZE=${SIZE:-$((256 << 20))}
D=$DIR/data; [[ $LAYOUT == multi ]] && D=$DIR/data-multi
if [[ ! -f $D/t.torrent && $LAYOUT == multi ]]; then
  mkdir -p "$D/seed"
  (cd "$HERE" && $PY -c "import bench; bench.gen_files('$D/seed/bench200', $SIZE, 200, 42)")
  $PY "$INTEROP/mktorrent.py" make --data "$D/seed/bench200" --torrent "$D/t.torrent" \
    --piece-size $((1 << 20)) >/dev/null
elif [[ ! -f $D/t.torrent ]]; then
  mkdir -p "$D"
  $PY "$INTEROP/mktorrent.py" both --layout single --dir "$D/seed" --size "$SIZE" --seed 42 \
    --piece-size $((1 << 20)) --torrent "$D/t.torrent" >/dev/null
fi
W=$(mktemp -d "$DIR/run.XXXX")
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
# Waits until the process used no CPU for 1 s (its start-up hash check is over).
wait_idle() {
  local last=-1 idle=0 c
  for _ in $(seq 1 400); do
    c=$(ticks "$1")
    if ((c - last < 2)); then idle=$((idle + 1)); ((idle >= 4)) && return; else idle=0; fi
    last=$c; sleep 0.25
  done
}

PEERS=()
# TCP unless asked (the four libtorrent seeders run --no-utp: a uTP dial waits out its
# timeout before falling back, over a second), as bench.py does.
TR=(--transport "${TRANSPORT:-tcp}")
if [[ $MODE == pair ]]; then
  port=$(free_port)
  "$BIN" seed "$D/t.torrent" -o "$D/seed" -p "$port" --bind 127.0.0.1 --no-dht \
    "${TR[@]}" >"$W/seed.log" 2>&1 &
  SEEDER=$!; pids+=("$SEEDER"); PEERS+=(--peer "127.0.0.1:$port")
  wait_idle "$SEEDER"
else
  for i in 1 2 3 4; do
    port=$(free_port)
    $PY "$INTEROP/lt_peer.py" --torrent "$D/t.torrent" --save "$D/seed" --status-interval 0 \
      --no-utp --port "$port" --seed --no-tracker --timeout 7200 >"$W/lt$i.log" 2>&1 &
    pids+=($!); PEERS+=(--peer "127.0.0.1:$port")
  done
  for i in 1 2 3 4; do
    for _ in $(seq 1 600); do grep -q '^SEEDING' "$W/lt$i.log" && break; sleep 0.1; done
  done
  sleep 1
fi

EVENTS=task-clock,context-switches,page-faults,raw_syscalls:sys_enter
before=$(pids_ticks)
WATCH=
if [[ $HOW == sched ]]; then
  perf sched record -a -o "$DIR/sched-$MODE.data" >/dev/null 2>&1 & WATCH=$!
  sleep 0.5
elif [[ $MODE == pair ]]; then
  case $HOW in
    strace) strace -c -f -p "$SEEDER" -o "$W/seed.out" 2>/dev/null & WATCH=$! ;;
    perf) perf record -q -F 997 -p "$SEEDER" -o "$DIR/seed.data" 2>/dev/null & WATCH=$! ;;
    *) perf stat -e "$EVENTS" -p "$SEEDER" -o "$W/seed.out" 2>/dev/null & WATCH=$! ;;
  esac
fi
LEECH=("$BIN" download "$D/t.torrent" -o "$W/out" -p "$(free_port)" --bind 127.0.0.1 --no-dht
  --quiet --state-dir "$W/state" "${TR[@]}" "${PEERS[@]}")
t0=$(date +%s.%N)
case $HOW in
  strace) strace -c -f -o "$W/leech.out" "${LEECH[@]}" ;;
  timeline) strace -f -tt --seccomp-bpf -o "$DIR/timeline-$MODE.txt" \
      -e "trace=${TRACE:-connect,recvfrom,fdatasync,fsync,rename,exit_group}" "${LEECH[@]}"
    # Seconds from the first connect: first and last bytes received, each flush, the exit.
    awk '{ split($2, t, ":"); s = t[1] * 3600 + t[2] * 60 + t[3] }
      /connect\(/ && !c { c = s } /recvfrom\(.*= [1-9]/ { if (!f) f = s; l = s }
      /fdatasync\(/ { printf "fdatasync at %.3f\n", s - c } /exit_group/ { e = s }
      END { printf "first byte %.3f, last byte %.3f, exit %.3f (s after the first connect)\n",
            f - c, l - c, e - c }' "$DIR/timeline-$MODE.txt" >"$W/leech.out" ;;
  perf) perf record -q -F 997 -o "$DIR/leech.data" "${LEECH[@]}"; : >"$W/leech.out" ;;
  wchan) "${LEECH[@]}" & L=$!; $PY "$HERE/wchan.py" "$L" >"$W/leech.out"; wait "$L" ;;
  sched) "${LEECH[@]}" & L=$!; wait "$L"; : >"$W/leech.out" ;;
  *) perf stat -e "$EVENTS" -o "$W/leech.out" "${LEECH[@]}" ;;
esac
t1=$(date +%s.%N)
after=$(pids_ticks)
if [[ -n $WATCH ]]; then sleep 0.3; kill -INT "$WATCH"; wait "$WATCH" || true; fi
if [[ $HOW == sched ]]; then
  perf sched timehist --state -i "$DIR/sched-$MODE.data" >"$DIR/sched-$MODE.txt" 2>/dev/null || true
  seeders=$(IFS=,; echo "${pids[*]}")
  echo "leecher=$L seeders=$seeders" >"$DIR/sched-$MODE.pids"
  $PY "$HERE/sched.py" "$DIR/sched-$MODE.txt" "leecher=$L" "seeders=$seeders" -v >"$W/leech.out"
fi
diff -rq "$W/out" "$D/seed" >/dev/null && ok=verified || ok=CORRUPT
echo "== $MODE $(basename "$BIN") wall $(echo "$t1 - $t0" | bc) s, $ok, seeders $(echo "($after - $before) / 100" | bc -l | cut -c1-5) CPU-s"
grep_stat() { grep -E 'task-clock|context|faults|sys_enter|seconds user|seconds sys' "$1" || true; }
echo "-- leecher"
if [[ $HOW == stat ]]; then grep_stat "$W/leech.out"; else head -60 "$W/leech.out"; fi
if [[ $MODE == pair && $HOW != perf && $HOW != wchan && $HOW != sched ]]; then
  echo "-- seeder"
  if [[ $HOW == stat ]]; then grep_stat "$W/seed.out"; else head -30 "$W/seed.out"; fi
fi
