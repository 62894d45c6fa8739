"""Reading Slack payloads defensively, and failing politely.

Slack's payloads are signed, so they are Slack's, but a handler must still never assume a key or
a type: a missing `user`, a `view` that is a string or a truncated form must end in a polite
answer or nothing, never in a KeyError that leaves the user in silence or a traceback in Slack.
`guarded` is every listener's safety net: it logs the failure (its type and stack, never the
payload) and tells the user, if it can, that the request was not completed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.slack import messages
from bot.slack.notifier import Notifier, SlackUnavailable

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{8,512}$")

Listener = Callable[..., Awaitable[None]]

_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$")


def parse_mention(text: str) -> str | None:
    """`<@U123|alice>` -> `U123` (Slack escapes mentions for commands with should_escape)."""
    match = _MENTION.match(text.strip())
    return match.group(1) if match else None


def message_id(ref: str) -> int | None:
    """The posted-message id a button or form refers to; None for anything but a sane number."""
    return int(ref) if isinstance(ref, str) and ref.isascii() and ref.isdigit() and len(ref) <= 18 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def user_id(body: Any) -> str:
    """The acting user of an interaction (`user.id`); "" when absent or malformed."""
    return _text(_dict(_dict(body).get("user")).get("id"))


def team_id(body: Any) -> str:
    body = _dict(body)
    return _text(_dict(body.get("team")).get("id")) or _text(_dict(body.get("user")).get("team_id"))


def action_value(body: Any) -> str:
    """The `value` of the first action of a block_actions payload."""
    actions = _dict(body).get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return _text(_dict(first).get("value"))


def selected_option(body: Any) -> str:
    """The value of the option chosen in the first action (a select menu) of a block_actions payload."""
    actions = _dict(body).get("actions")
    first = actions[0] if isinstance(actions, list) and actions else None
    return _text(_dict(_dict(first).get("selected_option")).get("value"))


def text_field(body: Any, name: str) -> str:
    return _text(_dict(body).get(name))


def input_value(view: Any, block_id: str, action_id: str) -> str:
    """A submitted plain-text input of a modal, stripped; "" when missing."""
    values = _dict(_dict(_dict(view).get("state")).get("values"))
    return _text(_dict(_dict(values.get(block_id)).get(action_id)).get("value")).strip()


def guarded(notifier: Notifier, what: str) -> Callable[[Listener], Listener]:
    """Wrap a Bolt listener (its signature is kept, so Bolt still injects ack, body, respond...)."""

    def wrap(listener: Listener) -> Listener:
        @functools.wraps(listener)
        async def run(**kwargs: Any) -> None:
            try:
                await listener(**kwargs)
            except Exception as exc:
                log.error("%s failed: %s", what, type(exc).__name__, exc_info=exc)
                await _tell_failure(notifier, kwargs)

        return run

    return wrap


async def _tell_failure(notifier: Notifier, kwargs: dict[str, Any]) -> None:
    ack = kwargs.get("ack")
    if ack is not None and getattr(ack, "response", None) is None:
        with contextlib.suppress(Exception):
            await ack()  # Slack gets a plain 200, never a 500
    body = _dict(kwargs.get("body")) or _dict(kwargs.get("command"))
    user = user_id(body) or text_field(body, "user_id")
    text = messages.request_failed_text()
    respond = kwargs.get("respond")
    if respond is not None and _text(body.get("response_url")):
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
            return
        except Exception as exc:
            log.info("could not answer through response_url: %s", type(exc).__name__)
    if user:
        with contextlib.suppress(SlackUnavailable):
            await notifier.dm(team_id(body) or text_field(body, "team_id"), user, text)


def selected_values(view: Any, action_id: str) -> list[str]:
    """The values of every checked option of the `action_id` checkboxes in a view's state, in the
    order of the view's blocks; [] when absent or malformed."""
    values = _dict(_dict(_dict(view).get("state")).get("values"))
    order = [_text(_dict(b).get("block_id")) for b in _dict(view).get("blocks") or [] if isinstance(b, dict)]
    blocks = sorted(values, key=lambda b: order.index(b) if b in order else len(order))
    found: list[str] = []
    for block in blocks:
        options = _dict(_dict(values.get(block)).get(action_id)).get("selected_options")
        for option in options if isinstance(options, list) else []:
            value = _text(_dict(option).get("value"))
            if value and value not in found:
                found.append(value)
    return found


def valid_token(text: str) -> bool:
    """A Precoro API token as typed: printable, no spaces (it travels in an HTTP header)."""
    return bool(_TOKEN.match(text))
