"""Approvers connect their own Precoro key: `/precoro connect` (and the Connect buttons of the Home
and of invitations), `/precoro disconnect`, the admins' Approve / Deny of a connection request, and
`/precoro invite` (with the admins' Home button).

Why: a Precoro key gives full API access as its user, so under `connect_policy: self` or
`self-with-approval` the key goes from its owner straight into the bot, never through an admin.
The email is the owner's Slack profile email, and Precoro must accept the key with it (the same
check as an admin's registration): a key of someone else's account is refused and nothing stored.
Under `self-with-approval` the checked key is stored sealed but unused (`pending`) until an admin of
that company approves; the admin sees the person and the email, never the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Config
from bot.features.connect import invitations, messages
from bot.features.home.service import HomeService
from bot.precoro.errors import PrecoroError, TokenRejected
from bot.quota.gate import Clock
from bot.slack.messages import unreadable_request_text
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.approvers import ACTIVE, PENDING, Approver
from bot.tenancy import Tenancy
from bot.tokens import TokenService

log = logging.getLogger(__name__)

SELF = "self"
WITH_APPROVAL = "self-with-approval"


def request_value(approver: Approver) -> str:
    """The Approve / Deny buttons' value: the approver row and a digest of the sealed key asked
    about, so a button left from an older request never approves a key connected since."""
    return f"{approver.id}:{_digest(approver.token_ciphertext)}"


def _digest(ciphertext: str) -> str:
    return hashlib.sha256(ciphertext.encode()).hexdigest()[:16]


Respond = Callable[..., Awaitable[Any]]  # the clicked message's response_url (Bolt's `respond`)


class ConnectService:
    """The connect, disconnect, approval and invitation steps."""

    def __init__(self, config: Config, store: Store, tokens: TokenService, notifier: Notifier, clock: Clock,
                 home: HomeService, tenancy: Tenancy) -> None:
        self.config = config
        self.store = store
        self.tokens = tokens
        self.notifier = notifier
        self.clock = clock
        self.home = home
        self.tenancy = tenancy

    async def tell(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    def policy(self, company: str) -> str:
        chosen = next((c for c in self.config.companies if c.id == company), None)
        return chosen.connect_policy if chosen is not None else "admin"

    async def open_form(self, team: str, user: str, company: str, trigger: str, client: AsyncWebClient) -> str:
        """Open the connect form; "" when opened, else what to tell the user instead."""
        if self.policy(company) == "admin":
            return messages.connect_admin_only_text()
        email = str((await self.notifier.profile(team, user)).get("email") or "")
        if not email:
            return messages.connect_no_email_text()
        if not trigger:
            return unreadable_request_text()
        await client.views_open(trigger_id=trigger, view=messages.connect_modal(company=company, email=email))
        return ""

    async def invite(self, team: str, user: str, mine: list[str], *, again: bool) -> str:
        chosen = [c for c in self.config.companies if c.id in mine]
        summary = await invitations.invite(self.store, self.notifier, self.clock, chosen, team=team, by=user,
                                           again=again)
        return messages.invite_summary_text(invited=summary.invited, not_in_slack=summary.not_in_slack,
                                            already=summary.already, admin_only=summary.admin_only,
                                            failed=summary.failed)

    async def disconnect(self, team: str, user: str, enterprise: str | None) -> str:
        """Delete the caller's own tokens (of this workspace's companies) and say so."""
        removed: list[str] = []
        for approver in await self.store.run(self.store.approvers.for_slack_user, team, user):
            if self.tenancy.allows(approver.company, team, enterprise):
                await self.store.run(self.tokens.remove, approver, user)
                removed.append(approver.company)
        if removed:
            await self.home.refresh(team, user)
        return messages.disconnected_text(removed)

    async def connect(self, company: str, team: str, user: str, token: str) -> str:
        """Check the user's own key with their Slack email and store it (pending under approval)."""
        email = str((await self.notifier.profile(team, user)).get("email") or "").strip()
        if not email:
            return messages.connect_no_email_text()
        status = PENDING if self.policy(company) == WITH_APPROVAL else ACTIVE
        if status == PENDING:  # an approved approver replacing their own key keeps their approval
            known = await self.store.run(self.store.approvers.find, company, team, user)
            if known is not None and known.active and known.email.strip().lower() == email.lower():
                status = ACTIVE
        try:
            approver, _ = await self.tokens.register(company=company, team_id=team, user_id=user, email=email,
                                                     token=token, registered_by=user, status=status)
        except TokenRejected:
            await self.store.run(self.store.audit.record, at=self.clock.now(), company=company, actor=user,
                                 action="token.connect", subject=f"<@{user}>", outcome="refused by Precoro")
            return messages.connect_refused_text(email)
        except PrecoroError as exc:
            log.info("connect check for %s failed: %s", user, type(exc).__name__)
            return messages.connect_failed_text()
        if status == ACTIVE:
            await self.home.refresh(team, user)
            return messages.connected_text(email)
        request = messages.connect_request_message(user=user, email=email, company=company,
                                                   value=request_value(approver))
        for admin in self.tenancy.configured_admins(company):
            with contextlib.suppress(SlackUnavailable):  # logged; the others are still asked
                await self.notifier.post(team, admin, request)
        return messages.connect_pending_text(email)

    async def decide(self, team: str, user: str, enterprise: str | None, value: str, respond: Respond, *,
                     approved: bool) -> None:
        """An admin's Approve / Deny (`value`: the button's): only an admin of the request's company,
        from one of its workspaces; anyone else is answered as if there were no such request."""
        found, _, check = value.partition(":")
        approver = await self.store.run(self.store.approvers.get, int(found)) \
            if found.isascii() and found.isdigit() and len(found) < 12 else None
        admin_of = await self.tenancy.admin_companies(team, user, self.notifier.profile, enterprise)
        if (approver is None or approver.status != PENDING or check != _digest(approver.token_ciphertext)
                or approver.company not in admin_of or not self.tenancy.allows(approver.company, team, enterprise)):
            await respond(text=messages.connect_request_gone_text(), response_type="ephemeral",
                          replace_original=False)
            return
        now = self.clock.now()
        if approved:
            done = await self.store.run(self.store.approvers.approve_pending, approver.id, now,
                                        approver.token_ciphertext)
        else:
            done = await self.store.run(self.store.approvers.remove_pending, approver.id, approver.token_ciphertext)
        if not done:  # another admin decided meanwhile
            await respond(text=messages.connect_request_gone_text(), response_type="ephemeral",
                          replace_original=False)
            return
        await self.store.run(self.store.audit.record, at=now, company=approver.company, actor=user,
                             action="token.connect.approve" if approved else "token.connect.deny",
                             subject=f"<@{approver.slack_user_id}>", outcome="ok")
        text = messages.connect_request_decided_text(user=approver.slack_user_id, email=approver.email,
                                                     approved=approved, by=user)
        with contextlib.suppress(Exception):  # the decision stands; the message is only its record
            await respond(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                          replace_original=True)
        with contextlib.suppress(SlackUnavailable):
            await self.notifier.dm(approver.team_id, approver.slack_user_id,
                                   messages.connect_approved_text() if approved else messages.connect_denied_text())
        await self.home.refresh(approver.team_id, approver.slack_user_id)

