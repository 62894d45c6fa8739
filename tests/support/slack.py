"""What a person reads in the Slack stand-in: message text, buttons, DMs, Home tabs and modals."""

from __future__ import annotations

from typing import Any

from bot.slack import messages
from precoro_devkit.emulator.slack import SlackStandIn, dm_channel
from precoro_devkit.emulator.stack import LocalStack


def as_shown(email: str) -> str:
    """An email address as the bot shows outside text: `@` and `.` as look-alikes (fullwidth at sign,
    one dot leader), so that Slack makes no mailto: or web link of it."""
    return email.replace("@", "\uff20").replace(".", "\u2024")


def text_of(message: dict[str, Any]) -> str:
    """Everything a person reads in a message: fallback text and every block's text."""
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        for key in ("text",):
            if isinstance(block.get(key), dict):
                parts.append(block[key].get("text", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                parts.append(element["text"])
            elif isinstance(element, dict) and isinstance(element.get("text"), dict):
                parts.append(element["text"].get("text", ""))
        for item in block.get("fields") or []:
            parts.append(item.get("text", ""))
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> set[str]:
    return {
        e.get("action_id", "")
        for b in message.get("blocks") or [] if b.get("type") == "actions"
        for e in b.get("elements") or []
    }


def approve_ref(message: dict[str, Any]) -> str:
    """The value of the message's Approve button (the reference a click sends back)."""
    return next(e["value"] for b in message.get("blocks") or [] if b.get("type") == "actions"
                for e in b["elements"] if e.get("action_id") == messages.ACTION_APPROVE)


def dms(stack: LocalStack, user: str, contains: str) -> list[dict[str, Any]]:
    """The user's direct messages whose fallback text contains `contains`."""
    return [m for m in stack.slack.messages_in(dm_channel(user)) if contains in (m.get("text") or "")]


async def dm(stack: LocalStack, user: str, idn: str, timeout: float = 10) -> dict[str, Any]:
    """Wait for the direct message about document `idn` and return it as the user sees it now."""
    return await stack.slack.wait_for(lambda: next(iter(dms(stack, user, idn)), None), timeout=timeout)


def shown(stack: LocalStack, message: dict[str, Any]) -> str:
    """What the approver reads in that message now (after any chat.update)."""
    return text_of(stack.slack.messages[(message["channel"], message["ts"])])


def open_messages(slack: SlackStandIn, user: str) -> list[dict[str, Any]]:
    """The user's document messages that show Approve / Reject now."""
    return [m for m in slack.messages_in(dm_channel(user)) if messages.ACTION_APPROVE in buttons(m)]


def told(stack: LocalStack, user: str, words: str) -> int:
    """How many times the user was told `words` (ephemeral replies to their clicks)."""
    return sum(words in (r.body.get("text") or "") for r in stack.slack.responses) + \
        sum(words in e["text"] for e in stack.slack.ephemerals_for(user))


async def opened_view(stack: LocalStack) -> dict[str, Any]:
    """The modal the bot opened last, as Slack holds it (with its id)."""
    await stack.slack.wait_for(lambda: stack.slack.calls_to("views.open"), timeout=5)
    return [v for v in stack.slack.views.values() if v.get("type") != "home"][-1]  # Home tabs are views too


def home_text(view: dict[str, Any] | None) -> str:
    return text_of({"blocks": (view or {}).get("blocks") or []})


async def home(stack: LocalStack, user: str, contains: str) -> dict[str, Any]:
    """Wait until the user's Home shows `contains`, and return it."""
    return await stack.slack.wait_for(
        lambda: (v := stack.slack.home_of(user)) and contains in home_text(v) and v, timeout=10)


def refs_on(view: dict[str, Any], action_id: str) -> list[str]:
    return [e["value"] for b in view["blocks"] if b.get("type") == "actions"
            for e in b["elements"] if e.get("action_id") == action_id]
