"""The App Home's Bolt listeners: the tab opened, its buttons and selects.

What the Home shows and when it is published is `HomeService`'s (`service.py`), which these
listeners are given. The Home's Approve / Reject buttons carry
the DM buttons' action ids and values, so they go through the same listeners, decision path and
authorization (`bot.features.approvals.service`).
"""

from __future__ import annotations

import contextlib
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.features.home import messages
from bot.features.home.service import HomeService
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import guarded, selected_option, selected_values, team_id, text_field, user_id


def register(app: AsyncApp, service: HomeService) -> None:
    home = service

    @app.event("app_home_opened")
    async def opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = text_field(event, "user")
        if user and text_field(event, "tab") in ("home", ""):
            await home.opened(text_field(body, "team_id") or team_id(body), user)

    @app.action(messages.ACTION_SELECT)
    async def selected(ack: AsyncAck) -> None:
        await ack()  # a checkbox: its state comes with the "Approve selected" click

    @app.action(messages.ACTION_REMINDER_CHOICE)
    @guarded(home.notifier, "reminder choice")
    async def reminder_choice(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        parsed = messages.parse_reminder_choice(selected_option(body))
        if not user or parsed is None:
            return
        _, hours = parsed
        await home.set_reminder_hours(team, user, hours)
        await home.publish(team, user)

    @app.action(messages.ACTION_DIGEST_CHOICE)
    @guarded(home.notifier, "digest choice")
    async def digest_choice(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        choice = selected_option(body)
        if not user or choice not in ("on", "off", messages.DEFAULT_CHOICE):
            return
        await home.set_digest(team, user, None if choice == messages.DEFAULT_CHOICE else choice == "on")
        await home.publish(team, user)

    @app.action(messages.ACTION_HOME_PAGE_BACK)
    @app.action(messages.ACTION_HOME_PAGE)
    @guarded(home.notifier, "home page")
    async def turn_page(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value") or "") if isinstance(actions[0], dict) else ""
        if not user or not value.isascii() or not value.isdigit() or len(value) > 6:
            return
        home.turn_page(team, user, int(value))
        await home.publish(team, user)

    @app.action(messages.ACTION_BULK_APPROVE)
    @guarded(home.notifier, "bulk approve")
    async def bulk(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, team = user_id(body), team_id(body)
        if not user:
            return
        refs = selected_values(body.get("view"), messages.ACTION_SELECT)
        if not refs:
            with contextlib.suppress(SlackUnavailable):
                await home.tell(team, user, messages.nothing_selected_text())
            return
        await home.approve_selected(team, user, refs)
