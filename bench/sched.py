"""Sums `perf sched timehist --state` per thread of the given processes: time on a core, time
runnable but waiting for one (scheduling delay), time asleep, and how often each thread was
switched out asleep (S: waiting for something) or preempted (R); and "stalled": the time, from
the first to the last event of the first process listed, when no thread of any listed process
was on a core or waiting for one (everyone waits on something other than a core: a timer, a
peer that waits on us, ...). For bench/probe.sh `sched`.

    python3 sched.py TIMEHIST_FILE LABEL=PID[,PID...] ...
"""
import collections
import re
import sys

LINE = re.compile(
    r"^\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\[(\d+)/(\d+)\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)")


def main():
    path, *groups = sys.argv[1:]
    flags = [g for g in groups if g.startswith("-")]
    groups = [g for g in groups if not g.startswith("-")]
    label_of = {}
    for g in groups:
        label, pids = g.split("=", 1)
        for pid in pids.split(","):
            if pid:
                label_of[int(pid)] = label
    # (label, thread name) -> [run ms, delay ms, sleep ms, sleeps, preemptions, threads]
    acc = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0, 0, set()])
    first = last = None
    busy = []  # (start, end) of each thread's runnable-or-running stretch
    lead = label_of[int(groups[0].split("=", 1)[1].split(",")[0])] if groups else None
    lead_span = [None, None]
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        t, _, comm, tid, pid, wait, delay, run, state = m.groups()
        pid, tid = int(pid), int(tid)
        if pid not in label_of:
            continue
        t = float(t)
        first = t if first is None else first
        last = t
        # Threads of one kind (the disk workers, libtorrent's disk threads) are summed.
        name = re.sub(r"[-_ ]?\d+$", "", comm.strip()) or comm.strip()
        a = acc[(label_of[pid], name)]
        a[0] += float(run)
        a[1] += float(delay)
        a[2] += float(wait)
        a[3] += state.startswith(("S", "D", "I"))
        a[4] += state.startswith("R")
        a[5].add(tid)
        busy.append((t - (float(run) + float(delay)) / 1e3, t, f"{label_of[pid]}:{comm.strip()}"))
        if label_of[pid] == lead:
            lead_span[0] = t if lead_span[0] is None else lead_span[0]
            lead_span[1] = t
    if first is None:
        print("no events for the given pids")
        return
    print(f"span {last - first:.3f} s of events")
    print(f"{'process':<9} {'thread':<24} {'n':>3} {'on-CPU ms':>10} {'runnable ms':>12} "
          f"{'asleep ms':>10} {'sleeps':>8} {'preempted':>9}")
    totals = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0, 0])
    for (label, name), a in sorted(acc.items(), key=lambda kv: (kv[0][0], -kv[1][0])):
        print(f"{label:<9} {name[:24]:<24} {len(a[5]):>3} {a[0]:>10.1f} {a[1]:>12.1f} "
              f"{a[2]:>10.1f} {a[3]:>8} {a[4]:>9}")
        for i in range(5):
            totals[label][i] += a[i]
    for label, a in totals.items():
        print(f"{label:<9} {'(all threads)':<24} {'':>3} {a[0]:>10.1f} {a[1]:>12.1f} "
              f"{a[2]:>10.1f} {a[3]:>8} {a[4]:>9}")
    lo, hi = lead_span
    if lo is None:
        return
    covered, end, gaps = 0.0, lo, []
    for s, e, who in sorted(busy):
        if s > end and end < hi:
            gaps.append((min(s, hi) - end, end - lo, who))
        s, e = max(s, end), min(e, hi)
        if e > s:
            covered += e - s
            end = e
    print(f"{lead} span {hi - lo:.3f} s: stalled (nobody listed running or runnable) "
          f"{hi - lo - covered:.3f} s in {len(gaps)} gaps, "
          f"{sum(g for g, _, _ in gaps if g >= 0.001):.3f} s in gaps of 1 ms or more")
    if "-v" in flags:
        for g, at, who in sorted(gaps, reverse=True)[:20]:
            print(f"  gap {g * 1e3:7.2f} ms at +{at:.3f} s, ended by {who}")


main()
