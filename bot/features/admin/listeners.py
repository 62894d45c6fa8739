"""`/precoro` and the registration form: help, list, status, register, remove, discovery, resume,
audit. What they do is `AdminService`'s (`service.py`).

`/precoro` is one Slack command for every feature, and its routing lives here rather than in the
platform: which subcommands need an admin, and what anyone may run, is the admin feature's rule.
The other features' subcommands come in as callbacks (`subcommands`, `flows`) that
`bot/slack/app.py` gathers from their own listeners, so this module imports no other feature.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.features.admin import messages as admin_messages
from bot.features.admin.service import AdminService
from bot.slack import messages
from bot.slack.payload import guarded, input_value, parse_mention, team_id, user_id, valid_token

# Printable ASCII only: the email travels in an HTTP header to Precoro, which cannot carry
# non-ASCII or control characters (httpx would raise on them).
_EMAIL = re.compile(r"^[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+$")
_EMAIL_FORBIDDEN = set("<>")


def valid_email(text: str) -> bool:
    return (bool(_EMAIL.fullmatch(text)) and not _EMAIL_FORBIDDEN & set(text) and text.count("@") == 1
            and len(text) <= messages.EMAIL_MAX)


# A feature's `/precoro` subcommand (team, user, subcommand, its arguments): the reply text.
Subcommand = Callable[[str, str, str, list[str]], Awaitable[str]]


# A feature's `/precoro` subcommand that answers with Bolt's own ack and respond: called with the
# subcommand, its arguments and ack, respond, client, body, team, user, mine (the companies this
# user administers here) as keywords.
Flow = Callable[..., Awaitable[None]]


def register(app: AsyncApp, service: AdminService, *, subcommands: Mapping[str, Subcommand] | None = None,
             flows: Mapping[str, Flow] | None = None) -> None:
    """`subcommands`: the features' own (away mode's `away` and `back`, outcomes' `mute-outcomes`
    and `unmute-outcomes`), answered for anyone; `flows`: connect's `connect`, `disconnect` and
    `invite`, before any admin check."""
    tenancy = service.tenancy
    features = dict(subcommands or {})
    own = dict(flows or {})

    def pick_company(company_ids: list[str], args: list[str]) -> tuple[str | None, list[str]]:
        """The company named first among the caller's own (another customer's name is just a word)."""
        if args and args[0] in company_ids:
            return args[0], args[1:]
        if len(company_ids) == 1:
            return company_ids[0], args
        return None, args

    @app.command("/precoro")
    @guarded(service.notifier, "/precoro")
    async def precoro(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient,
                      respond: AsyncRespond) -> None:
        user, team, text = (command.get(k) for k in ("user_id", "team_id", "text"))
        if not isinstance(user, str) or not user or not isinstance(team, str) or not team:
            await ack(messages.unreadable_request_text())
            return
        words = text.split() if isinstance(text, str) else []
        sub, args = (words[0].lower(), words[1:]) if words else ("help", [])
        enterprise = command.get("enterprise_id") or None
        if not tenancy.serves(team, enterprise):
            await ack(messages.not_connected_text())
            return
        # Every company below is one of this workspace's: another customer's is never named.
        company_ids = [c.id for c in tenancy.companies_for(team, enterprise)]
        admin_of = await tenancy.admin_companies(team, user, service.profile, enterprise)
        is_admin = bool(admin_of)
        mine = [c for c in company_ids if c in admin_of]  # the companies this admin may change

        async def reply(text: str) -> None:
            """Answer after the acknowledgement: whatever reads the database never holds Slack's 3 s."""
            await respond(text=text, response_type="ephemeral", replace_original=False)

        if sub in own:  # approvers' own keys, and invitations (bot/features/connect/listeners.py)
            await own[sub](sub, args, ack=ack, respond=respond, client=client, body=command,
                           team=team, user=user, mine=mine)
            return
        if sub in ("list", "register", "remove", "audit", "discovery", "resume") and not is_admin:
            await ack(messages.not_admin_text())
            return
        if sub == "audit":  # (away and back: bot/features/away/listeners.py)
            limit = _audit_limit(args)
            if limit is None:
                await ack(admin_messages.audit_usage_text())
                return
            await ack()
            await reply(await service.audit_text(team, user, admin_of, limit))
        elif sub == "list":
            await ack()
            await reply(await service.registration_list(team, user, mine))
        elif sub == "discovery":
            company, rest = pick_company(mine, args)
            if company is None:
                await ack(admin_messages.choose_company_text(mine))
            elif len(rest) == 1 and (rest[0].lower() == "off" or parse_mention(rest[0])):
                await ack()
                await reply(await service.set_discovery(company, team, user, parse_mention(rest[0])))
            else:
                await ack(admin_messages.discovery_usage_text())
        elif sub == "resume":
            company, _ = pick_company(mine, args)
            if company is None:
                await ack(admin_messages.choose_company_text(mine))
            else:
                await ack()
                await reply(await service.resume_async(company, user))
        elif sub == "status":
            await ack()  # Slack's 3 s: the planner's report may first learn from a week of messages
            verbose = [a.lower() for a in args] == ["verbose"]
            await reply(await service.status_text(team=team, user=user, companies=admin_of, verbose=verbose))
        elif sub == "remove" and len(args) == 1 and parse_mention(args[0]):
            await ack()
            await reply(await service.remove(team, user, parse_mention(args[0]) or "", mine))
        elif sub == "register" and args and parse_mention(args[0]):
            target = parse_mention(args[0]) or ""
            company, rest = pick_company(mine, args[1:])
            override = bool(rest) and rest[-1].lower() == "override"
            rest = rest[:-1] if override else rest
            if company is None:
                await ack(admin_messages.choose_company_text(mine))
            elif not rest and not override:
                await ack()
                profile = await service.profile(team, target)
                await client.views_open(trigger_id=str(command.get("trigger_id") or ""), view=messages.register_modal(
                    target_user=target, email=str(profile.get("email") or ""), company=company))
            elif len(rest) == 2 and not valid_email(rest[0]):
                await ack(admin_messages.invalid_email_text())
            elif len(rest) == 2 and valid_email(rest[0]) and valid_token(rest[1]):
                await ack(admin_messages.checking_token_text(target))
                await reply(await service.register(company, team, target, rest[0], rest[1], user, override=override))
            else:
                await ack(admin_messages.register_usage_text())
        elif sub == "register":  # no @mention (`register alice`): the form needs a Slack user
            await ack(admin_messages.register_usage_text())
        elif sub == "remove":
            await ack(admin_messages.remove_usage_text())
        elif sub in features:
            await ack()
            await reply(await features[sub](team, user, sub, args))
        elif sub == "help":
            await ack(messages.help_text(is_admin))
        else:
            await ack(messages.unknown_command_text(sub, is_admin))

    @app.view(messages.REGISTER_CALLBACK)
    @guarded(service.notifier, "registration form")
    async def register_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                 client: AsyncWebClient) -> None:
        user, team = user_id(body), team_id(body)
        enterprise = (body.get("enterprise") or {}).get("id") if isinstance(body.get("enterprise"), dict) else None
        admin_of = await tenancy.admin_companies(team, user, service.profile, enterprise)
        if not admin_of or not team:
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: messages.not_admin_text()})
            return
        email = input_value(view, messages.EMAIL_BLOCK, messages.EMAIL_ACTION)
        token = input_value(view, messages.TOKEN_BLOCK, messages.TOKEN_ACTION)
        errors = {}
        if not valid_email(email):
            errors[messages.EMAIL_BLOCK] = admin_messages.invalid_email_text()
        if not valid_token(token):
            errors[messages.TOKEN_BLOCK] = admin_messages.invalid_token_text()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            target, company = str(meta["user"]), str(meta["company"])
        except (ValueError, KeyError, TypeError):
            errors[messages.TOKEN_BLOCK] = messages.form_expired_text()
            target = company = ""
        if company and (company not in admin_of or not tenancy.allows(company, team, enterprise)):
            errors[messages.TOKEN_BLOCK] = messages.form_expired_text()
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack(response_action="update", view=messages.notice_view(
            "Register approver", admin_messages.checking_token_text(target)))
        text = await service.register(company, team, target, email, token, user)
        await client.views_update(view_id=str(view.get("id") or ""),
                                  view=messages.notice_view("Register approver", text))


def _audit_limit(args: list[str]) -> int | None:
    """`/precoro audit [N]`: N in 1..AUDIT_MAX (default AUDIT_DEFAULT); None when malformed."""
    if not args:
        return messages.AUDIT_DEFAULT
    if len(args) == 1 and args[0].isascii() and args[0].isdigit() and len(args[0]) <= 6:
        return min(max(1, int(args[0])), messages.AUDIT_MAX)
    return None
