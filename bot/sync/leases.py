"""Which companies this replica polls: its leases, claimed for all companies at once.

A tick must cost what is due, not what is configured: the leases of every company are taken or
renewed by one statement (`LeaseRepo.claim`), and only every `lease_seconds / RENEWALS` (a third of
the lease by default), not on every tick. Between claims the replica trusts what it holds until
`expires_at - lease_seconds * SAFETY`: its lease still has a sixth left when it stops polling a
company whose renewal failed (database down, a tick that ran long), so two replicas never poll a
company at once. A company another replica holds is tried again at the next claim, and taken once
that replica's lease has run out (it died) or was released (it stopped).

A tick lasts as long as its slowest company (one hung request: `request_timeout_seconds`, longer
than half a lease), so the claim is not left to the tick's start: `keeping` renews when due from a
small task beside the tick's work, and `keeps` (renewing when due) is asked before every step of a
company that sends Precoro requests. `side_by_side` caps the database workers the companies use
at once (`pool_share`), so clicks' quota bookings always find a free one (`bot/store/boundary.py`).

Clock skew: a lease's end is written with its holder's injected wall clock (`clock.now()`, which
the simulations drive) and read with the other replica's. A replica whose clock runs ahead by s
takes a lapsed-looking lease s early, while the holder trusts it until a sixth before its end: two
replicas may poll a company at once only when their clocks differ by more than that sixth
(`lease_seconds * SAFETY`, 5 s by default). Keep the replicas on NTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from bot.quota.gate import Clock
from bot.store import Store
from bot.store.boundary import fan_out
from bot.store.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)
T = TypeVar("T")

RENEWALS = 3  # claims per lease period
SAFETY = 1 / 6  # of the lease left unused at the end of what we hold


class LeaseKeeper:
    def __init__(self, store: Store, companies: list[str], replica: str, lease_seconds: float, clock: Clock) -> None:
        self.store, self.companies, self.replica = store, companies, replica
        self.lease_seconds, self.clock = lease_seconds, clock
        self._until: dict[str, float] = {}  # company -> when we stop trusting our lease on it
        self._claimed_at = -float("inf")
        self._claiming: asyncio.Lock | None = None  # one claim at a time (created on the loop)

    def _due_in(self) -> float:
        return self._claimed_at + self.lease_seconds / RENEWALS - self.clock.now()

    async def claim(self) -> None:
        """Take or renew every lease we may (one statement), when a third of the lease has gone;
        cheap when not due. Concurrent callers share one claim."""
        if self._due_in() > 0:
            return
        self._claiming = self._claiming or asyncio.Lock()
        async with self._claiming:
            if self._due_in() > 0:
                return  # another caller just claimed
            now = self.clock.now()
            held = await self.store.run(self.store.leases.claim, self.companies, self.replica, now,
                                        self.lease_seconds)
            self._claimed_at = now
            until = now + self.lease_seconds * (1 - SAFETY)
            self._until = {company: until for company in held}

    async def keeps(self, company: str) -> bool:
        """Whether we may still send Precoro requests for the company, renewing first when due (a
        failed renewal leaves what we hold trusted until its sixth is left)."""
        try:
            await self.claim()
        except DATABASE_UNAVAILABLE:
            log.warning("leases not renewed (database unavailable); trusting them until their margin")
        return self.holds(company)

    @contextlib.asynccontextmanager
    async def keeping(self) -> AsyncIterator[None]:
        """Renew when due while the block runs (a tick held up by one slow company keeps its leases)."""
        async def renew() -> None:
            while True:
                with contextlib.suppress(*DATABASE_UNAVAILABLE):
                    await self.claim()
                await self.clock.sleep(max(self._due_in(), self.lease_seconds / (6 * RENEWALS)))

        task = asyncio.get_running_loop().create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def holds(self, company: str) -> bool:
        return self.clock.now() < self._until.get(company, -float("inf"))

    def release(self) -> None:
        """Hand every company over at once (blocking: call it through the store or at shutdown)."""
        self._until = {}
        try:
            self.store.leases.release_all(self.companies, self.replica)
        except DATABASE_UNAVAILABLE:
            log.warning("leases not released (database unavailable); they expire by themselves")


def pool_share(store: Store) -> int:
    """The database workers the tick's companies may use at once: half, the rest for clicks."""
    return max(1, store.boundary.workers // 2)


async def side_by_side(items: Sequence[T], work: Callable[[T], Awaitable[object]], *, limit: int,
                       stopping: Callable[[], bool]) -> None:
    """`work(item)` for every item at once (a company whose poll waits for its quota's spacing
    holds no other up), their database calls on at most `limit` workers at once. A failure is
    logged (that item starts over from the database next tick); a cancellation is re-raised
    unless we are stopping."""
    with fan_out(limit):  # the tasks gather starts inherit it
        done = await asyncio.gather(*(work(item) for item in items), return_exceptions=True)
    for item, failed in zip(items, done, strict=True):
        if isinstance(failed, asyncio.CancelledError):
            if not stopping():
                raise failed
        elif isinstance(failed, BaseException):
            log.error("polling %s failed; its next turn starts over from the database",
                      getattr(item, "id", item), exc_info=failed)
