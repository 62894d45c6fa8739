"""Away mode's commands and Home controls: `/precoro away until 2026-12-24 [cover @colleague]`,
`/precoro away` (where it stands), `/precoro back`, and the Home's date picker, colleague select
and "I'm back" button. The sends while away are `bot/slack/away_service.py`'s.

Only a registered approver can be away (there is nothing else to pause), and the colleague must
be a user of the same workspace: they get FYI digests and can decide nothing with the approver's key.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import away as away_mode
from bot.slack import messages
from bot.slack.payload import guarded, parse_mention, team_id, user_id

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def _today(rt: Runtime, team: str, user: str) -> date:
    return away_mode.local_day(rt.clock.now(), await rt.notifier.tz(team, user))


async def _refusal(rt: Runtime, team: str, user: str, cover: str | None) -> str:
    """Why this user cannot be away (with this cover), or ""."""
    mine = await rt.store.run(rt.store.approvers.for_slack_user, team, user)
    if not mine:
        return "not_approver"
    if cover == user:
        return "cover_self"
    if cover and not _colleague(await rt.notifier.profile(team, cover), team):
        return "cover_unknown"
    return ""


def _colleague(profile: dict[str, Any], team: str) -> bool:
    """A person of this workspace: not a bot, not deactivated, not a Slack Connect stranger (the
    cover's digest shows the approver's documents, amounts and suppliers)."""
    return bool(profile) and not (profile.get("is_bot") or profile.get("deleted") or profile.get("is_stranger")) \
        and profile.get("team_id", team) in (team, "")


async def _audit(rt: Runtime, team: str, user: str, action: str, subject: str, outcome: str) -> None:
    """One audit entry per company the user approves for (its admins see it in `/precoro audit`)."""
    for approver in await rt.store.run(rt.store.approvers.for_slack_user, team, user):
        await rt.store.run(rt.store.audit.record, at=rt.clock.now(), company=approver.company, actor=user,
                           action=action, subject=subject, outcome=outcome)


async def set_away(rt: Runtime, team: str, user: str, until_text: str, cover: str | None) -> str:
    """Away until a day (YYYY-MM-DD, in the user's zone); the reply text."""
    until, why = away_mode.parse_until(until_text, await _today(rt, team, user))
    why = why or await _refusal(rt, team, user, cover)
    if until is None or why:
        return messages.away_refused_text(why)
    await rt.store.run(rt.store.away.set, team, user, until.isoformat(), cover, rt.clock.now())
    await _audit(rt, team, user, "away.on", f"until {until.isoformat()}", f"cover <@{cover}>" if cover else "ok")
    await rt.home.refresh(team, user)
    return messages.away_set_text(until, cover)


async def come_back(rt: Runtime, team: str, user: str) -> str:
    was = await rt.store.run(rt.store.away.end, team, user, rt.clock.now())
    if was:
        await _audit(rt, team, user, "away.off", "", "back")
        await rt.home.refresh(team, user)
    return messages.back_text(was)


async def command(rt: Runtime, team: str, user: str, sub: str, args: list[str]) -> str:
    """`/precoro away …` and `/precoro back`: the reply text."""
    if sub == "back":
        return await come_back(rt, team, user) if not args else messages.away_usage_text()
    words = [a.lower() for a in args]
    if not args:
        current = await rt.store.run(rt.store.away.get, team, user)
        if current is None or current.ended_at is not None:
            return messages.away_status_text(None, None)
        return messages.away_status_text(date.fromisoformat(current.until_day), current.cover_user)
    if len(args) in (2, 4) and words[0] == "until" and (len(args) == 2 or (words[2] == "cover" and
                                                                          parse_mention(args[3]))):
        return await set_away(rt, team, user, args[1], parse_mention(args[3]) if len(args) == 4 else None)
    return messages.away_usage_text()


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(messages.ACTION_AWAY_DATE)
    @guarded(rt.notifier, "away date")
    async def picked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        day = _action(body).get("selected_date")
        if not user or not isinstance(day, str):
            return
        current = await rt.store.run(rt.store.away.get, team, user)
        cover = current.cover_user if current is not None and current.ended_at is None else None
        text = await set_away(rt, team, user, day, cover)
        if not text.startswith(":palm_tree:"):  # refused: say why (a Home has no response_url)
            await rt.notifier.dm(team, user, text)
        await rt.home.publish(team, user)

    @app.action(messages.ACTION_AWAY_COVER)
    @guarded(rt.notifier, "away cover")
    async def covered(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        cover = _action(body).get("selected_user")
        if not user or not isinstance(cover, str) or not cover:
            return
        why = await _refusal(rt, team, user, cover)
        if why or not await rt.store.run(rt.store.away.set_cover, team, user, cover):
            await rt.notifier.dm(team, user, messages.away_refused_text(why or "format"))
        await rt.home.publish(team, user)

    @app.action(messages.ACTION_AWAY_BACK)
    @guarded(rt.notifier, "back")
    async def back(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        if user:
            await come_back(rt, team, user)
            await rt.home.publish(team, user)


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return first if isinstance(first, dict) else {}
