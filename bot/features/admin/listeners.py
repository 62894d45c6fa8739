"""`/precoro` and the registration form: help, list, status, register, remove, audit."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.precoro.errors import PrecoroError, TokenRejected
from bot.slack import messages
from bot.slack.payload import guarded, input_value, parse_mention, team_id, user_id, valid_token
from bot.slack.status import resume, status_text

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

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


def register(app: AsyncApp, rt: Runtime, subcommands: Mapping[str, Subcommand] | None = None,
             flows: Mapping[str, Flow] | None = None) -> None:
    """`subcommands`: the features' own (away mode's `away` and `back`, outcomes' `mute-outcomes`
    and `unmute-outcomes`), answered for anyone; `flows`: connect's `connect`, `disconnect` and
    `invite`, before any admin check."""
    tenancy = rt.tenancy
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
    @guarded(rt.notifier, "/precoro")
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
        admin_of = await tenancy.admin_companies(team, user, rt.notifier.profile, enterprise)
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
                await ack(messages.audit_usage_text())
                return
            await ack()
            entries = await rt.store.run(rt.store.audit.recent, admin_of, limit=limit)
            rows = [(_dt(e.at) or datetime.now(UTC), e.company, e.actor, e.action, e.subject, e.outcome)
                    for e in entries]
            tz = await rt.notifier.tz(team, user)
            await reply(messages.audit_log_text(rows, tz, show_company=len(admin_of) > 1))
        elif sub == "list":
            await ack()
            rows = [(a.slack_user_id, a.email, a.status, _dt(a.last_polled_at))
                    for a in await rt.store.run(rt.store.approvers.list) if a.team_id == team and a.company in mine]
            await reply(messages.registration_list(rows, await rt.notifier.tz(team, user)))
        elif sub == "discovery":
            company, rest = pick_company(mine, args)
            if company is None:
                await ack(messages.choose_company_text(mine))
            elif len(rest) == 1 and (rest[0].lower() == "off" or parse_mention(rest[0])):
                await ack()
                await reply(await rt.store.run(_set_discovery, rt, company, team, user, parse_mention(rest[0])))
            else:
                await ack(messages.discovery_usage_text())
        elif sub == "resume":
            company, _ = pick_company(mine, args)
            if company is None:
                await ack(messages.choose_company_text(mine))
            else:
                await ack()
                await reply(await rt.store.run(resume, rt, company, user))
        elif sub == "status":
            await ack()  # Slack's 3 s: the planner's report may first learn from a week of messages
            verbose = [a.lower() for a in args] == ["verbose"]
            await reply(await status_text(rt, team=team, user=user, companies=admin_of, verbose=verbose))
        elif sub == "remove" and len(args) == 1 and parse_mention(args[0]):
            await ack()
            await _remove(rt, respond, team, user, parse_mention(args[0]) or "", mine)
        elif sub == "register" and args and parse_mention(args[0]):
            target = parse_mention(args[0]) or ""
            company, rest = pick_company(mine, args[1:])
            override = bool(rest) and rest[-1].lower() == "override"
            rest = rest[:-1] if override else rest
            if company is None:
                await ack(messages.choose_company_text(mine))
            elif not rest and not override:
                await ack()
                profile = await rt.notifier.profile(team, target)
                await client.views_open(trigger_id=str(command.get("trigger_id") or ""), view=messages.register_modal(
                    target_user=target, email=str(profile.get("email") or ""), company=company))
            elif len(rest) == 2 and not valid_email(rest[0]):
                await ack(messages.invalid_email_text())
            elif len(rest) == 2 and valid_email(rest[0]) and valid_token(rest[1]):
                await ack(messages.checking_token_text(target))
                await reply(await _register(rt, company, team, target, rest[0], rest[1], user, override=override))
            else:
                await ack(messages.register_usage_text())
        elif sub == "register":  # no @mention (`register alice`): the form needs a Slack user
            await ack(messages.register_usage_text())
        elif sub == "remove":
            await ack(messages.remove_usage_text())
        elif sub in features:
            await ack()
            await reply(await features[sub](team, user, sub, args))
        elif sub == "help":
            await ack(messages.help_text(is_admin))
        else:
            await ack(messages.unknown_command_text(sub, is_admin))

    @app.view(messages.REGISTER_CALLBACK)
    @guarded(rt.notifier, "registration form")
    async def register_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                                 client: AsyncWebClient) -> None:
        user, team = user_id(body), team_id(body)
        enterprise = (body.get("enterprise") or {}).get("id") if isinstance(body.get("enterprise"), dict) else None
        admin_of = await tenancy.admin_companies(team, user, rt.notifier.profile, enterprise)
        if not admin_of or not team:
            await ack(response_action="errors", errors={messages.TOKEN_BLOCK: messages.not_admin_text()})
            return
        email = input_value(view, messages.EMAIL_BLOCK, messages.EMAIL_ACTION)
        token = input_value(view, messages.TOKEN_BLOCK, messages.TOKEN_ACTION)
        errors = {}
        if not valid_email(email):
            errors[messages.EMAIL_BLOCK] = messages.invalid_email_text()
        if not valid_token(token):
            errors[messages.TOKEN_BLOCK] = messages.invalid_token_text()
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
            "Register approver", messages.checking_token_text(target)))
        text = await _register(rt, company, team, target, email, token, user)
        await client.views_update(view_id=str(view.get("id") or ""),
                                  view=messages.notice_view("Register approver", text))


async def _register(rt: Runtime, company: str, team: str, target: str, email: str, token: str, by: str, *,
                    override: bool = False) -> str:
    """Register `target`'s token for `company`. The Precoro email must be the Slack user's profile
    email (users:read.email): Precoro cannot tell which company a token belongs to, so this is the
    check that the token is the person's. An admin may `override` a mismatch; it is audited."""
    async def audit(action: str, outcome: str) -> None:
        await rt.store.run(rt.store.audit.record, at=rt.clock.now(), company=company, actor=by, action=action,
                           subject=f"<@{target}>", outcome=outcome)

    profile = await rt.notifier.profile(team, target)
    if not profile:  # not a user of this workspace (or Slack cannot tell now): never another's user
        await audit("token.register", "refused: not a user of this workspace")
        return messages.not_workspace_user_text(target)
    slack_email = str(profile.get("email") or "")
    matches = bool(slack_email) and slack_email.strip().lower() == email.strip().lower()
    if not matches and not override:
        await audit("token.register", "refused: email is not the Slack profile's")
        return messages.email_mismatch_text(target, slack_email)
    try:
        await rt.tokens.register(company=company, team_id=team, user_id=target, email=email, token=token,
                                 registered_by=by)
    except TokenRejected:
        await audit("token.register", "refused by Precoro")
        return messages.token_rejected_text("the token or the email is wrong, or the token is disabled")
    except PrecoroError as exc:
        log.info("registration check for %s failed: %s", target, type(exc).__name__)
        return messages.token_check_failed_text()
    if not matches:
        await audit("token.register.override", "email differs from the Slack profile's")
    return messages.registered_text(target, email)


async def _remove(rt: Runtime, respond: AsyncRespond, team: str, by: str, target: str,
                  companies: list[str]) -> None:
    removed = False
    for approver in await rt.store.run(rt.store.approvers.for_slack_user, team, target):
        if approver.company not in companies:
            continue
        await rt.store.run(rt.tokens.remove, approver, by)
        removed = True
    text = messages.removed_text(target) if removed else messages.not_registered_text(target)
    await respond(text=text, response_type="ephemeral", replace_original=False)


def _set_discovery(rt: Runtime, company: str, team: str, by: str, target: str | None) -> str:
    """Turn company discovery on with a registered, active approver's token, or off (target None).
    Blocking (database): run through `store.run`."""
    now = rt.clock.now()
    if target is None:
        rt.store.discovery.set_approver(company, None, by=by, now=now, note="turned off by an admin")
        rt.store.audit.record(at=now, company=company, actor=by, action="discovery.off", subject="", outcome="ok")
        return messages.discovery_off_text(company)
    approver = rt.store.approvers.find(company, team, target)
    if approver is None or not approver.active:
        return messages.discovery_not_approver_text(target)
    rt.store.discovery.set_approver(company, approver.id, by=by, now=now)
    rt.store.audit.record(at=now, company=company, actor=by, action="discovery.on", subject=f"<@{target}>",
                          outcome="ok")
    return messages.discovery_on_text(target, company)


def _audit_limit(args: list[str]) -> int | None:
    """`/precoro audit [N]`: N in 1..AUDIT_MAX (default AUDIT_DEFAULT); None when malformed."""
    if not args:
        return messages.AUDIT_DEFAULT
    if len(args) == 1 and args[0].isascii() and args[0].isdigit() and len(args[0]) <= 6:
        return min(max(1, int(args[0])), messages.AUDIT_MAX)
    return None


def _dt(at: float | None) -> datetime | None:
    return datetime.fromtimestamp(at, tz=UTC) if at else None
