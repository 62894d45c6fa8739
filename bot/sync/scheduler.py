"""The tick: retry due decisions first, then poll the approvers whose turn it is.

APScheduler 3 (in-memory job, one per process) calls `tick` every few seconds; all the
deciding is done by the pure planner over what the database says, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import CompanyConfig, Config
from bot.decisions import DecisionService
from bot.quota import planner
from bot.quota.gate import Clock
from bot.store import Store
from bot.store.approvers import Approver
from bot.sync.poller import Poller

log = logging.getLogger(__name__)

DAY = 86400.0
# Expected interactive use per day kept out of the poll budget (besides the configured reserve).
INTERACTIVE_PER_DAY = 100.0


class PollScheduler:
    def __init__(self, config: Config, store: Store, poller: Poller, decisions: DecisionService,
                 clock: Clock) -> None:
        self.config = config
        self.store = store
        self.poller = poller
        self.decisions = decisions
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self.ticks = 0

    def start(self) -> None:
        # A tick longer than the interval is normal (a slow Precoro); APScheduler's "skipped" warning is noise.
        logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self.tick, "interval", seconds=self.config.tick_seconds, max_instances=1,
                                coalesce=True, misfire_grace_time=None, id="tick")
        self._scheduler.start()

    def shutdown(self) -> None:
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
                await self.decisions.run_due()
                for company in self.config.companies:
                    await self.poll_company(company)
            except Exception:
                log.exception("tick failed; the next tick starts over from the database")

    def plan(self, company: CompanyConfig) -> tuple[list[Approver], dict[str, float], int]:
        """(approvers, interval per approver key, poll requests allowed now)."""
        now = self.clock.now()
        approvers = self.store.approvers.list(company.id, active_only=True)
        cost = len(company.document_types)
        loads = [
            planner.Approver(
                key=str(a.id), cost=cost, last_polled=a.last_polled_at,
                docs_per_day=a.docs_seen / max(1.0, (now - a.created_at) / DAY),
            )
            for a in approvers
        ]
        budget = planner.poll_budget_per_day(company.quota, INTERACTIVE_PER_DAY)
        intervals = planner.intervals(loads, budget, now, min_interval=self.config.min_poll_interval_seconds)
        spends = self.store.quota.recent_spends(company.id, now - DAY - company.quota.margin_seconds)
        allowance = planner.poll_allowance(spends, company.quota, budget, now)
        return approvers, intervals, allowance

    async def poll_company(self, company: CompanyConfig) -> int:
        approvers, intervals, allowance = self.plan(company)
        if allowance <= 0 or not approvers:
            return 0
        loads = [
            planner.Approver(key=str(a.id), cost=len(company.document_types), last_polled=a.last_polled_at)
            for a in approvers
        ]
        by_key = {str(a.id): a for a in approvers}
        polled = 0
        for key in planner.due(loads, intervals, self.clock.now(), max_requests=allowance):
            result = await self.poller.poll(by_key[key])
            polled += 1
            if not result.complete and result.error not in ("", "token", "vault"):
                break  # quota or outage: leave the rest for a later tick
        return polled
