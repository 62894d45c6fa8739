"""The tick: retry due decisions first, then poll the approvers whose turn it is.

APScheduler 3 (in-memory job, one per process) calls `tick` every few seconds. The deciding is
done by the pure planner (`bot.quota.planner`, whose docstring explains the policy); this module
gathers its inputs and keeps them cheap enough to look at on every tick:

- the approvers: reloaded when the table changes (checked every `APPROVERS_CHECK_SECONDS`, or ten
  ticks if that is shorter);
- what is learned (arrival rate per approver, the day's arrival profile, the interactive use)
  from the last `LEARN_DAYS` of posted messages and the ledger, every `LEARN_SECONDS`;
- the spends, from the quota gate's cache;
- when the next poll can happen (someone due, and the pacing bucket holding their cost): ticks
  before that only look for due decisions.

Clicks never wait behind polls: no poll starts while a decision of the company is being sent or
is due within a tick, and the gate makes polls step aside for a click that waits for a slot. A
poll cut short by that (or by the quota) counts as not done: its approver is due again at once.

Everything is read back from the database, so a restart forgets nothing that matters; only the
exact start times of this process's polls (used instead of their end times) are in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import bindparam, func, or_, select

from bot.config import CompanyConfig, Config
from bot.decisions import MAX_BACKOFF_SECONDS, DecisionService
from bot.precoro.models import parse_time
from bot.quota import planner
from bot.quota.gate import Clock
from bot.quota.ledger import Lane, Spend, Window, spent
from bot.store import Store
from bot.store.approvers import SUSPECT, Approver
from bot.store.db import DATABASE_UNAVAILABLE
from bot.store.decisions import PENDING, SENDING
from bot.store.schema import approvers as approvers_table
from bot.store.schema import decisions as decisions_table
from bot.store.schema import posted_messages
from bot.sync import discovery
from bot.sync.discovery import Discoverer
from bot.sync.poller import Poller
from bot.sync.reconcile import OPEN_STATES
from bot.sync.token_checks import TokenChecker

log = logging.getLogger(__name__)

DAY = 86400.0
# Interactive use per day kept out of the poll budget at least (the learned use when larger).
INTERACTIVE_PER_DAY = 100.0
INTERACTIVE_SLACK = 10.0  # added to the learned interactive use
# Until a full day has been seen, keep at least this share of the day's budget for clicks: the
# day window remembers a first day that polled too much for a whole day.
FIRST_DAY_INTERACTIVE_SHARE = 0.15
LEARN_DAYS = 7.0
WEBHOOK_BACKUP_STRETCH = 4.0  # discovery's timed runs are this much rarer while webhooks arrive
LEARN_SECONDS = 900.0
APPROVERS_CHECK_SECONDS = 15.0  # a new approver is polled this soon (or ten ticks, if shorter)
REPLAN_SECONDS = 300.0  # the longest a computed "next poll" time is trusted
# A decision is queued only after its request failed (no answer, 429, 5xx) or found no quota
# slot, which the gate notes: within the longest retry backoff of that, due decisions are looked
# for on every tick; otherwise at least this often (a dead worker's lease runs out, another
# replica queued one).
DECISION_SWEEP_SECONDS = 30.0
PLAN_SPENDS_MAX_AGE = 60.0  # planning may use the gate's cached spends this old (booking never does)
BUCKET_CHECKPOINT_LAG = 120.0  # pacing is replayed from a checkpoint this old (older than in-flight)
# The client offers this many page sizes of one list read, so as many polls may start within
# Precoro's duplicate-GET window (the ledger keys identical GETs company-wide).
LIST_URL_VARIANTS = 3

_DUE_DECISION = (
    select(decisions_table.c.id)
    .where(or_((decisions_table.c.state == PENDING) & (decisions_table.c.next_attempt_at <= bindparam("now")),
               (decisions_table.c.state == SENDING) & (decisions_table.c.claimed_until < bindparam("now"))))
    .limit(1)
)
_BUSY_DECISION = (
    select(decisions_table.c.id)
    .where((decisions_table.c.company == bindparam("company"))
           & or_((decisions_table.c.state == PENDING) & (decisions_table.c.next_attempt_at <= bindparam("soon")),
                 decisions_table.c.state == SENDING))
    .limit(1)
)
_APPROVERS_STAMP = (
    select(func.count(), func.max(approvers_table.c.updated_at), func.max(approvers_table.c.id))
    .where(approvers_table.c.company == bindparam("company"))
)


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
class _Company:
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
    discovery_lost: tuple[int, str] | None = None  # (approver id, Slack team) of a discovery approver gone


class PollScheduler:
    def __init__(self, config: Config, store: Store, poller: Poller, decisions: DecisionService,
                 clock: Clock, replica: str = "single", *, discoverer: Discoverer | None = None,
                 token_checks: TokenChecker | None = None) -> None:
        self.token_checks = token_checks  # confirms refused tokens, re-checks revoked ones
        self.config = config
        self.replica = replica  # this process's name in the company leases
        self.discoverer = discoverer
        self.store = store
        self.poller = poller
        self.decisions = decisions
        self.clock = clock
        self.policy = planner.ADAPTIVE
        self._scheduler: AsyncIOScheduler | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self._companies: dict[str, _Company] = {}
        self._decisions_checked_at = -math.inf
        self.ticks = 0

    def start(self) -> None:
        # A tick longer than the interval is normal (a slow Precoro); APScheduler's "skipped" warning is noise.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self.tick, "interval", seconds=self.config.tick_seconds, max_instances=1,
                                coalesce=True, misfire_grace_time=None, id="tick")
        self._scheduler.start()

    async def stop(self, timeout: float) -> None:
        """Graceful stop: no tick starts any more, the running one ends after its current poll
        (a decision it is sending finishes), then the companies are handed over."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.pause()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._lock:
                pass  # the tick in progress has ended
        self.shutdown()

    def shutdown(self) -> None:
        """Stop ticking and hand this replica's companies over at once instead of after a lease."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        for company in self.config.companies:
            try:
                self.store.leases.release(company.id, self.replica)
            except DATABASE_UNAVAILABLE:
                log.warning("lease of %s not released (database unavailable); it expires by itself", company.id)

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    async def tick(self) -> None:
        if self._lock.locked():
            return
        async with self._lock:
            self.ticks += 1
            try:
                if self._decision_due(self.clock.now()):
                    await self.decisions.run_due()
                for company in self.config.companies:
                    if not self._stopping and self._hold_lease(company):
                        await self.poll_company(company)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Shutting down: a poll cut short is simply not done (the next holder polls again).
                log.info("tick stopped by shutdown")
            except Exception:
                log.exception("tick failed; the next tick starts over from the database")

    def _hold_lease(self, company: CompanyConfig) -> bool:
        """Take or renew this replica's lease on polling the company; with several replicas on
        one database only the holder polls (the ledger and unique keys keep the rest exact)."""
        return self.store.leases.acquire(company.id, self.replica, self.clock.now(), self.config.lease_seconds)

    # --- inputs ---------------------------------------------------------------------------------

    def _decision_due(self, now: float) -> bool:
        recent = False
        for company in self.config.companies:
            client = self.poller.clients.get(company.id)
            trouble = client.gate.last_trouble(company.id) if client is not None else now
            recent = recent or (trouble is not None and now - trouble <= MAX_BACKOFF_SECONDS + self.config.tick_seconds)
        if not recent and now - self._decisions_checked_at < DECISION_SWEEP_SECONDS:
            return False
        self._decisions_checked_at = now
        with self.store.engine.connect() as conn:
            return conn.execute(_DUE_DECISION, {"now": now}).first() is not None

    def _click_busy(self, company: str, now: float) -> bool:
        """A decision of the company is being sent, or is due within a tick: polls wait."""
        with self.store.engine.connect() as conn:
            return conn.execute(_BUSY_DECISION, {"company": company,
                                                 "soon": now + self.config.tick_seconds}).first() is not None

    def _state(self, company: CompanyConfig, now: float) -> _Company:
        state = self._companies.setdefault(company.id, _Company())
        if now - state.checked_at >= min(APPROVERS_CHECK_SECONDS, 10 * self.config.tick_seconds):
            state.checked_at = now
            with self.store.engine.connect() as conn:
                stamp = tuple(conn.execute(_APPROVERS_STAMP, {"company": company.id}).one())
            if stamp != state.stamp:
                state.stamp = stamp
                state.approvers = self.store.approvers.list(company.id, active_only=True)
                state.next_poll_at = -math.inf
                state.learned_at = -math.inf
                state.version += 1
        if now - state.learned_at >= LEARN_SECONDS:
            self._learn(company, state, now)
        return state

    def _learn(self, company: CompanyConfig, state: _Company, now: float) -> None:
        """Rates per approver and the day profile from the last week's documents; interactive use."""
        state.learned_at = now
        state.next_poll_at = -math.inf
        state.version += 1
        spends = self._gate_spends(company.id)
        clicks = sum(1 for s in spends if s.lane is Lane.INTERACTIVE and now - DAY < s.at <= now)
        # The last day's: more clicks than that are met by `planner.window_budget` slowing polls down.
        state.interactive_per_day = max(INTERACTIVE_PER_DAY, clicks) + INTERACTIVE_SLACK
        started = min((a.created_at for a in state.approvers), default=now)
        if now - started < DAY:  # no full day seen yet: what was spent in it may have been spent too early
            first_day = FIRST_DAY_INTERACTIVE_SHARE * planner.poll_budget_per_day(company.quota, 0.0)
            state.interactive_per_day = max(state.interactive_per_day, first_day)
        if not (self.policy.learn_rates or self.policy.time_of_day) or not state.approvers:
            state.rates, state.profile, state.arrivals = {}, planner.FLAT, planner.FLAT
            return
        since = now - LEARN_DAYS * DAY
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(posted_messages.c.id, posted_messages.c.approver_id, posted_messages.c.first_seen_at)
                .where((posted_messages.c.company == company.id) & (posted_messages.c.first_seen_at >= since))
            ).all()
            missing = [r.id for r in rows if r.id not in state.waiting_since]
            for i in range(0, len(missing), 500):
                for message_id, seen, document in conn.execute(
                    select(posted_messages.c.id, posted_messages.c.first_seen_at, posted_messages.c.document)
                    .where(posted_messages.c.id.in_(missing[i:i + 500]))
                ):
                    state.waiting_since[message_id] = _waiting_since(document, seen)
        current = {r.id for r in rows}
        state.waiting_since = {k: v for k, v in state.waiting_since.items() if k in current}
        history_from = max(since, min(a.created_at for a in state.approvers))
        counts: dict[str, float] = {}
        for r in rows:
            counts[str(r.approver_id)] = counts.get(str(r.approver_id), 0.0) + 1.0
        # At least a day: what a new approver received in their first hours is a day's worth, not a
        # rate extrapolated from minutes.
        exposure = {str(a.id): max(DAY, now - max(since, a.created_at)) / DAY for a in state.approvers}
        state.rates = planner.learned_rates(counts, exposure) if self.policy.learn_rates else {}
        # Whole hours only: a partial hour has seen too little to tell how busy it is, and would
        # be shrunk towards the mean just while it is the hour whose pace counts.
        whole_hours = math.floor(now / 3600.0) * 3600.0
        if not self.policy.time_of_day:
            state.profile = state.arrivals = planner.FLAT
            return
        state.arrivals = planner.arrival_profile(state.waiting_since.values(), history_from, whole_hours)
        profile = planner.pace_profile(state.arrivals)
        # No hour may ask for more than polling everyone every `min_interval` can spend.
        budget = planner.poll_budget_per_day(company.quota, state.interactive_per_day + planner.DEFAULT_BURST)
        fastest = len(state.approvers) * len(company.document_types) * DAY / self.config.min_poll_interval_seconds
        state.profile = planner.cap_profile(profile, fastest / budget) if budget > 0 else profile
        if max(state.profile) == min(state.profile):
            state.profile = planner.FLAT

    def _gate_spends(self, company: str) -> list[Spend]:
        """The company's spends of the last day, sorted by time."""
        client = self.poller.clients.get(company)
        if client is not None:
            return client.gate.recent_spends(company, max_age=PLAN_SPENDS_MAX_AGE)
        policy = self.config.company(company).quota
        spends = self.store.quota.recent_spends(company, self.clock.now() - DAY - policy.margin_seconds)
        return sorted(spends, key=lambda s: s.at)

    # --- planning -------------------------------------------------------------------------------

    def plan(self, company: CompanyConfig) -> tuple[list[Approver], dict[str, float], int]:
        """(approvers, interval per approver key, poll requests allowed now)."""
        p = self.plan_now(company)
        return p.approvers, p.intervals, p.allowance

    def plan_now(self, company: CompanyConfig) -> Plan:
        now = self.clock.now()
        return self._plan(company, self._state(company, now), now)

    def _plan(self, company: CompanyConfig, state: _Company, now: float) -> Plan:
        cost = len(company.document_types)
        rates = state.rates
        floor = planner.STARVATION_FLOOR * (sum(rates.values()) / len(rates)) if rates else 0.0
        loads = [
            planner.Approver(key=str(a.id), cost=cost, last_polled=self._last_polled(state, a),
                             docs_per_day=max(rates.get(str(a.id), 0.0), floor))
            for a in state.approvers
        ]
        budget = planner.poll_budget_per_day(company.quota, state.interactive_per_day + planner.DEFAULT_BURST)
        if state.intervals_key != (state.version, budget):  # rates and budget change slowly
            max_interval = planner.affordable_max_interval(loads, budget, planner.DEFAULT_MAX_INTERVAL)
            state.intervals = planner.intervals(loads, budget, now, min_interval=self.config.min_poll_interval_seconds,
                                                max_interval=max_interval, prior_per_day=0.0)
            state.intervals_key = (state.version, budget)
        spends = self._gate_spends(company.id)
        times = [s.at for s in spends]
        # Intervals only rank approvers (the bucket sets the pace): the window may lower the pace.
        budget = planner.window_budget([s.at for s in spends if s.lane is Lane.POLL],
                                       [s.at for s in spends if s.lane is Lane.INTERACTIVE], company.quota, budget,
                                       now, interactive_per_day=state.interactive_per_day, profile=state.profile)
        hour_budget = budget * state.profile[int(now % DAY // 3600) % planner.HOURS]
        bucket = self._bucket(state, spends, times, budget, now)
        allowance = planner.poll_allowance(spends, company.quota, budget, now, tokens=bucket, sorted_times=times)
        return Plan(now, state.approvers, loads, budget, hour_budget, state.profile, state.interactive_per_day,
                    state.intervals, bucket, allowance, _list_room(spends, company, now), spends,
                    self.config.min_poll_interval_seconds)

    @staticmethod
    def _bucket(state: _Company, spends: list[Spend], times: list[float], budget: float, now: float) -> float:
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

    def _last_polled(self, state: _Company, approver: Approver) -> float | None:
        """When the approver's last complete poll started: this process's own record (the
        database holds its end), unless the database shows a later poll by another process."""
        key = str(approver.id)
        mine = state.started.get(key)
        if key in state.retry:
            return mine[0] if mine else None
        if mine and (approver.last_polled_at is None or approver.last_polled_at <= mine[1] + 1e-6):
            return mine[0]
        return approver.last_polled_at

    # --- polling --------------------------------------------------------------------------------

    async def poll_company(self, company: CompanyConfig) -> int:
        now = self.clock.now()
        state = self._state(company, now)
        self._take_hints(company, state)
        if (self.token_checks is not None and self.token_checks.due(company.id)
                and not self._click_busy(company.id, now) and await self.token_checks.run(company.id)):
            state.stamp = None  # a token restored: read the approvers again
            return 0
        if await self.discover_company(company, state, now):
            return 0  # discovery ran, or is due and waits for quota: polls wait for the next tick
        if now < state.next_poll_at or not state.approvers:
            return 0
        if self._click_busy(company.id, now):
            state.next_poll_at = now + self.config.tick_seconds
            return 0
        p = self._plan(company, state, now)
        cost = len(company.document_types)
        room = min(p.allowance, p.list_room * cost, self._beside_discovery(state, p))
        loads = [replace(a, last_polled=None) if a.key in state.hinted else a
                 for a in self._safety_net(company, state, p.loads)]  # hinted: first in line
        keys = planner.backlog_order(loads, now, max_requests=room, arrivals=state.arrivals,
                                     min_interval=p.min_interval)
        if not keys:
            state.next_poll_at = self._next_poll_at(p, company)
            return 0
        by_key = {str(a.id): a for a in state.approvers}
        polled = 0
        for key in keys:
            if self._stopping:
                break
            if polled and not self._hold_lease(company):
                break  # a slow tick outlived the lease and another replica took the company
            started = self.clock.now()
            result = await self.poller.poll(by_key[key])
            polled += 1
            if result.complete:
                state.started[key] = (started, self.clock.now())
                state.retry.discard(key)
                state.hinted.discard(key)
            elif result.error == "QuotaDeferred":
                state.retry.add(key)  # stepped aside for a click, or no room: not a poll
            elif result.error == "token":  # refused or removed: never polled with the cached row again
                state.approvers = [a for a in state.approvers if str(a.id) != key]
                state.stamp, state.version = None, state.version + 1
            if not result.complete and result.error not in ("", "token", "vault"):
                break  # quota or outage: leave the rest for a later tick
        state.next_poll_at = -math.inf
        return polled

    def _take_hints(self, company: CompanyConfig, state: _Company) -> None:
        """Precoro webhooks (any replica stored them): with discovery on, its next run is due at
        once (it reads every changed document); else whoever holds an open message about a hinted
        document is polled first. Without discovery a new document's approvers are unknown until a
        poll finds it: polling stays the safety net either way."""
        hints = self.store.hints.take(company.id)
        if not hints:
            return
        state.hint_seen_at = self.clock.now()
        if state.discovery is not None:
            state.discovery_hinted = True
        else:
            state.hinted |= {str(m.approver_id) for m in self.store.messages.for_documents(company.id, hints)
                             if m.state in OPEN_STATES}
        state.next_poll_at = -math.inf

    # --- company discovery (bot.sync.discovery explains the pace) --------------------------------

    def discovery_state(self, company: CompanyConfig) -> tuple[Approver | None, tuple[str, ...]]:
        """The company's discovery approver (None: off) and the types discovery reads."""
        state = self._state(company, self.clock.now())
        return self._discovery_approver(company, state, self.clock.now()), state.discovery_types

    def _discovery_approver(self, company: CompanyConfig, state: _Company, now: float) -> Approver | None:
        """Read back from the database every few ticks (another replica or a command may change it);
        with no row there, the config's `discovery_user` (if registered and active) is the default."""
        if now - state.discovery_checked_at < min(APPROVERS_CHECK_SECONDS, 10 * self.config.tick_seconds):
            return state.discovery
        state.discovery_checked_at = now
        settings = self.store.discovery.get(company.id)
        if settings is None:
            found = [a for a in state.approvers if a.slack_user_id == company.discovery_user]
            state.discovery = found[0] if company.discovery_user and found else None
            if state.discovery is not None:  # from now on the database decides (commands, other replicas)
                self.store.discovery.set_approver(company.id, state.discovery.id, by="config", now=now)
            fallback: frozenset[str] = frozenset()
        else:
            found = self.store.approvers.get(settings.approver_id) if settings.approver_id is not None else None
            state.discovery = found if found is not None and found.active else None
            suspect = found is not None and found.status == SUSPECT  # being checked: not lost yet
            if settings.active and state.discovery is None and not suspect:  # removed, or its token revoked
                team = found.team_id if found is not None else next((a.team_id for a in state.approvers), "")
                state.discovery_lost = (settings.approver_id or 0, team)
            fallback = settings.fallback_types
            if state.discovered_at is None and settings.cursor is not None and settings.active:
                state.discovered_at = settings.cursor  # after a restart: not all at once
        state.discovery_types = tuple(t for t in company.document_types if t not in fallback)
        return state.discovery

    async def discover_company(self, company: CompanyConfig, state: _Company, now: float) -> bool:
        """Run company discovery when it is due; True when it ran or is due but waits for quota
        (the pacing bucket then fills for it rather than for a poll)."""
        approver = self._discovery_approver(company, state, now) if self.discoverer is not None else None
        cost = len(state.discovery_types)
        state.discovery_due = None
        if state.discovery_lost is not None and self.discoverer is not None:
            (lost, team), state.discovery_lost = state.discovery_lost, None
            await self.discoverer.lost(company.id, lost, team=team)
        if approver is None or self.discoverer is None or not cost:
            return False
        others = any(a.id != approver.id for a in state.approvers)
        budget = planner.poll_budget_per_day(company.quota, state.interactive_per_day + planner.DEFAULT_BURST)
        every = discovery.interval(budget, cost, others=others, min_interval=self.config.tick_seconds)
        webhooks = now - state.hint_seen_at < DAY
        if webhooks:  # they say when to look: timed runs only back them up
            every *= WEBHOOK_BACKUP_STRETCH
        last = state.discovered_at
        if (not state.discovery_hinted and last is not None
                and (elapsed := planner.weighted_seconds(state.profile, last, now)) < every):
            # Polls leave the next run its tokens: by the time it is due, or at all times while a
            # webhook may ask for it any moment.
            state.discovery_due = (0.0 if webhooks else every - elapsed, cost)
            return False
        if self._click_busy(company.id, now):
            return True
        p = self._plan(company, state, now)
        if p.bucket < cost or p.allowance < cost:
            return True
        state.discovery_hinted = False
        result = await self.discoverer.run(company.id, approver)
        state.discovery_checked_at = -math.inf  # read back: a fallback or a revoked token changed it
        if result.error == "token":
            state.discovery, state.discovered_at = None, None
            return False
        if result.complete or result.error not in ("QuotaDeferred", "RateLimited"):
            state.discovered_at = now
        return True

    @staticmethod
    def _beside_discovery(state: _Company, p: Plan) -> int:
        """Poll requests that may start now and still leave the next discovery run its tokens
        when it is due (the bucket refills at the hour's pace meanwhile)."""
        if state.discovery_due is None:
            return p.allowance
        weighted_left, cost = state.discovery_due
        refill = p.budget_per_day / DAY * weighted_left  # weighted seconds run at the profile's pace
        return max(0, math.floor(p.bucket + refill - cost))

    def _safety_net(self, company: CompanyConfig, state: _Company,
                    loads: list[planner.Approver]) -> list[planner.Approver]:
        """Who per-approver polls cover: everyone but the discovery user while discovery reads
        every type (whatever waits for that user, that user sees)."""
        d = state.discovery
        if d is None or self.discoverer is None or len(state.discovery_types) < len(company.document_types):
            return loads
        return [a for a in loads if a.key != str(d.id)]

    def _next_poll_at(self, p: Plan, company: CompanyConfig) -> float:
        """The earliest time a poll could start: the bucket holding a poll's cost and someone
        past their `min_interval`; never later than the next hour or `REPLAN_SECONDS`."""
        now, tick = p.at, self.config.tick_seconds
        cost = len(company.document_types)
        limit = min((math.floor(now / 3600.0) + 1) * 3600.0, now + REPLAN_SECONDS)
        someone = min((now if a.last_polled is None else a.last_polled + p.min_interval for a in p.loads),
                      default=math.inf)
        if p.bucket < cost:
            ready = planner.refill_time(p.bucket, float(cost), p.budget_per_day, now, profile=p.profile)
        else:  # tokens are there: a window's room or the list URLs are short, or nobody may go yet
            ready = now + tick if p.allowance < cost or p.list_room <= 0 else now
        return min(limit, max(someone, ready, now + tick))

    # --- status ---------------------------------------------------------------------------------

    def snapshot(self, company: CompanyConfig) -> CompanyStatus:
        """What `precoro-bot status` and `/precoro status` show for one company."""
        p = self.plan_now(company)
        next_due = p.next_due(0.0)
        windows = [
            (w, spent(p.spends, Window(w.seconds, w.limit, w.reserve), p.at)) for w in company.quota.windows
        ]
        rows = [
            ApproverStatus(approver=a, interval=p.intervals.get(str(a.id), math.inf),
                           rate_per_day=load.docs_per_day, last_polled=load.last_polled,
                           next_poll=next_due.get(str(a.id), math.inf))
            for a, load in zip(p.approvers, p.loads, strict=True)
        ]
        rows.sort(key=lambda r: (r.next_poll, r.approver.id))
        paused_until, reason = self.store.quota.gate(company.id)
        return CompanyStatus(company=company.id, at=p.at, windows=windows, plan=p, approvers=rows,
                             policy=self.policy.name, paused=(paused_until, reason) if paused_until > p.at else None)


@dataclass(frozen=True)
class ApproverStatus:
    approver: Approver
    interval: float
    rate_per_day: float
    last_polled: float | None
    next_poll: float


@dataclass(frozen=True)
class CompanyStatus:
    company: str
    at: float
    windows: list[tuple[Window, int]]  # each window and the requests in it now
    plan: Plan
    approvers: list[ApproverStatus]  # soonest next poll first
    policy: str
    paused: tuple[float, str] | None = None  # a 429's retry time and what Precoro said, while it holds


def _list_room(spends: list[Spend], company: CompanyConfig, now: float) -> int:
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


def _waiting_since(document: str, seen: float) -> float:
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


def describe(status: CompanyStatus, *, limit: int | None = 50) -> list[str]:
    """`precoro-bot status` lines for one company (pure: everything comes from the snapshot)."""
    p = status.plan
    lines = [f"company {status.company} (planner: {status.policy}) at {_utc(status.at)}"]
    for window, used in status.windows:
        lines.append(f"  window {_span(window.seconds)}: {used} of {window.limit} requests used, "
                     f"{window.reserve} kept for clicks")
    if status.paused:
        lines.append(f"  paused by Precoro until {_utc(status.paused[0])}: {status.paused[1]}")
    pace = p.hour_budget_per_day / p.budget_per_day if p.budget_per_day > 0 else 0.0
    lines.append(f"  polls: {p.budget_per_day:.0f} requests/day (interactive use set aside: "
                 f"{p.interactive_per_day:.0f}/day); this hour at x{pace:.2f} pace; "
                 f"bucket {p.bucket:.1f}; may start now: {p.allowance} request(s)")
    rows = status.approvers if limit is None else status.approvers[:limit]
    lines.append(f"  {len(status.approvers)} active approver(s), next poll first:")
    for r in rows:
        lines.append(f"    {r.approver.slack_user_id} {r.approver.email}: every {_span(r.interval)}, "
                     f"~{r.rate_per_day:.1f} documents/day, last {_utc(r.last_polled)}, next {_utc(r.next_poll)}")
    if len(rows) < len(status.approvers):
        lines.append(f"    ... and {len(status.approvers) - len(rows)} more (--all shows them)")
    return lines


def _utc(at: float | None) -> str:
    if at is None or not math.isfinite(at):
        return "never" if at is None else "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
