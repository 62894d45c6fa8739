"""Issue 15's table: detection delay and the planner against round robin, over several seeds.

    .venv/bin/python bench/seeds.py --part detection --seeds 1 2 3 4 5 --jobs 2
    .venv/bin/python bench/seeds.py --part skewed --sizes 50 200 500 --seeds 1 2 3 4 5 --jobs 2

`detection`: company discovery at N = 500 (200 documents a day, 90% in working hours, two-step
chains; bench/README.md §2), with Precoro's webhooks and without. `skewed`: per-approver polling
with Zipf rates (§1), the adaptive planner and the round-robin baseline on the same seed. One line
per run, then per scenario the median and the spread (min-max) over the seeds. The bound N·c/(2B)
is given with B as the benchmark counts it (3,000 less the day window's reserve of 200, less that
day's interactive requests) and with B = 3,000 less that day's interactive requests.

Every run also gets the floor for what it actually spent (`precoro_devkit.sim.report.spent_floor`, the math
in `precoro_devkit.sim.floors`) and its mean over that floor: skewed polling, the oracle (Σ√λᵢ)²/(2BΛ) times
the day profile's factor with B the poll requests the run sent (round robin's against its own
spend); discovery alone, the runs it sent placed by the square-root law over the day profile
(beside the same runs spaced evenly, 86400/(2R)); with webhooks, the hint read at one request per
second. `--load DIR` prints the tables of runs saved with `--save DIR` (pickled results).
Exits 1 on a 429, a document never posted or posted twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pickle
import statistics
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from precoro_devkit.sim import floors
from precoro_devkit.sim.report import _quantile, bound_seconds, day_profile, discovery_runs, duration, spent_floor
from precoro_devkit.sim.run import Result, simulate
from precoro_devkit.sim.scenario import Scenario


def mean(r: Result) -> float:
    return statistics.fmean(r.delays)


def p95(r: Result) -> float:
    return _quantile(sorted(r.delays), 0.95)


def p99(r: Result) -> float:
    return _quantile(sorted(r.delays), 0.99)


def spread(values: Sequence[float], fmt: Callable[[float], str] = duration) -> str:
    """Median [min-max] over the seeds ("-" for none)."""
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}-{fmt(max(values))}]"


def ratio(x: float) -> str:
    return f"{x:.2f}x"


def two(x: float) -> str:
    return f"{x:.2f}"


def problems(r: Result) -> int:
    return r.too_many + r.unposted + r.duplicate_posts


def detection_runs(seeds: list[int], warmup: float | None, keying: str | None,
                   sources: Sequence[str] = ("webhooks", "discovery")) -> list[Scenario]:
    base = Scenario("N=500", 500, docs_per_day=200.0, work_share=0.9, steps=2, source="discovery")
    extra = {k: v for k, v in (("warmup_days", warmup), ("duplicate_keying", keying)) if v is not None}
    return [dataclasses.replace(base, name=name, webhooks=hooks, seed=seed, **extra)
            for name, hooks in (("N=500 webhooks", True), ("N=500 discovery", False))
            if name.split()[-1] in sources for seed in seeds]


def skewed_runs(sizes: list[int], seeds: list[int], warmup: float | None) -> list[Scenario]:
    extra = {"warmup_days": warmup} if warmup is not None else {}
    return [dataclasses.replace(Scenario(f"skewed N={n}", n, zipf=1.0, work_share=0.9, seed=seed, **extra),
                                policy=policy)
            for n in sizes for seed in seeds for policy in ("adaptive", "round_robin")]


def recorded(r: Result, name: str) -> str:
    """A count the run recorded, or "-" for a result saved before the count existed."""
    return str(vars(r)[name]) if name in vars(r) else "-"


def runs_floor(r: Result) -> str:
    """Discovery runs a day (list reads over the types), their square-root floor / even spacing."""
    if "discovery_reads_day" not in vars(r):
        return "-"
    runs = discovery_runs(r)
    if runs <= 0:
        return "-"
    return (f"{runs:.0f}: {duration(floors.discovery_floor(day_profile(r.scenario), runs))} / "
            f"{duration(floors.uniform_discovery_mean(runs))}")


def print_detection(results: list[Result]) -> None:
    print("| scenario | seed | 429s | requests/day (polls + clicks) | documents | mean | p95 | p99 | "
          "runs/day: √ floor / even | hint reads/day | floor, spent | mean / floor | not posted | twice |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        floor = spent_floor(r)
        print(f"| {r.scenario.name} | {r.scenario.seed} | {r.too_many} | {r.requests_day} "
              f"({r.poll_day} + {r.interactive_day}) | {len(r.delays)} | {duration(mean(r))} | "
              f"{duration(p95(r))} | {duration(p99(r))} | {runs_floor(r)} | {recorded(r, 'hint_reads_day')} | "
              f"{duration(floor)} | {over_floor(r)} | {r.unposted} | {r.duplicate_posts} |")
    print("\n| scenario | seeds | 429s | mean: median [min-max] | p95: median [min-max] | p99: median [min-max] | "
          "mean / floor: median [min-max] |")
    print("|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r.scenario.name for r in results):
        mine = [r for r in results if r.scenario.name == name]
        print(f"| {name} | {len(mine)} | {sum(r.too_many for r in mine)} | {spread([mean(r) for r in mine])} | "
              f"{spread([p95(r) for r in mine])} | {spread([p99(r) for r in mine])} | "
              f"{spread([mean(r) / f for r in mine if math.isfinite(f := spent_floor(r))], lambda x: f'{x:.2f}')} |")


def over_floor(r: Result) -> str:
    """The mean over the floor for what the run spent; "-" where no floor is known (a result
    saved before runs were counted, or a run that spent nothing of the kind)."""
    floor = spent_floor(r)
    return f"{mean(r) / floor:.2f}" if math.isfinite(floor) and floor > 0 else "-"


def full_day_bound(r: Result) -> float:
    """N·c/(2B) with B = the day window's whole limit less the day's interactive requests."""
    s = r.scenario
    day = max(r.config.companies[0].quota.windows, key=lambda w: w.seconds)
    return s.approvers * len(s.document_types) / (2 * (day.limit - r.interactive_day)) * 86400.0


def print_skewed(results: list[Result]) -> None:
    pairs: dict[tuple[str, int], dict[str, Result]] = {}
    for r in results:
        pairs.setdefault((r.scenario.name, r.scenario.seed), {})[r.scenario.policy] = r
    print("| scenario | seed | 429s (RR) | ours mean / p95 | round robin mean / p95 | RR / ours (mean) | "
          "p95 ours / RR | bound, B less reserve | bound, B = 3,000 less clicks | mean / bound | "
          "floor, spent: ours (RR's) | mean / floor: ours (RR) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, seed), pair in pairs.items():
        ours, rr = pair["adaptive"], pair["round_robin"]
        print(f"| {name} | {seed} | {ours.too_many} ({rr.too_many}) | {duration(mean(ours))} / {duration(p95(ours))} "
              f"| {duration(mean(rr))} / {duration(p95(rr))} | {mean(rr) / mean(ours):.2f}x | "
              f"{p95(ours) / p95(rr):.2f} | {duration(bound_seconds(ours))} | {duration(full_day_bound(ours))} | "
              f"{mean(ours) / bound_seconds(ours):.2f} | {duration(spent_floor(ours))} ({duration(spent_floor(rr))}) | "
              f"{mean(ours) / spent_floor(ours):.2f} ({mean(rr) / spent_floor(rr):.2f}) |")
    print("\n| scenario | seeds | 429s ours + RR | RR / ours (mean) | p95 ours / RR | ours mean | ours p95 | "
          "RR p95 | mean / floor: ours | RR |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(name for name, _ in pairs):
        mine = [pair for (n, _), pair in pairs.items() if n == name]
        gains = [mean(p["round_robin"]) / mean(p["adaptive"]) for p in mine]
        tails = [p95(p["adaptive"]) / p95(p["round_robin"]) for p in mine]
        print(f"| {name} | {len(mine)} | {sum(p['adaptive'].too_many + p['round_robin'].too_many for p in mine)} | "
              f"{spread(gains, ratio)} | {spread(tails, lambda x: f'{x:.2f}')} | "
              f"{spread([mean(p['adaptive']) for p in mine])} | {spread([p95(p['adaptive']) for p in mine])} | "
              f"{spread([p95(p['round_robin']) for p in mine])} | "
              f"{spread([mean(p['adaptive']) / spent_floor(p['adaptive']) for p in mine], two)} | "
              f"{spread([mean(p['round_robin']) / spent_floor(p['round_robin']) for p in mine], two)} |")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("detection", "skewed"), required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500], help="skewed: approvers")
    p.add_argument("--warmup-days", type=float, help="days simulated before the measured one (default: 2)")
    p.add_argument("--duplicate-keying", choices=("token", "company", "route"), help="detection: the reading")
    p.add_argument("--sources", choices=("webhooks", "discovery"), nargs="+", default=["webhooks", "discovery"],
                   help="detection: with Precoro's webhooks, with discovery alone, or both")
    p.add_argument("--windows", choices=("sliding", "fixed", "anchored"), default="sliding",
                   help="how the emulated Precoro counts its minute/hour/day windows "
                        "(devkit/precoro_devkit/emulator/precoro.py)")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--save", type=Path, metavar="DIR", help="also pickle each run's result into DIR")
    p.add_argument("--load", type=Path, nargs="+", metavar="PATH",
                   help="print the tables of pickled results (files or directories) instead of running")
    args = p.parse_args(argv)
    if args.load:
        files = sorted(f for path in args.load for f in (path.glob("*.pkl") if path.is_dir() else [path]))
        loaded = [pickle.loads(f.read_bytes()) for f in files]
        loaded.sort(key=lambda r: (r.scenario.name, r.scenario.seed))
        (print_detection if args.part == "detection" else print_skewed)(loaded)
        return 1 if any(problems(r) for r in loaded) else 0
    runs = (detection_runs(args.seeds, args.warmup_days, args.duplicate_keying, args.sources)
            if args.part == "detection"
            else skewed_runs(args.sizes, args.seeds, args.warmup_days))
    runs = [dataclasses.replace(r, window_mode=args.windows) for r in runs]
    results: list[Result] = []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for r in pool.map(simulate, runs):
            results.append(r)
            if args.save is not None:
                args.save.mkdir(parents=True, exist_ok=True)
                name = f"{r.scenario.name}-{r.scenario.policy}-{r.scenario.seed}".replace(" ", "_").replace("=", "")
                (args.save / f"{name}.pkl").write_bytes(pickle.dumps(r))
            print(f"{r.scenario.name} [{r.scenario.policy}] seed {r.scenario.seed}: {len(r.delays)} documents, "
                  f"mean {duration(mean(r))}, p95 {duration(p95(r))}, {r.too_many} 429s, {r.wall_seconds:.0f} s wall",
                  file=sys.stderr, flush=True)
    (print_detection if args.part == "detection" else print_skewed)(results)
    return 1 if any(problems(r) for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
