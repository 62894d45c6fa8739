"""The requester's side of outcome DMs: the Mute button and `/precoro mute-outcomes` /
`unmute-outcomes`. Telling outcomes is `OutcomeService`'s (`service.py`, `rt.outcomes`)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.features.outcomes import messages
from bot.features.outcomes.service import OutcomeService
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import guarded, team_id, user_id

COMMANDS = ("mute-outcomes", "unmute-outcomes")

Subcommand = Callable[[str, str, str, list[str]], Awaitable[str]]


def subcommands(service: OutcomeService) -> dict[str, Subcommand]:
    """`/precoro mute-outcomes` and `unmute-outcomes`, for `bot/features/admin/listeners.py` (anyone: a
    requester need not be an approver)."""

    async def command(team: str, user: str, sub: str, args: list[str]) -> str:
        return await service.set_muted(team, user, sub == "mute-outcomes")

    return dict.fromkeys(COMMANDS, command)


def register(app: AsyncApp, service: OutcomeService) -> None:
    @app.action(messages.ACTION_MUTE_OUTCOMES)
    @guarded(service.notifier, "mute outcomes")
    async def mute(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        enterprise = body.get("enterprise") if isinstance(body.get("enterprise"), dict) else {}
        if not user or not team or not service.serves(team, str(enterprise.get("id") or "") or None):
            return
        text = await service.set_muted(team, user, True)
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            with contextlib.suppress(SlackUnavailable):
                await service.tell(team, user, text)
