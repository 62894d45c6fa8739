"""What the running bot learns about a company's Precoro by itself, and acts on.

The doctor (`precoro-bot doctor`) asks once; the running bot notices the same things as they
happen, switches what it does, tells the admins once (whichever replica notices first) and shows
it in `/precoro status`. Findings live in the database (`precoro_findings`), so a restart or
another replica starts from what was learned.

- Duplicate-GET keying. The config may name it (`quota.duplicate_keying: route`). Else: the quota
  gate never repeats a URL within Precoro's minute company-wide, so a 429 of the duplicate kind
  (`RateLimit-Type: Route based limiter by minute`) on a GET means Precoro keys duplicates more
  broadly than by URL: by route (the path, any query). The company's client then keys list reads by
  path, so the gate spaces reads of one list path by a minute (page sizes no longer make distinct
  reads). Spends booked before the switch carry URL keys: at most one more such 429 can follow,
  which the gate's block already covers.
- Approval steps missing from a type's answers: discovery already leaves the type to per-approver
  polls (`bot/sync/discovery.py`); this module tells the admins once and records it.
- `waitingForApprove=yes` not honoured: a poll's waiting list held a document whose current
  approval step (read by the tolerant parser) does not name the approver (the filter was ignored
  or filters otherwise). The poller never posts such a document; from then on the company's
  client lists every pending document (`status[]=1`) instead and the poller keeps those whose
  current step names the approver (precoro-api.md's named fallback). Same requests per poll
  (more pages only with many pending documents); documents without a readable step cannot be
  told apart then and are not posted (the doctor names such types). One finding per company:
  a token of each approver reads the same endpoint.
- A discovery token that does not see every document: `bot/sync/blind.py` notices it and
  leaves the type to per-approver polls; this module records it and tells the admins once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from bot.precoro import api
from bot.precoro.client import PrecoroClient
from bot.quota.gate import Clock
from bot.slack import messages
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.findings import FindingRepo

log = logging.getLogger(__name__)

DUPLICATE_KEYING = "duplicate_keying"
ROUTE = "route"
WAITING_FILTER = "waiting_filter"
IGNORED = "ignored"  # value: the bot lists pending documents and reads their steps
STEPLESS = "stepless:"  # + document type: its answers carry no readable approval steps
BLIND = "blind:"  # + document type: the discovery token does not see all of them
PER_APPROVER = "per-approver polls"


class Adaptations:
    def __init__(self, store: Store, clients: Mapping[str, PrecoroClient], notifier: Notifier,
                 admins: Mapping[str, tuple[str, ...]], clock: Clock) -> None:
        self.store = store
        self.findings = FindingRepo(store.engine)
        self.clients = clients
        self.notifier = notifier
        self.admins = admins  # each company's own admins
        self.clock = clock

    def install(self) -> None:
        """Apply what is already known and listen to every company's 429s (blocking: at start-up)."""
        for company, client in self.clients.items():
            found = self.findings.get(company, DUPLICATE_KEYING)
            configured = client.gate.policy(company).duplicate_keying == ROUTE
            client.route_keyed = configured or (found is not None and found.value == ROUTE)
            waiting = self.findings.get(company, WAITING_FILTER)
            client.waiting_filter_ignored = waiting is not None and waiting.value == IGNORED

            async def hook(method: str, limit_type: str, company: str = company) -> None:
                await self.rate_limited(company, method, limit_type)
            client.on_rate_limit = hook

    async def rate_limited(self, company: str, method: str, limit_type: str) -> None:
        """A 429 reached the company's client: a duplicate-GET one switches keying to route."""
        client = self.clients.get(company)
        if client is None or client.route_keyed or method != "GET" or limit_type != api.RATE_LIMIT_TYPE_DUPLICATE:
            return
        client.route_keyed = True
        log.warning("precoro of %s refused a GET as a duplicate although its URL was not repeated: duplicate GETs "
                    "are keyed by route; list reads now share one key per path", company)
        await self.note(company, DUPLICATE_KEYING, ROUTE, source="429")

    async def filter_refuted(self, company: str, example: str) -> None:
        """A poll's `waitingForApprove` list held `example` ("type/idn"), not waiting for that
        approver: read pending lists and keep each approver's own from now on."""
        client = self.clients.get(company)
        if client is None or client.waiting_filter_ignored:
            return
        client.waiting_filter_ignored = True
        log.warning("precoro of %s listed %s as waiting for an approver its current step does not name: "
                    "waitingForApprove is not honoured; polls now list pending documents and keep the approver's",
                    company, example)
        await self.note(company, WAITING_FILTER, IGNORED, source="poll")

    async def blind(self, company: str, doc_type: str, discovery_approver: int) -> None:
        """The discovery token does not see every `doc_type` (bot/sync/blind.py confirmed it). The
        value names the discovery approver: another one found blind is told again."""
        await self.note(company, f"{BLIND}{doc_type}", f"{PER_APPROVER} (discovery approver {discovery_approver})",
                        source="poll")

    async def stepless(self, company: str, doc_type: str) -> None:
        """Discovery left `doc_type` to per-approver polls (no readable approval steps)."""
        await self.note(company, f"{STEPLESS}{doc_type}", PER_APPROVER, source="discovery")

    async def note(self, company: str, name: str, value: str, *, source: str) -> None:
        """Record a finding and tell the admins once; never raises (the request path calls it)."""
        try:
            now = self.clock.now()
            await self.store.run(self.findings.record, company, name, value, source=source, now=now)
            approvers = await self.store.run(self.store.approvers.list, company, active_only=True)
            if not approvers or not self.admins.get(company):
                return  # told later: told_at stays empty until someone can be told
            if not await self.store.run(self.findings.claim_telling, company, name, now):
                return
            text = messages.admin_finding_text(company, name, value)
            for admin in self.admins.get(company, ()):
                with contextlib.suppress(SlackUnavailable):
                    await self.notifier.dm(approvers[0].team_id, admin, text)
        except Exception:  # a finding not recorded is noticed again; the request goes on
            log.exception("finding %s of %s not recorded", name, company)

    def status_sentences(self, company: str) -> list[str]:
        """What `/precoro status` says of the company's findings (blocking read). A type left to
        per-approver polls is said only while it still is: another discovery user starts afresh."""
        settings = self.store.discovery.get(company)
        fallback = settings.fallback_types if settings is not None else frozenset()
        return [messages.finding_sentence(f.name, f.value) for f in self.findings.all(company)
                if not f.name.startswith((BLIND, STEPLESS)) or f.name.split(":", 1)[1] in fallback]
