"""Registration checks take turns, wait for a slot instead of failing, and leave polls theirs.

An admin registering fifty approvers in a minute sends fifty token checks. Were each a click
(the interactive lane), they would make every poll step aside for as long as they last, and any
that found no slot within a click's wait would fail with "try again". So a company's checks go
one at a time (in the interactive lane, but without making polls step aside; in the poll lane
they would count as poll list reads and close the planner's list-URL room), each after a gap of
two spacing windows since the last: the slot in between is a poll's. A check the gate defers
(no slot in time, a 429 pause, a click being sent) waits for the slot and tries again, up to
`max_wait`; the admin already reads "Checking the token… with Precoro" meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.precoro.errors import QuotaDeferred
from bot.quota.gate import Clock

MAX_WAIT_SECONDS = 300.0  # after this a registration says "try again" after all
GAP_SPACINGS = 2.0  # a check's gap after the previous one, in spacing windows: one is left to polls


class CheckTurns:
    def __init__(self, clock: Clock, spacing: Callable[[str], float], *, max_wait: float = MAX_WAIT_SECONDS) -> None:
        self.clock = clock
        self.spacing = spacing  # company -> its shortest window (plus margin), in seconds
        self.max_wait = max_wait
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    def waiting(self, company: str) -> bool:
        """True while a check of the company holds or waits for its turn."""
        lock = self._locks.get(company)
        return lock is not None and lock.locked()

    async def run(self, company: str, check: Callable[[], Awaitable[None]]) -> None:
        """Run `check` in the company's turn; QuotaDeferred only when no slot came within `max_wait`."""
        deadline = self.clock.now() + self.max_wait
        async with self._locks.setdefault(company, asyncio.Lock()):
            gap = GAP_SPACINGS * self.spacing(company)
            try:
                while True:
                    wait = self._last.get(company, -1e300) + gap - self.clock.now()
                    if wait > 0:
                        await self.clock.sleep(wait)
                    try:
                        await check()
                        return
                    except QuotaDeferred as deferred:
                        now = self.clock.now()
                        retry_at = deferred.retry_at if deferred.retry_at is not None else now + 1.0
                        if retry_at > deadline:
                            raise
                        await self.clock.sleep(max(retry_at - now, gap))
            finally:
                self._last[company] = self.clock.now()
