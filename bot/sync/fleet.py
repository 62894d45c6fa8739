"""What a tick reads once for all companies, so that a company with nothing due costs no query.

A replica may serve hundreds of companies; the per-company reads a tick used to make (pending
webhook hints, the approvers' stamp, token checks due) are made here by one query each for all of
them, and a company's own query runs only when the shared answer says it has something:

- hints: every tick (which companies have some); only those take theirs;
- approvers' stamps: every `APPROVERS_CHECK_SECONDS` (or ten ticks); a company whose stamp moved
  has its list read again at its turn, the rest count as checked;
- token checks: at the same pace; a company with none due skips its own scan until the next one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from bot.quota.gate import Clock
from bot.store import Store
from bot.sync.planning import CompanyState
from bot.sync.token_checks import TokenChecker


class FleetReads:
    def __init__(self, store: Store, clock: Clock, check_seconds: float) -> None:
        self.store, self.clock, self.check_seconds = store, clock, check_seconds
        self.hinted: set[str] | None = None  # None: not read yet (every company takes its hints)
        self._stamps: dict[str, tuple[object, ...]] = {}
        self._stamped_at = -math.inf

    async def refresh(self, states: Mapping[str, CompanyState], token_checks: TokenChecker | None) -> None:
        """The shared reads for the companies this tick polls (their states, by id)."""
        now = self.clock.now()
        self.hinted = await self.store.run(self.store.hints.companies)
        if now - self._stamped_at >= self.check_seconds:
            self._stamps = await self.store.run(self.store.approvers.stamps)
            self._stamped_at = now
            if token_checks is not None:
                due = await self.store.run(self.store.approvers.check_companies, now)
                token_checks.scanned([c for c in states if c not in due], now)
        for company, state in states.items():
            self._settle(company, state)

    def hints_for(self, company: str) -> bool:
        return self.hinted is None or company in self.hinted

    def _settle(self, company: str, state: CompanyState) -> None:
        """Apply the shared stamp read: unchanged counts as this company's check; changed forces
        its own read (of the list) at its turn."""
        if self._stamped_at <= state.checked_at:
            return
        if self._stamps.get(company, (0, None, None)) == state.stamp:
            state.checked_at = self._stamped_at
        else:
            state.checked_at = -math.inf
