"""Approvers connecting their own Precoro key, and invitations: the Bolt listeners (the Home's and
invitations' Connect button, the connect form, the admins' Approve / Deny, the admins' Invite
button) and `/precoro connect [company]`, `disconnect`, `invite [again]`, which
`bot/features/admin/listeners.py` hands here. What they do is `ConnectService`'s (`service.py`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.features.connect import messages
from bot.features.connect.service import ConnectService
from bot.slack.messages import form_expired_text, not_admin_text, not_connected_text, notice_view
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import action_value, guarded, input_value, team_id, text_field, user_id, valid_token

COMMANDS = ("connect", "disconnect", "invite")

# A `/precoro` subcommand answered with Bolt's own ack and respond (see `command`).
Flow = Callable[..., Awaitable[None]]


def flows(service: ConnectService) -> dict[str, Flow]:
    """`/precoro connect`, `disconnect` and `invite`, for `bot/features/admin/listeners.py`."""
    return dict.fromkeys(COMMANDS, partial(command, service))


def _enterprise(body: dict[str, Any]) -> str | None:
    enterprise = body.get("enterprise")
    return str(enterprise.get("id") or "") or None if isinstance(enterprise, dict) else None


async def command(service: ConnectService, sub: str, args: list[str], *, ack: AsyncAck, respond: AsyncRespond,
                  client: AsyncWebClient, body: dict[str, Any], team: str, user: str, mine: list[str]) -> None:
    """`/precoro connect [company]`, `disconnect`, `invite [again]` (the admin feature's `/precoro`
    router hands them here)."""
    enterprise = str(body.get("enterprise_id") or "") or None
    companies = [c.id for c in service.tenancy.companies_for(team, enterprise)]

    async def reply(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    if sub == "connect":
        company = _pick(companies, args, service.policy)
        if company is None:
            await ack(messages.connect_choose_text([c for c in companies if service.policy(c) != "admin"]))
            return
        if service.policy(company) == "admin":
            await ack(messages.connect_admin_only_text())
            return
        await ack()
        text = await service.open_form(team, user, company, str(body.get("trigger_id") or ""), client)
        if text:
            await reply(text)
    elif sub == "disconnect":
        await ack()
        await reply(await service.disconnect(team, user, enterprise))
    elif not mine:  # invite
        await ack(not_admin_text())
    elif [a.lower() for a in args] not in ([], ["again"]):
        await ack(messages.invite_usage_text())
    else:
        await ack()
        await reply(await service.invite(team, user, mine, again=bool(args)))


def register(app: AsyncApp, service: ConnectService) -> None:
    flow, tenancy = service, service.tenancy

    @app.action(messages.ACTION_CONNECT)
    @guarded(service.notifier, "connect button")
    async def connect_button(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, team, company = user_id(body), team_id(body), action_value(body)
        if not user or not team:
            return
        if not tenancy.allows(company, team, _enterprise(body)):  # another customer's company: nothing of it
            text = not_connected_text() if not tenancy.serves(team, _enterprise(body)) \
                else messages.connect_admin_only_text()
        else:
            text = await flow.open_form(team, user, company, text_field(body, "trigger_id"), client)
        if text:
            with contextlib.suppress(SlackUnavailable):
                await service.tell(team, user, text)

    @app.view(messages.CONNECT_CALLBACK)
    @guarded(service.notifier, "connect form")
    async def connect_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                client: AsyncWebClient) -> None:
        user, team, enterprise = user_id(body), team_id(body), _enterprise(body)
        token = input_value(view, messages.TOKEN_BLOCK, messages.TOKEN_ACTION)
        try:
            company = str(json.loads(view.get("private_metadata") or "{}")["company"])
        except (ValueError, KeyError, TypeError):
            company = ""
        if not user or not team or not tenancy.allows(company, team, enterprise) or flow.policy(company) == "admin":
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: form_expired_text()})
            return
        if not valid_token(token):
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: messages.connect_invalid_key_text()})
            return
        await ack(response_action="update", view=notice_view(
            "Connect Precoro", messages.connect_checking_text()))
        text = await flow.connect(company, team, user, token)
        with contextlib.suppress(SlackUnavailable):  # the answer stays in their messages too
            await service.tell(team, user, text)
        await client.views_update(view_id=str(view.get("id") or ""),
                                  view=notice_view("Connect Precoro", text))

    @app.action(messages.ACTION_CONNECT_APPROVE)
    @guarded(service.notifier, "connection approval")
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await flow.decide(team_id(body), user_id(body), _enterprise(body), action_value(body), respond, approved=True)

    @app.action(messages.ACTION_CONNECT_DENY)
    @guarded(service.notifier, "connection denial")
    async def deny(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await flow.decide(team_id(body), user_id(body), _enterprise(body), action_value(body), respond, approved=False)

    @app.action(messages.ACTION_INVITE)
    @guarded(service.notifier, "invite button")
    async def invite_button(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        enterprise = _enterprise(body)
        # An operator administers every company, but invites only into this workspace's own.
        mine = [c for c in await tenancy.admin_companies(team, user, service.notifier.profile, enterprise)
                if tenancy.allows(c, team, enterprise)]
        text = await flow.invite(team, user, mine, again=False) if mine else not_admin_text()
        with contextlib.suppress(SlackUnavailable):
            await service.tell(team, user, text)


def _pick(companies: list[str], args: list[str], policy: Callable[[str], str]) -> str | None:
    """The company named, the only one, or the only one whose approvers may connect themselves."""
    if args and args[0] in companies:
        return args[0]
    if len(companies) == 1:
        return companies[0]
    selfish = [c for c in companies if policy(c) != "admin"]
    return selfish[0] if len(selfish) == 1 else None
