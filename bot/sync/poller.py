"""Per-approver polling: ask Precoro what waits for one approver and bring Slack in line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.logs import fields
from bot.precoro import api
from bot.precoro.client import PrecoroClient
from bot.precoro.errors import PrecoroError, TokenRejected, TokenWithdrawn
from bot.precoro.models import Document, parse_document
from bot.quota.gate import Clock
from bot.slack import messages
from bot.slack.messages import MessageState
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.approvers import Approver
from bot.store.messages import OPEN_STATES, PostedMessage
from bot.sync import route
from bot.sync.reconcile import Known, SyncPlan, reconcile
from bot.sync.tokens import ApproverTokens
from bot.vault import VaultError

log = logging.getLogger(__name__)

# Retired or decided messages a poll may show again: Precoro waits for the approver once more (a
# later step that names them, a resubmitted document), as read by a poll that began after the change.
REOPENABLE_STATES = ("approved", "rejected", "gone")


@dataclass(frozen=True)
class PollResult:
    requests: int = 0
    posted: int = 0
    retired: int = 0
    complete: bool = True
    error: str = ""


class Poller:
    def __init__(self, store: Store, tokens: ApproverTokens, clients: Mapping[str, PrecoroClient],
                 document_types: Mapping[str, tuple[str, ...]], web_urls: Mapping[str, str],
                 notifier: Notifier, clock: Clock) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.document_types = document_types
        self.web_urls = web_urls
        self.notifier = notifier
        self.clock = clock
        # Called with (team, Slack user) after a poll changed the approver's queue (the App Home).
        self.on_queue_change: Callable[[str, str], Awaitable[None]] | None = None
        # Called with (company, the document as read, when first seen) once its message is posted.
        self.on_posted: Callable[[str, dict, float], None] | None = None
        # Called with (company, "type/idn") when the waiting list held a document whose current step
        # does not name the approver: `waitingForApprove` is not honoured (bot/sync/adapt.py).
        self.on_filter_refuted: Callable[[str, str], Awaitable[None]] | None = None
        # Called with (approver, documents) a poll found that no message of theirs held yet: did
        # company discovery miss them? (bot/sync/blind.py). Never raises.
        self.on_new: Callable[[Approver, list[Document]], Awaitable[None]] | None = None
        # Called with (approver, message, the document as just read or None) once a message is
        # retired: the document no longer waits for them (its requester may hear the outcome).
        self.on_retired: Callable[[Approver, PostedMessage, Document | None], Awaitable[None]] | None = None

    def link(self, company: str, doc_type: str, idn: str) -> str:
        return api.web_link(self.web_urls[company], doc_type, idn)

    async def poll(self, approver: Approver) -> PollResult:
        """Read every enabled type for this approver, then post, redraw and retire messages."""
        started = self.clock.now()
        try:
            cred = self.tokens.credentials(approver)
        except VaultError as exc:
            log.error("approver %s: token cannot be decrypted (%s); skipping", approver.id, exc)
            return PollResult(complete=False, error="vault")
        client = self.clients[approver.company]
        raws: dict[tuple[str, str], dict] = {}
        waiting: list[Document] = []
        complete: set[str] = set()
        requests, error = 0, ""
        pending_list = client.waiting_filter_ignored  # every pending document: keep the approver's own
        strays: list[str] = []
        for doc_type in self.document_types[approver.company]:
            try:
                items, spent = await client.waiting_documents(cred, doc_type)
            except TokenRejected:
                await self.tokens.refused(approver, "poll")  # suspect: one more request confirms it
                return PollResult(requests=requests + 1, complete=False, error="token")
            except TokenWithdrawn:  # removed or refused while waiting for the slot: nothing sent
                return PollResult(requests=requests, complete=False, error="token")
            except PrecoroError as exc:
                error = type(exc).__name__
                log.info("poll of approver %s stopped at %s: %s", approver.id, doc_type, exc,
                         extra=fields(company=approver.company, approver_id=approver.id, doc_type=doc_type))
                break
            requests += spent
            complete.add(doc_type)
            for item in items:
                doc = parse_document(doc_type, item)
                if doc is None:
                    continue
                # Only documents this approver can approve now: a readable step that does not name
                # them means the list is not theirs; an unreadable one is trusted only from the filter,
                # and so is a listed document whose status is missing or not "pending" (a type with
                # other status codes must not look like a filter that is not honoured).
                waits = route.names(doc, approver.email) if doc.is_pending or pending_list else None
                if waits is False or (waits is None and pending_list):
                    if waits is False and not pending_list:
                        strays.append(f"{doc_type}/{doc.idn}")
                    continue
                waiting.append(doc)
                raws[(doc_type, doc.idn)] = item
        if strays and self.on_filter_refuted is not None:
            await self.on_filter_refuted(approver.company, strays[0])
        known = [
            Known(m.id, m.doc_type, m.idn, m.state, m.fingerprint, m.posted, m.updated_at)
            for m in await self.store.run(self.store.messages.for_approver, approver.id)
        ]
        plan = reconcile(known, waiting, complete, started)
        # Marked before posting: a click on a message posted now must find Precoro freshly read.
        await self.store.run(self.store.approvers.mark_polled, approver.id, self.clock.now(), len(plan.new))
        posted = await self.apply(approver, plan, raws)
        if plan.new and self.on_new is not None:
            await self.on_new(approver, list(plan.new))
        return PollResult(requests=requests, posted=posted, retired=len(plan.gone),
                          complete=len(complete) == len(self.document_types[approver.company]), error=error)

    async def apply(self, approver: Approver, plan: SyncPlan, raws: dict[tuple[str, str], dict]) -> int:
        """Post, redraw and retire as the plan says (shared by polls and company discovery)."""
        now = self.clock.now()
        posted = 0
        for doc in plan.new:
            row = await self.store.run(
                self.store.messages.claim_post,
                approver_id=approver.id, company=approver.company, doc_type=doc.doc_type, idn=doc.idn,
                document=raws[(doc.doc_type, doc.idn)], fingerprint=doc.fingerprint(), now=now,
            )
            if row is None:
                continue  # posted already, or another worker is posting it
            try:
                link = self.link(approver.company, doc.doc_type, doc.idn)
                channel, ts = await self.notifier.post_document(approver.team_id, approver.slack_user_id, doc,
                                                                   ref=str(row.id), link=link,
                                                                   company=approver.company)
            except SlackUnavailable:
                await self.store.run(self.store.messages.release_claim, row.id)
                continue
            await self.store.run(self.store.messages.mark_posted, row.id, channel, ts, self.clock.now())
            posted += 1
            if self.on_posted is not None:
                self.on_posted(approver.company, raws[(doc.doc_type, doc.idn)], row.first_seen_at)
        for message_id, doc in plan.changed:
            await self._redraw(approver, message_id, doc, MessageState.WAITING, raws[(doc.doc_type, doc.idn)],
                               only_from=OPEN_STATES)
        for message_id, doc in plan.reopened:
            await self._redraw(approver, message_id, doc, MessageState.WAITING, raws[(doc.doc_type, doc.idn)],
                               only_from=REOPENABLE_STATES)
        for message_id in plan.gone:
            await self._retire(approver, message_id, raws)
        if self.on_queue_change and (plan.new or plan.gone or plan.changed or plan.reopened):
            await self.on_queue_change(approver.team_id, approver.slack_user_id)
        return posted

    async def _redraw(self, approver: Approver, message_id: int, doc: Document, state: MessageState,
                      raw: dict, *, only_from: tuple[str, ...]) -> None:
        """Redraw a message the poll found changed (or waiting again), only from the states the plan
        saw: a click that decided it after the poll read Precoro owns it, and a redraw never puts
        a decided (or in-flight) message back to waiting."""
        message = await self.store.run(self.store.messages.get, message_id)
        if message is None or not message.posted or message.state not in only_from:
            return
        old = parse_document(message.doc_type, message.raw_document)
        try:
            await self.notifier.show(approver.team_id, message.channel or "", message.ts or "", doc,
                                     owner=approver.slack_user_id,
                                     ref=str(message_id), link=self.link(approver.company, doc.doc_type, doc.idn),
                                     state=state, company=approver.company)
        except SlackUnavailable:
            return  # fingerprint unchanged, so the next poll redraws it
        if not await self.store.run(self.store.messages.set_state, message_id, state.value, self.clock.now(),
                                    only_from=only_from, document=raw, fingerprint=doc.fingerprint()):
            # Decided while we redrew: the decision's own update shows the outcome.
            log.info("message %s decided during a redraw; left as decided", message_id)
            return
        # Amount edited, a new comment...: said in the message's thread, not in a second message.
        note = messages.change_note(old, doc) if old is not None and state is MessageState.WAITING else ""
        if note:
            with contextlib.suppress(SlackUnavailable):
                await self.notifier.reply(approver.team_id, message.channel or "", message.ts or "", note)

    async def _retire(self, approver: Approver, message_id: int, raws: dict[tuple[str, str], dict]) -> None:
        message = await self.store.run(self.store.messages.get, message_id)
        if message is None or not message.posted:
            return
        # Conditional: a click that started meanwhile owns the message from now on.
        if not await self.store.run(self.store.messages.set_state, message_id, "gone", self.clock.now(),
                                    only_from=("waiting", "failed")):
            return
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is None:
            return
        try:
            await self.notifier.show(approver.team_id, message.channel or "", message.ts or "", doc,
                                     owner=approver.slack_user_id,
                                     ref=str(message_id), link=self.link(approver.company, doc.doc_type, doc.idn),
                                     state=MessageState.GONE, reason="it was decided or changed in Precoro",
                                     company=approver.company)
        except SlackUnavailable:
            await self.store.run(self.store.messages.set_state, message_id, "waiting", self.clock.now(),
                                 only_from=("gone",))
            return
        if self.on_retired is not None:  # discovery read the document as it is now; a poll did not
            fresh = raws.get((message.doc_type, message.idn))
            await self.on_retired(approver, message, parse_document(message.doc_type, fresh) if fresh else None)
