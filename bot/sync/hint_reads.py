"""Webhook hints, read at once: push first, lists only as a back-up.

A Precoro webhook names one document (its type and IDN), so the cheapest way to act on it is one
single-document GET, at once (the server wakes the scheduler for the company), routed exactly as
discovery routes what it lists (`Discoverer.route_read`: its current step -> the registered
approvers -> the poller's apply). The token is the discovery approver's for the types discovery
reads; otherwise that of an approver holding an open message about the document (a new document
of such a type has no such approver: polls find it, as before).

Budget. Hint reads are poll-lane spends, so the pacing bucket replays them and safety polls and
discovery shrink while hints arrive (and grow back when they stop), but a read does not wait for
the bucket: it may draw ahead of it within `HINT_SHARE` of the day's poll budget over a sliding
day (counted in memory: a restart forgets it, the gate's day window still bounds everything).
So that the windows still have room for them on a busy day, the planner keeps room for the reads
the recent webhooks predict (`hint_times`, `bot.quota.hint_room`): polls and timed discovery runs
take only what is left, a hint's read and its fallback run are not held to it.

Never a 429: Precoro refuses an identical GET within its duplicate window, so a hint about a
document read less than a window ago (by this reader, or by a click's look: the gate says so)
is held back until the window has passed; meanwhile a discovery run is made due at once and may
serve it first (a hint's fallback run may also draw ahead of the bucket within the share). A
hint a click or a full gate holds back is retried on the next ticks for `HINT_PATIENCE_SECONDS`.
A hint without an IDN (Precoro sends it "if available", and the bot did not know the document by
its id) names only a type: discovery's next run is due at once, or every approver is polled first.
What cannot be read (no token for it, over the share, an error, a document without a readable
step, out of patience) falls back to the previous behaviour: the next discovery run is due at
once, or, without discovery, the holders of open messages about it are polled first.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, deque
from collections.abc import Awaitable, Callable

from bot.config import CompanyConfig
from bot.precoro.errors import NotAllowed, NotFound, PrecoroError, QuotaDeferred, TokenRejected, TokenWithdrawn
from bot.precoro.models import parse_document
from bot.quota import planner
from bot.quota.gate import Clock
from bot.quota.ledger import Lane, QuotaPolicy
from bot.store import Store
from bot.store.approvers import Approver
from bot.store.hints import ANY_DOCUMENT
from bot.sync import route
from bot.sync.discovery import Discoverer
from bot.sync.planning import DAY, CompanyState, Plan
from bot.sync.poller import Poller
from bot.sync.reconcile import OPEN_STATES
from bot.vault import VaultError

log = logging.getLogger(__name__)

HINT_SHARE = 0.5  # at most this share of the day's poll budget goes to hint reads (sliding day)
# A hint the gate or a click holds back is retried this long (each time the gate may have room)
# before it falls back to a discovery run.
HINT_PATIENCE_SECONDS = 30.0
LONG_WAIT_SECONDS = 10.0  # a hint held back longer than this also makes a discovery run due at once
HINTS_KEPT = 20_000  # webhook arrival times kept per company (more than the room kept for them can use)

Key = tuple[str, str]  # (document type, IDN)


class HintReader:
    def __init__(self, store: Store, poller: Poller, discoverer: Discoverer | None, clock: Clock) -> None:
        self.store = store
        self.poller = poller
        self.discoverer = discoverer
        self.clock = clock
        self._reads: dict[str, deque[float]] = {}  # company -> start of each hint read of the last day
        self._hinted: dict[str, deque[float]] = {}  # company -> when each webhook hint of the last day came
        self._read_at: dict[tuple[str, str, str], float] = {}  # (company, type, idn) -> its last hint read
        # company -> hints held back (a duplicate window, a click, a full gate): (not before, first hinted)
        self._later: dict[str, dict[Key, tuple[float, float]]] = {}
        self.counts: Counter[str] = Counter()  # read, fell back, waited out a window (for benchmarks)
        # company -> held while its hints are read or it is polled: a wake never overlaps the
        # company's poll, and never waits for (nor holds up) the tick of the other companies
        self._locks: dict[str, asyncio.Lock] = {}
        self._woken: set[str] = set()  # companies whose webhook run is queued
        self._wakes: set[asyncio.Task[None]] = set()  # running wakes (cancelled on stop)

    def lock(self, company: str) -> asyncio.Lock:
        return self._locks.setdefault(company, asyncio.Lock())

    def wake(self, company: str, run: Callable[[str], Awaitable[None]]) -> asyncio.Task[None] | None:
        """Run `run(company)` (take its hints) now, under the company's lock only: after the
        company's poll in progress, never behind the tick of the others, so a stream of webhooks
        never makes ticks skip; one queued run per company at most."""
        if company in self._woken:
            return None
        self._woken.add(company)
        task = asyncio.get_running_loop().create_task(self._wake(company, run))
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)
        return task

    async def _wake(self, company: str, run: Callable[[str], Awaitable[None]]) -> None:
        try:
            async with self.lock(company):
                self._woken.discard(company)
                await run(company)
        except Exception:
            self._woken.discard(company)
            log.exception("webhook hints of %s not read; the next tick takes them", company)

    def cancel_wakes(self) -> None:
        for task in list(self._wakes):
            task.cancel()

    def due(self, company: str, now: float) -> bool:
        """Hints held back whose time has come: a tick takes them even if no webhook came since."""
        return any(at <= now for at, _ in self._later.get(company, {}).values())

    def hint_times(self, company: str) -> list[float]:
        """When the company's webhook hints of the last day came (sorted): the planner keeps room for
        the reads they predict (`bot.quota.hint_room`)."""
        hinted = self._hinted.get(company)
        if not hinted:
            return []
        while hinted and hinted[0] <= self.clock.now() - DAY:
            hinted.popleft()
        return list(hinted)

    def reads_today(self, company: str) -> int:
        return len(self._day(company, self.clock.now()))

    def draw(self, company: str, p: Plan, quota: QuotaPolicy, requests: int) -> bool:
        """Whether a hint's fallback (a discovery run) may draw `requests` ahead of the pacing
        bucket: within the share, and within the poll lane's room in Precoro's windows; if so
        they are counted against the share."""
        now = self.clock.now()
        reads = self._day(company, now)
        if len(reads) + requests > HINT_SHARE * p.budget_per_day:
            return False
        if planner.poll_allowance(p.spends, quota, p.budget_per_day, p.at, tokens=float(requests)) < requests:
            return False
        reads.extend([now] * requests)
        return True

    def _day(self, company: str, now: float) -> deque[float]:
        reads = self._reads.setdefault(company, deque())
        while reads and reads[0] <= now - DAY:
            reads.popleft()
        return reads

    async def take(self, company: CompanyConfig, state: CompanyState, *, budget_per_day: float,
                   click_busy: Callable[[], Awaitable[bool]]) -> None:
        """Take the company's stored hints (and those held back whose time has come), read each
        document on its own where possible, and leave the rest to the previous behaviour."""
        now = self.clock.now()
        stored = await self.store.run(self.store.hints.take, company.id)
        later = self._later.setdefault(company.id, {})
        hints: dict[Key, float] = {}  # hint -> when it first arrived
        for k, (at, since) in list(later.items()):
            if at <= now:
                del later[k]
                served = (k[0] in self._discovered(state) and state.discovered_at is not None
                          and state.discovered_at >= since)  # a discovery run read it meanwhile
                if not served:
                    hints[k] = since
        for k in stored:
            hints.setdefault(k, now)
        if not hints:
            return
        if stored:
            state.hint_seen_at = now
            self._hinted.setdefault(company.id, deque(maxlen=HINTS_KEPT)).extend([now] * len(stored))
        state.next_poll_at = -math.inf
        try:
            left = await self._read_all(company, state, hints, budget_per_day, click_busy)
        except Exception:  # e.g. a database timeout: what was not served falls back, not lost
            await self._rescue(company, state, list(hints))
            raise
        self.counts["fell back"] += len(left)
        if left:
            await self._fall_back(company, state, left)

    async def _rescue(self, company: CompanyConfig, state: CompanyState, unserved: list[Key]) -> None:
        """The batch broke off: its unserved hints fall back; if even that fails (the database
        again), they are held back in memory and the next tick retries them."""
        self.counts["fell back"] += len(unserved)
        try:
            await self._fall_back(company, state, unserved)
        except Exception:
            later, now = self._later.setdefault(company.id, {}), self.clock.now()
            for k in unserved:
                later.setdefault(k, (now + 1.0, now))
            raise

    async def _read_all(self, company: CompanyConfig, state: CompanyState, hints: dict[Key, float],
                        budget_per_day: float, click_busy: Callable[[], Awaitable[bool]]) -> list[Key]:
        """The hints to fall back on now (others are read, or held back for a moment). Each hint
        is removed from `hints` once read or held back: after an exception, those left there fall back."""
        if self.discoverer is None:
            return list(hints)
        holders = await self._holders(company.id, state, [h for h in hints if h[0] not in self._discovered(state)
                                                          and h[1] != ANY_DOCUMENT])
        window = company.quota.duplicate_get_seconds + company.quota.margin_seconds
        later = self._later[company.id]
        left: list[Key] = []
        retry_at: float | None = None  # a click, an outage, or the gate full twice running: the rest wait
        deferred = False  # the previous read was deferred by the gate (maybe its own duplicate window)
        refused: set[int] = set()  # approvers whose token Precoro refused in this batch
        for key, since in list(hints.items()):
            doc_type, idn = key
            if idn == ANY_DOCUMENT:  # no document to read on its own: the lists will tell
                left.append(key)
                continue
            now = self.clock.now()
            last = self._read_at.get((company.id, doc_type, idn))
            if last is not None and now - last < window:  # Precoro would refuse the same GET: wait it out,
                later[key] = (last + window, since)  # unless a discovery run (due at once) reads it first
                self.counts["waited"] += 1
                if doc_type in self._discovered(state):
                    state.discovery_hinted = True
                del hints[key]
                continue
            approver = state.discovery if doc_type in self._discovered(state) else holders.get(key)
            if (approver is None or approver.id in refused
                    or len(self._day(company.id, now)) >= HINT_SHARE * budget_per_day):
                left.append(key)
                continue
            at = retry_at
            if at is None and await click_busy():
                at = retry_at = now + 1.0
            if at is None:
                outcome, at = await self._read(company.id, approver, doc_type, idn)
                if outcome == "refused":
                    refused.add(approver.id)
                    await self._refused(state, approver)
                    outcome = "left"
                if outcome == "left":
                    left.append(key)
                if outcome == "defer":  # this document only (its duplicate window, say), unless twice running
                    retry_at = at if deferred else None
                    deferred = True
                elif outcome == "stop":
                    retry_at = at
                else:
                    deferred = False
                if outcome == "read":
                    del hints[key]
                if outcome in ("read", "left"):
                    continue
            assert at is not None
            if now - since >= HINT_PATIENCE_SECONDS:
                left.append(key)
                continue
            del hints[key]
            later[key] = (max(at, now + 1.0), since)  # not now: again when the gate may have room
            self.counts["deferred"] += 1
            if at - now > LONG_WAIT_SECONDS and doc_type in self._discovered(state):
                state.discovery_hinted = True  # e.g. a click's look took the URL: a list may serve it first
        return left

    async def _refused(self, state: CompanyState, approver: Approver) -> None:
        """Precoro refused the token (401), as a poll or a discovery run would report it: the
        token is suspect (then checked) and this reader stops using it."""
        if state.discovery is not None and approver.id == state.discovery.id and self.discoverer is not None:
            await self.discoverer.refused(approver.company, approver)
            state.discovery_checked_at = -math.inf  # read back: discovery may be off now
        else:
            await self.poller.tokens.refused(approver, "poll")
        state.approvers = [a for a in state.approvers if a.id != approver.id]
        state.stamp, state.version = None, state.version + 1

    @staticmethod
    def _discovered(state: CompanyState) -> tuple[str, ...]:
        return state.discovery_types if state.discovery is not None else ()

    async def _holders(self, company: str, state: CompanyState, keys: list[Key]) -> dict[Key, Approver]:
        """An active approver with an open message about each document (lowest id first)."""
        if not keys:
            return {}
        active = {a.id: a for a in state.approvers}
        out: dict[Key, Approver] = {}
        for m in await self.store.run(self.store.messages.for_documents, company, keys):
            if m.state in OPEN_STATES and m.approver_id in active:
                out.setdefault((m.doc_type, m.idn), active[m.approver_id])
        return out

    async def _read(self, company: str, approver: Approver, doc_type: str,
                    idn: str) -> tuple[str, float | None]:
        """One single-document GET and its routing: ("read" | "left" (fall back for this one) |
        "refused" (the token) | "defer" (nothing sent: not now) | "stop" (not now, nor the rest),
        when the gate may have room)."""
        assert self.discoverer is not None
        try:
            cred = self.poller.tokens.credentials(approver)
        except VaultError:
            return "left", None
        started = self.clock.now()
        client = self.poller.clients[company]
        try:
            raw = await client.document(cred, doc_type, idn, lane=Lane.POLL)
        except QuotaDeferred as exc:  # nothing sent: the gate has no room now, or a click goes first
            return "defer", exc.retry_at or self.clock.now() + 1.0
        except TokenRejected:
            self._sent(company, doc_type, idn, self.clock.now())
            return "refused", None
        except TokenWithdrawn:
            return "left", None
        except (NotFound, NotAllowed):  # gone, or not this token's to see: discovery or polls will tell
            self._sent(company, doc_type, idn, self.clock.now())
            return "left", None
        except PrecoroError as exc:
            self._sent(company, doc_type, idn, self.clock.now())
            log.info("hint read of %s %s/%s not done: %s", company, doc_type, idn, type(exc).__name__)
            return "stop", getattr(exc, "retry_at", None) or self.clock.now() + 1.0
        self._sent(company, doc_type, idn, self.clock.now())  # the answer's time: the window is over by then
        doc = parse_document(doc_type, raw)
        if doc is None or route.waiting_people(doc) is None:
            return "left", None
        await self.discoverer.route_read(company, doc, raw, started)
        self.counts["read"] += 1
        return "read", None

    def _sent(self, company: str, doc_type: str, idn: str, at: float) -> None:
        """A hint read reached Precoro: it counts against the share and opens the document's window."""
        key = (company, doc_type, idn)
        if self._read_at.get(key) != at:
            self._read_at[key] = at
            self._day(company, at).append(at)
        if len(self._read_at) > 1000:  # forget reads past any duplicate window (bounded memory)
            for k, t in list(self._read_at.items()):
                if t < at - 3600.0:
                    del self._read_at[k]

    async def _fall_back(self, company: CompanyConfig, state: CompanyState, left: list[Key]) -> None:
        """The previous behaviour: discovery's next run is due at once (it reads every changed
        document); else whoever holds an open message about a hinted document is polled first."""
        if state.discovery is not None and any(t in state.discovery_types for t, _ in left):
            state.discovery_hinted = True
        rest = [k for k in left if k[0] not in self._discovered(state)]
        if any(idn == ANY_DOCUMENT for _, idn in rest):  # some document of a type polls alone read:
            state.hinted |= {str(a.id) for a in state.approvers}  # every approver first (within the room)
        rest = [k for k in rest if k[1] != ANY_DOCUMENT]
        if rest:
            state.hinted |= {str(m.approver_id) for m in await self.store.run(self.store.messages.for_documents,
                                                                              company.id, rest)
                             if m.state in OPEN_STATES}
