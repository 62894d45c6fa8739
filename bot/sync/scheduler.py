"""The tick: retry due decisions first, then poll the approvers whose turn it is.

APScheduler 3 (in-memory job, one per process) calls `tick` every few seconds. The deciding is
done by the pure planner (`bot.quota.planner`, whose docstring explains the policy) through
`bot.sync.planning`; this module gathers their inputs, off the event loop through the store's
boundary, and keeps them cheap enough to look at on every tick:

- the approvers: reloaded when the table changes (checked every `APPROVERS_CHECK_SECONDS`, or ten
  ticks if that is shorter);
- what is learned (`planning.learn`), every `LEARN_SECONDS`;
- the spends, from the quota gate's cache;
- leases, pending hints, approvers' stamps and token checks: one query for all companies
  (`bot.sync.leases`, `bot.sync.fleet`), so a company with nothing due costs no query;
- when the next poll can happen (someone due, and the pacing bucket holding their cost): ticks
  before that only look for due decisions.

Clicks never wait behind polls: no poll starts while a decision of the company is being sent or
is due within a tick, and the gate makes polls step aside for a click that waits for a slot. A
poll cut short by that (or by the quota) counts as not done: its approver is due again at once.

Everything is read back from the database, so a restart forgets nothing that matters; only the
exact start times of this process's polls (used instead of their end times) are in memory. The
state of each company is touched on the event loop only (the database is read in worker threads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import replace
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import CompanyConfig, Config
from bot.quota import planner
from bot.quota.gate import Clock
from bot.quota.ledger import QuotaPolicy, Spend
from bot.quota.share import bot_policy
from bot.store import Store
from bot.store.approvers import SUSPECT, Approver
from bot.sync import discovery, planning, route_keying
from bot.sync.discovery import Discoverer
from bot.sync.fleet import FleetReads
from bot.sync.hint_reads import HintReader
from bot.sync.leases import LeaseKeeper, pool_share, side_by_side
from bot.sync.planning import DAY, LEARN_DAYS, LEARN_SECONDS, CompanyState, Plan, learn, make_plan, waiting_since
from bot.sync.poller import Poller
from bot.sync.status import CompanyStatus, company_status
from bot.sync.token_checks import TokenChecker

log = logging.getLogger(__name__)

WEBHOOK_BACKUP_STRETCH = 4.0  # discovery's timed runs are this much rarer while webhooks arrive
APPROVERS_CHECK_SECONDS = 15.0  # a new approver is polled this soon (or ten ticks, if shorter)
# A decision is queued only after its request failed (no answer, 429, 5xx) or found no quota
# slot, which the gate notes: within the longest retry backoff of that, due decisions are looked
# for on every tick; otherwise at least this often (a dead worker's lease runs out, another
# replica queued one).
DECISION_SWEEP_SECONDS = 30.0
PLAN_SPENDS_MAX_AGE = 60.0  # planning may use the gate's cached spends this old (booking never does)


class DueDecisions(Protocol):
    """What the tick needs of the decisions: retry the due ones, and how long a failed one may wait.

    A protocol, not an import: deciding (authorization, the POST, the message's new state) is the
    approvals feature's (`bot.features.approvals.service.DecisionService`), and the engine never
    imports a feature. The outbox the tick looks into (`store.decisions.any_due`, `busy`) is the
    engine's own; `bot/runtime.py` hands the DecisionService in as this.
    """

    max_backoff_seconds: float  # the longest retry backoff of a queued decision

    async def run_due(self) -> int: ...


class PollScheduler:
    def __init__(self, config: Config, store: Store, poller: Poller, decisions: DueDecisions,
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
        self._companies: dict[str, CompanyState] = {}
        self._decisions_checked_at = -math.inf
        self.leases = LeaseKeeper(store, [c.id for c in config.companies], replica, config.lease_seconds, clock)
        self._limit = pool_share(store)  # database workers the polls may use at once: the rest for clicks
        self.fleet = FleetReads(store, clock, min(APPROVERS_CHECK_SECONDS, 10 * config.tick_seconds))
        self.hints = HintReader(store, poller, discoverer, clock)
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
        self.hints.cancel_wakes()
        self._halt()
        await self.store.run(self.leases.release)

    def shutdown(self) -> None:
        """Stop ticking and hand this replica's companies over at once instead of after a lease
        (blocking: for a caller outside the serving event loop; the server uses `stop`)."""
        self._halt()
        self.leases.release()

    def _halt(self) -> None:
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    async def tick(self) -> None:
        if self._lock.locked():
            return
        async with self._lock:
            self.ticks += 1
            try:
                if await self._decision_due(self.clock.now()):
                    await self.decisions.run_due()
                await self.leases.claim()  # only a few times per lease period, all companies at once
                held = [c for c in self.config.companies if self.leases.holds(c.id) and not self._stopping]
                await self.fleet.refresh({c.id: self._companies.setdefault(c.id, CompanyState()) for c in held},
                                         self.token_checks)
                async with self.leases.keeping():  # renewed while the slowest company works
                    await side_by_side(held, self.poll_company, limit=self._limit, stopping=lambda: self._stopping)
                self.fleet.hinted = None  # a poll woken between ticks takes its company's hints
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Shutting down: a poll cut short is simply not done (the next holder polls again).
                log.info("tick stopped by shutdown")
            except Exception:
                log.exception("tick failed; the next tick starts over from the database")

    # --- inputs ---------------------------------------------------------------------------------

    async def _decision_due(self, now: float) -> bool:
        recent = False
        window = self.decisions.max_backoff_seconds + self.config.tick_seconds
        for company in self.config.companies:
            client = self.poller.clients.get(company.id)
            trouble = client.gate.last_trouble(company.id) if client is not None else now
            recent = recent or (trouble is not None and now - trouble <= window)
        if not recent and now - self._decisions_checked_at < DECISION_SWEEP_SECONDS:
            return False
        self._decisions_checked_at = now
        return await self.store.run(self.store.decisions.any_due, now)

    async def _click_busy(self, company: str, now: float) -> bool:
        """A decision of the company is being sent, or is due within a tick: polls wait."""
        return await self.store.run(self.store.decisions.busy, company, now + self.config.tick_seconds)

    async def _state(self, company: CompanyConfig, now: float) -> CompanyState:
        state = self._companies.setdefault(company.id, CompanyState())
        if now - state.checked_at >= min(APPROVERS_CHECK_SECONDS, 10 * self.config.tick_seconds):
            state.checked_at = now
            stamp = await self.store.run(self.store.approvers.stamp, company.id)
            if stamp != state.stamp:
                state.stamp = stamp
                state.approvers = await self.store.run(self.store.approvers.list, company.id, active_only=True)
                state.next_poll_at = -math.inf
                state.learned_at = -math.inf
                state.version += 1
        if now - state.learned_at >= LEARN_SECONDS:
            await self._learn(company, state, now)
        return state

    async def _learn(self, company: CompanyConfig, state: CompanyState, now: float) -> None:
        """`planning.learn` with the last week's messages (each one's start read once) and spends."""
        arrivals: list[tuple[int, int, float]] = []
        if (self.policy.learn_rates or self.policy.time_of_day) and state.approvers:  # else `learn` needs none
            arrivals = await self.store.run(self.store.messages.arrivals, company.id, now - LEARN_DAYS * DAY)
            missing = [message_id for message_id, _, _ in arrivals if message_id not in state.waiting_since]
            if missing:
                state.waiting_since.update(await self.store.run(self._waiting_times, missing))
        learn(state, company, self.policy, await self._spends(company.id), arrivals, now,
              min_interval=self.config.min_poll_interval_seconds, quota=self._quota(company),
              discovering=state.discovery is not None and not planning.webhooks_arrive(state, now))

    def _waiting_times(self, message_ids: list[int]) -> dict[int, float]:
        """When each message's document started waiting (blocking: reads and parses documents)."""
        return {m: waiting_since(document, seen) for m, seen, document in self.store.messages.documents(message_ids)}

    async def _spends(self, company: str) -> list[Spend]:
        """The company's spends of the last day, sorted by time."""
        client = self.poller.clients.get(company)
        if client is not None:
            return await client.gate.spends(company, max_age=PLAN_SPENDS_MAX_AGE)
        policy = self.config.company(company).quota
        spends = await self.store.run(self.store.quota.recent_spends, company,
                                      self.clock.now() - DAY - policy.margin_seconds)
        return sorted(spends, key=lambda s: s.at)

    # --- planning -------------------------------------------------------------------------------

    async def plan_now(self, company: CompanyConfig) -> Plan:
        now = self.clock.now()
        return await self._plan(company, await self._state(company, now), now)

    async def _plan(self, company: CompanyConfig, state: CompanyState, now: float) -> Plan:
        return make_plan(company, state, await self._spends(company.id), now,
                         min_interval=self.config.min_poll_interval_seconds, quota=self._quota(company),
                         hint_times=self.hints.hint_times(company.id))

    def _poll_budget(self, company: CompanyConfig, state: CompanyState) -> float:
        """Poll requests a day the bot's windows leave after the clicks and the pacing burst."""
        return planner.poll_budget_per_day(self._quota(company), state.interactive_per_day + planner.DEFAULT_BURST)

    def _quota(self, company: CompanyConfig) -> QuotaPolicy:
        """The windows the bot plans within: the gate's (its share, less learned outside use)."""
        client = self.poller.clients.get(company.id)
        return client.gate.policy(company.id) if client is not None else bot_policy(company.quota)

    # --- polling --------------------------------------------------------------------------------

    async def poll_company(self, company: CompanyConfig) -> int:
        async with self.hints.lock(company.id):  # a webhook's wake never overlaps this poll
            return await self._poll_company(company)

    async def _poll_company(self, company: CompanyConfig) -> int:
        now = self.clock.now()
        state = await self._state(company, now)
        if self.fleet.hints_for(company.id) or self.hints.due(company.id, now):
            await self._take_hints(company, state)
        if (self.token_checks is not None and self.token_checks.due(company.id) and await self._keeps(company)
                and not await self._click_busy(company.id, now) and await self.token_checks.run(company.id)):
            state.stamp = None  # a token restored: read the approvers again
            return 0
        if await self.discover_company(company, state, now):
            return 0  # discovery ran, or is due and waits for quota: polls wait for the next tick
        if now < state.next_poll_at or not state.approvers:
            return 0
        if await self._click_busy(company.id, now):
            state.next_poll_at = now + self.config.tick_seconds
            return 0
        p = await self._plan(company, state, now)
        cost = len(company.document_types)
        room = min(p.allowance, self._list_room(company, state, p) * cost, planning.beside_discovery(state, p))
        covered = planning.safety_net(company, state, p.loads, discovering=self.discoverer is not None)
        loads = [replace(a, last_polled=None) if a.key in state.hinted else a for a in covered]  # hinted: first
        keys = planner.backlog_order(loads, now, max_requests=room, arrivals=state.arrivals,
                                     min_interval=p.min_interval,
                                     max_wait=planner.longest_wait(loads, p.budget_per_day))
        if not keys:
            client = self.poller.clients.get(company.id)
            state.next_poll_at = planning.next_poll_at(
                p, len(company.document_types), self.config.tick_seconds,
                windows_grow_at=client.gate.windows_grow_at(company.id) if client is not None else math.inf)
            return 0
        by_key = {str(a.id): a for a in state.approvers}
        polled = 0
        for key in keys:
            if not await self._keeps(company):
                break
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

    async def _keeps(self, company: CompanyConfig) -> bool:
        """Before each Precoro-issuing step: not stopping, and the lease (renewed when due) trusted."""
        return not self._stopping and await self.leases.keeps(company.id)

    async def _take_hints(self, company: CompanyConfig, state: CompanyState) -> None:
        """Precoro webhooks (any replica stored them): each hinted document read on its own at
        once, else today's fallback (`bot/sync/hint_reads.py`)."""
        now = self.clock.now()
        if self.discoverer is not None:
            await self._discovery_approver(company, state, now)
        budget = self._poll_budget(company, state)
        await self.hints.take(company, state, budget_per_day=budget,
                              click_busy=lambda: self._click_busy(company.id, self.clock.now()))

    def wake(self, company: str) -> asyncio.Task[None] | None:
        """A webhook stored a hint: read it now, not at the next tick (`HintReader.wake`)."""
        return None if self._stopping else self.hints.wake(company, self._read_woken)

    async def _read_woken(self, company_id: str) -> None:
        company = self.config.company(company_id)
        if not self._stopping and self.leases.holds(company.id):
            await self._take_hints(company, await self._state(company, self.clock.now()))

    # --- company discovery (bot.sync.discovery explains the pace) --------------------------------

    async def discovery_state(self, company: CompanyConfig) -> tuple[Approver | None, tuple[str, ...]]:
        """The company's discovery approver (None: off) and the types discovery reads."""
        state = await self._state(company, self.clock.now())
        return await self._discovery_approver(company, state, self.clock.now()), state.discovery_types

    async def _discovery_approver(self, company: CompanyConfig, state: CompanyState, now: float) -> Approver | None:
        """Read back from the database every few ticks (another replica or a command may change it);
        with no row there, the config's `discovery_user` (if registered and active) is the default."""
        if now - state.discovery_checked_at < min(APPROVERS_CHECK_SECONDS, 10 * self.config.tick_seconds):
            return state.discovery
        state.discovery_checked_at = now
        settings = await self.store.run(self.store.discovery.get, company.id)
        if settings is None:
            found = [a for a in state.approvers if a.slack_user_id == company.discovery_user]
            state.discovery = found[0] if company.discovery_user and found else None
            if state.discovery is not None:  # from now on the database decides (commands, other replicas)
                await self.store.run(self.store.discovery.set_approver, company.id, state.discovery.id, by="config",
                                     now=now)
            fallback: frozenset[str] = frozenset()
        else:
            found = (await self.store.run(self.store.approvers.get, settings.approver_id)
                     if settings.approver_id is not None else None)
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

    async def discover_company(self, company: CompanyConfig, state: CompanyState, now: float) -> bool:
        """Run company discovery when it is due; True when it ran or is due but waits for quota
        (the pacing bucket then fills for it rather than for a poll)."""
        approver = await self._discovery_approver(company, state, now) if self.discoverer is not None else None
        cost = len(state.discovery_types)
        state.discovery_due = None
        if state.discovery_lost is not None and self.discoverer is not None:
            (lost, team), state.discovery_lost = state.discovery_lost, None
            await self.discoverer.lost(company.id, lost, team=team)
        if approver is None or self.discoverer is None or not cost:
            return False
        others = any(a.id != approver.id for a in state.approvers)
        budget = self._poll_budget(company, state)
        # Timed runs no closer than Precoro's duplicate window: the URL variants are for retries.
        window = company.quota.duplicate_get_seconds + company.quota.margin_seconds
        every = discovery.interval(budget, cost, others=others, min_interval=max(self.config.tick_seconds, window))
        webhooks = planning.webhooks_arrive(state, now)
        if webhooks:  # they say when to look: timed runs only back them up
            every *= WEBHOOK_BACKUP_STRETCH
        last = state.discovered_at
        if (not state.discovery_hinted and last is not None
                and (elapsed := planner.weighted_seconds(state.profile, last, now)) < every):
            # Polls leave the next run its tokens: by the time it is due, or at all times while a
            # webhook may ask for it any moment.
            state.discovery_due = (0.0 if webhooks else every - elapsed, cost)
            return False
        if not await self._keeps(company) or await self._click_busy(company.id, now):
            return True
        if now < state.discovery_retry_at:  # held back by the gate: polls go on, leaving it its tokens
            state.discovery_due = (0.0, cost)
            return False
        p = await self._plan(company, state, now)
        if p.allowance < cost and not (state.discovery_hinted  # a hint's fallback may draw ahead of the bucket
                                       and self.hints.draw(company.id, p, self._quota(company), cost)):
            return True
        state.discovery_hinted = False
        result = await self.discoverer.run(company.id, approver, only=state.discovery_left)
        state.discovery_checked_at = -math.inf  # read back: a fallback or a revoked token changed it
        if result.error == "token":
            state.discovery, state.discovered_at, state.discovery_left = None, None, None
            return False
        if result.complete or result.error not in ("QuotaDeferred", "RateLimited"):
            state.discovered_at, state.discovery_left = now, None
            return True
        # Cut short by the gate (a click, a 429): the types read completely moved their cursors and
        # the rest is retried (with other URLs) once the gate may have room; polls are not held up.
        state.discovery_hinted, state.discovery_due = True, (0.0, cost)
        state.discovery_retry_at = max(now + self.config.tick_seconds, result.retry_at or now)
        state.discovery_left = result.left or None
        return False

    def _list_room(self, company: CompanyConfig, state: CompanyState, p: Plan) -> int:
        """Polls that may start without repeating a list read Precoro would refuse (by URL, or by
        path once its duplicates are known to be keyed by route: `bot/sync/route_keying.py`)."""
        client = self.poller.clients.get(company.id)
        if client is None or not client.route_keyed:
            return p.list_room
        due = state.discovery_due if state.discovery is not None else None
        last = max((started for started, _ in state.started.values()), default=None)
        return route_keying.poll_room(p.spends, company.document_types, company.quota, p.at, discovery_due=due,
                                      last_poll=last, profile=p.profile)

    # --- status ---------------------------------------------------------------------------------

    async def snapshot(self, company: CompanyConfig) -> CompanyStatus:
        """What `precoro-bot status` and `/precoro status` show for one company (the approvers read
        again, so a status right after a registration already shows it)."""
        if (state := self._companies.get(company.id)) is not None:
            state.checked_at = -math.inf
        p = await self.plan_now(company)
        paused_until, reason = await self.store.run(self.store.quota.gate, company.id)
        client = self.poller.clients.get(company.id)
        outside = client.gate.outside_use(company.id) if client is not None else None
        return company_status(company, p, policy=self.policy.name, paused=(paused_until, reason),
                              quota=self._quota(company), outside=outside[0] if outside else None)
