#!/usr/bin/env python3
"""Turns bench.py's TSV rows and the machine's limits into bench/RESULTS.md.

  report.py ROWS.tsv LIMITS.json RESULTS.md

Per scenario and client: the median of the successful runs of wall time (and its range, so
the noise of the shared machine shows), MB/s, CPU seconds and peak RSS (and, for the pair scenario, the seeder's CPU seconds and peak RSS), and the
ratios to rqbit in the same scenario (throughput: higher is better; RSS and CPU: lower is
better).
"""
import json
import statistics
import sys
import time
from collections import OrderedDict

# One line per kind of scenario, printed above its table (key: the name up to its last "-N").
ABOUT = {
    "download-single": "Each client downloads one file from N libtorrent seeders found "
                       "through the tracker; the seeder CPU column is the N seeders' together "
                       "during the download.",
    "download-multi": "Each client downloads 200 files in nested directories from N libtorrent "
                      "seeders found through the tracker; the seeder CPU column is the N "
                      "seeders' together during the download.",
    "download-v2-single": "The same file as a BitTorrent v2-only torrent (SHA-256 merkle trees, "
                          "libtorrent's create_torrent) from N libtorrent seeders; rqbit cannot "
                          "download v2. CPU per GiB beside the v1 row: see the last section.",
    "download-v2-multi": "The same 200 files as a BitTorrent v2-only torrent (each file on "
                         "piece boundaries) from N libtorrent seeders; rqbit cannot download v2.",
    "seed-single": "sanstorrent or rqbit seeds the file to one libtorrent leecher.",
    "pair-single": "Same setup: each client seeds the file and the same client downloads it "
                   "from that seeder (given its address, no tracker); the seeder columns are "
                   "its CPU and peak RSS during the transfer.",
    "utp-download-single": "As download-single, over uTP only: the libtorrent seeders run "
                           "with TCP off (`--no-tcp`), sanstorrent with `--transport utp`, the "
                           "libtorrent downloader with TCP off (libtorrent <-> libtorrent over "
                           "uTP). rqbit has no uTP.",
    "utp-pair-single": "As pair-single, over uTP only (sanstorrent `--transport utp` on both "
                       "sides; libtorrent `--no-tcp` on both sides).",
}


def utp_vs_tcp(summary):
    """Lines comparing each utp- scenario's clients with the same client in the TCP scenario
    of the same run (MB/s and CPU per GiB)."""
    lines = []
    for scenario, clients in summary.items():
        if not scenario.startswith("utp-") or scenario[4:] not in summary:
            continue
        tcp = summary[scenario[4:]]
        parts = []
        for client, s in clients.items():
            t = tcp.get(client)
            if not t or not s["mbps"] or not t["mbps"]:
                continue
            parts.append(f"{client} {s['mbps']:.0f} MB/s over uTP against {t['mbps']:.0f} over "
                         f"TCP ({s['mbps'] / t['mbps'] * 100:.0f} %)")
        if parts:
            lines.append(f"- {scenario}: " + "; ".join(parts) + ".")
    return lines


def busy(wall, cpu, s_cpu, cores):
    """The share of the machine's cores the client and its seeder(s) kept busy together over
    the client's wall time (None without both CPU figures)."""
    try:
        return (float(cpu) + float(s_cpu)) / (wall * cores)
    except ValueError:
        return None


def limit_mbps(limits):
    """The machine's limit for one download: the lower of loopback and one core's SHA-1, in
    MB/s (None if SHA-1 was not measured)."""
    sha1 = str(limits.get("sha1", "")).split()
    try:
        return min(limits["loopback_mbps"], float(sha1[0]) * 1000)
    except (ValueError, IndexError):
        return None


def hash_cost(summary, limits):
    """The section comparing each v2 download scenario with its v1 twin: CPU seconds per GiB
    of the client (SHA-1 piece hashes in v1, SHA-256 merkle trees in v2) and of its seeders."""
    gib = limits["size"] / 2**30
    pairs = [(s[len("download-v2-"):], s) for s in summary if s.startswith("download-v2-")]
    pairs = [(f"download-{rest}", v2) for rest, v2 in pairs if f"download-{rest}" in summary]
    if not pairs or not gib:
        return []

    def per_gib(v):
        return "—" if v is None else format(v / gib, ".2f")

    L = ["## CPU per GiB: v1 (SHA-1) against v2 (SHA-256)\n",
         "The client's CPU seconds (user + sys, median) per GiB downloaded, and its seeders' "
         "together, in each download scenario made as a v1 and as a v2-only torrent.\n",
         "| scenario | client | v1 CPU s/GiB | v2 CPU s/GiB | v2 / v1 | seeders v1 | seeders v2 |",
         "|---|---|---|---|---|---|---|"]
    for v1, v2 in pairs:
        for client, b in summary[v2].items():
            a = summary[v1].get(client)
            if not a:
                continue
            ratio = "—" if not a["cpu"] or b["cpu"] is None else f"{b['cpu'] / a['cpu']:.2f}×"
            L.append(f"| {v1[len('download-'):]} | {client} | {per_gib(a['cpu'])} | "
                     f"{per_gib(b['cpu'])} | {ratio} | {per_gib(a['s_cpu'])} | "
                     f"{per_gib(b['s_cpu'])} |")
    L.append("")
    return L


def main():
    rows_path, limits_path, out_path = sys.argv[1:4]
    limits = json.load(open(limits_path))
    groups = OrderedDict()
    for line in open(rows_path):
        f = line.rstrip("\n").split("\t")
        if len(f) not in (8, 10):
            continue
        scenario, client, _run, wall, mbps, rss, cpu, ok = f[:8]
        s_rss, s_cpu = f[8:] or ("NA", "NA")  # the seeder's (pair) or seeders' (download)
        g = groups.setdefault(scenario, OrderedDict()).setdefault(client, [])
        g.append((float(wall), float(mbps), rss, cpu, ok == "yes", s_rss, s_cpu,
                  busy(float(wall), cpu, s_cpu, limits["cores"])))

    def med(vals):
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def num(x):
        try:
            return float(x)
        except ValueError:
            return None

    summary = OrderedDict()
    for scenario, clients in groups.items():
        summary[scenario] = OrderedDict()
        for client, runs in clients.items():
            ok = [r for r in runs if r[4]]
            summary[scenario][client] = {
                "runs": len(runs),
                "ok": len(ok),
                "wall": med([r[0] for r in ok]),
                "wall_range": (min(r[0] for r in ok), max(r[0] for r in ok)) if ok else None,
                "mbps": med([r[1] for r in ok]),
                "rss_mib": med([num(r[2]) / 1024 if num(r[2]) else None for r in ok]),
                "cpu": med([num(r[3]) for r in ok]),
                "s_rss_mib": med([num(r[5]) / 1024 if num(r[5]) else None for r in ok]),
                "s_cpu": med([num(r[6]) for r in ok]),
                "busy": med([r[7] for r in ok]),
            }

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    def ratio(a, b, spec=".2f"):
        return "—" if a is None or not b else format(a / b, spec) + "×"

    L = []
    L.append("# sanstorrent benchmark results\n")
    L.append(f"Generated by `bash bench/run.sh` on {time.strftime('%Y-%m-%d %H:%M %Z')}.\n")
    L.append("## Machine\n")
    L.append(f"- CPU cores: **{limits['cores']}** ({limits.get('cpu_model', '?')}); "
             f"RAM {limits.get('ram_gib', '?')} GiB; {limits.get('kernel', '')}")
    L.append(f"- Loopback TCP, one stream, 1 MiB writes: **{limits['loopback_mbps']:.0f} MB/s**")
    L.append(f"- SHA-1, one core (`cargo bench -p sanstorrent-runtime-common --bench storage`): "
             f"**{limits.get('sha1', '?')}**")
    L.append(f"- Size {limits['size']} bytes, piece {limits['piece']} bytes, "
             f"median of {limits['runs']} run(s) per cell, runs interleaved between clients.")
    L.append(f"- Versions: {limits.get('versions', '')}")
    L.append("- Seeders, downloader and the benchmark share the same cores: "
             "compare clients within one scenario, as ratios.")
    limit = limit_mbps(limits)
    L.append(f"- The machine's limit for one download (the lower of the two above): "
             f"**{fmt(limit, '.0f')} MB/s**. The `of limit` column is MB/s against it; "
             "`busy` is the share of all cores the client and its seeder(s) used together "
             "over the client's wall time: near 100 % the machine, not the client, sets the "
             "pace.\n")
    L.append("MB/s is 10^6 bytes per second of wall time (process start to exit, "
             "including start-up and the final flush). CPU is user+sys seconds. "
             "Ratios are to rqbit in the same scenario: throughput ratio > 1 is faster than "
             "rqbit; RSS and CPU ratios < 1 use less than rqbit.\n")
    per_gib = (1 << 30) / limits["size"]
    for scenario, clients in summary.items():
        L.append(f"## {scenario}\n")
        about = ABOUT.get(scenario.rsplit("-", 1)[0])
        if about:
            L.append(about + "\n")
        seeder = any(s["s_cpu"] is not None for s in clients.values())
        seeder_rss = any(s["s_rss_mib"] is not None for s in clients.values())
        head = ["client", "ok", "wall s", "wall range s", "MB/s", "CPU s", "CPU s/GiB",
                "peak RSS MiB"]
        if seeder:
            head += ["seeder CPU s"]
        if seeder_rss:
            head += ["seeder peak RSS MiB"]
        base = clients.get("rqbit") or clients.get("rqbit-seeder") or {}
        head += ["busy", "of limit"]
        if base:  # no rqbit in this scenario (uTP rows, or rqbit not installed): no ratios
            head += ["MB/s vs rqbit", "RSS vs rqbit", "CPU vs rqbit"]
            if seeder:
                head += ["seeder CPU vs rqbit"]
            if seeder_rss:
                head += ["seeder RSS vs rqbit"]
        L.append("| " + " | ".join(head) + " |")
        L.append("|" + "---|" * len(head))
        for client, s in clients.items():
            lo_hi = s["wall_range"]
            cells = [client, f"{s['ok']}/{s['runs']}", fmt(s["wall"], ".2f"),
                     "—" if lo_hi is None else f"{lo_hi[0]:.2f}–{lo_hi[1]:.2f}",
                     fmt(s["mbps"], ".0f"), fmt(s["cpu"], ".2f"),
                     fmt(s["cpu"] and s["cpu"] * per_gib, ".2f"), fmt(s["rss_mib"], ".0f")]
            if seeder:
                cells += [fmt(s["s_cpu"], ".2f")]
            if seeder_rss:
                cells += [fmt(s["s_rss_mib"], ".0f")]
            cells += [fmt(s["busy"] and s["busy"] * 100, ".0f") + ("" if s["busy"] is None else " %"),
                      fmt(s["mbps"] and limit and s["mbps"] / limit * 100, ".0f")
                      + ("" if s["mbps"] is None or limit is None else " %")]
            if base:
                cells += [ratio(s["mbps"], base.get("mbps")),
                          ratio(s["rss_mib"], base.get("rss_mib")),
                          ratio(s["cpu"], base.get("cpu"))]
                if seeder:
                    cells += [ratio(s["s_cpu"], base.get("s_cpu"))]
                if seeder_rss:
                    cells += [ratio(s["s_rss_mib"], base.get("s_rss_mib"))]
            L.append("| " + " | ".join(cells) + " |")
        L.append("")
    comparison = utp_vs_tcp(summary)
    if comparison:
        L.append("## uTP against TCP, same client, same run\n")
        L.extend(comparison)
        L.append("")
    L.extend(hash_cost(summary, limits))
    L.append("Notes: libtorrent's RSS counts the pages of its memory-mapped files. In the "
             "seeding rows, MB/s is the libtorrent leecher's download rate (its own DONE "
             "time), CPU is the seeder's user+sys over the transfer only (after its start-up "
             "hash check), and RSS is the seeder's peak including that check. In the pair "
             "rows, the first columns are the downloader's (as in the download rows); the "
             "seeder's CPU and peak RSS are measured from the start of the download to its end "
             "(the peak is reset after the seeder's hash check).\n")
    L.append("Raw rows (scenario, client, run, wall s, MB/s, peak RSS KiB, CPU s, ok; pair rows "
             "add the seeder's peak RSS KiB and CPU s, download rows NA and the libtorrent "
             "seeders' CPU s together):\n")
    L.append("```")
    L.extend(line.rstrip("\n") for line in open(rows_path))
    L.append("```")
    open(out_path, "w").write("\n".join(L) + "\n")
    print("\n".join(L[: len(L)]), file=sys.stderr)


if __name__ == "__main__":
    main()
