"""The one door every Precoro request goes through: the persisted, shared quota ledger.

A request may be sent only once its spend is written, inside the company's ledger lock, at a
slot `earliest_slot` allows; so counts survive restarts and replicas never overspend together.
A request occupies the ledger until it finishes (in flight counts as "now"), which keeps one
request at a time per company and spaces requests from the end of the previous one.

The gate keeps each company's spends in memory as a write-through cache of the database: under
the lock it reads only the rows it has not seen (newer ids, which another replica or process may
have added; ids of one company grow in commit order because they are taken under its lock) and
the ones still in flight, so a booking costs one small query however many spends the day holds.
A new process starts from the database, so a restart forgets nothing.

Database work runs off the event loop, through the store's boundary (`bot/store/boundary.py`),
so a database that hangs stalls only the requests that wait for a booking. The cached books are
then touched by worker threads: each company's book is guarded by its own lock, which the event
loop only ever tries (a book busy elsewhere gives no cached hint; the booking itself decides).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, bindparam, select

from bot.precoro.errors import QuotaDeferred
from bot.quota.ledger import Lane, QuotaPolicy, Spend, earliest_slot
from bot.quota.share import OutsideUse, bot_policy, learn_429, outside_now
from bot.store.boundary import Boundary
from bot.store.db import DATABASE_UNAVAILABLE
from bot.store.quota import QuotaRepo, StoredSpend
from bot.store.schema import quota_spends

log = logging.getLogger(__name__)

# How long a block read from the database is believed without reading it again.
BLOCK_TRUST_SECONDS = 5.0


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


_SPEND_COLUMNS = (quota_spends.c.id, quota_spends.c.at, quota_spends.c.lane, quota_spends.c.get_key,
                  quota_spends.c.finished_at, quota_spends.c.status)
_SPENDS_SINCE = (  # the first read: the whole horizon
    select(*_SPEND_COLUMNS)
    .where((quota_spends.c.company == bindparam("company")) & (quota_spends.c.at >= bindparam("since")))
    .order_by(quota_spends.c.id)
)
_NEW_SPENDS = (  # later reads: rows not seen yet (a primary-key range)
    select(*_SPEND_COLUMNS)
    .where((quota_spends.c.id > bindparam("after")) & (quota_spends.c.company == bindparam("company")))
    .order_by(quota_spends.c.id)
)
_SPENDS_BY_ID = select(*_SPEND_COLUMNS).where(quota_spends.c.id.in_(bindparam("ids", expanding=True)))


@dataclass
class _Book:
    """One company's spends as last read: finished ones sorted by effective time, open ones apart."""

    last_id: int = 0
    times: list[float] = field(default_factory=list)  # effective times of finished spends, sorted
    done: list[Spend] = field(default_factory=list)  # in the same order
    open: dict[int, StoredSpend] = field(default_factory=dict)  # not finished (in flight, or abandoned)
    latest: dict[str, float] = field(default_factory=dict)  # lane -> latest send time seen
    mine: set[int] = field(default_factory=set)  # open spends this gate booked
    blocked_until: float = 0.0  # as last read
    blocked_read_at: float = -1e300  # when: an admin may clear a block from another process
    refreshed_at: float = -1e300

    def absorb(self, rows: Iterable[StoredSpend]) -> None:
        for row in rows:
            self.last_id = max(self.last_id, row.id)
            self.latest[row.lane] = max(self.latest.get(row.lane, row.at), row.at)
            if row.finished_at is None:
                self.open[row.id] = row
            else:
                self.open.pop(row.id, None)
                self._insert(Spend(max(row.at, row.finished_at), Lane(row.lane), row.get_key))

    def finish(self, spend_id: int, finished_at: float) -> None:
        self.mine.discard(spend_id)
        row = self.open.pop(spend_id, None)
        if row is not None:
            self._insert(Spend(max(row.at, finished_at), Lane(row.lane), row.get_key))

    def _insert(self, spend: Spend) -> None:
        i = bisect_right(self.times, spend.at)
        self.times.insert(i, spend.at)
        self.done.insert(i, spend)

    def expire(self, before: float) -> None:
        cut = bisect_left(self.times, before)
        del self.times[:cut], self.done[:cut]
        for spend_id in [i for i, row in self.open.items() if row.at < before]:
            del self.open[spend_id]
            self.mine.discard(spend_id)


class QuotaGate:
    def __init__(self, repo: QuotaRepo, policies: dict[str, QuotaPolicy], clock: Clock,
                 *, in_flight_timeout: float, boundary: Boundary | None = None) -> None:
        self.repo = repo
        self.policies = policies
        self.clock = clock
        self.in_flight_timeout = in_flight_timeout
        self.boundary = boundary or Boundary(inline=True)
        self._clicks_waiting: Counter[str] = Counter()
        self._books: dict[str, _Book] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._trouble: dict[str, float] = {}
        self._bare_429s: Counter[str] = Counter()  # 429s in a row without Precoro's fields
        self._unsaved_blocks: dict[str, float] = {}  # 429 pauses the database could not take yet
        self._outside: dict[str, dict[float, OutsideUse]] = {}  # other integrations' use, learned from 429s

    def _lock(self, company: str) -> threading.Lock:
        return self._locks.setdefault(company, threading.Lock())

    def policy(self, company: str) -> QuotaPolicy:
        """The windows the bot books within: its share of Precoro's, less the outside use learned
        from 429s (until the window's reset; see `bot.quota.share`)."""
        base = self.policies[company]
        learned = self._outside.get(company)
        return bot_policy(base, outside_now(learned, self.clock.now()) if learned else None)

    def precoro_policy(self, company: str) -> QuotaPolicy:
        """Precoro's own windows and the configured share."""
        return self.policies[company]

    def note_429(self, company: str, spends: Sequence[Spend], limit_type: str, reset_at: float) -> OutsideUse | None:
        """A 429 came while the bot's ledger held `spends`: if the bot was within its share, it is
        counted as another integration's use (returned) and the bot's windows shrink until the
        window resets at `reset_at` (the 429's retry time; Precoro's windows are fixed). Kept in
        this process only (each replica learns from the 429s it meets; the pause itself, which
        covers the same span, is in the database)."""
        now = self.clock.now()
        learned = learn_429(spends, self.policies[company], limit_type, now, self._outside.get(company, {}),
                            reset_at)
        if learned is None:
            return None
        self._outside[company] = learned
        return max(learned.values(), key=lambda u: u.at)

    def windows_grow_at(self, company: str) -> float:
        """When the bot's windows next grow back: the earliest reset ending a learned outside use
        still believed (inf: none)."""
        now = self.clock.now()
        return min((u.until for u in self._outside.get(company, {}).values() if u.until > now), default=math.inf)

    def outside_use(self, company: str) -> tuple[OutsideUse, float] | None:
        """The latest outside use learned and what of it is still believed now (None: none left)."""
        learned = self._outside.get(company)
        if not learned:
            return None
        left = outside_now(learned, self.clock.now())
        live = [u for u in learned.values() if u.seconds in left]
        if not live:
            return None
        latest = max(live, key=lambda u: u.at)
        return latest, left[latest.seconds]

    def _horizon(self, company: str) -> float:
        policy = self.policy(company)
        return max(w.seconds for w in policy.windows) + policy.margin_seconds + self.in_flight_timeout

    def _refresh(self, conn: Connection, company: str, now: float) -> _Book:
        """Bring the cached book up to date with the database (call under the lock to book)."""
        book = self._books.get(company)
        since = now - self._horizon(company)
        if book is None:
            book = self._books[company] = _Book()
            rows = conn.execute(_SPENDS_SINCE, {"company": company, "since": since}).all()
        else:
            book.expire(since)
            rows = conn.execute(_NEW_SPENDS, {"company": company, "after": book.last_id}).all()
            if others := [i for i in book.open if i not in book.mine]:  # in flight elsewhere: finished yet?
                rows += conn.execute(_SPENDS_BY_ID, {"ids": others}).all()
        book.absorb(StoredSpend(*r) for r in rows)
        book.refreshed_at = now
        return book

    def _in_flight(self, book: _Book, now: float, *, mine_only: bool = False) -> list[Spend]:
        """Unfinished spends: still in flight they sit at `now` (blocking the spacing window);
        older than the in-flight timeout their sender died, and they count when sent."""
        return [Spend(at=max(s.at, now) if now - s.at < self.in_flight_timeout else s.at, lane=Lane(s.lane),
                      get_key=s.get_key) for i, s in book.open.items() if not mine_only or i in book.mine]

    def _cached_slot(self, company: str, lane: Lane, keys: Sequence[str | None]) -> float | None:
        """A lower bound of the earliest slot, from the cache alone (no lock, no database): the
        database can only hold more spends and a later block. None when there is no cache yet, the
        lane can never send, or an outside use is believed on a pause read over
        BLOCK_TRUST_SECONDS ago (a resume elsewhere ends both: only the database tells). Other
        processes' requests still in flight are left out, as the cache may not know that they
        have finished."""
        book, lock = self._books.get(company), self._lock(company)
        if book is None or not lock.acquire(blocking=False):
            return None
        try:
            now = self.clock.now()
            if company in self._outside and now - book.blocked_read_at >= BLOCK_TRUST_SECONDS:
                return None  # the outside use ends with a pause an admin cleared: read the pause
            policy = self.policy(company)
            spends = _binding(book, self._in_flight(book, now, mine_only=True), policy, lane, now)
            # A cached block is trusted only briefly: an admin may have cleared it (CLI, another replica).
            blocked = book.blocked_until if now - book.blocked_read_at < BLOCK_TRUST_SECONDS else 0.0
            slots = [earliest_slot(spends, policy, lane, now, get_key=k, blocked_until=blocked) for k in keys]
        finally:
            lock.release()
        return min((s for s in slots if s is not None), default=None)

    def recent_spends(self, company: str, *, max_age: float = 0.0) -> list[Spend]:
        """The company's spends of the last day and a bit, as the ledger sees them, sorted by time
        (for planning; read from the database unless the cache is younger than `max_age`).
        Blocking: call it off the event loop."""
        with self._lock(company):
            now = self.clock.now()
            book = self._books.get(company)
            if book is None or now - book.refreshed_at > max_age:
                with self.repo.engine.connect() as conn:
                    book = self._refresh(conn, company, now)
            in_flight = self._in_flight(book, now)
            return sorted(book.done + in_flight, key=lambda s: s.at) if in_flight else list(book.done)

    async def spends(self, company: str, *, max_age: float = 0.0) -> list[Spend]:
        """`recent_spends` from async code."""
        return await self.boundary.run(self.recent_spends, company, max_age=max_age)

    def last_trouble(self, company: str) -> float | None:
        """When an interactive request of the company last failed in a way that gets a decision
        queued for a retry (no answer, 429, 5xx) or found no slot in time, in this process."""
        return self._trouble.get(company)

    def last_sent(self, company: str, lane: Lane) -> float | None:
        """The latest `lane` request of the company this gate has seen (no database read)."""
        book = self._books.get(company)
        return book.latest.get(lane.value) if book is not None else None

    def _try_book(self, company: str, lane: Lane,
                  keys: Sequence[str | None]) -> tuple[Ticket | None, float | None]:
        with self._lock(company), self.repo.locked(company) as locked:
            now = self.clock.now()  # read under the lock: waiting for it takes time
            book = self._refresh(locked.conn, company, now)
            was_blocked = book.blocked_until
            blocked = book.blocked_until = max(locked.blocked_until(), self._unsaved_blocks.get(company, 0.0))
            book.blocked_read_at = now
            if blocked <= now < was_blocked:  # the pause ended before its time: an admin's resume elsewhere
                self._outside.pop(company, None)
            policy = self.policy(company)
            spends = _binding(book, self._in_flight(book, now), policy, lane, now)
            slots = [earliest_slot(spends, policy, lane, now, get_key=k, blocked_until=blocked) for k in keys]
            best = min((i for i, s in enumerate(slots) if s is not None), key=lambda i: slots[i], default=None)
            if best is None:
                return None, None
            if slots[best] <= now:  # type: ignore[operator]
                spend_id = locked.add(now, lane.value, keys[best])
                book.absorb([StoredSpend(spend_id, now, lane.value, keys[best], None, None)])
                book.mine.add(spend_id)
                return Ticket(company, spend_id, now, best), now
            return None, slots[best]

    async def acquire(self, company: str, lane: Lane, *, get_keys: Sequence[str | None],
                      max_wait: float, hold_polls: bool = True) -> Ticket:
        """Book a slot now or within `max_wait` for one of `get_keys` (equivalent variants of one
        read; `[None]` for a write); raises QuotaDeferred when none comes in time.

        Clicks waiting for a slot make this process's polls step aside; an interactive request
        that may wait (`hold_polls=False`: a registration's token check) does not."""
        deadline = self.clock.now() + max_wait
        hold_polls = hold_polls and lane is Lane.INTERACTIVE
        if hold_polls:
            self._clicks_waiting[company] += 1
        try:
            while True:
                if lane is Lane.POLL and self._clicks_waiting[company]:
                    raise QuotaDeferred("polls wait while a click is sent", retry_at=self.clock.now() + 1)
                slot = self._cached_slot(company, lane, get_keys)
                if slot is not None and slot > self.clock.now():  # surely not yet: wait without a transaction
                    if slot > deadline:
                        self._deferred(company, lane)
                        raise QuotaDeferred(f"no {lane.value} quota for {company} in time", retry_at=slot)
                    await self.clock.sleep(slot - self.clock.now())
                    continue
                # A booking the database made after we gave up is given back, or the gate would
                # count it in flight (and stay shut) until `in_flight_timeout`.
                ticket, slot = await self.boundary.run_undoable(self._undo_booking, self._try_book, company, lane,
                                                                get_keys)
                if ticket is not None:
                    return ticket
                if slot is None or slot > deadline:
                    self._deferred(company, lane)
                    raise QuotaDeferred(f"no {lane.value} quota for {company} in time", retry_at=slot)
                await self.clock.sleep(slot - self.clock.now())
        finally:
            if hold_polls:
                self._clicks_waiting[company] -= 1

    def _deferred(self, company: str, lane: Lane) -> None:
        if lane is Lane.INTERACTIVE:
            self._trouble[company] = self.clock.now()

    async def finish(self, ticket: Ticket, status: int | None) -> None:
        """Record the answer (its time ends the request's spacing window). A database that cannot
        take it leaves the spend open, which counts as in flight until `in_flight_timeout`: too
        cautious for a while, never over the quota; the answer itself is not lost."""
        try:
            await self.boundary.run(self._finish, ticket, status, self.clock.now())
        except DATABASE_UNAVAILABLE as exc:
            log.warning("answer of request %s not recorded in the ledger (%s)", ticket.spend_id, type(exc).__name__)

    def _finish(self, ticket: Ticket, status: int | None, now: float) -> None:
        self.repo.finish(ticket.spend_id, now, status)
        with self._lock(ticket.company):
            if (book := self._books.get(ticket.company)) is None:
                return
            row = book.open.get(ticket.spend_id)
            if row is not None and row.lane == Lane.INTERACTIVE.value and (status is None or status == 429
                                                                           or status >= 500):
                self._trouble[ticket.company] = now
            book.finish(ticket.spend_id, now)

    def _undo_booking(self, booked: tuple[Ticket | None, float | None]) -> None:
        if booked[0] is not None:
            self._cancel(booked[0])

    async def cancel(self, ticket: Ticket) -> None:
        """Nothing was sent on this ticket after all (its token was withdrawn meanwhile): forget it."""
        await self.boundary.run(self._cancel, ticket)

    def _cancel(self, ticket: Ticket) -> None:
        self.repo.cancel(ticket.spend_id)
        with self._lock(ticket.company):
            if (book := self._books.get(ticket.company)) is not None:
                book.open.pop(ticket.spend_id, None)
                book.mine.discard(ticket.spend_id)

    async def block(self, company: str, until: float, reason: str) -> None:
        """Close the company's gate until `until` (a 429). This process holds to it even when the
        database cannot record it now (the other replicas then learn of it from their own 429)."""
        self._unsaved_blocks[company] = max(self._unsaved_blocks.get(company, 0.0), until)
        try:
            await self.boundary.run(self._block, company, until, reason)
        except DATABASE_UNAVAILABLE as exc:
            log.warning("pause of %s until %.0f not recorded in the database (%s); kept in this process",
                        company, until, type(exc).__name__)
            return
        if self._unsaved_blocks.get(company) == until:
            del self._unsaved_blocks[company]

    def _block(self, company: str, until: float, reason: str) -> None:
        self.repo.block(company, until, reason)
        with self._lock(company):
            if (book := self._books.get(company)) is not None:
                book.blocked_until = max(book.blocked_until, until)

    def unblock(self, company: str) -> bool:
        """An admin clears a 429 pause; True if one was in force. The bare-429 back-off starts over,
        and the outside use learned from 429s is forgotten: it ends at the same reset as the pause,
        and an admin who says Precoro is fine again means both (here at once; another process,
        a replica or the bot beside `precoro-bot resume`, when its next booking reads the pause
        as ended before its time).
        Blocking: call it off the event loop."""
        self._bare_429s[company] = 0
        self._outside.pop(company, None)
        self._unsaved_blocks.pop(company, None)
        cleared = self.repo.unblock(company, self.clock.now())
        with self._lock(company):
            if (book := self._books.get(company)) is not None:
                book.blocked_until, book.blocked_read_at = 0.0, -1e300
        return cleared

    def bare_429(self, company: str, bare: bool) -> int:
        """Count a 429 (`bare`: without Precoro's fields); returns the bare ones in a row."""
        self._bare_429s[company] = self._bare_429s[company] + 1 if bare else 0
        return self._bare_429s[company]

    def answered(self, company: str) -> None:
        """Precoro answered something other than a 429: the bare-429 back-off starts over."""
        self._bare_429s[company] = 0


def _binding(book: _Book, open_spends: list[Spend], policy: QuotaPolicy, lane: Lane, now: float) -> list[Spend]:
    """The spends that can still decide `earliest_slot` from `now` on: exact, and much shorter.

    A spend at `s` occupies a window of width `w` (seconds + margin) only for `t < s + w`, so
    for `t >= now` only spends after `now - w` can collide, and their number never grows as `t`
    moves on. A window with fewer of them than its lane limit can therefore never bind, and
    dropping older spends only lowers its count further; so only spends newer than the widest
    window that may bind (or than the duplicate-GET window) have to be looked at."""
    keep_after = now - (policy.duplicate_get_seconds + policy.margin_seconds)
    times = book.times
    for w in policy.windows:
        width = w.seconds + policy.margin_seconds
        colliding = len(times) - bisect_right(times, now - width) + sum(1 for s in open_spends if s.at > now - width)
        if colliding >= w.lane_limit(lane):
            keep_after = min(keep_after, now - width)
    return book.done[bisect_right(times, keep_after):] + open_spends
