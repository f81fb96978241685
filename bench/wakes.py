"""Counts the wake-ups in a `perf sched record` whose waker or wakee is a thread of the given
process, by (waker, wakee) thread kind, most first. For bench/probe.sh `sched` (it leaves
sched-MODE.data and sched-MODE.pids in $PROBE_DIR); see bench/README.md, sessions 23-24.

    python3 wakes.py SCHED_DATA LEECHER_PID [SEEDER_PID,...]

Thread names lose their trailing numbers (the disk workers count as one kind); threads of the
seeders are "seeder", any other process's "other:" and their name.
"""
import collections
import re
import subprocess
import sys

# `comm[tid/pid]` on the --state lines; `awakened: comm[tid]` on the -w lines.
STATE = re.compile(r"^\s*[\d.]+\s+\[\d+\]\s+(.+?)\[(\d+)/(\d+)\]")
WAKE = re.compile(r"^\s*[\d.]+\s+\[\d+\]\s+(.+?)\[(\d+)(?:/\d+)?\]\s+awakened:\s+(.+?)\[(\d+)")


def kind(comm):
    return re.sub(r"[-_ ]?\d+$", "", comm.strip()) or comm.strip()


def main():
    data, leecher, *rest = sys.argv[1:]
    leecher = int(leecher)
    seeders = {int(p) for p in (rest[0].split(",") if rest else []) if p}
    out = subprocess.run(["perf", "sched", "timehist", "-w", "-i", data],
                         capture_output=True, text=True, errors="replace").stdout
    pid_of = {}
    for line in out.splitlines():
        m = STATE.match(line)
        if m:
            pid_of[int(m.group(2))] = int(m.group(3))

    # A main thread's tid is its pid.
    pid_of.update({p: p for p in [leecher, *seeders]})

    def name(comm, tid):
        pid = pid_of.get(tid)
        if pid == leecher:
            return kind(comm)
        return "seeder" if pid in seeders else f"other:{kind(comm)}"

    pairs = collections.Counter()
    total = 0
    for line in out.splitlines():
        m = WAKE.match(line)
        if not m:
            continue
        waker_tid, wakee_tid = int(m.group(2)), int(m.group(4))
        if leecher not in (pid_of.get(waker_tid), pid_of.get(wakee_tid)):
            continue
        total += 1
        pairs[(name(m.group(1), waker_tid), name(m.group(3), wakee_tid))] += 1
    print(f"wake-ups with a leecher thread: {total}")
    for (waker, wakee), n in pairs.most_common(15):
        print(f"{n:6d}  {waker} -> {wakee}")


if __name__ == "__main__":
    main()
