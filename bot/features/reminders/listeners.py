"""The snooze buttons of a reminder: its Bolt listener. Sending reminders and digests, and what a
snooze does, is `ReminderService`'s (`service.py`).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.features.reminders.service import ReminderService
from bot.slack.messages import SNOOZE_ACTIONS
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import action_value, guarded, team_id, user_id


def register(app: AsyncApp, service: ReminderService) -> None:
    @app.action(re.compile(SNOOZE_ACTIONS))  # every button of a reminder, old ones included
    @guarded(service.notifier, "snooze")
    async def snooze(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = user_id(body)
        if not user:
            return
        text = await service.snooze_clicked(team_id(body), user, action_value(body))
        await _tell(service, respond, team_id(body), user, text)


async def _tell(service: ReminderService, respond: AsyncRespond | None, team: str, user: str, text: str) -> None:
    try:
        if respond is None:
            raise RuntimeError("no response_url")
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        with contextlib.suppress(SlackUnavailable):
            await service.tell(team, user, text)
