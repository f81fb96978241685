#!/usr/bin/env python3
"""Loopback throughput benchmark: sanstorrent (smol, tokio) vs rqbit vs libtorrent.

Called by bench/run.sh, which builds the binaries and writes bench/RESULTS.md; run that.

Scenarios (all on 127.0.0.1, TCP unless named utp-, one opentracker for announces):
  download  a torrent (single 1 GiB file, or 1 GiB in --files files in nested directories)
            seeded by 1 and then N libtorrent seeders (lt_peer.py, normal hash check, so no
            lazy hashing while timed), downloaded by every client in turn: runs are
            interleaved (run 1 of every client, then run 2, ...) so slow drifts of a shared
            machine hit every client alike. Each output is verified by sha256, file by file.
            With --formats v1,v2 each layout is also made as a BitTorrent v2-only torrent
            (libtorrent's create_torrent, SHA-256 merkle trees): scenario download-v2-LAYOUT-N,
            the same seeders and clients except rqbit (it has no v2), so SHA-1 and SHA-256
            verification cost compare in CPU seconds per GiB.
  seed      sanstorrent `seed` vs rqbit seeding the single-file torrent to one libtorrent
            leecher (the leecher's wall time is timed; the seeder's CPU is measured over the
            transfer only, after its start-up hash check has finished).
  pair      "same setup": each client seeds the single-file torrent (a copy without a
            tracker) and the SAME client downloads it from that seeder, given its address
            directly (sanstorrent-smol -> sanstorrent-smol, rqbit -> rqbit, libtorrent ->
            libtorrent). The downloader is timed as in `download`; the seeder's CPU and peak
            RSS are measured over the transfer only (its peak is reset after its hash check).
  utp-download, utp-pair
            the same two over uTP only (BEP 29): the libtorrent seeders and leechers run with
            --no-tcp, ours with --transport utp (rqbit has no uTP and is left out). Rows are
            named utp-download-single-N and utp-pair-single-1, so that the same run holds the
            TCP and uTP rows of each client side by side.

Each client runs under /usr/bin/time -v: wall seconds, MB/s (10^6 bytes), CPU seconds
(user + sys), peak RSS. TSV rows go to --out (scenario, client, run, wall, MB/s, RSS KiB,
CPU s, ok; pair rows add the seeder's RSS KiB and CPU s, download rows NA and the libtorrent
seeders' CPU s together); medians are computed by report.py.
Never fails on slowness: a failed or timed-out run is recorded with ok=no.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PY = "/usr/bin/python3"  # Debian's python3: the one that can import libtorrent


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        p = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
        except OSError:
            t.close()
            continue
        t.close()
        u.close()
        return p
    raise RuntimeError("no free port")


class Procs:
    """Every background process started, killed at exit."""

    def __init__(self):
        self.procs = []

    def start(self, args, logfile, **kw):
        f = open(logfile, "wb")
        p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=15):
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def stop_all(self):
        for p in self.procs:
            self.stop(p, wait=5)


def wait_for_line(path, prefix, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.strip()
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no {prefix!r} in {path} within {secs} s")


class Tracker:
    """opentracker on one free port (HTTP and UDP), whitelist-only."""

    def __init__(self, procs, work):
        self.dir = os.path.join(work, "tracker")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        os.chmod(work, 0o755)
        open(os.path.join(self.dir, "whitelist.txt"), "w").close()
        os.chmod(os.path.join(self.dir, "whitelist.txt"), 0o644)
        for _ in range(5):
            self.port = free_port()
            self.proc = procs.start(
                ["opentracker", "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port),
                 "-d", self.dir, "-w", "whitelist.txt"],
                os.path.join(self.dir, "opentracker.log"))
            deadline = time.time() + 5
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError("opentracker failed to start (run ../shared/interop/setup.sh)")

    def url(self):
        return f"http://127.0.0.1:{self.port}/announce"

    def allow(self, info_hash):
        with open(os.path.join(self.dir, "whitelist.txt"), "a") as f:
            f.write(info_hash.lower() + "\n")
        self.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)


def gen_files(root, total, count, seed):
    """`count` files totalling `total` bytes under `root`, in nested directories; sizes vary
    from a few bytes to several MB (a handful under 16 KiB). Reproducible from `seed`."""
    rng = random.Random(seed)
    weights = [rng.random() ** 3 for _ in range(count)]
    for i in range(0, count, 17):
        weights[i] = 0.0  # tiny files: smaller than a block
    scale = total / sum(weights)
    sizes = [int(w * scale) if w else rng.randrange(1, 4000) for w in weights]
    sizes[-1] += total - sum(sizes)
    chunk = rng.randbytes(1 << 20)
    for i, size in enumerate(sizes):
        path = os.path.join(root, f"d{i % 7}", f"e{i % 3}", f"f{i:03}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(i.to_bytes(8, "little"))  # makes every file's content distinct
            left = size - 8
            while left > 0:
                n = min(len(chunk), left)
                f.write(chunk[:n])
                chunk = chunk[7:] + chunk[:7]  # cheap variation between pieces
                left -= n
            f.truncate(size)


def sha256_tree(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for fn in files:
            p = os.path.join(dirpath, fn)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(1 << 20), b""):
                    h.update(b)
            out[os.path.relpath(p, root)] = h.hexdigest()
    return out


def make_data(args, work, tracker, layout, fmt="v1"):
    """Generates the data and its torrent (`fmt`: v1 or v2); returns a dict with torrent,
    dir, name, sums."""
    tag = layout if fmt == "v1" else f"{fmt}-{layout}"
    d = os.path.join(work, f"src-{tag}")
    torrent = os.path.join(work, f"{tag}.torrent")
    if layout == "single":
        name = "bench.bin"
        cmd = [PY, f"{args.interop}/mktorrent.py", "both", "--layout", "single", "--dir", d,
               "--name", name, "--size", str(args.size), "--seed", "42", "--piece-size",
               str(args.piece), "--tracker", tracker.url(), "--torrent", torrent]
    else:
        name = "bench200"
        gen_files(os.path.join(d, name), args.size, args.files, 42)
        cmd = [PY, f"{args.interop}/mktorrent.py", "make", "--data", os.path.join(d, name),
               "--torrent", torrent, "--piece-size", str(args.piece), "--tracker", tracker.url()]
    cmd += ["--format", fmt]
    info = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    tracker.allow(info["infohash"])
    sums = sha256_tree(d)
    log(f"{layout}: {len(sums)} files, {info['num_pieces']} pieces, {info['infohash']}")
    return {"torrent": torrent, "dir": d, "name": name, "sums": sums,
            "infohash": info["infohash"], "layout": tag}


def rqbit_cmd(args, port):
    """rqbit's global flags: everything public off, listening on 127.0.0.1:`port`."""
    bind = ["--bind-device", "lo"] if os.geteuid() == 0 else []
    return [args.rqbit, "--disable-dht", "--disable-dht-persistence",
            "--disable-upnp-port-forward", "--disable-lsd", "--listen-ip", "127.0.0.1",
            "--ipv4-only", *bind, "--listen-port", str(port)]


def lt_cmd(args, data, save, port, *extra, utp=False):
    """An lt_peer.py command line (TCP only, or uTP only with `utp`; quiet) for `data` saved
    in `save`."""
    return [PY, f"{args.interop}/lt_peer.py", "--torrent", data["torrent"], "--save", save,
            "--status-interval", "0", "--no-tcp" if utp else "--no-utp", "--port", str(port),
            *extra]


def our_transport(utp):
    return ["--transport", "utp" if utp else "tcp"]


def our_binary(args, runtime):
    """Our binary for `runtime`: the tokio rows need one built with the tokio feature."""
    return args.sanstorrent_tokio if runtime == "tokio" else args.sanstorrent


def client_cmd(args, client, data, out, port, peer=None, utp=False):
    """The command line of one download client; `peer` ("host:port"): connect to it directly
    instead of asking the tracker; `utp`: over uTP only (TCP only otherwise)."""
    t = data["torrent"]
    if client.startswith("sanstorrent-"):
        rt = client.split("-", 1)[1]
        return [our_binary(args, rt), "download", t, "-o", out, "-p", str(port),
                "--bind", "127.0.0.1", "--no-dht", "--quiet", "--runtime", rt,
                *our_transport(utp), "--state-dir", out + ".state",
                *(["--peer", peer] if peer else [])]
    if client == "rqbit" and not utp:
        return [*rqbit_cmd(args, port), "download", "--disable-http-api", "--exit-on-finish",
                *(["--initial-peers", peer] if peer else []), "-o", out, t]
    if client == "libtorrent":
        return lt_cmd(args, data, out, port, "--exit-on-done", "--timeout",
                      str(args.client_timeout), *(["--no-tracker", "--peer", peer] if peer else []),
                      utp=utp)
    raise ValueError(client)


def seeder_cmd(args, client, data, port, utp=False):
    """The command line of one seeder of `data` (already complete in data["dir"])."""
    if client.startswith("sanstorrent-"):
        rt = client.split("-", 1)[1]
        return [our_binary(args, rt), "seed", data["torrent"], "-o", data["dir"], "-p", str(port),
                "--bind", "127.0.0.1", "--no-dht", "--runtime", rt,
                *our_transport(utp)]
    if client == "rqbit" and not utp:
        return [*rqbit_cmd(args, port), "download", "--disable-http-api", "--overwrite",
                "-o", data["dir"], data["torrent"]]
    if client == "libtorrent":
        return lt_cmd(args, data, data["dir"], port, "--seed", "--no-tracker", "--timeout", "7200",
                      utp=utp)
    raise ValueError(client)


def parse_time_v(path):
    rss = cpu = None
    try:
        with open(path) as f:
            u = s = 0.0
            for line in f:
                k, _, v = line.strip().rpartition(": ")
                if k == "Maximum resident set size (kbytes)":
                    rss = int(v)
                elif k == "User time (seconds)":
                    u = float(v)
                elif k == "System time (seconds)":
                    s = float(v)
            cpu = u + s
    except (FileNotFoundError, ValueError):
        pass
    return rss, cpu


def row(out, fields):
    line = "\t".join(str(x) for x in fields)
    print(line, flush=True)
    with open(out, "a") as f:
        f.write(line + "\n")


def na(v, spec=""):
    return "NA" if v is None else format(v, spec)


def verify(data, out):
    got = sha256_tree(out) if os.path.isdir(out) else {}
    return got == data["sums"]


def run_download(args, work, client, data, scenario, run, peer=None, seeder=None,
                 lt_seeders=(), utp=False):
    """Times one download by `client` (from the tracker's peers, or from `peer` directly) and
    writes its row; with `seeder` (the process seeding to it), the row also gets the seeder's
    peak RSS and CPU over the transfer; with `lt_seeders`, their CPU together (the share of
    the machine the download left to them)."""
    out = os.path.join(work, "out")
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out + ".state", ignore_errors=True)
    os.makedirs(out)
    port = free_port()
    cmd = client_cmd(args, client, data, out, port, peer, utp)
    tv = os.path.join(work, "time.txt")
    logf = os.path.join(work, f"client-{client}-{scenario}-{run}.log")
    # The previous run's output was deleted: write back and discard it now, and let the
    # kernel's writeback settle, so this run does not pay for the last one.
    subprocess.run(["sync"])
    time.sleep(1)
    meter = SeederMeter(seeder, reset_peak=True) if seeder else None
    lt_cpu0 = sum(tree_cpu(p.pid) for p in lt_seeders)
    t0 = time.monotonic()
    with open(logf, "wb") as f:
        try:
            rc = subprocess.run(["/usr/bin/time", "-v", "-o", tv, *cmd], stdout=f,
                                stderr=subprocess.STDOUT, timeout=args.client_timeout).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.monotonic() - t0
    seeder_fields = []
    if meter:
        s_rss, s_cpu = meter.read()
        seeder_fields = [na(s_rss), na(s_cpu, ".2f")]
    elif lt_seeders:
        alive = all(p.poll() is None for p in lt_seeders)
        lt_cpu = sum(tree_cpu(p.pid) for p in lt_seeders) - lt_cpu0 if alive else None
        seeder_fields = ["NA", na(lt_cpu, ".2f")]
    rss, cpu = parse_time_v(tv)
    ok = rc == 0 and verify(data, out)
    if not ok:
        with open(logf, errors="replace") as f:
            tail = f.read()[-600:]
        log(f"{client} {scenario} run {run} FAILED rc={rc}: {tail}")
    row(args.out, [scenario, client, run, f"{wall:.3f}", f"{args.size / 1e6 / wall:.1f}",
                   na(rss), na(cpu, ".2f"), "yes" if ok else "no", *seeder_fields])
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out + ".state", ignore_errors=True)


def start_lt_seeders(args, procs, work, data, n, utp=False):
    seeders = []
    for i in range(n):
        logf = os.path.join(work, f"seeder-{data['layout']}-{i}{'-utp' if utp else ''}.log")
        p = procs.start(lt_cmd(args, data, data["dir"], 0, "--seed", "--timeout", "7200",
                               utp=utp), logf)
        seeders.append((p, logf))
    for p, logf in seeders:
        wait_for_line(logf, "SEEDING", 600)
    time.sleep(2)  # let every seeder's first announce land
    return seeders


def cpu_of(pid):
    """user+sys seconds of a process and its reaped children, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tck = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tck


def tree_pids(pid):
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def tree_cpu(pid):
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += cpu_of(p)
        except OSError:
            pass
    return total


def tree_hwm_kb(pid):
    best = 0
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            pass
    return best


def reset_tree_hwm(pid):
    """Resets the peak RSS (VmHWM) of `pid` and its descendants to their current RSS."""
    for p in tree_pids(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as f:
                f.write("5")
        except OSError as e:
            log(f"cannot reset the peak RSS of pid {p} ({e}): it includes the hash check")


class SeederMeter:
    """A running seeder's CPU seconds (user+sys) from now on, and its peak RSS: since its
    start, or from now on with `reset_peak`. Both None if the seeder has died meanwhile."""

    def __init__(self, proc, reset_peak):
        self.proc = proc
        if reset_peak:
            reset_tree_hwm(proc.pid)
        self.cpu0 = tree_cpu(proc.pid)

    def read(self):
        if self.proc.poll() is not None:
            return None, None
        return tree_hwm_kb(self.proc.pid), tree_cpu(self.proc.pid) - self.cpu0


def start_seeder(args, procs, work, client, data, tag, utp=False):
    """Starts one `client` seeding `data` on a free port (over uTP only with `utp`); returns
    (process, "127.0.0.1:port") once its start-up hash check is over (its CPU has been idle
    for 1 s)."""
    port = free_port()
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(work, "xdg"))
    seeder = procs.start(seeder_cmd(args, client, data, port, utp),
                         os.path.join(work, f"seed-{client}-{tag}.log"), env=env)
    deadline = time.time() + 300
    last, idle_since = -1.0, None
    while time.time() < deadline and seeder.poll() is None:
        c = tree_cpu(seeder.pid)
        if c - last < 0.02:
            idle_since = idle_since or time.time()
            if time.time() - idle_since >= 1.0:
                break
        else:
            idle_since = None
        last = c
        time.sleep(0.25)
    return seeder, f"127.0.0.1:{port}"


def run_seed(args, procs, work, client, data, run):
    """One of our seeders (sanstorrent or rqbit) to one libtorrent leecher."""
    seeder, peer = start_seeder(args, procs, work, client, data, f"seed-{run}")
    meter = SeederMeter(seeder, reset_peak=False)  # RSS: the peak including the check
    out = os.path.join(work, "lt-leech")
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.monotonic()
    leech_log = os.path.join(work, f"leech-{client}-{run}.log")
    with open(leech_log, "wb") as f:
        try:
            rc = subprocess.run(client_cmd(args, "libtorrent", data, out, free_port(), peer),
                                stdout=f, stderr=subprocess.STDOUT,
                                timeout=args.client_timeout + 10).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    wall = time.monotonic() - t0
    rss, cpu = meter.read()
    procs.stop(seeder, signal.SIGINT)
    ok = rc == 0 and verify(data, out)
    secs = None
    with open(leech_log, errors="replace") as f:
        for line in f:
            if line.startswith("DONE "):
                secs = float(line.split("secs=")[1].split()[0])
    if not ok:
        log(f"seed {client} run {run} FAILED rc={rc}")
    row(args.out, ["seed-single-1", client.split("-")[0] + "-seeder", run, f"{wall:.3f}",
                   f"{args.size / 1e6 / (secs or wall):.1f}", rss or "NA", na(cpu, ".2f"),
                   "yes" if ok else "no"])
    shutil.rmtree(out, ignore_errors=True)


def run_pair(args, procs, work, client, data, run, utp=False):
    """`client` seeding `data` to the same client downloading it, given the seeder's address
    (over uTP only with `utp`)."""
    tag = "utp-pair" if utp else "pair"
    seeder, peer = start_seeder(args, procs, work, client, data, f"{tag}-{run}", utp)
    run_download(args, work, client, data, f"{tag}-single-1", run, peer, seeder, utp=utp)
    procs.stop(seeder, signal.SIGINT)


def trackerless(args, work, data):
    """A copy of `data` whose torrent has no tracker (same info dict, so same info-hash)."""
    torrent = os.path.join(work, f"{data['layout']}-notracker.torrent")
    subprocess.run([PY, f"{args.interop}/mktorrent.py", "make", "--data",
                    os.path.join(data["dir"], data["name"]), "--torrent", torrent,
                    "--piece-size", str(args.piece)], check=True, capture_output=True)
    return dict(data, torrent=torrent)


def rotated(items, run):
    """`items` in the order run `run` (from 1) uses: each run starts one client later, so no
    client always follows the same other one. A run can leave the machine slower for the next:
    with rqbit's 1 GiB output left on disk, the download after it cost its seeders 0.4-0.7
    CPU-s more, three times out of three (each run here deletes the last output first, but
    after-effects of other kinds would otherwise land on the same client every time)."""
    k = (run - 1) % len(items)
    return items[k:] + items[:k]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1 << 30)
    ap.add_argument("--piece", type=int, default=1 << 20)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scenarios", default="download,seed,pair",
                    help="comma-separated: download, seed, pair, utp-download, utp-pair")
    ap.add_argument("--seeders", default="1,4", help="comma-separated seeder counts")
    ap.add_argument("--layouts", default="single,multi")
    ap.add_argument("--formats", default="v1,v2", help="comma-separated torrent formats of "
                    "the download scenarios: v1 (SHA-1 pieces), v2 (BEP 52 v2-only, SHA-256 "
                    "merkle trees; rqbit left out)")
    ap.add_argument("--clients", default="sanstorrent-smol,sanstorrent-tokio,rqbit,libtorrent")
    ap.add_argument("--pair-clients", default="sanstorrent-smol,rqbit,libtorrent")
    ap.add_argument("--utp-clients", default="sanstorrent-smol,libtorrent",
                    help="the clients of the utp- scenarios (rqbit has no uTP)")
    ap.add_argument("--no-seed-bench", action="store_true", help="same as leaving seed out "
                    "of --scenarios")
    ap.add_argument("--no-pair-bench", action="store_true", help="same as leaving pair out "
                    "of --scenarios")
    ap.add_argument("--sanstorrent", required=True, help="the binary of the sanstorrent-smol "
                    "rows")
    ap.add_argument("--sanstorrent-tokio", help="the binary of the sanstorrent-tokio rows "
                    "(built with the tokio feature; default: --sanstorrent)")
    ap.add_argument("--rqbit", required=True, help='its path, or "none": no rqbit rows')
    ap.add_argument("--interop", required=True)
    ap.add_argument("--client-timeout", type=int, default=300)
    ap.add_argument("--out", required=True, help="TSV file rows are appended to")
    args = ap.parse_args()
    args.sanstorrent_tokio = args.sanstorrent_tokio or args.sanstorrent
    scenarios = set(args.scenarios.split(","))
    unknown = scenarios - {"download", "seed", "pair", "utp-download", "utp-pair"}
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.no_seed_bench:
        scenarios.discard("seed")
    if args.no_pair_bench:
        scenarios.discard("pair")
    layouts = args.layouts.split(",")
    downloads = scenarios & {"download", "utp-download"}
    counts = [int(x) for x in args.seeders.split(",")] if downloads else []
    formats = args.formats.split(",")
    if set(formats) - {"v1", "v2"}:
        ap.error(f"unknown format(s) in {args.formats}")
    if not counts:  # only the seed and pair scenarios: they need only the single v1 file
        layouts = ["single"] if "single" in layouts and scenarios else []
        formats = ["v1"]
    utp_clients = [c for c in args.utp_clients.split(",") if c != "rqbit"]

    no_rqbit = args.rqbit == "none"
    if no_rqbit:
        args.clients = ",".join(c for c in args.clients.split(",") if c != "rqbit")
        args.pair_clients = ",".join(c for c in args.pair_clients.split(",") if c != "rqbit")
    seeders_of_seed = ["sanstorrent-smol"] + ([] if no_rqbit else ["rqbit"])
    work = tempfile.mkdtemp(prefix="sanstorrent-bench-")
    procs = Procs()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        tracker = Tracker(procs, work)
        clients = args.clients.split(",")
        for layout, fmt in [(lo, f) for lo in layouts for f in formats]:
            data = make_data(args, work, tracker, layout, fmt)
            # rqbit cannot download v2-only torrents.
            fmt_clients = clients if fmt == "v1" else [c for c in clients if c != "rqbit"]
            for n in counts:
                for utp in (False, True):
                    if ("utp-download" if utp else "download") not in scenarios:
                        continue
                    if utp and fmt != "v1":  # the uTP rows compare transports, not hashes
                        continue
                    scenario = f"{'utp-' if utp else ''}download-{data['layout']}-{n}"
                    seeders = start_lt_seeders(args, procs, work, data, n, utp)
                    log(f"{scenario}: {n} seeder(s) up")
                    for run in range(1, args.runs + 1):
                        for client in rotated(utp_clients if utp else fmt_clients, run):
                            run_download(args, work, client, data, scenario, run,
                                         lt_seeders=[p for p, _ in seeders], utp=utp)
                    for p, _ in seeders:
                        procs.stop(p)
            if fmt != "v1":
                shutil.rmtree(data["dir"], ignore_errors=True)
                continue
            if layout == "single" and "seed" in scenarios:
                for run in range(1, args.runs + 1):
                    for client in rotated(seeders_of_seed, run):
                        run_seed(args, procs, work, client, data, run)
            pairs = [utp for utp in (False, True) if ("utp-pair" if utp else "pair") in scenarios]
            if layout == "single" and pairs:
                pair_data = trackerless(args, work, data)
                for run in range(1, args.runs + 1):
                    for utp in pairs:
                        for client in rotated(utp_clients if utp else
                                              args.pair_clients.split(","), run):
                            run_pair(args, procs, work, client, pair_data, run, utp)
            shutil.rmtree(data["dir"], ignore_errors=True)
    finally:
        procs.stop_all()
        if os.environ.get("KEEP_WORK") == "1":
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
