"""Company discovery: one token that sees the whole company finds new documents for every approver.

One run lists each enabled document type with `modifiedSince` (the start of the last run that
read that type completely, less `OVERLAP_SECONDS`; every page; no status filter, so documents
that left "pending" come too and retire their messages). A type never read completely lists
`status[]=1` (pending) instead. Each type keeps its own cursor, and each read offers the quota
gate equivalent URLs (`bot/sync/discovery_urls.py`), so a run cut short is retried at once
without repeating a URL Precoro saw within its minute.
Each document's current step (from the list item, else one single-document GET) names its
approvers; they are matched to registered approvers by exact email (never guessed; the others
are kept as "unregistered" for `/precoro status`), and the poller's own `apply` posts, redraws
and retires, so a document is posted once per approver whichever source found it. Discovery
only reads: decisions are still sent with the clicking approver's own token.

Pace (`interval`). Polling every approver costs N·c requests per round, so with a poll budget
of B requests a day the mean delay is at best N·c/(2B) days, growing with N. A discovery run
costs c requests (one list per type, more only with pages or steps missing from list items)
whatever N is; run every D seconds it costs c·86400/D a day and finds a document D/2 after it
starts waiting on average (0.95·D at p95). Discovery takes the share `SHARE` of the budget:
D = c·86400/(SHARE·B), and the per-approver polls (the safety net for documents the discovery
user cannot see) get the rest, through the same pacing bucket (discovery's requests are
poll-lane spends, which the bucket replays). With Precoro's limits (B ≈ 3000 - 200 reserve - the
day's clicks ≈ 2,400) and c = 2, D ≈ 100 s on a flat day: a mean of ≈ 50 s, p95 ≈ 100 s, for
any N, leaving ≈ 700 requests a day to the safety net. D runs on the planner's day-profile clock,
so busy hours get shorter intervals and quiet hours longer, at the same daily spend. When
no approver other than the discovery user is registered, SHARE is 1: everything waiting for the
discovery user is visible to that user, so a safety net would find nothing, and discovery
costs exactly a poll of that one approver (N = 1 is then no worse than per-approver polling).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.precoro.client import Credentials, PrecoroClient
from bot.precoro.errors import PrecoroError, QuotaDeferred, TokenRejected, TokenWithdrawn
from bot.precoro.models import Document, parse_document
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack import messages
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.approvers import REVOKED, Approver
from bot.sync import discovery_urls, route
from bot.sync.poller import Poller
from bot.sync.reconcile import Known
from bot.sync.tokens import ApproverTokens
from bot.vault import VaultError

log = logging.getLogger(__name__)

DAY = 86400.0
SHARE = 0.7  # of the poll budget, when other approvers need the safety net
OVERLAP_SECONDS = discovery_urls.OVERLAP_SECONDS


def interval(budget_per_day: float, cost: int, *, others: bool, min_interval: float) -> float:
    """Seconds between discovery runs (on the day-profile clock) for this poll budget."""
    share = SHARE if others else 1.0
    if budget_per_day <= 0 or cost <= 0:
        return float("inf")
    return max(min_interval, cost * DAY / (share * budget_per_day))


@dataclass(frozen=True)
class DiscoveryResult:
    requests: int = 0
    documents: int = 0  # documents read
    posted: int = 0
    retired: int = 0
    complete: bool = True
    error: str = ""  # "token", "vault", or the Precoro error's name
    retry_at: float | None = None  # a deferred or rate-limited run: when the gate may have room
    left: tuple[str, ...] = ()  # the types not read completely (what a retry reads)


class Discoverer:
    def __init__(self, store: Store, tokens: ApproverTokens, clients: Mapping[str, PrecoroClient],
                 document_types: Mapping[str, tuple[str, ...]], poller: Poller, notifier: Notifier,
                 admins: Mapping[str, tuple[str, ...]], clock: Clock) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.document_types = document_types
        self.poller = poller
        self.notifier = notifier
        self.admins = admins
        self.clock = clock
        # Called (company, type) when a type is first left to per-approver polls (admins told once).
        self.on_fallback: Callable[[str, str], Awaitable[None]] | None = None
        # Called (company, documents read) after each run: those decided tell their requesters.
        self.on_read: Callable[[str, list[Document]], Awaitable[None]] | None = None

    def types(self, company: str) -> tuple[str, ...]:
        """The document types discovery reads (those without a fallback to per-approver polls).
        Blocking (database)."""
        settings = self.store.discovery.get(company)
        fallback = settings.fallback_types if settings else frozenset()
        return tuple(t for t in self.document_types[company] if t not in fallback)

    async def run(self, company: str, approver: Approver, only: tuple[str, ...] | None = None) -> DiscoveryResult:
        """One discovery run for the company with this approver's token (`only`: these types, the
        ones a run cut short left). A type the gate holds back (its URLs are all within Precoro's
        minute, as with route keying, or a click goes first) is skipped and the others are read."""
        settings = await self.store.run(self.store.discovery.get, company)
        mine = settings is not None and settings.approver_id == approver.id
        try:
            cred = self.tokens.credentials(approver)
        except VaultError as exc:
            log.error("discovery of %s: token of approver %s cannot be decrypted (%s)", company, approver.id, exc)
            return DiscoveryResult(complete=False, error="vault")
        started = self.clock.now()
        every = await self.store.run(self.types, company)
        types = every if only is None else tuple(t for t in every if t in only)
        cursors = {t: settings.cursor_for(t) if settings is not None and mine else None for t in types}
        read: list[Document] = []
        raws: dict[tuple[str, str], dict[str, Any]] = {}
        complete: set[str] = set()
        requests, error, retry_at = 0, "", None
        for doc_type in types:
            try:
                docs, spent = await self._read_type(company, cred, doc_type,
                                                    discovery_urls.filter_variants(cursors[doc_type]), raws)
            except TokenRejected:
                await self.refused(company, approver)
                return DiscoveryResult(requests=requests + 1, complete=False, error="token")
            except TokenWithdrawn:  # removed or refused meanwhile: nothing sent
                return DiscoveryResult(requests=requests, complete=False, error="token")
            except QuotaDeferred as exc:  # this type's reads wait: the others may not
                error = error or type(exc).__name__
                retry_at = min(retry_at or math.inf, exc.retry_at or self.clock.now())
                continue
            except PrecoroError as exc:
                error, retry_at = type(exc).__name__, getattr(exc, "retry_at", None)
                log.info("discovery of %s stopped at %s: %s", company, doc_type, exc)
                break
            requests += spent
            if docs is not None:
                complete.add(doc_type)
                read.extend(docs)
        done = complete == set(types) and not error
        whole = done and types == every  # every type read in one run
        if whole and len(types) == len(self.document_types[company]):
            # Whatever waits for the discovery user, that user sees: this was their own poll too
            # (marked before posting, as the poller does, so a click finds Precoro freshly read).
            await self.store.run(self.store.approvers.mark_polled, approver.id, self.clock.now(), 0)
        posted, retired, found = await self._route(company, read, raws, complete, started)
        if self.on_read is not None and read:
            await self.on_read(company, read)
        before = settings.unregistered if settings is not None else {}
        full = whole and all(c is None for c in cursors.values())
        unregistered = route.merge_unregistered(before, read, found, full=full)
        await self.store.run(self.store.discovery.save_run, company, approver.id, cursor=started if whole else None,
                             unregistered=unregistered, now=self.clock.now(),
                             type_cursors={t: started for t in complete})
        return DiscoveryResult(requests=requests, documents=len(read), posted=posted, retired=retired,
                               complete=done, error=error, retry_at=retry_at,
                               left=tuple(t for t in types if t not in complete))

    async def _read_type(self, company: str, cred: Credentials, doc_type: str, filters: list[list[tuple[str, str]]],
                         raws: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[Document] | None, int]:
        """The documents of one type with a readable current step; None (and the type left to
        per-approver polls from now on) when a pending one has none, even read on its own."""
        client = self.clients[company]
        items, spent = await client.list_documents(cred, doc_type, filters, sizes=discovery_urls.PAGE_SIZES,
                                                   lane=Lane.POLL)
        docs: list[Document] = []
        for item in items:
            doc = parse_document(doc_type, item)
            if doc is None:
                continue
            if route.waiting_people(doc) is None:  # the list item lacks the steps: read the document
                item = await client.document(cred, doc_type, doc.idn, lane=Lane.POLL)
                spent += 1
                doc = parse_document(doc_type, item)
                if doc is None or route.waiting_people(doc) is None:
                    if await self.store.run(self.store.discovery.add_fallback, company, doc_type, self.clock.now()):
                        log.warning("discovery of %s: %s %s has no readable approval steps; %s are left to "
                                    "per-approver polls", company, doc_type, doc.idn if doc else "?", doc_type)
                        if self.on_fallback is not None:
                            await self.on_fallback(company, doc_type)
                    return None, spent
            docs.append(doc)
            raws[(doc_type, doc.idn)] = item
        return docs, spent

    async def _route(self, company: str, read: list[Document], raws: dict[tuple[str, str], dict[str, Any]],
                     complete: set[str], started: float) -> tuple[int, int, dict[str, list[list[str]]]]:
        approvers = {a.id: a for a in await self.store.run(self.store.approvers.list, company, active_only=True)}
        registered: dict[str, list[int]] = {}
        for a in approvers.values():
            registered.setdefault(a.email.strip().lower(), []).append(a.id)
        routing = route.route(read, registered)
        rows = [m for m in await self.store.run(self.store.messages.for_documents, company, raws)
                if m.approver_id in approvers]
        known = [Known(m.id, m.doc_type, m.idn, m.state, m.fingerprint, m.posted, m.updated_at) for m in rows]
        plans = route.plans(known, {m.id: m.approver_id for m in rows}, routing, read, complete, started)
        posted = retired = 0
        for approver_id, plan in sorted(plans.items()):
            posted += await self.poller.apply(approvers[approver_id], plan, raws)
            retired += len(plan.gone)
        # What was read stays fresh for everyone it waits for: their clicks need no look first.
        fresh = [(a, d.doc_type, d.idn) for a, docs in routing.waiting.items() if a in approvers for d in docs]
        if fresh:
            await self.store.run(self.store.messages.mark_read, company, fresh, started)
        return posted, retired, routing.unregistered

    async def route_read(self, company: str, doc: Document, raw: dict[str, Any], started: float) -> tuple[int, int]:
        """Route one document read on its own (a webhook's read, `bot/sync/hint_reads.py`) exactly
        as a run routes what it lists; (posted, retired)."""
        posted, retired, _ = await self._route(company, [doc], {(doc.doc_type, doc.idn): raw}, {doc.doc_type},
                                               started)
        if self.on_read is not None:
            await self.on_read(company, [doc])
        return posted, retired

    async def lost(self, company: str, approver_id: int, *, team: str) -> None:
        """The discovery approver was removed or its token refused elsewhere: discovery off, admins
        told (`team`: the approver's Slack workspace, for a notifier that posts per workspace)."""
        now = self.clock.now()
        found = await self.store.run(self.store.approvers.get, approver_id)
        if found is not None and found.status == REVOKED:  # refused twice (the token checker confirmed it)
            await self._turned_off_revoked(company, found, now)
            return
        if not await self.store.run(self.store.discovery.turn_off_if, company, approver_id,
                                    note="the discovery approver is no longer registered or active", now=now):
            return
        log.warning("discovery of %s turned off: approver %s is no longer active", company, approver_id)
        await self.store.run(self.store.audit.record, at=now, company=company, actor="bot", action="discovery.off",
                             subject=str(approver_id), outcome="approver gone")
        for admin in self.admins.get(company, ()):
            with contextlib.suppress(SlackUnavailable):
                await self.notifier.dm(team, admin, messages.admin_discovery_lost_text(company))

    async def refused(self, company: str, approver: Approver) -> None:
        """Precoro refused the discovery token: once confirmed (revoked), discovery off, admins
        told, polls go on; a first refusal only pauses it until the token is checked again."""
        now = self.clock.now()
        if await self.tokens.refused(approver, "discovery") != REVOKED:
            return
        await self._turned_off_revoked(company, approver, now)

    async def _turned_off_revoked(self, company: str, approver: Approver, now: float) -> None:
        turned_off = await self.store.run(self.store.discovery.turn_off_if, company, approver.id,
                                          note="token refused by Precoro", now=now)
        if not turned_off:
            return
        log.warning("discovery of %s turned off: the token of approver %s was refused", company, approver.id)
        await self.store.run(self.store.audit.record, at=now, company=company, actor="precoro",
                             action="discovery.off", subject=f"<@{approver.slack_user_id}>", outcome="token refused")
        for admin in self.admins.get(company, ()):
            with contextlib.suppress(SlackUnavailable):
                await self.notifier.dm(approver.team_id, admin,
                                       messages.admin_discovery_revoked_text(approver.slack_user_id, company))
