"""Does the company discovery token see every document? Noticed at run time, nearly for free.

Discovery lists the company's documents with one token and routes each to the approvers of its
current step (`bot/sync/discovery.py`); a token whose Precoro role does not see everything
misses some approvers' documents silently. The per-approver polls that keep running as the
safety net read each approver's own waiting list, so they are the witness:

1. Suspect (no request). A poll found a document no message of this approver holds yet, of a
   type discovery reads, last changed (`updateDate`, else `createDate`) after the approver
   registered and more than `discovery.OVERLAP_SECONDS` before the start of the last complete
   discovery run (its cursor). Discovery read every document changed since before that run, so
   it should have posted this one already.
2. Confirm (one request). The discovery token reads that one document. Precoro answering 404 or
   403 means its role cannot see it: the finding is recorded, the type is left to per-approver
   polls (the scheduler then polls every approver for it, the discovery user included), and the
   admins are told once (`Adaptations.blind`); `/precoro status` shows it. An answer means
   discovery sees it and missed it for another reason (a post that failed, a step change
   `modifiedSince` does not report, an email on the step that differs from the registered one):
   logged, nothing switched. Any other error: nothing decided, a later poll suspects again.

Cost: suspicion is free; confirmations are bounded to one per company every `CONFIRM_SECONDS`
(at most 96 a day, 3 % of Precoro's day limit, and only while discovery keeps missing documents
it can see) and never twice for one document (`REMEMBERED` documents kept in memory). The poll
has already posted the document, so nothing waits for the confirmation.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping

from bot.precoro.client import PrecoroClient
from bot.precoro.errors import NotAllowed, NotFound, PrecoroError, QuotaDeferred
from bot.precoro.models import Document
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.store import Store
from bot.store.approvers import Approver
from bot.sync.discovery import OVERLAP_SECONDS
from bot.sync.tokens import ApproverTokens
from bot.vault import VaultError

log = logging.getLogger(__name__)

CONFIRM_SECONDS = 900.0
REMEMBERED = 1000


def changed_at(doc: Document) -> float | None:
    """When the document last changed in Precoro (update, else creation time), epoch seconds."""
    at = doc.updated_at or doc.created_at
    return at.timestamp() if at is not None else None


def suspects(docs: list[Document], *, registered_at: float, cursor: float | None,
             fallback: frozenset[str]) -> list[Document]:
    """The documents discovery should have found already (pure; see the module's step 1)."""
    if cursor is None:
        return []
    out = []
    for doc in docs:
        at = changed_at(doc)
        if doc.doc_type not in fallback and at is not None and registered_at <= at < cursor - OVERLAP_SECONDS:
            out.append(doc)
    return out


class BlindWatch:
    def __init__(self, store: Store, tokens: ApproverTokens, clients: Mapping[str, PrecoroClient],
                 clock: Clock) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.clock = clock
        # Called (company, type, discovery approver id) once the discovery token is found not to
        # see a type's documents.
        self.on_blind: Callable[[str, str, int], Awaitable[None]] | None = None
        self._confirmed_at: dict[str, float] = {}
        self._checked: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    async def polled(self, approver: Approver, new: list[Document]) -> None:
        """A poll of `approver` found these documents new to them (the poller's `on_new`)."""
        try:
            await self._polled(approver, new)
        except Exception:  # a check not made is made on a later document; the poll goes on
            log.exception("discovery visibility check of %s failed", approver.company)

    async def _polled(self, approver: Approver, new: list[Document]) -> None:
        company = approver.company
        now = self.clock.now()
        if now - self._confirmed_at.get(company, -math.inf) < CONFIRM_SECONDS:
            return
        settings = await self.store.run(self.store.discovery.get, company)
        if settings is None or not settings.active or settings.approver_id in (None, approver.id):
            return
        found = [d for d in suspects(new, registered_at=approver.created_at, cursor=settings.cursor,
                                     fallback=settings.fallback_types)
                 if (company, d.doc_type, d.idn) not in self._checked]
        if not found:
            return
        doc = found[0]
        discoverer = await self.store.run(self.store.approvers.get, settings.approver_id)
        if discoverer is None or not discoverer.active:
            return
        try:
            cred = self.tokens.credentials(discoverer)
        except VaultError:
            return
        try:
            await self.clients[company].document(cred, doc.doc_type, doc.idn, lane=Lane.POLL)
        except QuotaDeferred:
            return  # not sent, nothing spent: a later poll suspects it again
        except (NotFound, NotAllowed):  # 404 or 403: the discovery token's role does not see it
            self._sent(company, doc, now)
            await self._blind(company, doc, discoverer.id)
            return
        except PrecoroError as exc:
            self._sent(company, doc, now)
            log.info("discovery visibility check of %s not made: %s", company, exc)
            return
        self._sent(company, doc, now)
        log.info("discovery of %s sees %s %s but did not post it to approver %s (a failed post, a step change "
                 "modifiedSince missed, or another email on the step)", company, doc.doc_type, doc.idn, approver.id)

    async def _blind(self, company: str, doc: Document, discoverer: int) -> None:
        if not await self.store.run(self.store.discovery.add_fallback, company, doc.doc_type, self.clock.now()):
            return
        log.warning("discovery of %s: its token cannot read %s %s, which waits for a registered approver; %s are "
                    "left to per-approver polls", company, doc.doc_type, doc.idn, doc.doc_type)
        if self.on_blind is not None:
            await self.on_blind(company, doc.doc_type, discoverer)

    def _sent(self, company: str, doc: Document, now: float) -> None:
        """A confirmation went to Precoro: the next waits `CONFIRM_SECONDS`; this document is done."""
        self._confirmed_at[company] = now
        key = (company, doc.doc_type, doc.idn)
        self._checked[key] = None
        while len(self._checked) > REMEMBERED:
            self._checked.popitem(last=False)
