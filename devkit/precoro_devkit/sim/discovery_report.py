"""The discovery benchmark's table: per-approver polling and company discovery side by side.

The per-approver floor is the bound of `precoro_devkit.sim.report`: a round of polls of N approvers costs
N·c requests, so with B poll requests a day (the day window's limit, less its reserve, less the
day's interactive requests) no periodic per-approver poller has a mean delay under N·c/(2B).

Beside it, the floor for what the run actually spent (`precoro_devkit.sim.report.spent_floor`, the math in
`precoro_devkit.sim.floors`): for discovery alone, the R runs it sent that day (its list reads over the
document types) placed by the square-root law over the scenario's day profile, next to the same R
runs spaced evenly (86400/(2R), the round-robin way of timing them); with webhooks, the hint read
at Precoro's one request per second. "mean / floor" is the measured mean over that floor.
"""

from __future__ import annotations

import math
import statistics

from precoro_devkit.sim import floors
from precoro_devkit.sim.report import _quantile, bound_seconds, discovery_runs, duration, spent_floor
from precoro_devkit.sim.run import Result

HEADER = ("| scenario | source | requests/day (polls + clicks) | max in any hour | max in any 24 h | 429s | "
          "documents | mean delay | p95 delay | per-approver floor N·c/2B | discovery runs/day, hint reads/day | "
          "runs: √ floor / even spacing | floor, spent | mean / floor | not posted | posted twice |")


def runs_cells(r: Result) -> tuple[str, str]:
    """The discovery runs and hint reads of a day, and the runs' square-root floor against even spacing."""
    if r.scenario.source != "discovery":
        return "-", "-"
    runs = discovery_runs(r)
    root = floors.discovery_floor(floors.day_profile(r.scenario.work_share, r.scenario.work_hours), runs)
    return (f"{runs:.0f}, {r.hint_reads_day}",
            f"{duration(root)} / {duration(floors.uniform_discovery_mean(runs))}")


def table(results: list[Result]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        delays = sorted(r.delays)
        mean = statistics.fmean(delays) if delays else math.nan
        floor = spent_floor(r)
        runs, root = runs_cells(r)
        lines.append(
            f"| {r.scenario.name} | {r.scenario.source} | {r.requests_day} ({r.poll_day} + {r.interactive_day}) | "
            f"{r.max_hour} | {r.max_day} | {r.too_many} | {len(delays)} | {duration(mean)} | "
            f"{duration(_quantile(delays, 0.95))} | {duration(bound_seconds(r))} | {runs} | {root} | "
            f"{duration(floor)} | {mean / floor if floor > 0 else math.inf:.2f} | {r.unposted} | "
            f"{r.duplicate_posts} |")
    return "\n".join(lines)


def checks(results: list[Result]) -> list[str]:
    """Problems beyond the delays: 429s, documents lost or doubled, errors logged."""
    problems = []
    for r in results:
        name = f"{r.scenario.name} [{r.scenario.source}]"
        for what, n in (("429s", r.too_many), ("documents never posted", r.unposted),
                        ("documents posted twice", r.duplicate_posts), ("errors logged", len(r.errors))):
            if n:
                problems.append(f"{name}: {n} {what}")
    return problems
