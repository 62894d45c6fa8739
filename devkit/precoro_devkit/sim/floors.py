"""Floors: the least mean delay any scheduler could reach with what a run actually spent. Pure.

Each floor answers "given the requests this run spent, how soon could a document have been seen
at best?", so a measured mean can be read as a ratio to what is possible, next to round robin.
Times are in seconds, rates per second unless a name says otherwise.

**Why T / 2.** A document that starts waiting at a uniformly random moment of an interval of
length T between two reads is seen after T / 2 on average. Every floor below is that, weighted by
where the documents arrive and minimised over how the reads are spread.

**Discovery runs over the day profile** (`discovery_floor`). One run (a list read per document
type) sees every approver's new documents at once, so the only choice is *when* the R runs of a
day fall. Split the day into hours h = 0..23 with arrival rates λ_h (documents per hour, any
scale: only the shares p_h = λ_h / Σλ matter) and give hour h r_h runs, so T_h = 3600 / r_h s.
The mean delay is

    D = Σ_h λ_h · (T_h / 2) / Σ_h λ_h = 1800 · Σ_h p_h / r_h            (seconds)

to be minimised under Σ_h r_h = R. Lagrange: ∂/∂r_h gives p_h / r_h² = μ, so r_h ∝ √p_h (runs
per hour ∝ √(arrival rate)): r_h = R · √p_h / Σ_k √p_k, and

    D* = 1800 · (Σ_h √p_h)² / R = (86400 / (2R)) · (Σ_h √p_h)² / 24.

The factor (Σ √p_h)² / 24 (`profile_factor`) is 1 for a flat day and less otherwise
(Cauchy-Schwarz: (Σ √p_h)² ≤ 24 · Σ p_h), so the square-root allocation never loses to spacing
the same R runs evenly, whose mean is 86400 / (2R) (`uniform_discovery_mean`). With 90% of the
documents in eight hours, p = 0.1125 for those hours and 0.00625 for the other sixteen:
(8·√0.1125 + 16·√0.00625)² ≈ 15.6, so D* ≈ 28,000 / R s (the issue's figure). A cap on runs per
hour (the bot spaces timed runs a duplicate window apart, at most 60 an hour) only raises the
floor: the capped hours keep the cap and the rest share what is left, again ∝ √p_h
(`max_runs_per_hour`). The floor is for the runs; a document found by a run is also posted a
tick later, which no floor here counts.

**Per-approver polling** (`per_approver_floor`). Approver i (arrival rate λ_i documents/s,
Λ = Σ λ_i) polled every T_i s costs c requests a poll; with P requests/s for polls, B = P / c
polls/s, the budget is Σ 1 / T_i = B. Minimising Σ λ_i T_i / 2 / Λ under it gives T_i ∝ 1/√λ_i
and the mean

    D* = (Σ_i √λ_i)² / (2 · B · Λ)                                     (seconds)

Units: (Σ √λ)² and Λ are both 1/s, so their ratio is a pure number; over B (1/s) that is seconds.
Equal rates give N / (2B) = N · c / (2P), the equal-interval bound of `precoro_devkit.sim.report`. With a
day profile the per-hour freedom multiplies it by `profile_factor` (the same Lagrange argument
over hours), which is the oracle of `precoro_devkit.sim.report`.

**Webhooks** (`webhook_floor`). A webhook names the document, so the bot needs only the hint's
reads; Precoro takes one request per second per company, so the floor is that read's second
(reads per hint / 1 req/s). Nothing polled can go below it; a read that finds its second free is
done sooner, so this floor is approximate, not strict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DAY = 86400.0
HOUR = 3600.0


def day_profile(work_share: float | None, work_hours: tuple[float, float] = (9.0, 17.0)) -> list[float]:
    """The share of a day's documents arriving in each UTC hour 0..23: `work_share` of them spread
    evenly over the working hours, the rest evenly over the others (None: a flat day)."""
    if work_share is None:
        return [1.0 / 24] * 24
    start, end = work_hours
    work = end - start
    if work <= 0 or work >= 24:
        return [1.0 / 24] * 24
    shares = []
    for h in range(24):
        inside = max(0.0, min(h + 1.0, end) - max(float(h), start))
        shares.append(work_share * inside / work + (1.0 - work_share) * (1.0 - inside) / (24 - work))
    return shares


def profile_factor(rates_by_hour: Sequence[float]) -> float:
    """(Σ √p_h)² / 24 with p_h the hours' shares: how much an allocation free per hour gains over an
    even one (1 for a flat day, less for a peaked one)."""
    total = sum(rates_by_hour)
    if total <= 0:
        return 1.0
    return sum(math.sqrt(x / total) for x in rates_by_hour) ** 2 / len(rates_by_hour)


def sqrt_allocation(rates_by_hour: Sequence[float], runs_per_day: float,
                    max_runs_per_hour: float | None = None) -> list[float]:
    """Runs per hour that minimise the mean delay: ∝ √(arrival rate), hours at the cap keep the cap
    and the others share the rest (water-filling)."""
    roots = [math.sqrt(max(0.0, x)) for x in rates_by_hour]
    if runs_per_day <= 0 or sum(roots) <= 0:
        return [0.0] * len(roots)
    if max_runs_per_hour is not None and runs_per_day >= max_runs_per_hour * len(roots):
        return [float(max_runs_per_hour)] * len(roots)
    capped: set[int] = set()
    while True:
        left = runs_per_day - len(capped) * (max_runs_per_hour or 0.0)
        free = sum(r for h, r in enumerate(roots) if h not in capped)
        if free <= 0:  # every hour with arrivals is at the cap: the rest of the runs buy nothing
            return [float(max_runs_per_hour) if h in capped else 0.0 for h in range(len(roots))]
        alloc = [float(max_runs_per_hour) if h in capped else left * r / free for h, r in enumerate(roots)]
        over = {h for h, r in enumerate(alloc) if max_runs_per_hour is not None and r > max_runs_per_hour}
        if not over:
            return alloc
        capped |= over


def allocation_mean(rates_by_hour: Sequence[float], runs_by_hour: Sequence[float]) -> float:
    """Mean delay (s) of documents arriving at these hourly rates with these runs per hour:
    Σ λ_h · (T_h / 2) / Σ λ with T_h = 3600 / r_h (an hour with documents and no run: infinite)."""
    total = sum(rates_by_hour)
    if total <= 0:
        return 0.0
    mean = 0.0
    for rate, runs in zip(rates_by_hour, runs_by_hour, strict=True):
        if rate > 0:
            if runs <= 0:
                return math.inf
            mean += rate * (HOUR / runs) / 2
    return mean / total


def discovery_floor(rates_by_hour: Sequence[float], runs_per_day: float,
                    max_runs_per_hour: float | None = None) -> float:
    """The least mean delay (s) of `runs_per_day` discovery runs over this day profile."""
    if runs_per_day <= 0:
        return math.inf
    return allocation_mean(rates_by_hour, sqrt_allocation(rates_by_hour, runs_per_day, max_runs_per_hour))


def uniform_discovery_mean(runs_per_day: float) -> float:
    """The mean delay (s) of `runs_per_day` runs spaced evenly over the day: 86400 / (2R)."""
    return DAY / (2 * runs_per_day) if runs_per_day > 0 else math.inf


def per_approver_floor(rates: Sequence[float], polls_per_second: float, profile: float = 1.0) -> float:
    """(Σ √λ_i)² / (2 B Λ) seconds, times the day profile's factor: λ_i the approvers' true arrival
    rates (any unit, only their ratios matter), B = `polls_per_second` (poll requests per second
    divided by the cost c of one poll)."""
    total = sum(rates)
    if total <= 0:
        return 0.0
    if polls_per_second <= 0:
        return math.inf
    return sum(math.sqrt(max(0.0, x)) for x in rates) ** 2 / (2 * polls_per_second * total) * profile


def polls_per_second(requests_per_day: float, cost: int) -> float:
    """B: poll requests a day, as polls (of `cost` requests each) per second."""
    return requests_per_day / cost / DAY


def equal_interval_bound(approvers: int, cost: int, requests_per_day: float) -> float:
    """N · c / (2P) seconds: the best mean of any poller with equal intervals, P requests a day."""
    return per_approver_floor([1.0] * approvers, polls_per_second(requests_per_day, cost)) if approvers else 0.0


def webhook_floor(reads_per_hint: float = 1.0, requests_per_second: float = 1.0) -> float:
    """Seconds a hinted document needs: its reads at Precoro's one request per second. Approximate,
    not strict: a read that finds its second free is done sooner (bench/README.md §10: 0.97 s)."""
    return reads_per_hint / requests_per_second
