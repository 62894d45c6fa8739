"""Approve / reject: authorization, the durable outbox, the POST, and the message's new state.

A click's decision is written before any POST (unique per message, so double clicks, Slack's
retries and other replicas open it once), claimed with a lease for each attempt, and finished
only after Precoro answers. Retryable failures leave it pending for the worker; final ones are
shown to the approver. Only the approver the message was posted for may decide, and only with
their own token.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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
)
from bot.precoro.models import parse_document
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack import messages
from bot.slack.messages import MessageState
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.decisions import DONE, FAILED, Decision
from bot.store.messages import PostedMessage
from bot.tokens import TokenService
from bot.vault import VaultError

log = logging.getLogger(__name__)

APPROVE = "approve"
REJECT = "reject"
ATTEMPT_LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 30
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class ClickAnswer:
    """What the clicker should be told right away (ephemeral), if anything."""

    accepted: bool
    text: str = ""


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: 5, 10, 20, ... capped at 5 minutes."""
    return min(MAX_BACKOFF_SECONDS, 5.0 * 2 ** max(0, attempts - 1))


class DecisionService:
    def __init__(self, store: Store, tokens: TokenService, clients: Mapping[str, PrecoroClient],
                 web_urls: Mapping[str, str], notifier: Notifier, clock: Clock) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.web_urls = web_urls
        self.notifier = notifier
        self.clock = clock

    # --- checks before anything is recorded -----------------------------------------------------

    def authorize(self, *, team_id: str, user_id: str, ref: str, action: str) -> tuple[PostedMessage | None, str]:
        """The message a click refers to, or a refusal text (a stranger's attempt is audited)."""
        message = self.store.messages.get(int(ref)) if ref.isdigit() else None
        if message is None:
            return None, messages.unknown_document_text()
        approver = self.store.approvers.get(message.approver_id)
        if approver is None:
            return None, messages.not_registered_text(user_id)
        if approver.slack_user_id != user_id or approver.team_id != team_id:
            self.store.audit.record(at=self.clock.now(), company=message.company, actor=user_id,
                                    action=f"decision.{action}", subject=f"{message.doc_type}/{message.idn}",
                                    outcome="refused: not the approver")
            return None, messages.wrong_user_text(approver.slack_user_id)
        if not approver.active:
            return None, messages.token_revoked_text()
        return message, ""

    # --- the click --------------------------------------------------------------------------------

    async def click(self, *, team_id: str, user_id: str, ref: str, action: str, comment: str = "") -> ClickAnswer:
        message, refusal = self.authorize(team_id=team_id, user_id=user_id, ref=ref, action=action)
        if message is None:
            log.info("click by %s on message %s refused", user_id, ref)
            return ClickAnswer(False, refusal)
        if message.state in ("working", "queued"):
            return ClickAnswer(False, messages.decision_in_progress_text())
        if message.state not in ("waiting", "failed"):
            return ClickAnswer(False, messages.already_decided_text(message.state))
        decision, created = self.store.decisions.open(
            message_id=message.id, approver_id=message.approver_id, company=message.company,
            doc_type=message.doc_type, idn=message.idn, action=action, comment=comment, clicked_by=user_id,
            now=self.clock.now(),
        )
        if not created:
            if decision.state == DONE:
                return ClickAnswer(False, messages.already_decided_text(decision.outcome))
            return ClickAnswer(False, messages.decision_in_progress_text())
        self.store.messages.set_state(message.id, "working", self.clock.now())
        await self._show(message, MessageState.WORKING, action=action)
        await self.attempt(decision)
        return ClickAnswer(True)

    async def run_due(self) -> int:
        """Retry pending decisions whose time has come (and resume ones a dead worker held)."""
        count = 0
        for decision in self.store.decisions.due(self.clock.now()):
            await self.attempt(decision)
            count += 1
        return count

    async def attempt(self, decision: Decision) -> None:
        claimed = self.store.decisions.claim(decision.id, self.clock.now(), ATTEMPT_LEASE_SECONDS)
        if claimed is None:
            return  # another worker or replica has it
        message = self.store.messages.get(claimed.message_id)
        approver = self.store.approvers.get(claimed.approver_id)
        if message is None or approver is None:
            self.store.decisions.finish(claimed.id, FAILED, "approver removed", self.clock.now())
            return
        client = self.clients[claimed.company]
        try:
            cred = self.tokens.credentials(approver)
            if claimed.action == APPROVE:
                await client.approve(cred, claimed.doc_type, claimed.idn)
            else:
                await client.reject(cred, claimed.doc_type, claimed.idn, claimed.comment)
        except VaultError:
            await self._fail(claimed, message, "token unreadable", messages.token_unreadable_text(), retry=True)
        except TokenRejected:
            await self.tokens.revoked(approver, claimed.action)
            await self._fail(claimed, message, "token revoked", messages.token_revoked_text(), retry=True)
        except (NotWaiting, NotAllowed, NotFound) as exc:
            if claimed.attempts > 1 and await self._already_done(claimed, client, cred):
                await self._done(claimed, message)
            else:
                await self._gone(claimed, message, type(exc).__name__)
        except (RateLimited, QuotaDeferred, PrecoroError) as exc:
            if not exc.retryable or claimed.attempts >= MAX_ATTEMPTS:
                reason = messages.precoro_refused_text(str(exc)) if not exc.retryable else \
                    messages.precoro_unavailable_text()
                await self._fail(claimed, message, type(exc).__name__, reason, retry=True)
            else:
                await self._queue(claimed, message, exc)
        else:
            await self._done(claimed, message)

    # --- outcomes ----------------------------------------------------------------------------------

    async def _done(self, decision: Decision, message: PostedMessage) -> None:
        now = self.clock.now()
        outcome = "approved" if decision.action == APPROVE else "rejected"
        self.store.decisions.finish(decision.id, DONE, outcome, now)
        self.store.messages.set_state(message.id, outcome, now)
        self._audit(decision, outcome)
        state = MessageState.APPROVED if decision.action == APPROVE else MessageState.REJECTED
        await self._show(message, state, actor=decision.clicked_by, reason=decision.comment,
                         at=datetime.fromtimestamp(now, tz=UTC))

    async def _gone(self, decision: Decision, message: PostedMessage, why: str) -> None:
        now = self.clock.now()
        self.store.decisions.finish(decision.id, FAILED, f"not waiting ({why})", now)
        self.store.messages.set_state(message.id, "gone", now)
        self._audit(decision, "not waiting")
        await self._show(message, MessageState.GONE, reason=messages.not_waiting_reason())

    async def _fail(self, decision: Decision, message: PostedMessage, outcome: str, reason: str,
                    *, retry: bool) -> None:
        now = self.clock.now()
        self.store.decisions.finish(decision.id, FAILED, outcome, now)
        self.store.messages.set_state(message.id, "failed", now)
        self._audit(decision, outcome)
        await self._show(message, MessageState.FAILED, reason=reason, action=decision.action, retry_allowed=retry)

    async def _queue(self, decision: Decision, message: PostedMessage, exc: PrecoroError) -> None:
        now = self.clock.now()
        retry_at = getattr(exc, "retry_at", None) or 0.0
        next_at = max(now + backoff(decision.attempts), retry_at)
        self.store.decisions.retry_later(decision.id, next_at, type(exc).__name__, now)
        if message.state != "queued":
            self.store.messages.set_state(message.id, "queued", now)
            await self._show(message, MessageState.QUEUED, action=decision.action)
        log.info("decision %s queued until %.0f after %s", decision.id, next_at, type(exc).__name__)

    async def _already_done(self, decision: Decision, client: PrecoroClient, cred: object) -> bool:
        """After an attempt whose answer was lost, did our earlier POST go through?"""
        try:
            raw = await client.document(cred, decision.doc_type, decision.idn, lane=Lane.INTERACTIVE)  # type: ignore[arg-type]
        except PrecoroError:
            return False
        wanted = api.STATUS_APPROVED if decision.action == APPROVE else api.STATUS_DENIED
        doc = parse_document(decision.doc_type, raw)
        return doc is not None and doc.status == wanted

    # --- helpers -----------------------------------------------------------------------------------

    async def _show(self, message: PostedMessage, state: MessageState, **details: object) -> None:
        fresh = self.store.messages.get(message.id) or message
        doc = parse_document(fresh.doc_type, fresh.raw_document)
        approver = self.store.approvers.get(fresh.approver_id)
        if doc is None or not fresh.posted or approver is None:
            return
        link = api.web_link(self.web_urls[fresh.company], fresh.doc_type, fresh.idn)
        with contextlib.suppress(SlackUnavailable):  # the stored state is the truth; a redraw catches up
            await self.notifier.show(fresh.channel or "", fresh.ts or "", doc, owner=approver.slack_user_id,
                                     ref=str(fresh.id), link=link, state=state, **details)  # type: ignore[arg-type]

    def _audit(self, decision: Decision, outcome: str) -> None:
        self.store.audit.record(at=self.clock.now(), company=decision.company, actor=decision.clicked_by,
                                action=f"decision.{decision.action}", subject=f"{decision.doc_type}/{decision.idn}",
                                outcome=outcome)
