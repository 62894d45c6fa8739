"""The snooze buttons of a reminder: its Bolt listener. Sending reminders and digests is
`ReminderService`'s (`bot/slack/reminder_service.py`), reached through the runtime (`rt.reminders`).
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.precoro.models import parse_document
from bot.slack import messages
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import action_value, guarded, team_id, user_id
from bot.store.messages import OPEN_STATES

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    @app.action(re.compile(messages.SNOOZE_ACTIONS))  # every button of a reminder, old ones included
    @guarded(rt.notifier, "snooze")
    async def snooze(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = user_id(body)
        parsed = messages.parse_snooze_value(action_value(body))
        if not user:
            return
        if parsed is None or parsed[1] not in rt.config.reminders.snooze_hours:
            await _tell(rt, respond, team_id(body), user, messages.snooze_refused_text())
            return
        ref, hours = parsed
        message, refusal = await rt.store.run(rt.decisions.authorize, team_id=team_id(body), user_id=user, ref=ref,
                                              action="snooze")
        if message is None:
            await _tell(rt, respond, team_id(body), user, refusal)
            return
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is None or message.state not in OPEN_STATES:
            await _tell(rt, respond, team_id(body), user, messages.already_decided_text(message.state))
            return
        rings, tz = await rt.reminders.snooze(message.id, hours, team_id(body), user)
        await _tell(rt, respond, team_id(body), user,
                    messages.snoozed_text(doc, datetime.fromtimestamp(rings, tz=UTC), tz))


async def _tell(rt: Runtime, respond: AsyncRespond | None, team: str, user: str, text: str) -> None:
    try:
        if respond is None:
            raise RuntimeError("no response_url")
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        with contextlib.suppress(SlackUnavailable):
            await rt.notifier.dm(team, user, text)
