"""The requester's side of outcome DMs: the Mute button and `/precoro mute-outcomes` /
`unmute-outcomes`. Telling outcomes is `OutcomeService`'s (`bot/outcomes.py`, `rt.outcomes`)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack import messages
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import guarded, team_id, user_id
from bot.store.outcomes import OutcomeRepo

if TYPE_CHECKING:
    from bot.runtime import Runtime

COMMANDS = ("mute-outcomes", "unmute-outcomes")


async def set_muted(rt: Runtime, team: str, user: str, muted: bool) -> str:
    """Mute or unmute the caller's outcome DMs (any user of a served workspace: a requester need
    not be an approver); the reply to show them."""
    repo = rt.outcomes.repo if rt.outcomes is not None else OutcomeRepo(rt.store.engine)
    if muted:
        await rt.store.run(repo.mute, team, user, rt.clock.now())
        return messages.outcomes_muted_text()
    await rt.store.run(repo.unmute, team, user)
    return messages.outcomes_unmuted_text()


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(messages.ACTION_MUTE_OUTCOMES)
    @guarded(rt.notifier, "mute outcomes")
    async def mute(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        enterprise = body.get("enterprise") if isinstance(body.get("enterprise"), dict) else {}
        if not user or not team or not rt.tenancy.serves(team, str(enterprise.get("id") or "") or None):
            return
        text = await set_muted(rt, team, user, True)
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception:
            with contextlib.suppress(SlackUnavailable):
                await rt.notifier.dm(team, user, text)
