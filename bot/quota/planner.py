"""Whose turn is it to be polled: pure poll planning within the company's quota.

Policy and why:

- Budget. Polls get what the tightest window leaves after the interactive reserve and the
  expected clicks, scaled to requests per day (`poll_budget_per_day`). With the defaults the day
  window binds: about 2800 - clicks per day.
- Intervals. Polling approver i every T_i seconds costs c_i * 86400 / T_i requests a day (c_i =
  one GET per document type, plus pages), so the plan keeps sum(c_i * 86400 / T_i) <= B.
  A document arriving at a random moment waits T_i / 2 on average, so with arrival rates
  lambda_i the total delay is sum(lambda_i * T_i / 2). Minimizing it under the budget
  (Lagrange) gives the square-root law T_i proportional to sqrt(c_i / lambda_i): busy approvers
  are polled more often, but only by the square root of how much busier they are. With no
  history every approver gets the same interval T = sum(c) * 86400 / B; for N approvers of
  equal cost c and rate that is the best possible, a mean delay of T / 2 = N * c / (2 * B) days.
- A prior of `PRIOR_DOCS_PER_DAY` is added to every learned rate so a quiet approver is never
  starved, and `max_interval` caps everyone's interval (a minimum polling frequency) while the
  budget allows it; `min_interval` keeps polls apart (identical GETs within 60 s are refused).
  After clamping, the free intervals are rescaled so the budget still holds.
- Working hours. Outside their local working hours an approver's weight is divided by
  `OFF_HOURS_DIVISOR` (fewer documents come at night), so budget moves to approvers at work.
  It is relative: with every approver off hours the pace stays the same; pacing (below) keeps
  the day budget spread evenly either way.
- Due. An approver is due once (now - last_polled) / T_i >= 1; the most overdue go first
  (never polled first of all), as many as the request allowance covers, stopping at the first
  that does not fit so an expensive approver is not overtaken forever.
- Pacing. `poll_allowance` is a token bucket refilled at B / 86400 per second with a small
  burst, replayed from the last day's poll spends, so the day budget is not burnt by noon.

Nothing here reads a clock or does I/O: `now` is an argument, times are epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.quota.ledger import Lane, QuotaPolicy, Spend, Window, spent

DAY = 86400.0
PRIOR_DOCS_PER_DAY = 1.0  # added to every learned arrival rate: nobody starves
OFF_HOURS_DIVISOR = 4.0  # weight divisor outside working hours: intervals grow by its square root
DEFAULT_MAX_INTERVAL = 3600.0  # everyone polled at least hourly while the budget allows
DEFAULT_BURST = 10.0  # requests the pacing bucket may save up
PACED_WINDOW_MIN_SECONDS = 60.0  # shorter windows are spacing, which the gate enforces by waiting


@dataclass(frozen=True)
class Approver:
    key: str
    cost: int  # requests one poll takes
    last_polled: float | None
    docs_per_day: float = 0.0  # learned arrival rate
    working_hours: tuple[float, float] | None = None  # local [start, end) hours; may wrap midnight
    # (start == end: all day)
    utc_offset_hours: float = 0.0


def poll_budget_per_day(policy: QuotaPolicy, interactive_per_day: float) -> float:
    """Requests per day polls may spend: the tightest window's poll lane (limit - reserve),
    widened by the margin and scaled to a day, minus the expected interactive use."""
    budgets = [
        (w.limit - w.reserve) * DAY / (w.seconds + policy.margin_seconds) - interactive_per_day
        for w in policy.windows
    ]
    return max(0.0, min(budgets, default=0.0))


def in_working_hours(approver: Approver, now: float) -> bool:
    """True when `now` falls in the approver's local working hours (or they have none)."""
    if approver.working_hours is None:
        return True
    start, end = approver.working_hours
    hour = (now / 3600.0 + approver.utc_offset_hours) % 24.0
    return start <= hour < end if start < end else hour >= start or hour < end


def intervals(approvers: Sequence[Approver], budget_per_day: float, now: float, *,
              min_interval: float = 60.0, max_interval: float = DEFAULT_MAX_INTERVAL) -> dict[str, float]:
    """Target poll interval (seconds) per approver key, with sum(cost * 86400 / T) <= budget.

    Equal intervals without history, the square-root law with it; clamped to
    [min_interval, max_interval] and rescaled. If even max_interval for everyone would exceed
    the budget, the budget wins and intervals grow past max_interval. A zero budget gives inf."""
    if not 0 < min_interval <= max_interval:
        raise ValueError("need 0 < min_interval <= max_interval")
    if not approvers:
        return {}
    if budget_per_day <= 0:
        return {a.key: math.inf for a in approvers}
    learned = any(a.docs_per_day > 0 for a in approvers)
    shape = {a.key: _shape(a, now, learned) for a in approvers}
    costs = {a.key: max(a.cost, 0) for a in approvers}

    def use(scale: float, hi: float) -> float:  # requests/day at T_i = clamp(scale * shape_i)
        return sum(costs[k] * DAY / min(max(scale * s, min_interval), hi) for k, s in shape.items())

    hi = max_interval if use(math.inf, max_interval) <= budget_per_day else math.inf
    if use(0.0, hi) <= budget_per_day:  # everyone at min_interval fits
        return {k: min_interval for k in shape}
    lo_scale = min_interval / max(shape.values())  # at or below it everyone is at min_interval
    if math.isfinite(hi):  # everyone at max_interval fits (checked above)
        hi_scale = hi / min(shape.values())
    else:  # everyone above min_interval, and the unclamped use fits
        hi_scale = max(min_interval / min(shape.values()),
                       sum(costs[k] * DAY / s for k, s in shape.items()) / budget_per_day)
    for _ in range(200):  # bisection on a monotone function; hi_scale always fits
        mid = math.sqrt(lo_scale * hi_scale) if lo_scale > 0 else hi_scale / 2
        if use(mid, hi) <= budget_per_day:
            hi_scale = mid
        else:
            lo_scale = mid
        if hi_scale - lo_scale <= 1e-13 * hi_scale:
            break
    return {k: min(max(hi_scale * s, min_interval), hi) for k, s in shape.items()}


def _shape(approver: Approver, now: float, learned: bool) -> float:
    """Relative interval: sqrt(cost / weight) with history, sqrt(1 / weight factor) without."""
    factor = 1.0 if in_working_hours(approver, now) else 1.0 / OFF_HOURS_DIVISOR
    if not learned:
        return math.sqrt(1.0 / factor)
    weight = (approver.docs_per_day + PRIOR_DOCS_PER_DAY) * factor
    return math.sqrt(max(approver.cost, 1) / weight)


def due(approvers: Iterable[Approver], intervals: Mapping[str, float], now: float, *,
        max_requests: int) -> list[str]:
    """Keys to poll now: due approvers, most overdue first (never polled first; ties by key),
    while their costs fit in max_requests. Approvers without an interval are skipped."""
    ranked: list[tuple[float, str, int]] = []
    for a in approvers:
        interval = intervals.get(a.key)
        if interval is None:
            continue
        if a.last_polled is None:
            ratio = math.inf
        elif interval <= 0:
            ratio = math.inf if now >= a.last_polled else 0.0
        else:
            ratio = (now - a.last_polled) / interval
        if ratio >= 1.0:
            ranked.append((-ratio, a.key, a.cost))
    ranked.sort()
    chosen: list[str] = []
    left = max_requests
    for _, key, cost in ranked:
        if cost > left:
            break
        chosen.append(key)
        left -= cost
    return chosen


def poll_allowance(spends: Sequence[Spend], policy: QuotaPolicy, budget_per_day: float, now: float, *,
                   burst: float = DEFAULT_BURST) -> int:
    """Poll requests that may be sent now so polls track an even spread of the day budget.

    A token bucket (capacity `burst`, refilled at budget / 86400 per second) is replayed over
    the last day's poll spends, starting full. The result is also capped by the poll lane's
    room in every window of at least a minute (shorter ones are spacing: the gate waits)."""
    rate = max(budget_per_day, 0.0) / DAY
    tokens = burst
    last = now - DAY
    for at in sorted(s.at for s in spends if s.lane is Lane.POLL and now - DAY < s.at <= now):
        tokens = min(burst, tokens + rate * (at - last)) - 1.0
        last = at
    tokens = min(burst, tokens + rate * (now - last))
    allowance = max(0, math.floor(tokens + 1e-9))
    for w in policy.windows:
        if w.seconds >= PACED_WINDOW_MIN_SECONDS:
            widened = Window(w.seconds + policy.margin_seconds, w.limit, w.reserve)
            allowance = min(allowance, max(0, w.limit - w.reserve - spent(spends, widened, now)))
    return allowance
