#!/usr/bin/env python3
"""Turn an evaluation directory (scripts/eval.sh) into results.csv, report.md
and figures/*.png.

Python's standard library (csv, statistics) does the arithmetic and gnuplot
draws: both are Debian packages, and nothing here is worth a dependency
more. Usage: report.py DIR. Exit 2 if DIR is not an evaluation directory.
"""
import csv
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys

BALANCERS = ["lc", "lcpu", "lram", "dlbqt", "rr", "wrr", "p2c", "qlb", "qlb+fc",
             "haproxy", "nft"]
ENV_TITLE = {"homo": "Homogeneous", "het": "Heterogeneous"}
USER_HZ = 100  # /proc/stat and /proc/PID/stat tick rate on Linux
LIGHT_BYTES = 4096  # the light objects are 1-2 KB, the heavy ones 196 KB and up

# (column, title, lower is better, format)
METRICS = [
    ("tcp_loss_pct", "Packet loss (% of TCP segments retransmitted)", True, "{:.3f}"),
    ("failed_pct", "Failed or timed-out requests (%)", True, "{:.2f}"),
    ("if_drops", "Interface drops (packets, rx + tx over every testbed interface)", True, "{:.0f}"),
    ("xdp_drops", "Balancer drops (packets qlb's XDP program dropped; n/a for HAProxy and nftables)",
     True, "{:.0f}"),
    ("rt_mean_ms", "Response time, mean (ms)", True, "{:.1f}"),
    ("rt_p50_ms", "Response time, p50 (ms)", True, "{:.1f}"),
    ("rt_p99_ms", "Response time, p99 (ms)", True, "{:.1f}"),
    ("rt_light_ms", "Response time of the light objects (1-2 KB), mean (ms)", True, "{:.1f}"),
    ("rt_heavy_ms", "Response time of the heavy objects (196-6,836 KB), mean (ms)", True, "{:.1f}"),
    ("throttled_ms_per_req", "Servers held back by their CPU quota (ms per request, summed over servers)",
     True, "{:.2f}"),
    ("throughput_mbps", "Throughput (Mbit/s)", False, "{:.1f}"),
    ("rps", "Throughput (requests/s)", False, "{:.1f}"),
    ("bal_cpu_ms_per_kreq", "Balancer CPU (ms per 1,000 requests)", True, "{:.2f}"),
]
# The ones compared pairwise (Cohen's d) and drawn.
PAIRED = ["tcp_loss_pct", "failed_pct", "rt_mean_ms", "rt_p50_ms", "rt_p99_ms",
          "throughput_mbps", "rps"]


def die(msg):
    print(f"report: {msg}", file=sys.stderr)
    sys.exit(2)


def read_kv(path):
    """key=value lines; repeated keys (several processes) are summed."""
    kv = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.strip().partition("=")
            if sep:
                kv[k] = kv.get(k, 0.0) + float(v)
    return kv


def delta(before, after, prefix):
    return sum(after[k] - before.get(k, 0.0) for k in after if k.startswith(prefix))


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return math.nan
    i = max(0, math.ceil(q / 100 * len(sorted_vals)) - 1)
    return sorted_vals[i]


def mean(vals):
    vals = [v for v in vals if not math.isnan(v)]
    return statistics.fmean(vals) if vals else math.nan


def cpu_ms(before, after, with_xdp=True):
    ticks = delta(before, after, "bal_proc_ticks")
    ms = ticks * 1000 / USER_HZ
    if with_xdp:
        ms += delta(before, after, "xdp_run_ns") / 1e6
    known = "bal_proc_ticks" in after or "xdp_run_ns" in after
    return ms if known else math.nan


def run_metrics(level_dir, before, after):
    summaries = []
    for p in sorted(glob.glob(os.path.join(level_dir, "c*.json"))):
        with open(p) as f:
            summaries.append(json.load(f))
    if not summaries:
        raise ValueError(f"{level_dir}: no load generator summaries")
    times, light, heavy = [], [], []
    for p in sorted(glob.glob(os.path.join(level_dir, "c*.csv"))):
        with open(p, newline="") as f:
            for row in csv.DictReader(f):
                if int(row["curl_code"]) == 0 and 200 <= int(row["http_status"]) < 300:
                    t = int(row["total_us"]) / 1000
                    times.append(t)
                    (light if int(row["bytes"]) <= LIGHT_BYTES else heavy).append(t)
    times.sort()
    req = sum(s["requests"] for s in summaries)
    ok = sum(s["ok"] for s in summaries)
    dur = max(s["duration_s"] for s in summaries) or math.nan
    out_segs = delta(before, after, "tcp_OutSegs")
    retrans = delta(before, after, "tcp_RetransSegs")
    busy = delta(before, after, "host_cpu_busy")
    served = [after[k] - before.get(k, 0) for k in
              sorted((k for k in after if k.startswith("served_b")), key=lambda k: int(k[8:]))]
    total_served = sum(served) or math.nan
    bal = cpu_ms(before, after)
    return {
        "requests": req,
        "ok": ok,
        "failed": sum(s["failed"] for s in summaries),
        "timeouts": sum(s["timeouts"] for s in summaries),
        "dropped_client": sum(s["dropped_client"] for s in summaries),
        "rt_mean_ms": statistics.fmean(times) if times else math.nan,
        "rt_p50_ms": percentile(times, 50),
        "rt_p99_ms": percentile(times, 99),
        "rt_light_ms": statistics.fmean(light) if light else math.nan,
        "rt_heavy_ms": statistics.fmean(heavy) if heavy else math.nan,
        # runs from before the counter was recorded have none
        "throttled_ms_per_req": (delta(before, after, "cg_throttled_ns_") / 1e6 / ok
                                 if ok and any(k.startswith("cg_throttled_ns_") for k in after)
                                 else math.nan),
        "throughput_mbps": sum(s["bytes"] for s in summaries) * 8 / dur / 1e6,
        "rps": ok / dur,
        "tcp_loss_pct": 100 * retrans / out_segs if out_segs else math.nan,
        "retrans_segs": retrans,
        "if_drops": delta(before, after, "if_drop_"),
        "xdp_drops": delta(before, after, "xdp_drop_pkts") if "xdp_drop_pkts" in after else math.nan,
        "failed_pct": 100 * (req - ok) / req if req else math.nan,
        "host_cpu_ms_per_req": busy * 1000 / USER_HZ / ok if ok else math.nan,
        "bal_cpu_ms_per_kreq": bal * 1000 / ok if ok else math.nan,
        # odd servers are the fast ones in the heterogeneous pools
        "fast_share": sum(served[0::2]) / total_served,
        "shares": " ".join(f"{s / total_served:.3f}" for s in served),
        # the agent or haproxy died during the run (killed from outside)
        "balancer_died": int(after.get("bal_proc_dead", 0)),
    }


def collect(root):
    rows = []
    for level_dir in sorted(glob.glob(os.path.join(root, "runs", "*", "*", "seed*", "L*"))):
        if not os.path.isdir(level_dir):
            continue
        parts = level_dir.split(os.sep)
        env, bal, seed, level = parts[-4], parts[-3], parts[-2][4:], parts[-1][1:]
        before, after = read_kv(level_dir + ".before"), read_kv(level_dir + ".after")
        row = {"env": env, "servers": int(env[-1]), "balancer": bal, "level": int(level),
               "seed": int(seed)}
        row.update(run_metrics(level_dir, before, after))
        rows.append(row)
    return rows


def capacity(root):
    out = []
    for bal in ["qlb", "haproxy", "nft"]:
        d = os.path.join(root, "capacity", bal)
        if not os.path.isdir(d):
            continue
        rps = mbps = 0.0
        errors = 0
        for p in glob.glob(os.path.join(d, "wrk-c*.txt")):
            text = open(p).read()
            m = re.search(r"Requests/sec:\s+([\d.]+)", text)
            rps += float(m.group(1)) if m else 0.0
            m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", text)
            if m:
                scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}.get(m.group(2), 1)
                mbps += float(m.group(1)) * scale * 8 / 1e6
            m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
            if m:
                errors += sum(int(x) for x in m.groups())
            m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
            if m:
                errors += int(m.group(1))
        before, after = read_kv(os.path.join(d, "before")), read_kv(os.path.join(d, "after"))
        secs = float(read_meta(root).get("cap_s", "nan"))
        reqs = rps * secs
        busy = delta(before, after, "host_cpu_busy") * 1000 / USER_HZ
        out.append({"balancer": bal, "rps": rps, "mbps": mbps, "errors": errors,
                    "host_cpu_us_per_req": busy * 1000 / reqs if reqs else math.nan,
                    "bal_cpu_us_per_req": cpu_ms(before, after) * 1000 / reqs if reqs else math.nan,
                    "xdp_ns_per_pkt": (delta(before, after, "xdp_run_ns") /
                                       delta(before, after, "xdp_run_cnt"))
                    if delta(before, after, "xdp_run_cnt") else math.nan})
    return out


def read_meta(root):
    meta = {}
    with open(os.path.join(root, "meta.txt")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            meta[k] = v
    return meta


def fmt(v, f):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f.format(v)


def improvement(orig, new, lower_better):
    """The paper's Eq. (1) on sums over the load levels."""
    if math.isnan(orig) or math.isnan(new) or orig == 0:
        return math.nan
    return 100 * ((orig - new) if lower_better else (new - orig)) / orig


def cohens_d(pairs, lower_better):
    """Eqs. (9)-(11): mean over sd of the paired differences baseline - new
    (new - baseline when higher is better), so positive d favours new."""
    diffs = [(b - n) if lower_better else (n - b) for b, n in pairs
             if not (math.isnan(b) or math.isnan(n))]
    if len(diffs) < 2:
        return math.nan
    sd = statistics.stdev(diffs)
    return statistics.fmean(diffs) / sd if sd > 0 else math.nan


def env_tables(rows, env, levels, present):
    sub = [r for r in rows if r["env"] == env]
    md = []
    n = int(env[-1])
    md.append(f"## {ENV_TITLE[env[:-1]]} environment, {n} servers (`{env}`)\n")
    cell = {}
    for r in sub:
        cell.setdefault((r["balancer"], r["level"]), []).append(r)
    for col, title, lower, f in METRICS:
        md.append(f"### {title}\n")
        md.append("| Total requests | " + " | ".join(present) + " |")
        md.append("|---" * (len(present) + 1) + "|")
        sums = {}
        for lv in levels:
            cells = []
            for b in present:
                vals = [r[col] for r in cell.get((b, lv), [])]
                m = mean(vals)
                sums[b] = sums.get(b, 0.0) + m
                sd = statistics.stdev(vals) if len([v for v in vals if not math.isnan(v)]) > 1 else math.nan
                cells.append(fmt(m, f) + ("" if math.isnan(sd) else " ± " + fmt(sd, f)))
            md.append(f"| {lv:,} | " + " | ".join(cells) + " |")
        for new in ["dlbqt", "qlb"]:
            if new in present:
                md.append(f"| Improving ({new}, Eq. 1) | " + " | ".join(
                    "–" if b == new else fmt(improvement(sums[b], sums[new], lower), "{:+.1f}%")
                    for b in present) + " |")
        md.append("")
    # Cohen's d over (level, seed) pairs: same seed = same request sequence.
    md.append("### Effect size (Cohen's d, Eqs. 9–11)\n")
    md.append("Paired differences baseline − new over every (load level, seed) pair "
              "(the paper pairs over its 3 load levels); positive favours the new "
              "algorithm; n/a below 2 pairs.\n")
    for new in ["dlbqt", "qlb"]:
        if new not in present:
            continue
        others = [b for b in present if b != new]
        md.append(f"| {new} vs | " + " | ".join(others) + " |")
        md.append("|---" * (len(others) + 1) + "|")
        for col, title, lower, _ in (m for m in METRICS if m[0] in PAIRED):
            ds = []
            for b in others:
                pairs = []
                for r in sub:
                    if r["balancer"] != b:
                        continue
                    m = [x for x in sub if x["balancer"] == new and x["level"] == r["level"]
                         and x["seed"] == r["seed"]]
                    if m:
                        pairs.append((r[col], m[0][col]))
                ds.append(fmt(cohens_d(pairs, lower), "{:.2f}"))
            md.append(f"| {title} | " + " | ".join(ds) + " |")
        md.append("")
    md.append("Share of requests served by the fast servers (odd-numbered; the "
              "capacity share is 75 % in `het`, 50 % in `homo`): " + ", ".join(
                  f"{b} {mean([r['fast_share'] for r in sub if r['balancer'] == b]) * 100:.0f} %"
                  for b in present) + ".\n")
    return md


# Two-sided 95 % Student t quantiles by degrees of freedom (1-10); the
# normal's beyond. Hard-coded: the standard library has no t distribution.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def paired_interval(rows, env, base, col):
    """Eq. (1) per (load level, seed) pair of qlb against base, and the 95 %
    t interval of its mean: how far the seeds let the headline figure be
    trusted. None below 2 pairs."""
    by = {(r["level"], r["seed"], r["balancer"]): r[col] for r in rows if r["env"] == env}
    vals = [improvement(v, by[(lv, sd, "qlb")], True) for (lv, sd, b), v in by.items()
            if b == base and (lv, sd, "qlb") in by]
    vals = [v for v in vals if not math.isnan(v)]
    if len(vals) < 2:
        return None
    m = statistics.fmean(vals)
    half = (T95[len(vals) - 2] if len(vals) <= 11 else 1.96) * statistics.stdev(vals) / math.sqrt(len(vals))
    return m - half, m + half


def resolved(interval, bound):
    """Whether the pairs' interval settles the verdict against bound."""
    if interval is None:
        return "one pair: no interval"
    lo, hi = interval
    verdict = "clears" if lo >= bound else "misses" if hi < bound else "spans"
    return f"95 % interval over the pairs [{lo:+.1f}%, {hi:+.1f}%] {verdict} the bound"


def targets(rows, cap):
    """The issue's targets, computed (not asserted: results are measured).
    The verdict is on Eq. (1) over the sums, as the paper reports; the
    interval says whether the seeds were enough to tell."""
    md = ["## Targets\n",
          "Each verdict applies Eq. (1) to the sums over the load levels; the interval is "
          "that of the mean of Eq. (1) over the (load level, seed) pairs, so a verdict whose "
          "interval spans its bound was not resolved by this many runs.\n"]

    def agg(env, bal, col):
        return sum(mean([r[col] for r in rows if r["env"] == env and r["balancer"] == bal
                         and r["level"] == lv])
                   for lv in sorted({r["level"] for r in rows if r["env"] == env}))

    for env in sorted({r["env"] for r in rows}):
        bals = {r["balancer"] for r in rows if r["env"] == env}
        if "qlb" not in bals:
            continue
        if env.startswith("het"):
            for base in ["dlbqt", "lc"]:
                if base not in bals:
                    continue
                im = improvement(agg(env, base, "rt_mean_ms"), agg(env, "qlb", "rt_mean_ms"), True)
                ip = improvement(agg(env, base, "rt_p99_ms"), agg(env, "qlb", "rt_p99_ms"), True)
                ok = im >= 20 and ip >= 30
                md.append(f"- `{env}`: qlb vs {base}: mean response time {im:+.1f}% (target ≥ +20%; "
                          f"{resolved(paired_interval(rows, env, base, 'rt_mean_ms'), 20)}), "
                          f"p99 {ip:+.1f}% (target ≥ +30%; "
                          f"{resolved(paired_interval(rows, env, base, 'rt_p99_ms'), 30)}): "
                          f"**{'met' if ok else 'not met'}**")
        elif "lc" in bals:
            im = improvement(agg(env, "lc", "rt_mean_ms"), agg(env, "qlb", "rt_mean_ms"), True)
            md.append(f"- `{env}`: qlb vs lc: mean response time {im:+.1f}% (target ≥ −2%; "
                      f"{resolved(paired_interval(rows, env, 'lc', 'rt_mean_ms'), -2)}): "
                      f"**{'met' if im >= -2 else 'not met'}**")
    c = {x["balancer"]: x for x in cap}
    if "qlb" in c and "haproxy" in c:
        q, h = c["qlb"], c["haproxy"]
        ok = q["rps"] > h["rps"] and q["bal_cpu_us_per_req"] < h["bal_cpu_us_per_req"]
        md.append(f"- capacity: qlb {q['rps']:.0f} req/s vs HAProxy {h['rps']:.0f}; balancer CPU "
                  f"{q['bal_cpu_us_per_req']:.1f} vs {h['bal_cpu_us_per_req']:.1f} µs per request: "
                  f"**{'met' if ok else 'not met'}**")
    md.append("")
    return md


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def figures(root, rows, present):
    fig = os.path.join(root, "figures")
    os.makedirs(fig, exist_ok=True)
    made = []
    for env in sorted({r["env"] for r in rows}):
        levels = sorted({r["level"] for r in rows if r["env"] == env})
        dat = os.path.join(fig, f"{env}.dat")
        with open(dat, "w") as f:
            f.write("# balancer " + " ".join(f"{c}@{lv}" for c, *_ in METRICS for lv in levels) + "\n")
            for b in present:
                vals = [mean([r[c] for r in rows if r["env"] == env and r["balancer"] == b
                              and r["level"] == lv]) for c, *_ in METRICS for lv in levels]
                f.write(f"\"{b}\" " + " ".join("NaN" if math.isnan(v) else f"{v:.6g}"
                                               for v in vals) + "\n")
        for i, (col, title, _, _) in enumerate(METRICS):
            if col not in PAIRED or col in ("failed_pct", "rt_p50_ms"):
                continue
            png = os.path.join(fig, f"{col}-{env}.png")
            plots = ", ".join(
                f"'{dat}' using {2 + i * len(levels) + j}:xtic(1) title '{lv:,} requests'"
                for j, lv in enumerate(levels))
            gnuplot(f"""set terminal pngcairo size 900,420
set output '{png}'
set title '{title}, {ENV_TITLE[env[:-1]].lower()}, {env[-1]} servers'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left
set yrange [0:*]
plot {plots}
""")
            made.append(png)
        # Time series from the agent's history: qlb and dlbqt, first seed.
        for b in ["qlb", "dlbqt"]:
            hist = sorted(glob.glob(os.path.join(root, "runs", env, b, "seed*", "history.csv")))
            if not hist:
                continue
            with open(hist[0], newline="") as f:
                hrows = list(csv.DictReader(f))
            if not hrows:
                continue
            t0 = float(hrows[0]["ts"])
            backends = sorted({r["backend"] for r in hrows})
            series = os.path.join(fig, f"history-{env}-{b}.dat")
            with open(series, "w") as f:
                for be in backends:
                    f.write(f"# {be}\n")
                    for r in hrows:
                        if r["backend"] == be:
                            f.write(" ".join(str(x) for x in [
                                float(r["ts"]) - t0, r["lambda"] or "NaN", r["mu"] or "NaN",
                                r["rho"] or "NaN", r["weight"] or "NaN"]) + "\n")
                    f.write("\n\n")
            png = os.path.join(fig, f"history-{env}-{b}.png")
            panels = ""
            for col, name in [(2, "λ (req/s)"), (3, "μ̂ (req/s)"), (4, "ρ"), (5, "weight")]:
                lines = ", ".join(f"'{series}' index {k} using 1:{col} with lines lw 2 title '{be}'"
                                  for k, be in enumerate(backends))
                panels += f"set title '{name}'\nplot {lines}\n"
            gnuplot(f"""set terminal pngcairo size 1000,700
set output '{png}'
set multiplot layout 2,2 title "{b} on {env}: the agent's estimates per backend, per 1 s window"
set grid
set key top right
set xlabel 't (s)'
{panels}unset multiplot
""")
            made.append(png)
    return made


def main():
    if len(sys.argv) != 2:
        die("usage: report.py DIR")
    root = sys.argv[1]
    if not os.path.isfile(os.path.join(root, "meta.txt")):
        die(f"{root}: not an evaluation directory (no meta.txt)")
    meta = read_meta(root)
    try:
        rows = collect(root)
        cap = capacity(root)
    except (OSError, ValueError, KeyError) as e:
        die(f"{root}: {e}")
    if not rows:
        die(f"{root}: no runs")
    present = [b for b in BALANCERS if any(r["balancer"] == b for r in rows)]
    cols = list(rows[0].keys())
    with open(os.path.join(root, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    if cap:
        with open(os.path.join(root, "capacity.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(cap[0].keys()))
            w.writeheader()
            for r in cap:
                w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    made = figures(root, rows, present)

    md = ["# qlb evaluation report\n",
          f"Profile `{meta.get('profile')}`, commit `{meta.get('commit')}`, kernel {meta.get('kernel')}, "
          f"{meta.get('cpus')} CPUs, {meta.get('date')}. Seeds {meta.get('seeds')} (each replays "
          f"with `scripts/eval.sh --seeds S`), open-loop rate {meta.get('rate')} requests/s "
          f"(uniform inter-arrival times) from 4 clients, {meta.get('warmup_s')} s warm-up per "
          f"balancer and seed. Files (KB): {meta.get('files_kb')}.\n",
          "Cells are means over the seeds (± standard deviation when there are several). "
          "\"Improving\" rows apply the paper's Eq. (1) to the sums over the load levels: "
          "(other − new) / other for lower-is-better metrics, (new − other) / other for "
          "throughput; positive favours the row's algorithm. Balancer CPU is the XDP "
          "program's run time plus the agent process for qlb, the haproxy process for "
          "HAProxy, and not measurable for nftables (it runs in softirq).\n"]
    md += targets(rows, cap)
    for env in sorted({r["env"] for r in rows}, key=lambda e: (e[-1], e)):
        levels = sorted({r["level"] for r in rows if r["env"] == env})
        md += env_tables(rows, env, levels, [b for b in present
                                             if any(r["balancer"] == b and r["env"] == env for r in rows)])
    if cap:
        md.append("## Capacity: closed loop, 1 KB responses over new connections, 2 servers without quotas\n")
        md.append("| Balancer | Requests/s | Mbit/s | Errors | Host CPU (µs/request) | "
                  "Balancer CPU (µs/request) | XDP (ns/packet) |")
        md.append("|---|---|---|---|---|---|---|")
        for c in cap:
            md.append(f"| {c['balancer']} | {c['rps']:.0f} | {c['mbps']:.1f} | {c['errors']} | "
                      f"{fmt(c['host_cpu_us_per_req'], '{:.1f}')} | "
                      f"{fmt(c['bal_cpu_us_per_req'], '{:.2f}')} | {fmt(c['xdp_ns_per_pkt'], '{:.0f}')} |")
        md.append("")
    sim_md = os.path.join(root, "sim", "sim.md")
    if os.path.isfile(sim_md):
        md.append(open(sim_md).read())
    md.append("## Figures\n")
    md += [f"- [{os.path.basename(p)}](figures/{os.path.basename(p)})" for p in made]
    with open(os.path.join(root, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
