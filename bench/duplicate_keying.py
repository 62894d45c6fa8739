"""Discovery in each reading of "identical GET" (issue 15), over several seeds.

    .venv/bin/python bench/duplicate_keying.py --approvers 50 --seeds 1 2 3 --warmup-days 0.5 --jobs 2

The emulator keys duplicate GETs by token + URL, company + URL or route (path, any query) and the
bot's config (`quota.duplicate_keying`) names the same reading. Prints one line per run and, per
reading, the 429s and the detection delay (mean and p95, their spread over the seeds); exits 1 on
a 429, a document not posted or posted twice.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from precoro_devkit.sim.report import duration
from precoro_devkit.sim.run import Result, simulate
from precoro_devkit.sim.scenario import Scenario

READINGS = ("token", "company", "route")


def p95(values: list[float]) -> float:
    ordered = sorted(values)  # the same quantile as devkit/precoro_devkit/sim/report.py
    return ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))] if ordered else math.nan


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--approvers", type=int, default=50)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--warmup-days", type=float, default=0.5)
    p.add_argument("--days", type=float, default=1.0, help="measured days")
    p.add_argument("--webhooks", action="store_true")
    p.add_argument("--jobs", type=int, default=1)
    args = p.parse_args(argv)
    runs = [Scenario(f"N={args.approvers} {k}", args.approvers, docs_per_day=200.0, work_share=0.9, steps=2,
                     source="discovery", warmup_days=args.warmup_days, days=args.days, seed=seed, duplicate_keying=k,
                     webhooks=args.webhooks) for k in READINGS for seed in args.seeds]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results: list[Result] = list(pool.map(simulate, runs))
    bad = 0
    print("| reading | seed | 429s | documents | mean delay | p95 delay | not posted | posted twice |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        bad += r.too_many + r.unposted + r.duplicate_posts
        print(f"| {r.scenario.keying} | {r.scenario.seed} | {r.too_many} | {len(r.delays)} | "
              f"{duration(statistics.fmean(r.delays))} | {duration(p95(r.delays))} | {r.unposted} | "
              f"{r.duplicate_posts} |")
    print()
    for k in READINGS:
        mine = [r for r in results if r.scenario.keying == k]
        means = [statistics.fmean(r.delays) for r in mine]
        tails = [p95(r.delays) for r in mine]
        print(f"{k}: 429s {sum(r.too_many for r in mine)}; mean {min(means):.0f}-{max(means):.0f} s "
              f"(median {statistics.median(means):.0f} s); p95 {min(tails):.0f}-{max(tails):.0f} s "
              f"(median {statistics.median(tails):.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
