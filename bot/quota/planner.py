"""Whose turn is it to be polled: pure poll planning within the company's quota.

The goal: the shortest mean delay from "a document waits for an approver" to "its Slack message",
for the requests the quota leaves to polls, never a 429, never a click queued behind a poll.

- Budget. Polls get what the tightest window leaves after the interactive reserve and the
  interactive use (learned: the clicks and their reads of the last day, at least a floor),
  less the pacing burst (`poll_budget_per_day`). With the defaults the day window binds:
  3000 - 200 reserve - clicks per day.
- Intervals. Polling approver i every T_i seconds costs c_i * 86400 / T_i requests a day (c_i =
  one GET per document type, plus pages), so the plan keeps sum(c_i * 86400 / T_i) <= B.
  A document arriving at a random moment waits T_i / 2 on average, so with arrival rates
  lambda_i the total delay is sum(lambda_i * T_i / 2). Minimizing it under the budget
  (Lagrange) gives the square-root law T_i proportional to sqrt(c_i / lambda_i): busy approvers
  are polled more often, but only by the square root of how much busier they are. With no
  history every approver gets the same interval T = sum(c) * 86400 / B; for N approvers of
  equal cost c and rate that is the best possible, a mean delay of T / 2 = N * c / (2 * B) days.
- Learned rates (`learned_rates`). Counts of documents per approver over the last week are
  noisy: chasing the noise with the square-root law costs delay when the rates are in truth
  equal. So they are shrunk towards the company mean by empirical Bayes (a gamma prior fitted
  by moments): when the spread between approvers is no larger than Poisson noise, everyone gets
  the mean (equal intervals, the optimum above); when it is, the busy ones keep their rates.
  Nobody starves: every weight is at least `STARVATION_FLOOR` of the mean, so no interval is
  more than sqrt(1 / STARVATION_FLOOR) times that of an average approver, `max_interval`
  (hourly) caps everyone while the budget allows it, and `longest_wait` (1.1 round-robin
  periods, in real seconds) puts anyone unpolled that long first, so the tail of the delays stays
  near round robin's; `min_interval` keeps polls of one approver apart (identical GETs within
  60 s are refused).
- Time of day (`day_profile`). The same law holds over time: with arrivals following a daily
  profile g(t), the request rate that minimizes delay is proportional to sqrt(g(t)). The
  profile is learned per UTC hour from when the last week's documents started waiting,
  shrunk to flat the same way (a flat history gives a flat profile, the optimum for uniform
  arrivals), floored at `PROFILE_FLOOR` so nights are still watched (`DISCOVERY_PROFILE_FLOOR`
  while company discovery finds everyone's documents without webhooks), and normalized to mean 1;
  the budget of the current hour is B * profile[hour]. Over any 24 hours it still adds up to B,
  so the sliding day window is respected however the day is shaped.
- Working hours (per approver, optional). Outside their local working hours an approver's
  weight is divided by `OFF_HOURS_DIVISOR`, so budget moves to approvers at work.
- Pace and order. The pacing bucket (`poll_allowance`: refilled at B * profile[hour] / 86400
  per second, a small burst, replayed from the last day's poll spends so the day budget is not
  burnt by noon, and capped by the poll lane's room in every window of a minute or more) sets
  when polls happen: whenever it holds a poll's cost, one goes out, so no budget is lost to
  rounding, ticks or idle gaps. `backlog_order` sets who: the approver whose documents have, by
  its learned rate and the day's arrival profile, waited longest in total since its last poll
  (rate * integral of arrivals(s) * (now - s) ds, per request of the poll); never polled first
  of all; never twice within `min_interval` real seconds. Serving the largest backlog first
  equalizes rate * tau^2, which is the square-root law again; equal rates give round robin. The
  intervals T_i above are each approver's resulting pace: `precoro-bot status` shows them, with
  the next poll they imply (`next_due`).
- Cheap requests. Precoro counts requests, not documents, so a poll costs one request per
  document type however many documents it returns (`per_page=200`: a second page only beyond 200
  waiting documents). `modifiedSince` would not make a per-approver poll cheaper, and it would
  hide documents that stopped waiting, which the poll must notice to retire their messages; it
  pays off in company discovery (one list for everyone), not here. What is saved instead: no poll
  of a revoked or undecryptable token, no poll within `min_interval` of the last one, and no
  identical list URL within the duplicate-GET window (the client varies `per_page`).
- Round robin (`ROUND_ROBIN`), the baseline the benchmark compares with: the same budget and
  even pacing, equal intervals, so the least recently polled approver goes next (a fixed cycle);
  no learned rates, no time of day.

Nothing here reads a clock or does I/O: `now` is an argument, times are epoch seconds.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.quota.ledger import Lane, QuotaPolicy, Spend, Window, spent

DAY = 86400.0
PRIOR_DOCS_PER_DAY = 1.0  # added to every learned arrival rate: nobody starves
OFF_HOURS_DIVISOR = 4.0  # weight divisor outside working hours: intervals grow by its square root
DEFAULT_MAX_INTERVAL = 3600.0  # everyone polled at least hourly while the budget allows
DEFAULT_BURST = 10.0  # requests the pacing bucket may save up
PACED_WINDOW_MIN_SECONDS = 60.0  # shorter windows are spacing, which the gate enforces by waiting
MAX_WAIT_FACTOR = 1.1  # nobody waits longer than this many round-robin periods (`longest_wait`)
STARVATION_FLOOR = 0.25  # least weight, as a share of the mean learned rate
# Least poll intensity of an hour, as a share of the day's mean: quiet hours keep most of the
# pace, or `longest_wait` could not be kept at night (bench/README.md §9 measured 0.8 against 0.25,
# 0.67 and 0.9).
PROFILE_FLOOR = 0.8
# With company discovery one run finds every approver's documents, so no per-approver wait needs
# the night and the busy hours take pace back; not all of it, or the night's runs set the p95
# (bench/README.md §9 measured 0.25, 0.5 and 0.8 at N = 500).
DISCOVERY_PROFILE_FLOOR = 0.5
HOURS = 24
FLAT: tuple[float, ...] = (1.0,) * HOURS
LOOKAHEAD_HOURS = (3.0, 6.0, 12.0, 24.0)  # horizons `window_budget` looks ahead


@dataclass(frozen=True)
class PlanPolicy:
    """How the scheduler plans: the adaptive default, or the naive round-robin baseline."""

    name: str = "adaptive"
    learn_rates: bool = True  # square-root law over learned arrival rates
    time_of_day: bool = True  # shape the day's budget by the learned arrival profile

    @classmethod
    def named(cls, name: str) -> PlanPolicy:
        for policy in (ADAPTIVE, ROUND_ROBIN):
            if policy.name == name:
                return policy
        raise ValueError(f"unknown planner policy {name!r}: adaptive or round_robin")


ADAPTIVE = PlanPolicy()
ROUND_ROBIN = PlanPolicy("round_robin", learn_rates=False, time_of_day=False)


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
    widened by the margin and scaled to a day, minus the expected interactive use (the caller
    adds the pacing burst to it, so that bursts too stay within the day window)."""
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
              min_interval: float = 60.0, max_interval: float = DEFAULT_MAX_INTERVAL,
              prior_per_day: float = PRIOR_DOCS_PER_DAY) -> dict[str, float]:
    """Target poll interval (seconds) per approver key, with sum(cost * 86400 / T) <= budget.

    Equal intervals without history, the square-root law with it (weight: docs_per_day plus
    `prior_per_day`); clamped to [min_interval, max_interval] and rescaled. If even max_interval
    for everyone would exceed the budget, the budget wins and intervals grow past max_interval.
    A zero budget gives inf."""
    if not 0 < min_interval <= max_interval:
        raise ValueError("need 0 < min_interval <= max_interval")
    if not approvers:
        return {}
    if budget_per_day <= 0:
        return {a.key: math.inf for a in approvers}
    learned = any(a.docs_per_day > 0 for a in approvers)
    shape = {a.key: _shape(a, now, learned, prior_per_day) for a in approvers}
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


def _shape(approver: Approver, now: float, learned: bool, prior_per_day: float) -> float:
    """Relative interval: sqrt(cost / weight) with history, sqrt(1 / weight factor) without."""
    factor = 1.0 if in_working_hours(approver, now) else 1.0 / OFF_HOURS_DIVISOR
    if not learned:
        return math.sqrt(1.0 / factor)
    weight = max(approver.docs_per_day + prior_per_day, 1e-9) * factor
    return math.sqrt(max(approver.cost, 1) / weight)


def affordable_max_interval(approvers: Sequence[Approver], budget_per_day: float, max_interval: float, *,
                            share: float = 0.5) -> float:
    """`max_interval` if polling everyone that often takes at most `share` of the budget, else inf.

    A minimum polling frequency that eats most of the budget would leave nothing to spend where
    documents actually arrive; the starvation floor of the rates still bounds every interval."""
    floor_use = sum(max(a.cost, 0) for a in approvers) * DAY / max_interval
    return max_interval if floor_use <= share * budget_per_day else math.inf


def bucket_level(spends: Sequence[Spend], budget_per_day: float, now: float, *, burst: float = DEFAULT_BURST,
                 profile: Sequence[float] = FLAT, since: float | None = None,
                 tokens_then: float | None = None) -> float:
    """Tokens in the pacing bucket at `now`: capacity `burst`, refilled at
    budget / 86400 * profile[hour] per second, replayed over the last day's poll spends from full;
    or, given the level `tokens_then` at `since`, replayed from there (to save a day's replay)."""
    rate = max(budget_per_day, 0.0) / DAY
    last, tokens = (now - DAY, burst) if since is None or tokens_then is None else (since, tokens_then)
    for at in sorted(s.at for s in spends if s.lane is Lane.POLL and last < s.at <= now):
        tokens = min(burst, tokens + rate * weighted_seconds(profile, last, at)) - 1.0
        last = at
    return min(burst, tokens + rate * weighted_seconds(profile, last, now))


def refill_time(level: float, wanted: float, budget_per_day: float, now: float, *,
                profile: Sequence[float] = FLAT) -> float:
    """When a bucket holding `level` tokens at `now` holds `wanted` (inf if it never will)."""
    if level >= wanted:
        return now
    rate = max(budget_per_day, 0.0) / DAY
    if rate <= 0 or max(profile) <= 0:
        return math.inf
    return after_weighted(profile, now, (wanted - level) / rate)


def window_budget(poll_times: Sequence[float], click_times: Sequence[float], policy: QuotaPolicy,
                  budget_per_day: float, now: float, *, interactive_per_day: float, profile: Sequence[float] = FLAT,
                  burst: float = DEFAULT_BURST, horizons: Sequence[float] = LOOKAHEAD_HOURS) -> float:
    """The poll budget per day, lowered if spending it would fill a long window (an hour or more)
    before its old requests leave it: a shortfall (a day with more clicks than the last one) is
    spread over the coming hours instead of stalling every poll once the window is full.

    For each horizon h, the window at now + h holds: what it holds now, less what leaves it by
    then (known), plus the polls of the next h (the budget shaped by the profile) and the clicks
    of the next h (the same as left in that time, a day earlier, scaled up to the estimate
    `interactive_per_day`). The budget is the largest that keeps that within the poll lane's
    limit (less the burst) for every horizon. Both time lists sorted."""
    best = budget_per_day
    for w in policy.windows:
        if w.seconds < 3600.0:
            continue
        width = w.seconds + policy.margin_seconds
        first_p, first_c = bisect_right(poll_times, now - width), bisect_right(click_times, now - width)
        polls_in = bisect_right(poll_times, now) - first_p
        clicks_in = bisect_right(click_times, now) - first_c
        room = w.limit - w.reserve - burst - polls_in - clicks_in
        clicks_scale = interactive_per_day * w.seconds / DAY / clicks_in if clicks_in else 0.0
        for hours in horizons:
            h = min(hours * 3600.0, w.seconds)
            share = weighted_seconds(profile, now, now + h) / DAY  # of a day's budget spent in h
            polls_out = bisect_right(poll_times, now - width + h) - first_p
            clicks_out = bisect_right(click_times, now - width + h) - first_c
            clicks_next = max(clicks_out * clicks_scale, interactive_per_day * h / DAY if not clicks_in else 0.0)
            if share > 0:
                best = min(best, (room + polls_out + clicks_out - clicks_next) / share)
    return max(0.0, best)


def poll_allowance(spends: Sequence[Spend], policy: QuotaPolicy, budget_per_day: float, now: float, *,
                   burst: float = DEFAULT_BURST, profile: Sequence[float] = FLAT, tokens: float | None = None,
                   sorted_times: Sequence[float] | None = None) -> int:
    """Poll requests that may be sent now so polls track the day budget, spread by `profile`.

    The pacing bucket's whole tokens (`bucket_level`, unless `tokens` gives them), also capped by
    the poll lane's room in every window of at least a minute (shorter ones are spacing: the
    gate waits). `sorted_times`, the spends' times in order, makes the counting quick."""
    if tokens is None:
        tokens = bucket_level(spends, budget_per_day, now, burst=burst, profile=profile)
    allowance = max(0, math.floor(tokens + 1e-9))
    for w in policy.windows:
        if w.seconds >= PACED_WINDOW_MIN_SECONDS:
            width = w.seconds + policy.margin_seconds
            if sorted_times is not None:
                used = bisect_right(sorted_times, now) - bisect_right(sorted_times, now - width)
            else:
                used = spent(spends, Window(width, w.limit, w.reserve), now)
            allowance = min(allowance, max(0, w.limit - w.reserve - used))
    return allowance


# --- learning ------------------------------------------------------------------------------------


def learned_rates(counts: Mapping[str, float], exposure_days: Mapping[str, float]) -> dict[str, float]:
    """Documents per day per approver key, shrunk towards the company mean (empirical Bayes).

    Rates are taken as gamma distributed across approvers, with mean and variance fitted by
    moments: the variance is what the spread of count / exposure shows beyond Poisson noise.
    Each approver then gets the posterior mean (a + count) / (b + exposure). No spread beyond
    noise (equal rates): everyone gets the mean. An approver without exposure gets the mean."""
    exposed = {k: e for k, e in exposure_days.items() if e > 0}
    total_exposure = sum(exposed.values())
    total = sum(counts.get(k, 0.0) for k in exposed)
    if not exposed or total <= 0:
        return {k: 0.0 for k in exposure_days}
    mean = total / total_exposure
    spread = sum(e * (counts.get(k, 0.0) / e - mean) ** 2 for k, e in exposed.items()) / total_exposure
    noise = mean * len(exposed) / total_exposure  # exposure-weighted mean of Var(count / e) = rate / e
    variance = spread - noise
    if variance <= 1e-12 * mean * mean:
        return {k: mean for k in exposure_days}
    a, b = mean * mean / variance, mean / variance
    return {k: (a + counts.get(k, 0.0)) / (b + exposed[k]) if k in exposed else mean for k in exposure_days}


def arrival_profile(waiting_since: Iterable[float], start: float, end: float) -> tuple[float, ...]:
    """Relative arrival rate per UTC hour (mean 1) of documents that started waiting within
    [start, end]: count / hours observed, shrunk towards flat with `learned_rates` (a flat or
    short history gives `FLAT`)."""
    counts: dict[str, float] = {str(h): 0.0 for h in range(HOURS)}
    for at in waiting_since:
        if start <= at <= end:
            counts[str(int(at % DAY // 3600.0) % HOURS)] += 1
    exposure = {str(h): 0.0 for h in range(HOURS)}
    t = start
    while t < end:
        stop = min(end, (math.floor(t / 3600.0) + 1) * 3600.0)
        exposure[str(int(t % DAY // 3600.0) % HOURS)] += (stop - t) / 3600.0
        t = stop
    rates = learned_rates(counts, exposure)
    if len(set(rates.values())) <= 1:
        return FLAT
    mean = sum(rates.values()) / HOURS
    return tuple(rates[str(h)] / mean for h in range(HOURS))


def day_profile(waiting_since: Iterable[float], start: float, end: float) -> tuple[float, ...]:
    """Relative poll intensity per UTC hour (mean 1) from when documents started waiting,
    observed over [start, end]: the square root of `arrival_profile`, at least `PROFILE_FLOOR`,
    normalized to mean 1 so that a day's budget stays the day's budget."""
    return pace_profile(arrival_profile(waiting_since, start, end))


def pace_profile(arrivals: Sequence[float], *, floor: float = PROFILE_FLOOR) -> tuple[float, ...]:
    """The poll intensity for an arrival profile: its square root, at least `floor`, mean 1."""
    if arrivals is FLAT or len(set(arrivals)) <= 1:
        return FLAT
    intensity = [math.sqrt(max(0.0, a)) for a in arrivals]
    if not any(intensity):
        return FLAT
    # The scale s with mean(max(floor, s * x)) = 1 (the floor lifts the mean: scale the rest down).
    lo, hi = 0.0, HOURS / sum(intensity)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(max(floor, mid * x) for x in intensity) < HOURS else (lo, mid)
    return tuple(max(floor, hi * x) for x in intensity)


def backlog_order(approvers: Iterable[Approver], now: float, *, max_requests: int,
                  arrivals: Sequence[float] = FLAT, min_interval: float = 0.0,
                  max_wait: float = math.inf) -> list[str]:
    """Keys to poll now, best first, as many as fit in max_requests (stopping at the first that
    does not fit): never polled first, then those unpolled for `max_wait` real seconds or more
    (most overdue first: `longest_wait` explains why), then by the waiting the poll would end,
    per request.

    The index of an approver is rate * integral over (last poll, now] of arrivals(s) * (now - s) ds,
    the expected total time that the documents which arrived since its last poll have waited so
    far (`arrivals`: the day's relative arrival rate, mean 1; `docs_per_day`: the approver's
    rate). With steady rates it is rate * tau^2 / 2, and serving the largest first equalizes
    rate * tau^2: the square-root law. With a daily rhythm it also picks good moments: an
    approver polled a few times a day is polled after the busy hours, not in the quiet ones.
    Approvers polled less than `min_interval` real seconds ago wait. Ties (everyone never polled,
    say) go by the key as a number (shorter first), not as text: "10" sorts after "9", so a
    company's order does not depend on where its ids start."""
    ranked: list[tuple[int, float, int, str, int]] = []
    for a in approvers:
        if a.last_polled is None:
            ranked.append((0, 0.0, len(a.key), a.key, a.cost))
            continue
        waited = now - a.last_polled
        if waited < min_interval:
            continue
        if waited >= max_wait:
            ranked.append((1, -waited, len(a.key), a.key, a.cost))
            continue
        index = max(a.docs_per_day, 1e-12) * waiting_mass(arrivals, a.last_polled, now) / max(a.cost, 1)
        ranked.append((2, -index, len(a.key), a.key, a.cost))
    return _take(ranked, max_requests)


def longest_wait(approvers: Sequence[Approver], budget_per_day: float, *, factor: float = MAX_WAIT_FACTOR) -> float:
    """The real seconds after which an approver is polled before anyone else: `factor` times the
    round-robin period (every approver once, at the budget's flat pace).

    The backlog index spends the budget where documents arrive, and with a day profile it picks
    the moments too: an approver seen to receive little is polled after the busy hours, maybe
    once a day. The mean delay gains from that, but a document of a quiet approver that arrives
    at the wrong hour waits for most of a day, and with hundreds of approvers those documents
    decide the p95. Capping every approver's real interval just above round robin's keeps the
    tail at round robin's: a document of a capped approver waits about uniformly over at most
    1.1 periods, so only a few percent of them pass round robin's p95 (0.95 periods). The cap
    costs mean delay (the busy approvers lose the polls the quiet tail takes back): a looser cap
    (1.25, 1.5, 2) kept more of the mean's gain but let the p95 pass round robin's at 200
    approvers (`bench/README.md` §9 gives both)."""
    if budget_per_day <= 0 or not approvers:
        return math.inf
    return factor * sum(max(a.cost, 0) for a in approvers) * DAY / budget_per_day


def _take(ranked: list[tuple[int, float, int, str, int]], max_requests: int) -> list[str]:
    """Keys in rank order (lowest first) while their costs fit in `max_requests`."""
    chosen: list[str] = []
    left = max_requests
    for *_, key, cost in sorted(ranked):
        if cost > left:
            break
        chosen.append(key)
        left -= cost
    return chosen


def waiting_mass(arrivals: Sequence[float], start: float, end: float) -> float:
    """The integral over [start, end] of arrivals[UTC hour of s] * (end - s) ds, in seconds^2
    (more than three days back counts as three days)."""
    start = max(start, end - 3 * DAY)
    if end <= start:
        return 0.0
    if arrivals is FLAT:
        return (end - start) ** 2 / 2.0
    total, t = 0.0, start
    while t < end:
        stop = min(end, (math.floor(t / 3600.0) + 1) * 3600.0)
        total += arrivals[_hour(t)] * ((end - t) ** 2 - (end - stop) ** 2) / 2.0
        t = stop
    return total


def next_due(approver: Approver, interval: float, now: float, *, lead: float = 0.0,
             profile: Sequence[float] = FLAT, min_interval: float = 0.0) -> float:
    """When the approver's interval has passed on the profile's clock (now if it has): the next
    poll `precoro-bot status` shows."""
    if approver.last_polled is None:
        return now
    if not math.isfinite(interval):
        return math.inf
    at = after_weighted(profile, approver.last_polled, max(0.0, interval - lead * profile[_hour(now)]))
    return max(now, at, approver.last_polled + min_interval - lead)


def _hour(at: float) -> int:
    return int(at % DAY // 3600.0) % HOURS


def cap_profile(profile: Sequence[float], cap: float) -> tuple[float, ...]:
    """The profile with no hour above `cap` (the pace polls cannot exceed: every approver at
    `min_interval`), what is cut given to the other hours in proportion, so the day's total
    stays (water filling). If `cap` is below the mean, every hour gets `cap`."""
    weights = list(profile)
    total, n = sum(weights), len(weights)
    if not weights or max(weights) <= cap:
        return tuple(weights)
    if cap * n <= total:
        return (cap,) * n
    capped: set[int] = set()
    while over := [i for i in range(n) if i not in capped and weights[i] > cap]:
        capped.update(over)
        free = [i for i in range(n) if i not in capped]
        scale = (total - cap * len(capped)) / sum(profile[i] for i in free)
        weights = [cap if i in capped else profile[i] * scale for i in range(n)]
    return tuple(weights)


def weighted_seconds(profile: Sequence[float], start: float, end: float) -> float:
    """The integral of profile[UTC hour] over [start, end] (seconds at weight 1 per second)."""
    if end <= start:
        return 0.0
    if profile is FLAT:
        return end - start
    return weighted_time(profile, end) - weighted_time(profile, start)


def weighted_time(profile: Sequence[float], at: float) -> float:
    """The integral of profile[UTC hour] from the epoch to `at`: a clock that runs at the
    profile's pace (differences of it are `weighted_seconds`)."""
    if profile is FLAT:
        return at
    prefix = _prefix(tuple(profile))
    day = math.floor(at / DAY)
    within = at - day * DAY
    hour = min(HOURS - 1, int(within // 3600.0))
    return day * prefix[HOURS] + prefix[hour] + (within - hour * 3600.0) * profile[hour]


def after_weighted(profile: Sequence[float], start: float, amount: float) -> float:
    """The time t >= start with weighted_seconds(profile, start, t) == amount (amount >= 0;
    every weight of the profile positive)."""
    if amount <= 0:
        return start
    if profile is FLAT:
        return start + amount
    prefix = _prefix(tuple(profile))
    target = weighted_time(profile, start) + amount
    day = math.floor(target / prefix[HOURS])
    rest = target - day * prefix[HOURS]
    hour = max(0, min(HOURS - 1, bisect_right(prefix, rest) - 1))
    return max(start, day * DAY + hour * 3600.0 + (rest - prefix[hour]) / profile[hour])


@functools.lru_cache(maxsize=64)
def _prefix(profile: tuple[float, ...]) -> tuple[float, ...]:
    """Weighted seconds from midnight to the start of each hour (and of the next day)."""
    out = [0.0]
    for weight in profile:
        out.append(out[-1] + 3600.0 * weight)
    return tuple(out)
