"""The Bolt listeners of the Home's "Decided by me": its type and supplier selects, the document
number input (Enter), "Clear filters" and its pager. Each changes the user's filter
(`HomeExtras`, `extras.py`) and republishes their Home; nothing here reads Precoro."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.features.home import history_messages as messages
from bot.features.home.history_messages import NUMBER_MAX, OPTION_VALUE_MAX
from bot.features.home.service import HomeService
from bot.slack.payload import guarded, selected_option, team_id, user_id


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    value = first.get("value")
    return value if isinstance(value, str) else ""


def register(app: AsyncApp, service: HomeService) -> None:
    extras = service.extras

    async def change(body: dict[str, Any], **changes: Any) -> None:
        user, team = user_id(body), team_id(body)
        if not user:
            return
        extras.filter_by(team, user, **changes)
        await service.publish(team, user)

    @app.action(messages.ACTION_HISTORY_TYPE)
    @guarded(service.notifier, "history type")
    async def by_type(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        choice = selected_option(body)
        await change(body, doc_type="" if choice == messages.ALL_CHOICE else choice[:OPTION_VALUE_MAX])

    @app.action(messages.ACTION_HISTORY_SUPPLIER)
    @guarded(service.notifier, "history supplier")
    async def by_supplier(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        choice = selected_option(body)
        await change(body, supplier="" if choice == messages.ALL_CHOICE else choice[:OPTION_VALUE_MAX])

    @app.action(messages.ACTION_HISTORY_NUMBER)
    @guarded(service.notifier, "history number")
    async def by_number(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await change(body, number=_value(body).strip()[:NUMBER_MAX])

    @app.action(messages.ACTION_HISTORY_CLEAR)
    @guarded(service.notifier, "history clear")
    async def clear(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await change(body, doc_type="", supplier="", number="")

    @app.action(messages.ACTION_HISTORY_PAGE)
    @app.action(messages.ACTION_HISTORY_PAGE_BACK)
    @guarded(service.notifier, "history page")
    async def turn(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        value = _value(body)
        user, team = user_id(body), team_id(body)
        if not user or not value.isascii() or not value.isdigit() or len(value) > 6:
            return
        current = extras.history_filter(team, user)
        extras.filter_by(team, user, doc_type=current.doc_type, supplier=current.supplier, number=current.number,
                         page=int(value))
        await service.publish(team, user)
