#!/usr/bin/env python3
"""The simulator robustness table: qlb against lc (and dlbqt) on every
scenario of the grid, over seeds, each scenario's runs sharing their
arrivals and request sizes across policies (`qlb sim` runs them on one
stream).

  scripts/sim-robust.py [--seeds 1-10] [--requests N] [--jobs N]
                        [--qlb PATH] [--csv FILE] [--sim-args "ARGS"]

--sim-args are passed to every `qlb sim` (e.g. "--refused-hold 0", the
model without the data path's refusal hold).

Grid: speeds 1:2:4:8 (four backends), 10:1 and 3:1 (two); loads 0.5, 0.7,
0.9; Poisson and on/off arrivals; exponential and Pareto service; with and
without a CPU reading. Prints one markdown row per scenario: qlb's mean over
lc's (the mean of the seeds' ratios, and the worst seed), qlb's and lc's
loss (means over the seeds), the seeds where qlb lost more than lc, dlbqt's
mean over lc's, and a verdict against the targets: qlb's mean at most 2 %
above lc's, and its loss at most lc's plus 0.01 percentage points (both over
the seeds). Exit 0 when every scenario passes, 1 otherwise, 2 on bad
arguments.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import subprocess
import sys

SPEEDS = [("1:2:4:8", 4), ("10:1", 2), ("3:1", 2)]
LOADS = [0.5, 0.7, 0.9]
ARRIVALS = ["poisson", "onoff"]
SERVICES = ["exp", "pareto"]
CPU = [True, False]
POLICIES = "lc,qlb,dlbqt"
MEAN_SLACK = 1.02
LOSS_SLACK = 1e-4


def bad(msg):
    print(f"sim-robust: {msg}", file=sys.stderr)
    sys.exit(2)


def seeds_of(spec):
    try:
        if "-" in spec:
            lo, hi = (int(x) for x in spec.split("-", 1))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in spec.split(",")]
    except ValueError:
        bad(f"--seeds '{spec}': want A-B or a comma-separated list")
    if not seeds or min(seeds) < 0:
        bad(f"--seeds '{spec}': no seeds")
    return seeds


def run(qlb, requests, extra, scen, seed):
    ratio, n, load, arr, svc, cpu = scen
    cmd = [qlb, "sim", "--json", "--policy", POLICIES, "--backends", str(n),
           "--mu-ratio", ratio, "--load", str(load), "--arrivals", arr,
           "--service", svc, "--requests", str(requests), "--seed", str(seed)]
    if not cpu:
        cmd.append("--no-cpu")
    cmd += extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return {r["policy"]: r for r in json.loads(out)["results"]}


def main():
    ap = argparse.ArgumentParser(add_help=True)
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--requests", type=int, default=1000000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--qlb", default=os.environ.get("QLB", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "build", "qlb")))
    ap.add_argument("--csv")
    ap.add_argument("--sim-args", default="")
    args = ap.parse_args()
    seeds = seeds_of(args.seeds)
    if args.requests < 1000:
        bad("--requests: at least 1000")
    if args.jobs < 1:
        bad("--jobs: at least 1")
    if not os.access(args.qlb, os.X_OK):
        bad(f"--qlb '{args.qlb}': not an executable")

    grid = [(r, n, l, a, s, c) for (r, n) in SPEEDS for l in LOADS for a in ARRIVALS
            for s in SERVICES for c in CPU]
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as ex:
        for scen in grid:
            for seed in seeds:
                jobs[(scen, seed)] = ex.submit(run, args.qlb, args.requests,
                                             args.sim_args.split(), scen, seed)
        try:
            res = {k: f.result() for k, f in jobs.items()}
        except subprocess.CalledProcessError as e:
            print(f"sim-robust: {' '.join(e.cmd)}: {e.stderr.strip()}", file=sys.stderr)
            return 1

    rows, failed = [], 0
    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["speeds", "load", "arrivals", "service", "cpu", "seed", "policy",
                        "mean_s", "p99_s", "loss"])
            for (scen, seed), r in sorted(res.items()):
                for pol, x in r.items():
                    w.writerow([scen[0], scen[2], scen[3], scen[4], int(scen[5]), seed, pol,
                                x["mean_s"], x["p99_s"], x["loss"]])
    print("| speeds | load | arrivals | service | cpu | qlb/lc mean (worst seed) "
          "| qlb loss % | lc loss % | seeds qlb lost more | dlbqt/lc mean | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for scen in grid:
        ratios, dl, ql, ll, why, more = [], [], [], [], [], 0
        for seed in seeds:
            r = res[(scen, seed)]
            q, lc, d = r["qlb"], r["lc"], r["dlbqt"]
            ratios.append(q["mean_s"] / lc["mean_s"])
            dl.append(d["mean_s"] / lc["mean_s"])
            ql.append(q["loss"])
            ll.append(lc["loss"])
            more += q["loss"] > lc["loss"]
        mean_ratio = sum(ratios) / len(ratios)
        if mean_ratio > MEAN_SLACK:
            why.append("mean")
        if sum(ql) / len(ql) > sum(ll) / len(ll) + LOSS_SLACK:
            why.append("loss")
        failed += bool(why)
        verdict = "ok" if not why else "FAIL (" + ", ".join(why) + ")"
        print(f"| {scen[0]} | {scen[2]} | {scen[3]} | {scen[4]} | {'yes' if scen[5] else 'no'} "
              f"| {mean_ratio:.3f} ({max(ratios):.3f}) | {100 * sum(ql) / len(ql):.2f} "
              f"| {100 * sum(ll) / len(ll):.2f} | {more} of {len(seeds)} "
              f"| {sum(dl) / len(dl):.2f} | {verdict} |")
    print(f"\n{len(grid) - failed} of {len(grid)} scenarios pass, seeds {args.seeds}, "
          f"{args.requests} requests a run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
