"""What happens in a simulated company: approvers, documents arriving, people clicking.

Everything random is drawn from one seeded generator, so a scenario replays exactly and the
round-robin baseline sees the very same documents as the adaptive planner.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

DAY = 86400.0
HOUR = 3600.0
# Monday 2025-01-06 00:00 UTC: day boundaries fall on midnight, working hours are UTC hours.
START = 1_736_121_600.0
OUTSIDE_BURST_SPACING = 1.5  # seconds between the requests of another integration's burst


def outside_times(scenario: Scenario, until: float) -> list[float]:
    """When the other integration sends, from START to `until` (its own generator: the bot's
    documents and people are the same with and without it)."""
    rng = random.Random(scenario.seed * 7919 + 17)
    times: list[float] = []
    if scenario.outside_per_second > 0:
        t = START
        while (t := t + rng.expovariate(scenario.outside_per_second)) < until:
            times.append(t)
    if scenario.outside_burst > 0 and scenario.outside_burst_every_hours > 0:
        every = scenario.outside_burst_every_hours * HOUR
        drawn = rng.uniform(0, every)  # drawn either way: the steady requests stay the same
        at = START + (drawn if scenario.outside_burst_at_hours is None else scenario.outside_burst_at_hours * HOUR)
        while at < until:
            times += [at + i * OUTSIDE_BURST_SPACING for i in range(scenario.outside_burst)]
            at += every
    return sorted(t for t in times if t < until)


@dataclass(frozen=True)
class Scenario:
    name: str
    approvers: int
    docs_per_day: float = 300.0  # company-wide arrival rate (a Poisson process)
    zipf: float = 0.0  # 0: equal rates; s > 0: approver k (1-based) gets a share ∝ 1 / k^s
    work_share: float | None = None  # share of each day's documents in working hours; None: uniform
    work_hours: tuple[float, float] = (9.0, 17.0)  # UTC
    click_share: float = 0.7  # decisions made with the Slack button; the rest in Precoro's own UI
    reaction_minutes: float = 20.0  # mean time from the Slack message to the decision, in working hours
    warmup_days: float = 2.0  # simulated before the measured day: the planner learns, the day window fills
    days: float = 1.0  # measured
    tail_days: float = 1.0  # at most this long after the measured days for late documents to be posted
    restart_at_hours: tuple[float, ...] = ()  # crash and rebuild the bot at these hours of the measured day
    burst_clicks: int = 0  # this many clicks on waiting messages...
    burst_at_hours: float = 10.0  # ...from this hour of the measured day...
    burst_minutes: float = 5.0  # ...spread over this many minutes (nobody decides before the burst)
    strict_duplicates: bool = False  # Precoro keys "identical GET" by company + URL, not token + URL
    # The emulator's reading of "identical GET": "token", "company" or "route" (method + path, any
    # query); None: "company" if strict_duplicates, else "token". The bot's config names the same.
    duplicate_keying: str | None = None
    document_types: tuple[str, ...] = ("purchaseorders", "invoices")
    policy: str = "adaptive"  # or "round_robin"
    seed: int = 1
    source: str = "per-approver"  # or "discovery": approver 0 is a company admin whose token finds documents
    steps: int = 1  # approval steps per document (2: a second approver once the first approved)
    webhooks: bool = False  # Precoro posts a webhook on every create and update (the bot takes it as a hint)
    share: float = 1.0  # the bot's `quota.share` (1: the bot is the company's only integration)
    # Another integration on the same company quota (an ERP sync): Poisson requests at this rate,
    # plus a burst of `outside_burst` requests (one per `OUTSIDE_BURST_SPACING` s) every so many hours.
    outside_per_second: float = 0.0
    outside_burst: int = 0
    outside_burst_every_hours: float = 3.0
    outside_burst_at_hours: float | None = None  # the first burst at this hour of the run (None: drawn)
    # How the emulated Precoro counts its minute, hour and day windows: "sliding", "fixed" (aligned to
    # the UTC clock, Precoro's "until the next minute/hour/day") or "anchored" (from the first request
    # after a reset). See devkit/precoro_devkit/emulator/precoro.py.
    window_mode: str = "sliding"

    @property
    def keying(self) -> str:
        return self.duplicate_keying or ("company" if self.strict_duplicates else "token")

    def with_policy(self, policy: str) -> Scenario:
        return replace(self, policy=policy)

    @property
    def measured_from(self) -> float:
        return START + self.warmup_days * DAY

    @property
    def measured_to(self) -> float:
        return self.measured_from + self.days * DAY

    def in_work_hours(self, at: float) -> bool:
        hour = ((at - START) % DAY) / HOUR
        start, end = self.work_hours
        return start <= hour < end


@dataclass(frozen=True)
class Arrival:
    at: float
    approver: int  # index into the scenario's approvers
    doc_type: str
    second: int | None = None  # the second step's approver, for two-step chains


@dataclass
class Plan:
    """The scenario drawn: approver shares and every arrival until the end of the tail."""

    shares: list[float]
    arrivals: list[Arrival]
    rng: random.Random = field(repr=False)


def draw(scenario: Scenario) -> Plan:
    rng = random.Random(scenario.seed)
    n = scenario.approvers
    raw = [1.0 / (k ** scenario.zipf) for k in range(1, n + 1)]
    rng.shuffle(raw)  # the busiest approver is not the first registered
    total = sum(raw)
    shares = [r / total for r in raw]
    arrivals: list[Arrival] = []
    end = scenario.measured_to + scenario.tail_days * DAY
    work_start, work_end = (h * HOUR for h in scenario.work_hours)
    day = START
    while day < end:
        if scenario.work_share is None:
            segments = [(day, day + DAY, 1.0)]
        else:
            rest, off_length = 1.0 - scenario.work_share, DAY - (work_end - work_start)
            segments = [(day + work_start, day + work_end, scenario.work_share),
                        (day, day + work_start, rest * work_start / off_length),
                        (day + work_end, day + DAY, rest * (DAY - work_end) / off_length)]
        for lo, hi, share in segments:
            count = _poisson(rng, scenario.docs_per_day * share)
            for _ in range(count):
                at = rng.uniform(lo, hi)
                if at < end:
                    who = rng.choices(range(n), weights=shares)[0]
                    doc_type = rng.choice(scenario.document_types)
                    second = None
                    if scenario.steps >= 2 and n > 1:  # one approver: a single step (the same person twice is moot)
                        second = rng.choices([k for k in range(n) if k != who],
                                             weights=[w for k, w in enumerate(shares) if k != who])[0]
                    arrivals.append(Arrival(at, who, doc_type, second))
        day += DAY
    arrivals.sort(key=lambda a: a.at)
    return Plan(shares, arrivals, rng)


def reaction_time(scenario: Scenario, rng: random.Random, posted_at: float) -> float:
    """When the approver decides: an exponential delay, counted in working hours only."""
    rate = 1.0 / (scenario.reaction_minutes * 60.0)
    at = posted_at + rng.expovariate(rate)
    if scenario.in_work_hours(at):
        return at
    day = START + math.floor((at - START) / DAY) * DAY
    start = day + scenario.work_hours[0] * HOUR
    if at >= start:
        start += DAY
    return start + rng.expovariate(rate)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation is plenty for counts this large
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


SOURCES = ("per-approver", "discovery")


def discovery_standard(approvers: tuple[int, ...] = (1, 10, 50, 200, 500)) -> list[Scenario]:
    """The discovery benchmark's scenarios (bench/README.md §2): 200 documents a day, 90% of them in
    working hours, two-step chains; then N=500 with duplicate GETs keyed by company, and with webhooks."""
    out = [Scenario(f"N={n}", n, docs_per_day=200.0, work_share=0.9, steps=2) for n in approvers]
    out.append(Scenario(f"N={approvers[-1]} strict", approvers[-1], docs_per_day=200.0, work_share=0.9, steps=2,
                        strict_duplicates=True))
    out.append(Scenario(f"N={approvers[-1]} webhooks", approvers[-1], docs_per_day=200.0, work_share=0.9, steps=2,
                        webhooks=True))
    return out


def standard(approvers: tuple[int, ...] = (1, 10, 50, 200, 500)) -> list[Scenario]:
    """The benchmark's scenarios (bench/README.md)."""
    out: list[Scenario] = []
    for n in approvers:
        out.append(Scenario(f"equal N={n}", n))
    for n in approvers:
        out.append(Scenario(f"skewed N={n}", n, zipf=1.0, work_share=0.9))
    out.append(Scenario("skewed N=50 after a week of history", 50, zipf=1.0, work_share=0.9, warmup_days=6.0))
    out.append(Scenario("2 restarts, 11:00 and 15:00 (skewed N=50)", 50, zipf=1.0, work_share=0.9,
                        restart_at_hours=(11.0, 15.0)))
    out.append(Scenario("200 clicks in 5 min at 10:00 (skewed N=50)", 50, zipf=1.0, work_share=0.9, burst_clicks=200))
    out.append(Scenario("strict duplicate GETs (skewed N=200)", 200, zipf=1.0, work_share=0.9,
                        strict_duplicates=True))
    return out
