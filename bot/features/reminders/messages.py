"""Reminders of documents that waited too long (with snooze buttons), the snooze replies and the
morning digest. Pure: when each is due is `rules.py`'s decision, sending it is the
`ReminderService`'s (`service.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.precoro.models import Document
from bot.slack.messages.document import HomeItem, doc_title, open_in_precoro_button, queue_line
from bot.slack.messages.ids import snooze_action_id
from bot.slack.messages.text import (
    NAME_MAX,
    SECTION_TEXT_MAX,
    button,
    check_ref,
    clip,
    format_age,
    line_sections,
    mrkdwn,
    safe,
    slack_time,
)

REMINDER_SHOWN = 10
DIGEST_SHOWN = 20


def snooze_value(ref: str, hours: float) -> str:
    return f"{ref}:{hours:g}"


def parse_snooze_value(value: str) -> tuple[str, float] | None:
    ref, _, hours = (value or "").rpartition(":")
    try:
        number = float(hours)
    except ValueError:
        return None
    return (ref, number) if ref and number > 0 else None


def _hours(hours: float) -> str:
    return f"{hours:g} h" if hours < 48 or hours % 24 else f"{hours / 24:g} days"


@dataclass(frozen=True)
class ReminderItem:
    doc: Document
    ref: str
    link: str
    waited_working_hours: float


def reminder_message(items: Sequence[ReminderItem], *, snooze_hours: Sequence[float]) -> dict[str, Any]:
    """A DM reminding an approver of documents that waited too long, each with snooze buttons."""
    count = len(items)
    head = (":alarm_clock: This document is still waiting for your approval." if count == 1
            else f":alarm_clock: {count} documents are still waiting for your approval.")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(head)}]
    for item in items[:REMINDER_SHOWN]:
        check_ref(item.ref)
        waited = f"waited {format_age(item.waited_working_hours * 3600).replace('just now', 'under a minute')}" \
                 " of working time"
        blocks.append({"type": "section", "text": mrkdwn(clip(queue_line(item.doc, item.link, waited),
                                                                 SECTION_TEXT_MAX))})
        buttons = [button(f"Remind me in {_hours(h)}", snooze_action_id(i), value=snooze_value(item.ref, h))
                   for i, h in enumerate(list(snooze_hours)[:3])]
        open_button = open_in_precoro_button(item.link)
        if open_button:
            buttons.append(open_button)
        blocks.append({"type": "actions", "block_id": f"remind_{item.ref}", "elements": buttons})
    if count > REMINDER_SHOWN:
        blocks.append({"type": "context", "elements": [mrkdwn(f"and {count - REMINDER_SHOWN} more on the Home tab")]})
    blocks.append({"type": "context", "elements": [mrkdwn(
        "Approve or reject from each document's message above, or from the bot's *Home* tab.")]})
    fallback = f"{count} document{'s are' if count > 1 else ' is'} still waiting for your approval"
    return {"text": fallback, "blocks": blocks}


def digest_message(items: Sequence[HomeItem], *, now: datetime, tz: str) -> dict[str, Any]:
    """The morning digest: everything waiting for the approver, oldest first."""
    ordered = sorted(items, key=lambda i: (i.since, i.ref))
    count = len(ordered)
    head = f":sunrise: Good morning. {count} document{'s are' if count != 1 else ' is'} waiting for your approval."
    lines = [queue_line(i.doc, i.link, f"waiting {format_age(max(0.0, (now - i.since).total_seconds()))}")
             for i in ordered[:DIGEST_SHOWN]]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(head)}, *line_sections(lines)]
    more = f"and {count - DIGEST_SHOWN} more. " if count > DIGEST_SHOWN else ""
    blocks.append({"type": "context", "elements": [mrkdwn(
        f"{more}Decide them from their messages or the bot's *Home* tab · {slack_time(now)}")]})
    return {"text": f"Good morning: {count} document{'s' if count != 1 else ''} waiting for your approval",
            "blocks": blocks}


def snoozed_text(doc: Document, at: datetime, tz: str) -> str:
    """`at` is a Slack date token (the reader's zone); `tz` no longer changes it."""
    return f"Snoozed. I'll remind you about {safe(doc_title(doc), NAME_MAX)} on {slack_time(at)}."


def snooze_refused_text() -> str:
    return "That snooze is not offered any more; nothing changed."
