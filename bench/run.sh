#!/usr/bin/env bash
# The loopback throughput benchmark: sanstorrent (smol and tokio) vs rqbit vs libtorrent.
# Regenerates bench/RESULTS.md. Prints figures; never fails because something is slow.
#
#   bash bench/run.sh [--runs N] [--size BYTES]
#                     [--scenarios download,seed,pair,utp-download,utp-pair]
#                     [--seeders 1,4] [--layouts single,multi] [--formats v1,v2]
#                     [--clients sanstorrent-smol,sanstorrent-tokio,rqbit,libtorrent]
#                     [--pair-clients sanstorrent-smol,rqbit,libtorrent]
#                     [--utp-clients sanstorrent-smol,libtorrent]
#                     [--no-seed-bench] [--no-pair-bench]
#
# Needs: ../shared/interop/setup.sh (opentracker, python3-libtorrent), /usr/bin/time, and
# rqbit (`cargo install rqbit --locked`; found on PATH or via $RQBIT). Not part of CI.
# Environment: SANSTORRENT_INTEROP_DIR (default: the shared/interop found above the repo),
# CARGO_TARGET_DIR (where the release build goes), KEEP_WORK=1 keeps the temp dir,
# SHA1="2.1 GB/s" skips measuring SHA-1. The sanstorrent-smol rows run the default `dist`
# build (smol only, what users get), the sanstorrent-tokio rows a `dist` build with the tokio
# feature; ST=/path/to/sanstorrent skips the first build and benchmarks that binary,
# ST_TOKIO=/path/to/sanstorrent the second (without ST_TOKIO, ST runs the tokio rows too).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

INTEROP="${SANSTORRENT_INTEROP_DIR:-}"
if [[ -z "$INTEROP" ]]; then
  d="$ROOT"
  while [[ "$d" != / ]]; do
    [[ -f "$d/shared/interop/lt_peer.py" ]] && { INTEROP="$d/shared/interop"; break; }
    d="$(dirname "$d")"
  done
fi
[[ -n "$INTEROP" && -f "$INTEROP/lt_peer.py" ]] || {
  echo "bench: shared/interop not found: set SANSTORRENT_INTEROP_DIR" >&2; exit 1; }
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || {
  echo "bench: /usr/bin/python3 cannot import libtorrent: run $INTEROP/setup.sh" >&2; exit 1; }
command -v opentracker >/dev/null || { echo "bench: no opentracker: run $INTEROP/setup.sh" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "bench: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
RQBIT="${RQBIT:-$(command -v rqbit || true)}"
[[ -z "$RQBIT" && -x /work/tools/rqbit/bin/rqbit ]] && RQBIT=/work/tools/rqbit/bin/rqbit
[[ -n "$RQBIT" && -x "$RQBIT" ]] || {
  echo "bench: rqbit not found (cargo install rqbit --locked, or set RQBIT=/path/to/rqbit):" \
       "its rows are left out" >&2; RQBIT=none; }

RUNS=5; SIZE=$((1 << 30)); PIECE=$((1 << 20)); PASS=()
CLIENTS=sanstorrent-smol,sanstorrent-tokio
while (($#)); do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --piece) PIECE=$2; shift 2 ;;
    --clients) CLIENTS=$2; PASS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Both builds write target/dist/sanstorrent: the smol-only one is copied away first.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [[ -z "${ST:-}" ]]; then
  echo "== building sanstorrent (the dist profile: release with LTO; smol only, the default)" >&2
  cargo build --profile dist -q -p sanstorrent-cli
  cp "$TARGET/dist/sanstorrent" "$WORK/sanstorrent-smol"
  ST="$WORK/sanstorrent-smol"
elif [[ -z "${ST_TOKIO:-}" ]]; then
  ST_TOKIO=$ST
fi
if [[ -z "${ST_TOKIO:-}" && ,$CLIENTS, == *,sanstorrent-tokio,* ]]; then
  echo "== building sanstorrent (the dist profile; smol + tokio, for the tokio rows)" >&2
  cargo build --profile dist -q -p sanstorrent-cli --features tokio
  ST_TOKIO="$TARGET/dist/sanstorrent"
fi
ST_TOKIO=${ST_TOKIO:-$ST}
for b in "$ST" "$ST_TOKIO"; do
  [[ -x "$b" ]] || { echo "bench: $b is not an executable" >&2; exit 1; }
done

echo "== machine limits" >&2
[[ -n "${SHA1:-}" ]] ||
  SHA1=$(cargo bench -q -p sanstorrent-runtime-common --bench storage 2>/dev/null |
         grep 'SHA-1 alone' | sed -E 's/.* ([0-9.]+ GB\/s).*/\1/' || true)
/usr/bin/python3 - "$WORK/limits.json" "$SIZE" "$PIECE" "$RUNS" "${SHA1:-unknown}" \
  "$([[ $RQBIT == none ]] || "$RQBIT" --version 2>/dev/null | head -1)" \
  "libtorrent $(/usr/bin/python3 -c 'import libtorrent; print(libtorrent.__version__)')" \
  "sanstorrent $(git -C "$ROOT" rev-parse --short HEAD)" <<'EOF'
import json, os, platform, socket, sys, threading, time
out, size, piece, runs, sha1, *versions = sys.argv[1:]
def loopback(total=4 << 30, chunk=1 << 20):
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    got = [0]
    def sink():
        c, _ = srv.accept(); buf = bytearray(chunk); mv = memoryview(buf)
        while True:
            n = c.recv_into(mv)
            if not n: break
            got[0] += n
    t = threading.Thread(target=sink); t.start()
    cli = socket.create_connection(srv.getsockname()); data = b"\0" * chunk
    t0 = time.monotonic(); sent = 0
    while sent < total:
        cli.sendall(data); sent += chunk
    cli.close(); t.join()
    return got[0] / 1e6 / (time.monotonic() - t0)
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
limits = {"cores": os.cpu_count(), "cpu_model": model, "ram_gib": round(ram),
          "kernel": "Linux " + platform.release(), "loopback_mbps": max(loopback() for _ in range(2)),
          "sha1": sha1, "size": int(size), "piece": int(piece), "runs": int(runs),
          "versions": ", ".join(v for v in versions if v)}
json.dump(limits, open(out, "w"))
print(f"cores={limits['cores']} loopback={limits['loopback_mbps']:.0f} MB/s sha1={sha1}", file=sys.stderr)
EOF

echo "== benchmark (rows: scenario client run wall_s MB/s peak_rss_kb cpu_s ok [seeder_rss_kb seeder_cpu_s])" >&2
: > "$WORK/rows.tsv"
/usr/bin/python3 "$HERE/bench.py" --sanstorrent "$ST" --sanstorrent-tokio "$ST_TOKIO" --rqbit "$RQBIT" --interop "$INTEROP" \
  --runs "$RUNS" --size "$SIZE" --piece "$PIECE" --out "$WORK/rows.tsv" ${PASS[@]+"${PASS[@]}"} || true

/usr/bin/python3 "$HERE/report.py" "$WORK/rows.tsv" "$WORK/limits.json" "$HERE/RESULTS.md"
echo "== wrote $HERE/RESULTS.md" >&2
