"""Turn simulation results into the benchmark's table, with the bounds they are compared to.

The bound for periodic polling: an approver polled every T seconds sees a document that starts
waiting at a uniformly random moment of the interval after T / 2 on average. A round of polls
of N approvers costs N * c requests (c = one list read per document type); with B requests a day
for polls a round takes at least T = N * c / B days, so the mean delay of any periodic poller
with equal intervals is at least N * c / (2 * B) days. B is what the day window leaves polls
on the measured day: its limit, less its interactive reserve, less the interactive requests of
that day (clicks and their reads share the same window).

The oracle is the same argument with intervals free per approver and per hour: minimizing
sum(lambda_i * T_i / 2) under the budget gives T_i proportional to sqrt(c / (lambda_i * g(t)))
and a mean delay of c * (sum_i sqrt(lambda_i))^2 * (integral of sqrt(g))^2 / (2 * B * Lambda),
with the scenario's true rates lambda_i (sum Lambda) and daily profile g (integral 1). No
per-approver poller can beat it; it shows how much better than round robin is possible at all.

The floor for what a run *spent* (`spent_floor`) is the same oracle with B the poll requests the
run actually sent that day instead of its budget; for company discovery it is the square-root
allocation of the discovery runs it actually sent over the scenario's day profile, and with
webhooks the hint read at Precoro's one request per second. The math is `precoro_devkit.sim.floors`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from precoro_devkit.sim import floors
from precoro_devkit.sim.run import Result
from precoro_devkit.sim.scenario import DAY, Scenario, draw


@dataclass(frozen=True)
class Row:
    name: str
    approvers: int
    max_hour: int
    requests_day: int
    poll_day: int
    interactive_day: int
    too_many: int
    mean: float
    se: float
    p95: float
    rr_mean: float | None
    rr_p95: float | None
    rr_too_many: int | None
    bound: float
    oracle: float
    click_p99: float | None
    click_first_p99: float | None
    click_poll_p99: float | None  # wait for a poll request already sent when the click came
    click_poll_max: float | None
    clicks_behind_polls: int  # clicks that waited for one at all
    clicks: int
    overtaken: int
    unposted: int
    duplicate_posts: int
    ledger_missing: int
    errors: int
    restarts: int
    wall: float
    floor: float = math.nan  # the least mean possible with what this run spent (`spent_floor`)
    rr_floor: float | None = None  # the same for the round-robin run's own spend

    @property
    def vs_bound(self) -> float:
        return self.mean / self.bound if self.bound > 0 else math.inf

    @property
    def vs_floor(self) -> float:
        return self.mean / self.floor if self.floor > 0 else math.inf

    @property
    def rr_vs_floor(self) -> float | None:
        return self.rr_mean / self.rr_floor if self.rr_mean is not None and self.rr_floor else None

    @property
    def rr_gain(self) -> float | None:
        return self.rr_mean / self.mean if self.rr_mean is not None and self.mean > 0 else None


def poll_budget(result: Result) -> float:
    """B of the bound: the day window's limit less its reserve less the day's interactive use."""
    day = max(result.config.company(_company(result)).quota.windows, key=lambda w: w.seconds)
    return (day.limit - day.reserve) * DAY / day.seconds - result.interactive_day


def bound_seconds(result: Result) -> float:
    s = result.scenario
    return floors.equal_interval_bound(s.approvers, len(s.document_types), poll_budget(result))


def day_profile(s: Scenario) -> list[float]:
    """The share of a day's documents in each UTC hour (the scenario's true profile)."""
    return floors.day_profile(s.work_share, s.work_hours)


def oracle_seconds(result: Result, requests_per_day: float | None = None) -> float:
    """(Σ√λᵢ)²/(2BΛ) times the day profile's factor, with the scenario's true rates; B from the poll
    budget (default) or from `requests_per_day` poll requests."""
    s = result.scenario
    spend = poll_budget(result) if requests_per_day is None else requests_per_day
    return floors.per_approver_floor(draw(s).shares, floors.polls_per_second(spend, len(s.document_types)),
                                     floors.profile_factor(day_profile(s)))


def discovery_runs(result: Result) -> float:
    """Discovery runs per measured day: its list reads over the document types (a run reads each)."""
    return result.discovery_reads_day / len(result.scenario.document_types)


def spent_floor(result: Result) -> float:
    """The least mean delay possible with what this run spent: with webhooks the hint read at one
    request per second; with discovery alone the square-root allocation of its runs over the day;
    per approver the oracle with B the poll requests it sent."""
    s = result.scenario
    if s.source == "discovery":
        if s.webhooks:
            return floors.webhook_floor()
        return floors.discovery_floor(day_profile(s), discovery_runs(result))
    return oracle_seconds(result, result.poll_day)


def row(ours: Result, rr: Result | None = None) -> Row:
    delays = sorted(ours.delays)
    mean = statistics.fmean(delays) if delays else math.nan
    se = statistics.stdev(delays) / math.sqrt(len(delays)) if len(delays) > 1 else math.nan
    rr_delays = sorted(rr.delays) if rr is not None else []
    return Row(
        name=ours.scenario.name, approvers=ours.scenario.approvers, max_hour=ours.max_hour,
        requests_day=ours.requests_day, poll_day=ours.poll_day, interactive_day=ours.interactive_day,
        too_many=ours.too_many, mean=mean, se=se, p95=_quantile(delays, 0.95),
        rr_mean=statistics.fmean(rr_delays) if rr_delays else None,
        rr_p95=_quantile(rr_delays, 0.95) if rr_delays else None,
        rr_too_many=rr.too_many if rr is not None else None,
        bound=bound_seconds(ours), oracle=oracle_seconds(ours),
        click_p99=_quantile(sorted(ours.click_waits), 0.99) if ours.click_waits else None,
        click_first_p99=_quantile(sorted(ours.click_first_waits), 0.99) if ours.click_first_waits else None,
        click_poll_p99=_quantile(sorted(ours.click_poll_waits), 0.99) if ours.click_poll_waits else None,
        click_poll_max=max(ours.click_poll_waits) if ours.click_poll_waits else None,
        clicks_behind_polls=sum(1 for w in ours.click_poll_waits if w > 0),
        clicks=len(ours.click_waits), overtaken=ours.overtaken_clicks, unposted=ours.unposted,
        duplicate_posts=ours.duplicate_posts, ledger_missing=ours.ledger_missing, errors=len(ours.errors),
        restarts=ours.restarts, wall=ours.wall_seconds + (rr.wall_seconds if rr is not None else 0.0),
        floor=spent_floor(ours), rr_floor=spent_floor(rr) if rr is not None else None,
    )


HEADER = ("| scenario | requests: max/h, day (polls + clicks) | 429s (RR) | mean delay ± SE | p95 | "
          "round robin mean / p95 | bound N·c/2B | oracle | mean / bound | floor, spent (RR's) | "
          "mean / floor (RR's) | RR / ours | "
          "clicks: → POST p99, → first request p99 | behind a poll already sent: clicks, p99, max | "
          "polls overtaking a click |")


def table(rows: list[Row]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        rr = f"{duration(r.rr_mean)} / {duration(r.rr_p95)}" if r.rr_mean is not None else "-"
        gain = f"{r.rr_gain:.2f}x" if r.rr_gain is not None else "-"
        floor = f"{duration(r.floor)} ({duration(r.rr_floor)})" if r.rr_floor is not None else duration(r.floor)
        vs_floor = (f"{r.vs_floor:.2f} ({r.rr_vs_floor:.2f})" if r.rr_vs_floor is not None
                    else f"{r.vs_floor:.2f}")
        clicks = (f"{r.clicks}: {r.click_p99:.1f} s, {r.click_first_p99:.1f} s"
                  if r.click_p99 is not None and r.click_first_p99 is not None else "-")
        behind = (f"{r.clicks_behind_polls}, {r.click_poll_p99:.2f} s, {r.click_poll_max:.2f} s"
                  if r.click_poll_p99 is not None and r.click_poll_max is not None else "-")
        lines.append(
            f"| {r.name} | {r.max_hour}, {r.requests_day} ({r.poll_day} + {r.interactive_day}) | "
            f"{r.too_many} ({r.rr_too_many if r.rr_too_many is not None else '-'}) | "
            f"{duration(r.mean)} ± {duration(r.se)} | {duration(r.p95)} | {rr} | {duration(r.bound)} | "
            f"{duration(r.oracle)} | {r.vs_bound:.2f} | {floor} | {vs_floor} | {gain} | {clicks} | {behind} | "
            f"{r.overtaken} |"
        )
    return "\n".join(lines)


def checks(rows: list[Row]) -> list[str]:
    """What went wrong beyond the delays: each line a problem (none: all clean)."""
    problems = []
    for r in rows:
        for what, n in (("429s", r.too_many), ("429s (round robin)", r.rr_too_many or 0),
                        ("documents never posted", r.unposted), ("documents posted twice", r.duplicate_posts),
                        ("requests missing from the ledger", r.ledger_missing), ("errors logged", r.errors),
                        ("clicks overtaken by polls", r.overtaken)):
            if n:
                problems.append(f"{r.name}: {n} {what}")
    return problems


def duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _company(result: Result) -> str:
    return result.config.companies[0].id


__all__ = ["Row", "Scenario", "bound_seconds", "checks", "discovery_runs", "oracle_seconds", "row",
           "spent_floor", "table"]
