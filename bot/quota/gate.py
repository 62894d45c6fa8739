"""The one door every Precoro request goes through: the persisted, shared quota ledger.

A request may be sent only once its spend is written, inside the company's ledger lock, at a
slot `earliest_slot` allows; so counts survive restarts and replicas never overspend together.
A request occupies the ledger until it finishes (in flight counts as "now"), which keeps one
request at a time per company and spaces requests from the end of the previous one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.precoro.errors import QuotaDeferred
from bot.quota.ledger import Lane, QuotaPolicy, Spend, earliest_slot
from bot.store.quota import QuotaRepo, StoredSpend


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


@dataclass(frozen=True)
class Ticket:
    company: str
    spend_id: int
    at: float
    variant: int = 0  # which of the offered GET keys was booked


def get_key(path: str, params: list[tuple[str, str]]) -> str:
    """The duplicate-GET identity of a request: company-wide (strict mode), token-free."""
    canonical = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params))
    return hashlib.sha256(canonical.encode()).hexdigest()


class QuotaGate:
    def __init__(self, repo: QuotaRepo, policies: dict[str, QuotaPolicy], clock: Clock,
                 *, in_flight_timeout: float) -> None:
        self.repo = repo
        self.policies = policies
        self.clock = clock
        self.in_flight_timeout = in_flight_timeout
        self._clicks_waiting: Counter[str] = Counter()

    def policy(self, company: str) -> QuotaPolicy:
        return self.policies[company]

    def _effective(self, spends: list[StoredSpend], now: float) -> list[Spend]:
        result = []
        for s in spends:
            if s.finished_at is not None:
                at = max(s.at, s.finished_at)
            elif now - s.at < self.in_flight_timeout:
                at = max(s.at, now)  # still in flight: it blocks the spacing window
            else:
                at = s.at  # its sender died; it counted when sent
            result.append(Spend(at=at, lane=Lane(s.lane), get_key=s.get_key))
        return result

    def _try_book(self, company: str, lane: Lane,
                  keys: Sequence[str | None]) -> tuple[Ticket | None, float | None]:
        policy = self.policy(company)
        horizon = max(w.seconds for w in policy.windows) + policy.margin_seconds + self.in_flight_timeout
        with self.repo.locked(company) as book:
            now = self.clock.now()  # read under the lock: waiting for it takes time
            spends = self._effective(book.spends_since(now - horizon), now)
            blocked = book.blocked_until()
            slots = [earliest_slot(spends, policy, lane, now, get_key=k, blocked_until=blocked) for k in keys]
            best = min((i for i, s in enumerate(slots) if s is not None), key=lambda i: slots[i], default=None)
            if best is None:
                return None, None
            if slots[best] <= now:  # type: ignore[operator]
                return Ticket(company, book.add(now, lane.value, keys[best]), now, best), now
            return None, slots[best]

    async def acquire(self, company: str, lane: Lane, *, get_keys: Sequence[str | None],
                      max_wait: float) -> Ticket:
        """Book a slot now or within `max_wait` for one of `get_keys` (equivalent variants of one
        read; `[None]` for a write); raises QuotaDeferred when none comes in time.

        Clicks waiting for a slot make this process's polls step aside."""
        deadline = self.clock.now() + max_wait
        if lane is Lane.INTERACTIVE:
            self._clicks_waiting[company] += 1
        try:
            while True:
                if lane is Lane.POLL and self._clicks_waiting[company]:
                    raise QuotaDeferred("polls wait while a click is sent", retry_at=self.clock.now() + 1)
                ticket, slot = self._try_book(company, lane, get_keys)
                if ticket is not None:
                    return ticket
                if slot is None or slot > deadline:
                    raise QuotaDeferred(f"no {lane.value} quota for {company} in time", retry_at=slot)
                await self.clock.sleep(slot - self.clock.now())
        finally:
            if lane is Lane.INTERACTIVE:
                self._clicks_waiting[company] -= 1

    def finish(self, ticket: Ticket, status: int | None) -> None:
        self.repo.finish(ticket.spend_id, self.clock.now(), status)

    def block(self, company: str, until: float, reason: str) -> None:
        self.repo.block(company, until, reason)
