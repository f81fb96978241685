"""Samples where each thread of a process is (run state and kernel wait channel from /proc)
until it exits, then prints the counts, most frequent first. For bench/probe.sh."""
import collections
import os
import sys
import time

pid = int(sys.argv[1])
seen = collections.Counter()
samples = 0
while os.path.exists(f"/proc/{pid}"):
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        break
    for t in tasks:
        base = f"/proc/{pid}/task/{t}"
        try:
            with open(f"{base}/comm") as f:
                comm = f.read().strip()
            with open(f"{base}/wchan") as f:
                wchan = f.read().strip()
            with open(f"{base}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        seen[(comm, state, wchan)] += 1
    samples += 1
    time.sleep(0.001)
print("samples", samples)
for (comm, state, wchan), n in seen.most_common(30):
    print(n, comm, state, wchan)
