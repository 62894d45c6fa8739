"""The discovery benchmark's table: per-approver polling and company discovery side by side.

The floor is the per-approver bound of `precoro_devkit.sim.report`: a round of polls of N approvers costs
N·c requests, so with B poll requests a day (the day window's limit, less its reserve, less the
day's interactive requests) no periodic per-approver poller has a mean delay under N·c/(2B).
"""

from __future__ import annotations

import math
import statistics

from precoro_devkit.sim.report import _quantile, bound_seconds, duration
from precoro_devkit.sim.run import Result

HEADER = ("| scenario | source | requests/day (polls + clicks) | max in any hour | max in any 24 h | 429s | "
          "documents | mean delay | p95 delay | per-approver floor N·c/2B | not posted | posted twice |")


def table(results: list[Result]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        delays = sorted(r.delays)
        mean = statistics.fmean(delays) if delays else math.nan
        lines.append(
            f"| {r.scenario.name} | {r.scenario.source} | {r.requests_day} ({r.poll_day} + {r.interactive_day}) | "
            f"{r.max_hour} | {r.max_day} | {r.too_many} | {len(delays)} | {duration(mean)} | "
            f"{duration(_quantile(delays, 0.95))} | {duration(bound_seconds(r))} | {r.unposted} | "
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
