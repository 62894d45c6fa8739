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
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import invitations
from bot.precoro.errors import PrecoroError, TokenRejected
from bot.slack import messages
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import action_value, guarded, input_value, team_id, text_field, user_id, valid_token
from bot.store.approvers import ACTIVE, PENDING, Approver

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

COMMANDS = ("connect", "disconnect", "invite")
SELF = "self"
WITH_APPROVAL = "self-with-approval"


def request_value(approver: Approver) -> str:
    """The Approve / Deny buttons' value: the approver row and a digest of the sealed key asked
    about, so a button left from an older request never approves a key connected since."""
    return f"{approver.id}:{_digest(approver.token_ciphertext)}"


def _digest(ciphertext: str) -> str:
    return hashlib.sha256(ciphertext.encode()).hexdigest()[:16]


def _enterprise(body: dict[str, Any]) -> str | None:
    enterprise = body.get("enterprise")
    return str(enterprise.get("id") or "") or None if isinstance(enterprise, dict) else None


class ConnectFlow:
    """The connect, disconnect, approval and invitation steps (stateless: one per use is fine)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tenancy = rt.tenancy

    def policy(self, company: str) -> str:
        chosen = next((c for c in self.rt.config.companies if c.id == company), None)
        return chosen.connect_policy if chosen is not None else "admin"

    async def open_form(self, team: str, user: str, company: str, trigger: str, client: AsyncWebClient) -> str:
        """Open the connect form; "" when opened, else what to tell the user instead."""
        if self.policy(company) == "admin":
            return messages.connect_admin_only_text()
        email = str((await self.rt.notifier.profile(team, user)).get("email") or "")
        if not email:
            return messages.connect_no_email_text()
        if not trigger:
            return messages.unreadable_request_text()
        await client.views_open(trigger_id=trigger, view=messages.connect_modal(company=company, email=email))
        return ""

    async def command(self, sub: str, args: list[str], *, ack: AsyncAck, respond: AsyncRespond,
                      client: AsyncWebClient, body: dict[str, Any], team: str, user: str, mine: list[str]) -> None:
        """`/precoro connect [company]`, `disconnect`, `invite [again]` (commands.py hands them here)."""
        enterprise = str(body.get("enterprise_id") or "") or None
        companies = [c.id for c in self.tenancy.companies_for(team, enterprise)]

        async def reply(text: str) -> None:
            await respond(text=text, response_type="ephemeral", replace_original=False)

        if sub == "connect":
            company = _pick(companies, args, self.policy)
            if company is None:
                await ack(messages.connect_choose_text([c for c in companies if self.policy(c) != "admin"]))
                return
            if self.policy(company) == "admin":
                await ack(messages.connect_admin_only_text())
                return
            await ack()
            text = await self.open_form(team, user, company, str(body.get("trigger_id") or ""), client)
            if text:
                await reply(text)
        elif sub == "disconnect":
            await ack()
            await reply(await self.disconnect(team, user, enterprise))
        elif not mine:  # invite
            await ack(messages.not_admin_text())
        elif [a.lower() for a in args] not in ([], ["again"]):
            await ack(messages.invite_usage_text())
        else:
            await ack()
            await reply(await self.invite(team, user, mine, again=bool(args)))

    async def invite(self, team: str, user: str, mine: list[str], *, again: bool) -> str:
        rt = self.rt
        chosen = [c for c in rt.config.companies if c.id in mine]
        summary = await invitations.invite(rt.store, rt.notifier, rt.clock, chosen, team=team, by=user, again=again)
        return messages.invite_summary_text(invited=summary.invited, not_in_slack=summary.not_in_slack,
                                            already=summary.already, admin_only=summary.admin_only,
                                            failed=summary.failed)

    async def disconnect(self, team: str, user: str, enterprise: str | None) -> str:
        """Delete the caller's own tokens (of this workspace's companies) and say so."""
        rt, removed = self.rt, []
        for approver in await rt.store.run(rt.store.approvers.for_slack_user, team, user):
            if self.tenancy.allows(approver.company, team, enterprise):
                await rt.store.run(rt.tokens.remove, approver, user)
                removed.append(approver.company)
        if removed:
            await rt.home.refresh(team, user)
        return messages.disconnected_text(removed)

    async def connect(self, company: str, team: str, user: str, token: str) -> str:
        """Check the user's own key with their Slack email and store it (pending under approval)."""
        rt = self.rt
        email = str((await rt.notifier.profile(team, user)).get("email") or "").strip()
        if not email:
            return messages.connect_no_email_text()
        status = PENDING if self.policy(company) == WITH_APPROVAL else ACTIVE
        if status == PENDING:  # an approved approver replacing their own key keeps their approval
            known = await rt.store.run(rt.store.approvers.find, company, team, user)
            if known is not None and known.active and known.email.strip().lower() == email.lower():
                status = ACTIVE
        try:
            approver, _ = await rt.tokens.register(company=company, team_id=team, user_id=user, email=email,
                                                   token=token, registered_by=user, status=status)
        except TokenRejected:
            await rt.store.run(rt.store.audit.record, at=rt.clock.now(), company=company, actor=user,
                               action="token.connect", subject=f"<@{user}>", outcome="refused by Precoro")
            return messages.connect_refused_text(email)
        except PrecoroError as exc:
            log.info("connect check for %s failed: %s", user, type(exc).__name__)
            return messages.connect_failed_text()
        if status == ACTIVE:
            await rt.home.refresh(team, user)
            return messages.connected_text(email)
        request = messages.connect_request_message(user=user, email=email, company=company,
                                                   value=request_value(approver))
        for admin in self.tenancy.configured_admins(company):
            with contextlib.suppress(SlackUnavailable):  # logged; the others are still asked
                await rt.notifier.post(team, admin, request)
        return messages.connect_pending_text(email)

    async def decide(self, body: dict[str, Any], respond: AsyncRespond, *, approved: bool) -> None:
        """An admin's Approve / Deny: only an admin of the request's company, from one of its
        workspaces; anyone else is answered as if there were no such request."""
        rt = self.rt
        user, team, enterprise = user_id(body), team_id(body), _enterprise(body)
        found, _, check = action_value(body).partition(":")
        approver = await rt.store.run(rt.store.approvers.get, int(found)) \
            if found.isascii() and found.isdigit() and len(found) < 12 else None
        admin_of = await self.tenancy.admin_companies(team, user, rt.notifier.profile, enterprise)
        if (approver is None or approver.status != PENDING or check != _digest(approver.token_ciphertext)
                or approver.company not in admin_of or not self.tenancy.allows(approver.company, team, enterprise)):
            await respond(text=messages.connect_request_gone_text(), response_type="ephemeral",
                          replace_original=False)
            return
        now = rt.clock.now()
        if approved:
            done = await rt.store.run(rt.store.approvers.approve_pending, approver.id, now,
                                      approver.token_ciphertext)
        else:
            done = await rt.store.run(rt.store.approvers.remove_pending, approver.id, approver.token_ciphertext)
        if not done:  # another admin decided meanwhile
            await respond(text=messages.connect_request_gone_text(), response_type="ephemeral",
                          replace_original=False)
            return
        await rt.store.run(rt.store.audit.record, at=now, company=approver.company, actor=user,
                           action="token.connect.approve" if approved else "token.connect.deny",
                           subject=f"<@{approver.slack_user_id}>", outcome="ok")
        text = messages.connect_request_decided_text(user=approver.slack_user_id, email=approver.email,
                                                     approved=approved, by=user)
        with contextlib.suppress(Exception):  # the decision stands; the message is only its record
            await respond(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                          replace_original=True)
        with contextlib.suppress(SlackUnavailable):
            await rt.notifier.dm(approver.team_id, approver.slack_user_id,
                                 messages.connect_approved_text() if approved else messages.connect_denied_text())
        await rt.home.refresh(approver.team_id, approver.slack_user_id)


def register(app: AsyncApp, rt: Runtime) -> None:
    flow, tenancy = ConnectFlow(rt), rt.tenancy

    @app.action(messages.ACTION_CONNECT)
    @guarded(rt.notifier, "connect button")
    async def connect_button(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, team, company = user_id(body), team_id(body), action_value(body)
        if not user or not team:
            return
        if not tenancy.allows(company, team, _enterprise(body)):  # another customer's company: nothing of it
            text = messages.not_connected_text() if not tenancy.serves(team, _enterprise(body)) \
                else messages.connect_admin_only_text()
        else:
            text = await flow.open_form(team, user, company, text_field(body, "trigger_id"), client)
        if text:
            with contextlib.suppress(SlackUnavailable):
                await rt.notifier.dm(team, user, text)

    @app.view(messages.CONNECT_CALLBACK)
    @guarded(rt.notifier, "connect form")
    async def connect_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                client: AsyncWebClient) -> None:
        user, team, enterprise = user_id(body), team_id(body), _enterprise(body)
        token = input_value(view, messages.TOKEN_BLOCK, messages.TOKEN_ACTION)
        try:
            company = str(json.loads(view.get("private_metadata") or "{}")["company"])
        except (ValueError, KeyError, TypeError):
            company = ""
        if not user or not team or not tenancy.allows(company, team, enterprise) or flow.policy(company) == "admin":
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: messages.form_expired_text()})
            return
        if not valid_token(token):
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: messages.connect_invalid_key_text()})
            return
        await ack(response_action="update", view=messages.notice_view(
            "Connect Precoro", messages.connect_checking_text()))
        text = await flow.connect(company, team, user, token)
        with contextlib.suppress(SlackUnavailable):  # the answer stays in their messages too
            await rt.notifier.dm(team, user, text)
        await client.views_update(view_id=str(view.get("id") or ""),
                                  view=messages.notice_view("Connect Precoro", text))

    @app.action(messages.ACTION_CONNECT_APPROVE)
    @guarded(rt.notifier, "connection approval")
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await flow.decide(body, respond, approved=True)

    @app.action(messages.ACTION_CONNECT_DENY)
    @guarded(rt.notifier, "connection denial")
    async def deny(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await flow.decide(body, respond, approved=False)

    @app.action(messages.ACTION_INVITE)
    @guarded(rt.notifier, "invite button")
    async def invite_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        enterprise = _enterprise(body)
        # An operator administers every company, but invites only into this workspace's own.
        mine = [c for c in await tenancy.admin_companies(team, user, rt.notifier.profile, enterprise)
                if tenancy.allows(c, team, enterprise)]
        text = await flow.invite(team, user, mine, again=False) if mine else messages.not_admin_text()
        with contextlib.suppress(SlackUnavailable):
            await rt.notifier.dm(team, user, text)


def _pick(companies: list[str], args: list[str], policy: Callable[[str], str]) -> str | None:
    """The company named, the only one, or the only one whose approvers may connect themselves."""
    if args and args[0] in companies:
        return args[0]
    if len(companies) == 1:
        return companies[0]
    selfish = [c for c in companies if policy(c) != "admin"]
    return selfish[0] if len(selfish) == 1 else None
