"""Away mode's commands and Home controls: `/precoro away until 2026-12-24 [cover @colleague]`,
`/precoro away` (where it stands), `/precoro back`, and the Home's date picker, colleague select
and "I'm back" button. What they do is `service.py`'s (`AwayService`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.features.away import messages
from bot.features.away.service import AwayService
from bot.slack.payload import guarded, parse_mention, team_id, user_id

COMMANDS = ("away", "back")

Subcommand = Callable[[str, str, str, list[str]], Awaitable[str]]


async def command(service: AwayService, team: str, user: str, sub: str, args: list[str]) -> str:
    """`/precoro away …` and `/precoro back`: the reply text."""
    if sub == "back":
        return await service.come_back(team, user) if not args else messages.away_usage_text()
    words = [a.lower() for a in args]
    if not args:
        return await service.status(team, user)
    if len(args) in (2, 4) and words[0] == "until" and (len(args) == 2 or (words[2] == "cover" and
                                                                          parse_mention(args[3]))):
        return await service.set_away(team, user, args[1], parse_mention(args[3]) if len(args) == 4 else None)
    return messages.away_usage_text()


def subcommands(service: AwayService) -> dict[str, Subcommand]:
    """The `/precoro` subcommands of away mode, for `bot/features/admin/listeners.py`."""
    return dict.fromkeys(COMMANDS, partial(command, service))


def register(app: AsyncApp, service: AwayService) -> None:
    @app.action(messages.ACTION_AWAY_DATE)
    @guarded(service.notifier, "away date")
    async def picked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        day = _action(body).get("selected_date")
        if not user or not isinstance(day, str):
            return
        text = await service.set_until(team, user, day)
        if not text.startswith(":palm_tree:"):  # refused: say why (a Home has no response_url)
            await service.tell(team, user, text)
        await service.publish_home(team, user)

    @app.action(messages.ACTION_AWAY_COVER)
    @guarded(service.notifier, "away cover")
    async def covered(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        cover = _action(body).get("selected_user")
        if not user or not isinstance(cover, str) or not cover:
            return
        refused = await service.set_cover(team, user, cover)
        if refused:
            await service.tell(team, user, refused)
        await service.publish_home(team, user)

    @app.action(messages.ACTION_AWAY_BACK)
    @guarded(service.notifier, "back")
    async def back(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        if user:
            await service.come_back(team, user)
            await service.publish_home(team, user)


def _action(body: dict[str, Any]) -> dict[str, Any]:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return first if isinstance(first, dict) else {}
