"""The approvals feature's I/O (`DecisionService`). Approve / reject: authorization, the durable
outbox, the POST, and the message's new state.

A click's decision is written before any POST (unique per message, so double clicks, Slack's
retries and other replicas open it once), claimed with a lease for each attempt, and finished
only after Precoro answers. Retryable failures leave it pending for the worker; final ones are
shown to the approver. Only the approver the message was posted for may decide, and only with
their own token. Every click, accepted or not, ends in one audit entry (an accepted one when its
decision ends); a click the database cannot record is answered "click again".

Looking before sending (one `GET /{type}/{idn}` in the interactive lane, never more per attempt):
- on a decision's first attempt when the approver's last poll is older than `fresh_seconds`
  (10 min by default). A recent poll already told us the document waits for them, so the usual
  click costs one request (the POST); a click on an old message costs two, and a stale message
  is corrected ("no longer waiting: approved in Precoro") instead of answering with an error.
  The look is advisory: Precoro's answer to the POST stays the authority, and a look that fails
  with a retryable error just queues the decision like a failed POST would.
- on any attempt after one whose POST may have reached Precoro (timeout, dropped connection, 5xx,
  or a worker that died mid-attempt): if the document shows our decision (`lastApprover` is us,
  a finished step whose only approver is us, or "rejected" for a rejection), the decision is
  done without a second POST; if it no longer waits for us, it is gone; otherwise it is sent.
  Sending again blindly could approve a later step that names the same person. A decision stays
  unsure until such a look settles it: through retries, a final failure and a new click alike.

Exactly once (the fenced outbox, see `bot.store.decisions`): each attempt claims the decision with
a new fencing token, renews its lease while it runs (waiting for a quota slot included), checks
that it still holds the claim right before the POST leaves (the check renews the lease too), and
changes the decision, the message and Slack only while it holds it. An attempt that stalled past
its lease and was taken over sends nothing and changes nothing: the attempt that took over (which
looks first, the decision being unsure) decides. One decision per (company, document, Precoro
user): the same person registered twice cannot decide twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.features.approvals.amount_hold import Held, held
from bot.logs import fields
from bot.precoro import api
from bot.precoro.client import PrecoroClient
from bot.precoro.errors import (
    NotAllowed,
    NotFound,
    NotWaiting,
    PrecoroError,
    QuotaDeferred,
    RateLimited,
    TokenRejected,
    TokenWithdrawn,
    Unavailable,
)
from bot.precoro.models import Document, parse_document
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack import messages
from bot.slack.messages import MessageState
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.slack.payload import message_id
from bot.store import DATABASE_UNAVAILABLE, Store
from bot.store.approvers import ACTIVE, Approver
from bot.store.decisions import DONE, FAILED, UNSURE, Decision
from bot.store.messages import PostedMessage
from bot.tokens import TokenService
from bot.vault import VaultError

log = logging.getLogger(__name__)

APPROVE = "approve"
REJECT = "reject"
ATTEMPT_LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 30
MAX_BACKOFF_SECONDS = 300.0
RETRY_BASE_SECONDS = 5.0
FRESH_SECONDS = 600.0  # a poll or read of the document younger than this vouches for it; older: look first
POST_WAIT_STEP_SECONDS = 0.05  # how often a redraw looks whether the message's post was recorded


@dataclass(frozen=True)
class ClickAnswer:
    """What the clicker should be told right away (ephemeral), if anything."""

    accepted: bool
    text: str = ""


def _fields(decision: Decision) -> dict[str, object]:
    return fields(company=decision.company, approver_id=decision.approver_id, slack_user=decision.clicked_by,
                  doc_type=decision.doc_type, idn=decision.idn, decision_id=decision.id)


def backoff(attempts: int, base: float = RETRY_BASE_SECONDS) -> float:
    """Seconds before the next attempt: 5, 10, 20, ... capped at 5 minutes."""
    return min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1))


def attempt_lease(interactive_wait: float, request_timeout: float) -> float:
    """How long one attempt may hold a decision: at most two requests (a look and the POST), each
    waiting for its quota slot and then for Precoro, plus slack. A shorter lease could let another
    worker send while this one still waits for an answer; a longer one delays a crashed one."""
    return 2 * (interactive_wait + request_timeout) + 5.0


def _email(text: str) -> str:
    return text.strip().lower()


def waits_for(doc: Document, email: str) -> bool | None:
    """Does the document still wait for the approver with this email? None when it cannot tell."""
    if doc.status is not None and doc.status != api.STATUS_PENDING:
        return False
    emails = {_email(p.email) for p in (doc.current_step.approvers if doc.current_step else ()) if p.email}
    if not emails:
        return None
    return _email(email) in emails


def shows_decision(doc: Document, action: str, email: str) -> bool:
    """Does the document show that this approver's approve / reject went through?"""
    if action == REJECT:
        return doc.status == api.STATUS_DENIED
    me = _email(email)
    if doc.last_approver is not None and _email(doc.last_approver.email) == me:
        return True
    return any(
        me in {_email(p.email) for p in step.approved_by}  # a step that says we approved it
        # a finished step that names only us can only have been finished by us
        or (step.done and {_email(p.email) for p in step.approvers} == {me})
        for step in doc.approval_steps
    )


class ClaimLost(Exception):
    """This attempt no longer holds its decision (it stalled past its lease and another took over)."""


class DecisionService:
    # The engine's scheduler takes this service as its `DueDecisions` (bot/sync/scheduler.py): the
    # longest retry backoff tells it how long after a 429 or a failure due decisions may appear.
    max_backoff_seconds = MAX_BACKOFF_SECONDS

    def __init__(self, store: Store, tokens: TokenService, clients: Mapping[str, PrecoroClient],
                 web_urls: Mapping[str, str], notifier: Notifier, clock: Clock, *,
                 lease_seconds: float = ATTEMPT_LEASE_SECONDS, retry_base_seconds: float = RETRY_BASE_SECONDS,
                 fresh_seconds: float = FRESH_SECONDS) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.web_urls = web_urls
        self.notifier = notifier
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.retry_base_seconds = retry_base_seconds
        self.fresh_seconds = fresh_seconds
        self.in_flight = 0  # attempts running now (graceful shutdown waits for them)
        # Called with (team, Slack user) after a decision changed a message's state (the App Home).
        self.on_queue_change: Callable[[str, str], Awaitable[None]] | None = None
        # Called with (company, action, state, outcome) when this process finishes a decision.
        self.on_finished: Callable[[str, str, str, str], None] | None = None
        # Called once a decision went through in Precoro (the requester and finance hear of it).
        self.on_decided: Callable[[Decision, PostedMessage], Awaitable[None]] | None = None
        # Called with (company, [document]) when a look found the document no longer waiting.
        self.on_read: Callable[[str, list[Document]], Awaitable[None]] | None = None

    # --- checks before anything is recorded -----------------------------------------------------

    def authorize(self, *, team_id: str, user_id: str, ref: str, action: str) -> tuple[PostedMessage | None, str]:
        """The message a click refers to, or a refusal text (a stranger's attempt is audited).
        Blocking (database): async code runs it through `store.run`."""
        found = message_id(ref)
        message = self.store.messages.get(found) if found is not None else None
        if message is None:
            return None, messages.unknown_document_text()
        approver = self.store.approvers.get(message.approver_id)
        if approver is None:
            return None, messages.not_registered_text(user_id)
        if approver.team_id != team_id:  # another customer's workspace: as if there were no such document
            return None, messages.unknown_document_text()
        if approver.slack_user_id != user_id:
            self._audit_click(message, user_id, action, "refused: not the approver")
            return None, messages.wrong_user_text(approver.slack_user_id)
        if not approver.active:
            self._audit_click(message, user_id, action, "refused: token revoked")
            return None, messages.token_revoked_text()
        return message, ""

    async def authorize_click(self, *, team_id: str, user_id: str, ref: str,
                              action: str) -> tuple[PostedMessage | None, str]:
        """`authorize` from async code (the listeners' forms); a database that cannot answer is
        a refusal: "click again"."""
        try:
            return await self.store.run(self.authorize, team_id=team_id, user_id=user_id, ref=ref, action=action)
        except DATABASE_UNAVAILABLE:
            return None, messages.click_not_recorded_text()

    async def held(self, ref: str) -> Held | None:
        """The document `ref` names if approving it needs the typed confirmation (its company's
        amount rule, `amount_hold.py`); a database that cannot answer holds nothing back here (the
        click that follows answers "could not be recorded" on its own)."""
        if not any(self.notifier.confirm_rules.values()):
            return None
        try:
            return await self.store.run(held, self.store, self.notifier.confirm_rules, ref)
        except DATABASE_UNAVAILABLE:
            return None

    async def tell_submitter(self, team: str, ref: str, user: str, text: str) -> None:
        """A modal has no response_url: answer next to the document message, or in a DM."""
        channel = None
        with contextlib.suppress(*DATABASE_UNAVAILABLE):
            found = message_id(ref)
            message = await self.store.run(self.store.messages.get, found) if found is not None else None
            channel = message.channel if message is not None else None
        with contextlib.suppress(SlackUnavailable):
            if channel:
                await self.notifier.ephemeral(team, channel, user, text)
            else:
                await self.notifier.dm(team, user, text)

    async def dm(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    # --- the click --------------------------------------------------------------------------------

    async def click(self, *, team_id: str, user_id: str, ref: str, action: str, comment: str = "") -> ClickAnswer:
        try:
            message, refusal = await self.store.run(self.authorize, team_id=team_id, user_id=user_id, ref=ref,
                                                    action=action)
            if message is None:
                log.info("click by %s on message %s refused", user_id, ref)
                return ClickAnswer(False, refusal)
            if message.state in ("working", "queued"):
                await self.store.run(self._audit_click, message, user_id, action, "ignored: in progress")
                return ClickAnswer(False, messages.decision_in_progress_text())
            if message.state not in ("waiting", "failed"):
                await self.store.run(self._audit_click, message, user_id, action, f"ignored: already {message.state}")
                return ClickAnswer(False, messages.already_decided_text(message.state))
            decision, created = await self.store.run(
                self.store.decisions.open,
                message_id=message.id, approver_id=message.approver_id, company=message.company,
                doc_type=message.doc_type, idn=message.idn, action=action, comment=comment, clicked_by=user_id,
                now=self.clock.now(), first_attempt_at=self.clock.now() + self.lease_seconds,
            )
            if not created:
                done = decision.state == DONE
                await self.store.run(self._audit_click, message, user_id, action,
                                     f"ignored: already {decision.outcome}" if done else "ignored: in progress")
                return ClickAnswer(False, messages.already_decided_text(decision.outcome) if done
                                   else messages.decision_in_progress_text())
        except DATABASE_UNAVAILABLE as exc:
            log.warning("click by %s on message %s not recorded: database unavailable (%s)", user_id, ref,
                        type(exc).__name__)
            return ClickAnswer(False, messages.click_not_recorded_text())
        try:
            await self.store.run(self.store.messages.set_state, message.id, "working", self.clock.now())
            await self._show(message, MessageState.WORKING, action=action)
            await self.attempt(decision)
        except DATABASE_UNAVAILABLE as exc:
            # The decision is in the outbox: the worker resumes it once the database is back.
            log.warning("decision %s recorded, its attempt interrupted: database unavailable (%s)", decision.id,
                        type(exc).__name__)
            return ClickAnswer(True, messages.click_recorded_text())
        return ClickAnswer(True)

    async def run_due(self) -> int:
        """Retry pending decisions whose time has come (and resume ones a dead worker held)."""
        count = 0
        for decision in await self.store.run(self.store.decisions.due, self.clock.now()):
            await self.attempt(decision)
            count += 1
        return count

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` for the attempts in flight to finish; how many are left (their
        outbox rows are resumed by another replica, or by this one after a restart)."""
        deadline = self.clock.now() + timeout
        while self.in_flight and self.clock.now() < deadline:
            await asyncio.sleep(0.05)
        return self.in_flight

    async def attempt(self, decision: Decision) -> None:
        self.in_flight += 1
        try:
            await self._attempt(decision)
        finally:
            self.in_flight -= 1

    async def _attempt(self, decision: Decision) -> None:
        claimed = await self.store.run(self.store.decisions.claim, decision.id, self.clock.now(), self.lease_seconds)
        if claimed is None:
            return  # another worker or replica has it
        keeper = asyncio.create_task(self._keep_claim(claimed))
        try:
            await self._claimed(claimed)
        except ClaimLost:
            log.warning("decision %s: this attempt lost its claim (stalled past its lease); nothing sent",
                        claimed.id)
        finally:
            keeper.cancel()

    async def _keep_claim(self, claimed: Decision) -> None:
        """Renew the lease every third of it while the attempt runs (a frozen process renews
        nothing, so a stalled attempt does lose its claim)."""
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                try:
                    if not await self.store.run(self.store.decisions.renew, claimed.id, claimed.claim or "",
                                                self.clock.now(), self.lease_seconds):
                        return
                except DATABASE_UNAVAILABLE:
                    continue  # the check before the POST decides

    def _still_mine(self, claimed: Decision) -> Callable[[], Awaitable[None]]:
        """The check the client runs right before the POST leaves: still ours? (renews the lease)"""
        async def check() -> None:
            if not await self.store.run(self.store.decisions.renew, claimed.id, claimed.claim or "",
                                        self.clock.now(), self.lease_seconds):
                raise ClaimLost(str(claimed.id))
        return check

    async def _claimed(self, claimed: Decision) -> None:
        message = await self.store.run(self.store.messages.get, claimed.message_id)
        approver = await self.store.run(self.store.approvers.get, claimed.approver_id)
        if message is None or approver is None:
            if await self.store.run(self._finish, claimed, FAILED, "approver removed", self.clock.now()):
                await self.store.run(self._audit, claimed, "failed: approver removed")
            return
        client = self.clients[claimed.company]
        unsure = claimed.unsure  # an earlier POST may have gone through
        posting = False
        try:
            if approver.status != ACTIVE:  # refused by Precoro (confirming or confirmed): nothing is sent
                raise TokenWithdrawn(f"approver {approver.id}: token {approver.status}")
            cred = self.tokens.credentials(approver)
            if unsure or (claimed.attempts == 1 and self._stale(approver, message)):
                raw = await client.document(cred, claimed.doc_type, claimed.idn, lane=Lane.INTERACTIVE)
                doc = parse_document(claimed.doc_type, raw)
                if doc is not None and unsure and shows_decision(doc, claimed.action, approver.email):
                    log.info("decision %s: Precoro already shows it; not sent again", claimed.id,
                             extra=_fields(claimed))
                    await self._done(claimed, message)
                    return
                still = waits_for(doc, approver.email) if doc is not None else None
                if still is False:
                    await self._gone(claimed, message, "checked", document=raw)
                    return
                unsure = unsure and still is None  # it waits for us: nothing of ours went through
            posting = True
            if claimed.action == APPROVE:
                await client.approve(cred, claimed.doc_type, claimed.idn, before_send=self._still_mine(claimed))
            else:
                await client.reject(cred, claimed.doc_type, claimed.idn, claimed.comment,
                                    before_send=self._still_mine(claimed))
        except VaultError:
            await self._fail(claimed, message, "token unreadable", messages.token_unreadable_text(), retry=True)
        except TokenRejected:
            await self.tokens.refused(approver, claimed.action)  # suspect until a second request confirms
            await self._fail(claimed, message, "token revoked", messages.token_revoked_text(), retry=True)
        except TokenWithdrawn:  # a poll or a re-check saw Precoro refuse it first, or it was removed
            if await self.store.run(self.store.approvers.get, approver.id) is None:
                if await self.store.run(self._finish, claimed, FAILED, "approver removed", self.clock.now()):
                    await self.store.run(self._audit, claimed, "failed: approver removed")
            else:
                await self._fail(claimed, message, "token withdrawn", messages.token_revoked_text(), retry=True)
        except (NotWaiting, NotAllowed, NotFound) as exc:
            await self._gone(claimed, message, type(exc).__name__)
        except (RateLimited, QuotaDeferred, PrecoroError) as exc:
            maybe_sent = unsure or (posting and isinstance(exc, Unavailable))
            if not exc.retryable or claimed.attempts >= MAX_ATTEMPTS:
                reason = messages.precoro_refused_text(str(exc)) if not exc.retryable else \
                    messages.precoro_unavailable_text()
                await self._fail(claimed, message, type(exc).__name__, reason, retry=True, maybe_sent=maybe_sent)
            else:
                await self._queue(claimed, message, exc, maybe_sent=maybe_sent)
        else:
            await self._done(claimed, message)

    def _stale(self, approver: Approver, message: PostedMessage) -> bool:
        """The bot's knowledge of this document is old: neither the approver's last poll nor the
        last read of the document itself (a discovery run, a webhook's read) is fresh."""
        known = max((t for t in (approver.last_polled_at, message.read_at) if t is not None), default=None)
        return known is None or self.clock.now() - known > self.fresh_seconds

    # --- outcomes ----------------------------------------------------------------------------------

    async def _done(self, decision: Decision, message: PostedMessage) -> None:
        now = self.clock.now()
        outcome = "approved" if decision.action == APPROVE else "rejected"
        if not await self.store.run(self._finished, decision, DONE, outcome, now, message_state=outcome):
            return
        state = MessageState.APPROVED if decision.action == APPROVE else MessageState.REJECTED
        await self._show(message, state, actor=decision.clicked_by, reason=decision.comment,
                         at=datetime.fromtimestamp(now, tz=UTC))
        if self.on_decided is not None:
            await self.on_decided(decision, message)

    async def _gone(self, decision: Decision, message: PostedMessage, why: str,
                    document: dict | None = None) -> None:
        """Precoro no longer waits for this approver; `document` is its fresh copy when we looked."""
        now = self.clock.now()
        fresh = parse_document(decision.doc_type, document) if document is not None else None
        if not await self.store.run(self._finished, decision, FAILED, f"not waiting ({why})", now,
                                    message_state="gone", audit="not waiting", document=document if fresh else None,
                                    fingerprint=fresh.fingerprint() if fresh else None):
            return
        # With the fresh document the message says why (approved in Precoro, withdrawn, ...).
        await self._show(message, MessageState.GONE, reason="" if fresh else messages.not_waiting_reason())
        if fresh is not None and self.on_read is not None:
            await self.on_read(decision.company, [fresh])

    async def _fail(self, decision: Decision, message: PostedMessage, outcome: str, reason: str,
                    *, retry: bool, maybe_sent: bool | None = None) -> None:
        """Final for this click; a POST that may have gone through keeps the decision UNSURE, so a
        new click looks before sending (by default: unsure if it was unsure when claimed)."""
        now = self.clock.now()
        unsure = decision.unsure if maybe_sent is None else maybe_sent
        if not await self.store.run(self._finished, decision, FAILED, f"{UNSURE}:{outcome}" if unsure else outcome,
                                    now, message_state="failed", audit=outcome):
            return
        await self._show(message, MessageState.FAILED, reason=reason, action=decision.action, retry_allowed=retry)

    async def _queue(self, decision: Decision, message: PostedMessage, exc: PrecoroError, *,
                     maybe_sent: bool) -> None:
        now = self.clock.now()
        retry_at = getattr(exc, "retry_at", None) or 0.0
        next_at = max(now + backoff(decision.attempts, self.retry_base_seconds), retry_at)
        outcome = f"{UNSURE}:{type(exc).__name__}" if maybe_sent else type(exc).__name__
        if not await self.store.run(self.store.decisions.retry_later, decision.id, next_at, outcome, now,
                                    claim=decision.claim):
            self._lost(decision)
            return
        if message.state != "queued":
            await self.store.run(self.store.messages.set_state, message.id, "queued", now)
            await self._show(message, MessageState.QUEUED, action=decision.action)
        log.info("decision %s queued until %.0f after %s", decision.id, next_at, outcome, extra=_fields(decision))

    def _finish(self, decision: Decision, state: str, outcome: str, now: float) -> bool:
        """Finish the decision if this attempt still holds it; False (and nothing changes) if not.
        Blocking (database), like `_finished` and the audit helpers."""
        if self.store.decisions.finish(decision.id, state, outcome[:32], now, claim=decision.claim):
            if self.on_finished is not None:
                self.on_finished(decision.company, decision.action, state, outcome)
            return True
        self._lost(decision)
        return False

    def _finished(self, decision: Decision, state: str, outcome: str, now: float, *, message_state: str,
                  audit: str | None = None, **changes: object) -> bool:
        """Finish the decision (if still ours), then its message's state and the audit entry."""
        if not self._finish(decision, state, outcome, now):
            return False
        self.store.messages.set_state(decision.message_id, message_state, now, **changes)  # type: ignore[arg-type]
        self._audit(decision, audit or outcome)
        return True

    @staticmethod
    def _lost(decision: Decision) -> None:
        log.warning("decision %s: this attempt lost its claim; the one that took over decides", decision.id,
                    extra=_fields(decision))

    # --- helpers -----------------------------------------------------------------------------------

    async def _show(self, message: PostedMessage, state: MessageState, **details: object) -> None:
        fresh = await self._once_posted(message)
        doc = parse_document(fresh.doc_type, fresh.raw_document)
        approver = await self.store.run(self.store.approvers.get, fresh.approver_id)
        if doc is None or not fresh.posted or approver is None:
            return
        link = api.web_link(self.web_urls[fresh.company], fresh.doc_type, fresh.idn)
        with contextlib.suppress(SlackUnavailable):  # the stored state is the truth; a redraw catches up
            await self.notifier.show(approver.team_id, fresh.channel or "", fresh.ts or "", doc,
                                     owner=approver.slack_user_id,
                                     ref=str(fresh.id), link=link, state=state, company=fresh.company,
                                     **details)  # type: ignore[arg-type]
        if self.on_queue_change:
            await self.on_queue_change(approver.team_id, approver.slack_user_id)

    async def _once_posted(self, message: PostedMessage) -> PostedMessage:
        """The message as stored, once its post has been recorded: Slack shows a message before the
        bot hears back where it went, so a quick click can get here while the post is in flight."""
        fresh = await self.store.run(self.store.messages.get, message.id) or message
        while not fresh.posted and (fresh.post_claimed_until or 0.0) > self.clock.now():
            await asyncio.sleep(POST_WAIT_STEP_SECONDS)
            fresh = await self.store.run(self.store.messages.get, message.id) or fresh
        return fresh

    def _audit(self, decision: Decision, outcome: str) -> None:
        self.store.audit.record(at=self.clock.now(), company=decision.company, actor=decision.clicked_by,
                                action=f"decision.{decision.action}", subject=f"{decision.doc_type}/{decision.idn}",
                                outcome=outcome)

    def _audit_click(self, message: PostedMessage, user_id: str, action: str, outcome: str) -> None:
        """A click that opened no decision (refused or ignored) still leaves its trace."""
        self.store.audit.record(at=self.clock.now(), company=message.company, actor=user_id,
                                action=f"decision.{action}", subject=f"{message.doc_type}/{message.idn}",
                                outcome=outcome)
