#!/usr/bin/python3
"""What a process's peak RSS is made of (bench/README.md, session 21).

    /usr/bin/python3 bench/rss_split.py [--json] COMMAND ARGS...

Runs COMMAND (its output to /dev/null), reads /proc/PID/status and /proc/PID/smaps every 50 ms
and prints, at the sample with the highest VmRSS: VmHWM, RssAnon, RssFile, RssShmem, the
thread count, the resident KiB of each mapping (by file and permissions, anonymous mappings
one by one) and how many of the executable's pages were resident, per 64 KiB window. A
window is mapped whole or not at all when the kernel maps a fault's neighbours too (fault-
around, large folios), so resident code follows how many windows were touched, not bytes.
"""
import json
import os
import sys
import time
from collections import Counter


def status(pid):
    keep = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads")
    with open(f"/proc/{pid}/status") as f:
        return {k: int(v.split()[0]) for k, _, v in (l.partition(":") for l in f) if k in keep}


def mappings(pid, exe):
    """Resident KiB per mapping name, the anonymous ones one by one, and the executable's
    resident page numbers (file offset / 4096) per permission."""
    named, anon, ranges = Counter(), [], []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            p = line.split()
            if p and "-" in p[0] and not p[0].endswith(":"):
                a, b = (int(x, 16) for x in p[0].split("-"))
                cur = (p[5] if len(p) >= 6 else "[anon]", p[1], b - a)
                if cur[0] == exe:
                    ranges.append((a, b, int(p[2], 16), p[1]))
            elif p and p[0] == "Rss:":
                named[f"{cur[0]} {cur[1]}"] += int(p[1])
                if cur[0] in ("[anon]", "[heap]") and cur[1].startswith("rw"):
                    anon.append((cur[2] // 1024, int(p[1])))
    pages = Counter()
    windows = Counter()
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for a, b, off, perms in ranges:
            pm.seek(a // 4096 * 8)
            data = pm.read((b - a) // 4096 * 8)
            for i in range(len(data) // 8):
                if int.from_bytes(data[i * 8:i * 8 + 8], "little") >> 63:
                    pages[perms] += 1
                    windows[(perms, (off // 4096 + i) // 16)] += 1
    return named, sorted(anon, key=lambda x: -x[1]), pages, windows


def main():
    args = sys.argv[1:]
    as_json = args[:1] == ["--json"]
    cmd = args[1:] if as_json else args
    exe = os.path.realpath(cmd[0]) if "/" in cmd[0] else None
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.execvp(cmd[0], cmd)
    t0 = time.monotonic()
    best = None
    while os.waitpid(pid, os.WNOHANG)[0] == 0:
        try:
            s = status(pid)
            if best is None or s["VmRSS"] >= best[0]["VmRSS"]:
                best = (s, *mappings(pid, exe), time.monotonic() - t0)
            elif s["VmHWM"] > best[0]["VmHWM"]:
                best[0]["VmHWM"] = s["VmHWM"]
        except (OSError, KeyError):
            pass
        time.sleep(0.05)
    if best is None:
        sys.exit("no sample: the command ended within 50 ms")
    s, named, anon, pages, windows = best[:5]
    out = {"status_kib": s, "peak_at_s": round(best[5], 2),
           "exe_resident_pages": dict(pages),
           "exe_windows": {perms: dict(sorted(Counter(n for (p, _), n in windows.items()
                                                      if p == perms).items()))
                           for perms in pages},
           "mappings_kib": dict(named.most_common(12)), "anon_kib": anon[:12]}
    if as_json:
        print(json.dumps(out))
        return
    print(" ".join(f"{k}={v}" for k, v in s.items()), f"(KiB; peak at {out['peak_at_s']} s)")
    for perms, n in pages.items():
        print(f"executable {perms}: {n * 4} KiB resident; pages per 64 KiB window: "
              f"{out['exe_windows'][perms]}")
    for name, kib in named.most_common(12):
        print(f"{kib:8} KiB {name}")
    print("anonymous mappings (size KiB, resident KiB):", anon[:12])


if __name__ == "__main__":
    main()
