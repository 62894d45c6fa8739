"""A simulated day with another integration on the company's Precoro quota (issue 14).

    PYTHONPATH=. .venv/bin/python bench/shared_quota.py --seeds 1 2 3 --jobs 2

Each seed runs the same company twice with `quota.share` 0.8: alone, and with an ERP sync that
sends steady Poisson requests plus bursts on the same company quota (the emulator counts both in
the same windows). Prints a Markdown table: clicks lost, click-to-POST p99, the bot's own 429s in
the measured day by kind, the 429s it counted as the other integration's use, and the detection
delay (document waiting -> Slack message) with and without the other integration.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from precoro_devkit.sim.run import Result, simulate
from precoro_devkit.sim.scenario import Scenario


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _min(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--approvers", type=int, default=50)
    p.add_argument("--share", type=float, default=0.8)
    p.add_argument("--outside-per-second", type=float, default=0.005, help="steady rate of the other integration")
    p.add_argument("--outside-burst", type=int, default=20, help="requests per burst")
    p.add_argument("--burst-every-hours", type=float, default=4.0)
    p.add_argument("--windows", choices=("sliding", "fixed", "anchored"), default="sliding",
                   help="how the emulated Precoro counts its minute/hour/day windows "
                        "(devkit/precoro_devkit/emulator/precoro.py)")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(argv)
    base = Scenario(f"skewed N={args.approvers}", args.approvers, zipf=1.0, work_share=0.9, share=args.share,
                    window_mode=args.windows)
    runs = []
    for seed in args.seeds:
        alone = dataclasses.replace(base, seed=seed)
        shared = dataclasses.replace(alone, outside_per_second=args.outside_per_second,
                                     outside_burst=args.outside_burst,
                                     outside_burst_every_hours=args.burst_every_hours)
        runs += [alone, shared]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results: list[Result] = list(pool.map(simulate, runs))
    print(f"share {args.share}, {args.approvers} approvers (skewed), other integration: "
          f"{args.outside_per_second:g} request/s steady + {args.outside_burst} every {args.burst_every_hours:g} h\n")
    print("| seed | other integration: requests/day, its 429s | bot's own 429s (kind) | counted as outside use | "
          "clicks, lost | click → POST p99 | mean delay alone → shared | p95 alone → shared |")
    print("|---|---|---|---|---|---|---|---|")
    problems = []
    for alone, shared in zip(results[::2], results[1::2], strict=True):
        own = sum(shared.own_too_many.values())
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(shared.own_too_many.items())) or "-"
        print(f"| {shared.scenario.seed} | {shared.outside_requests}, {shared.outside_too_many} | {own} ({kinds}) | "
              f"{shared.outside_learned} | {len(shared.click_waits) + shared.clicks_lost}, {shared.clicks_lost} | "
              f"{_q(shared.click_waits, 0.99):.1f} s | {_min(statistics.fmean(alone.delays))} → "
              f"{_min(statistics.fmean(shared.delays))} | {_min(_q(alone.delays, 0.95))} → "
              f"{_min(_q(shared.delays, 0.95))} |")
        if shared.clicks_lost or alone.clicks_lost:
            problems.append(f"seed {shared.scenario.seed}: clicks lost")
        if shared.unposted or shared.duplicate_posts:
            problems.append(f"seed {shared.scenario.seed}: {shared.unposted} unposted, "
                            f"{shared.duplicate_posts} posted twice")
        problems += [f"seed {shared.scenario.seed}: error logged: {e}" for e in shared.errors[:3]]
    for line in problems:
        print(f"problem: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
