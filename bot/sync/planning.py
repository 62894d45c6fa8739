"""Poll planning for one company, pure: what was learned, and the plan the planner makes of it.

The scheduler (`bot.sync.scheduler`) gathers the inputs from the database and the quota gate, off
the event loop; everything here only computes, with `now` passed in, so a simulated day runs it
unchanged. The policy itself is the planner's (`bot.quota.planner`, whose docstring explains it):

- learned (every `LEARN_SECONDS`, from the last `LEARN_DAYS` of posted messages and the ledger):
  each approver's arrival rate, the day's arrival profile, and the interactive use kept out of
  the poll budget;
- planned (each time a poll may start): every approver's interval, the budget the windows leave,
  the pacing bucket and how many poll requests may start now.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.config import CompanyConfig
from bot.precoro.models import parse_time
from bot.quota import hint_room, planner
from bot.quota.ledger import Lane, QuotaPolicy, Spend
from bot.quota.share import bot_policy
from bot.store.approvers import Approver

DAY = 86400.0
# Interactive use per day kept out of the poll budget at least (the learned use when larger).
INTERACTIVE_PER_DAY = 100.0
INTERACTIVE_SLACK = 10.0  # added to the learned interactive use
# Until a full day has been seen, keep at least this share of the day's budget for clicks: the
# day window remembers a first day that polled too much for a whole day.
FIRST_DAY_INTERACTIVE_SHARE = 0.15
LEARN_DAYS = 7.0
LEARN_SECONDS = 900.0
BUCKET_CHECKPOINT_LAG = 120.0  # pacing is replayed from a checkpoint this old (older than in-flight)
# The client offers this many page sizes of one list read, so as many polls may start within
# Precoro's duplicate-GET window (the ledger keys identical GETs company-wide).
LIST_URL_VARIANTS = 3


@dataclass(frozen=True)
class Plan:
    """One company's plan at `at`: inputs and outcome of the planner."""

    at: float
    approvers: list[Approver]
    loads: list[planner.Approver]
    budget_per_day: float  # poll requests per day (before the day profile)
    hour_budget_per_day: float  # the same at this hour's intensity
    profile: tuple[float, ...]
    interactive_per_day: float
    intervals: dict[str, float]
    bucket: float  # pacing tokens now
    allowance: int  # poll requests that may start now
    list_room: int  # polls that may start now without repeating a recent list URL
    spends: list[Spend] = field(repr=False, default_factory=list)

    min_interval: float = 60.0

    def next_due(self, lead: float) -> dict[str, float]:
        """When each approver is next due (now if overdue or never polled)."""
        return {a.key: planner.next_due(a, self.intervals[a.key], self.at, lead=lead, profile=self.profile,
                                        min_interval=self.min_interval)
                for a in self.loads if a.key in self.intervals}


@dataclass
class CompanyState:
    """What the scheduler knows of one company between ticks (learned, planned, polled)."""

    approvers: list[Approver] = field(default_factory=list)
    stamp: tuple[object, ...] | None = None
    checked_at: float = -math.inf
    learned_at: float = -math.inf
    rates: dict[str, float] = field(default_factory=dict)
    profile: tuple[float, ...] = planner.FLAT  # poll pace per UTC hour
    arrivals: tuple[float, ...] = planner.FLAT  # document arrivals per UTC hour
    interactive_per_day: float = INTERACTIVE_PER_DAY
    started: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (start, end) of last poll
    retry: set[str] = field(default_factory=set)  # polls cut short: due again at once
    hinted: set[str] = field(default_factory=set)  # a webhook named a document of theirs: polled first
    discovery_hinted: bool = False  # a webhook came: the next discovery run is due at once
    hint_seen_at: float = -math.inf  # the last webhook hint: this company's Precoro sends them
    next_poll_at: float = -math.inf
    waiting_since: dict[int, float] = field(default_factory=dict)  # message id -> when it started waiting
    version: int = 0  # bumped when approvers or learned values change
    intervals_key: tuple[object, ...] | None = None
    intervals: dict[str, float] = field(default_factory=dict)
    checkpoint: tuple[float, float] | None = None  # pacing bucket: (at, tokens)
    # Company discovery (see `discover_company`): the approver whose token it reads with, the
    # types it reads, when that was read from the database, when its last run started.
    discovery: Approver | None = None
    discovery_types: tuple[str, ...] = ()
    discovery_checked_at: float = -math.inf
    discovered_at: float | None = None
    discovery_due: tuple[float, int] | None = None  # (weighted seconds until the next run, its cost)
    discovery_retry_at: float = -math.inf  # a run held back by the gate is tried again from then
    discovery_left: tuple[str, ...] | None = None  # the types such a run left: the retry reads these
    discovery_lost: tuple[int, str] | None = None  # (approver id, Slack team) of a discovery approver gone


def learn(state: CompanyState, company: CompanyConfig, policy: planner.PlanPolicy, spends: list[Spend],
          arrivals: Iterable[tuple[int, int, float]], now: float, *, min_interval: float,
          quota: QuotaPolicy | None = None, discovering: bool = False) -> None:
    """Rates per approver and the day profile from the last week's messages (`arrivals`: message
    id, approver id, first seen; `state.waiting_since` must already hold each message's start);
    the interactive use from the ledger's `spends`. `quota`: the bot's windows (the gate's
    `policy`), by default its share of the company's. `discovering`: company discovery finds the
    documents on its timed runs (no webhooks), so the profile's quiet hours may fall to
    `planner.DISCOVERY_PROFILE_FLOOR`; with webhooks the runs are only a back-up, and a hint's
    fallback run then wants the pace the night keeps."""
    quota = quota or bot_policy(company.quota)
    state.learned_at = now
    state.next_poll_at = -math.inf
    state.version += 1
    clicks = sum(1 for s in spends if s.lane is Lane.INTERACTIVE and now - DAY < s.at <= now)
    # The last day's: more clicks than that are met by `planner.window_budget` slowing polls down.
    state.interactive_per_day = max(INTERACTIVE_PER_DAY, clicks) + INTERACTIVE_SLACK
    started = min((a.created_at for a in state.approvers), default=now)
    if now - started < DAY:  # no full day seen yet: what was spent in it may have been spent too early
        first_day = FIRST_DAY_INTERACTIVE_SHARE * planner.poll_budget_per_day(quota, 0.0)
        state.interactive_per_day = max(state.interactive_per_day, first_day)
    if not (policy.learn_rates or policy.time_of_day) or not state.approvers:
        state.rates, state.profile, state.arrivals = {}, planner.FLAT, planner.FLAT
        return
    since = now - LEARN_DAYS * DAY
    rows = list(arrivals)
    current = {message_id for message_id, _, _ in rows}
    state.waiting_since = {k: v for k, v in state.waiting_since.items() if k in current}
    history_from = max(since, min(a.created_at for a in state.approvers))
    counts: dict[str, float] = {}
    for _, approver_id, _ in rows:
        counts[str(approver_id)] = counts.get(str(approver_id), 0.0) + 1.0
    # At least a day: what a new approver received in their first hours is a day's worth, not a
    # rate extrapolated from minutes.
    exposure = {str(a.id): max(DAY, now - max(since, a.created_at)) / DAY for a in state.approvers}
    state.rates = planner.learned_rates(counts, exposure) if policy.learn_rates else {}
    # Whole hours only: a partial hour has seen too little to tell how busy it is, and would
    # be shrunk towards the mean just while it is the hour whose pace counts.
    whole_hours = math.floor(now / 3600.0) * 3600.0
    if not policy.time_of_day:
        state.profile = state.arrivals = planner.FLAT
        return
    state.arrivals = planner.arrival_profile(state.waiting_since.values(), history_from, whole_hours)
    floor = planner.DISCOVERY_PROFILE_FLOOR if discovering else planner.PROFILE_FLOOR
    profile = planner.pace_profile(state.arrivals, floor=floor)
    # No hour may ask for more than polling everyone every `min_interval` can spend.
    budget = planner.poll_budget_per_day(quota, state.interactive_per_day + planner.DEFAULT_BURST)
    fastest = len(state.approvers) * len(company.document_types) * DAY / min_interval
    state.profile = planner.cap_profile(profile, fastest / budget) if budget > 0 else profile
    if max(state.profile) == min(state.profile):
        state.profile = planner.FLAT


def make_plan(company: CompanyConfig, state: CompanyState, spends: list[Spend], now: float, *,
              min_interval: float, quota: QuotaPolicy | None = None, hint_times: Sequence[float] = ()) -> Plan:
    """The company's plan at `now` from its state and the ledger's `spends` (sorted by time),
    within `quota`: the bot's windows (the gate's `policy`), by default its share of the company's.
    `hint_times`: when the last day's webhook hints came (sorted); polls and timed discovery runs
    leave the hour and day windows room for the hint reads they predict (`bot.quota.hint_room`)."""
    quota = quota or bot_policy(company.quota)
    cost = len(company.document_types)
    rates = state.rates
    floor = planner.STARVATION_FLOOR * (sum(rates.values()) / len(rates)) if rates else 0.0
    loads = [
        planner.Approver(key=str(a.id), cost=cost, last_polled=last_polled(state, a),
                         docs_per_day=max(rates.get(str(a.id), 0.0), floor))
        for a in state.approvers
    ]
    budget = planner.poll_budget_per_day(quota, state.interactive_per_day + planner.DEFAULT_BURST)
    if state.intervals_key != (state.version, budget):  # rates and budget change slowly
        max_interval = planner.affordable_max_interval(loads, budget, planner.DEFAULT_MAX_INTERVAL)
        state.intervals = planner.intervals(loads, budget, now, min_interval=min_interval,
                                            max_interval=max_interval, prior_per_day=0.0)
        state.intervals_key = (state.version, budget)
    times = [s.at for s in spends]
    # Intervals only rank approvers (the bucket sets the pace): the window may lower the pace.
    budget = planner.window_budget([s.at for s in spends if s.lane is Lane.POLL],
                                   [s.at for s in spends if s.lane is Lane.INTERACTIVE], quota, budget,
                                   now, interactive_per_day=state.interactive_per_day, profile=state.profile)
    hour_budget = budget * state.profile[int(now % DAY // 3600) % planner.HOURS]
    bucket = _bucket(state, spends, times, budget, now)
    allowance = planner.poll_allowance(spends, quota, budget, now, tokens=bucket, sorted_times=times)
    kept = hint_room.allowance(times, quota, now, hint_times)
    if kept is not None:
        allowance = min(allowance, kept)
    return Plan(now, state.approvers, loads, budget, hour_budget, state.profile, state.interactive_per_day,
                state.intervals, bucket, allowance, list_room(spends, company, now), spends, min_interval)


def _bucket(state: CompanyState, spends: list[Spend], times: list[float], budget: float, now: float) -> float:
    """The pacing bucket's level: replayed over the last day once (at start), then carried
    forward from a checkpoint, at whatever rate the budget and profile give at the time (a
    fresh day-long replay at a new rate would charge the past at that rate)."""
    mark = now - BUCKET_CHECKPOINT_LAG
    cp = state.checkpoint
    if cp is None or cp[0] > now:
        tokens = planner.bucket_level(spends, budget, mark, profile=state.profile)
        state.checkpoint = cp = (mark, tokens)
    elif mark > cp[0]:
        tail = spends[bisect_right(times, cp[0]):]
        tokens = planner.bucket_level(tail, budget, mark, profile=state.profile, since=cp[0], tokens_then=cp[1])
        state.checkpoint = cp = (mark, tokens)
    tail = spends[bisect_right(times, cp[0]):]
    return planner.bucket_level(tail, budget, now, profile=state.profile, since=cp[0], tokens_then=cp[1])


def last_polled(state: CompanyState, approver: Approver) -> float | None:
    """When the approver's last complete poll started: this process's own record (the
    database holds its end), unless the database shows a later poll by another process."""
    key = str(approver.id)
    mine = state.started.get(key)
    if key in state.retry:
        return mine[0] if mine else None
    if mine and (approver.last_polled_at is None or approver.last_polled_at <= mine[1] + 1e-6):
        return mine[0]
    return approver.last_polled_at


def list_room(spends: list[Spend], company: CompanyConfig, now: float) -> int:
    """Polls that may start now without a list URL repeating within the duplicate-GET window."""
    window = company.quota.duplicate_get_seconds + company.quota.margin_seconds
    reads = 0
    for s in reversed(spends):  # finished ones come sorted, the few in flight last
        if s.at > now - window:
            reads += s.lane is Lane.POLL and s.get_key is not None
        elif s.at < now - window - 600.0:
            break
    started = math.ceil(reads / max(1, len(company.document_types)))
    return max(0, LIST_URL_VARIANTS - started)


def waiting_since(document: str, seen: float) -> float:
    """When a posted document started waiting: its last change in Precoro before we saw it
    (`updateDate`, else `createDate`), within the week before; else when we first saw it."""
    try:
        raw = json.loads(document)
    except ValueError:
        return seen
    changed = parse_time(raw.get("updateDate") or raw.get("createDate")) if isinstance(raw, dict) else None
    if changed is None:
        return seen
    at = changed.timestamp()
    return at if seen - LEARN_DAYS * DAY <= at <= seen else seen


REPLAN_SECONDS = 300.0  # the longest a computed "next poll" time is trusted


def webhooks_arrive(state: CompanyState, now: float) -> bool:
    """This company's Precoro sent a webhook within the last day: they say when to look."""
    return now - state.hint_seen_at < DAY


def beside_discovery(state: CompanyState, p: Plan) -> int:
    """Poll requests that may start now and still leave the next discovery run its tokens
    when it is due (the bucket refills at the hour's pace meanwhile)."""
    if state.discovery_due is None:
        return p.allowance
    weighted_left, cost = state.discovery_due
    refill = p.budget_per_day / DAY * weighted_left  # weighted seconds run at the profile's pace
    return max(0, math.floor(p.bucket + refill - cost))


def next_poll_at(p: Plan, cost: int, tick: float, *, windows_grow_at: float = math.inf) -> float:
    """The earliest time a poll (of `cost` requests) could start: the bucket holding its cost and
    someone past their `min_interval`; never later than the next hour, `REPLAN_SECONDS`, or
    `windows_grow_at` (when the bot's windows grow back: another integration's use learned from a
    429 ends at its window's reset, and the plan made within the smaller windows is stale then)."""
    now = p.at
    limit = min((math.floor(now / 3600.0) + 1) * 3600.0, now + REPLAN_SECONDS, max(now, windows_grow_at))
    someone = min((now if a.last_polled is None else a.last_polled + p.min_interval for a in p.loads),
                  default=math.inf)
    if p.bucket < cost:
        ready = planner.refill_time(p.bucket, float(cost), p.budget_per_day, now, profile=p.profile)
    else:  # tokens are there: a window's room or the list URLs are short, or nobody may go yet
        ready = now + tick if p.allowance < cost or p.list_room <= 0 else now
    return min(limit, max(someone, ready, now + tick))


def safety_net(company: CompanyConfig, state: CompanyState, loads: list[planner.Approver], *,
               discovering: bool) -> list[planner.Approver]:
    """Who per-approver polls cover: everyone but the discovery user while discovery reads
    every type (whatever waits for that user, that user sees)."""
    d = state.discovery
    if d is None or not discovering or len(state.discovery_types) < len(company.document_types):
        return loads
    return [a for a in loads if a.key != str(d.id)]
