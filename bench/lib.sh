# Sourced by bench/ab.sh and bench/probe.sh once they set $PY and $W (their work directory):
# the background processes they start go in `pids`, killed at exit, and $W is removed.
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
# A free TCP port on 127.0.0.1.
free_port() { $PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
# The user+system CPU time of process $1, in ticks (1/100 s).
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# The ticks of every process in `pids`, summed.
pids_ticks() { local t=0 p; for p in "${pids[@]}"; do t=$((t + $(ticks "$p"))); done; echo $t; }
