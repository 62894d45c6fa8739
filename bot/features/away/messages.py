"""Away mode as people read it: the command's replies, the Home's "Away" part, the covering
colleague's FYI digest (no buttons: they cannot decide with the approver's key) and the return
digest. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from bot.slack.messages.document import HomeItem, queue_line
from bot.slack.messages.ids import ACTION_AWAY_BACK, ACTION_AWAY_COVER, ACTION_AWAY_DATE, AWAY_BLOCK
from bot.slack.messages.text import button, format_age, line_sections, mention, mrkdwn, plain, slack_time

AWAY_SHOWN = 20


def day_text(day: date) -> str:
    """`Thu 24 Dec 2026`: a day needs no time zone token (it is the approver's own day)."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def away_usage_text() -> str:
    return ("Usage: `/precoro away until 2026-12-24` (the last day you are away, in your time zone), "
            "optionally `cover @colleague` after it; `/precoro back` ends it.")


def away_refused_text(why: str) -> str:
    return {
        "format": "Give the last day you are away as YYYY-MM-DD, like `/precoro away until 2026-12-24`.",
        "past": "That day has passed already (in your time zone): give today or a later day.",
        "far": "That is more than a year ahead; give a day within the next year.",
        "cover_self": "You cannot cover for yourself: name a colleague, or leave `cover` out.",
        "cover_unknown": "That colleague is not a user of this workspace.",
        "not_approver": "Only a registered Precoro approver can be away: you have no documents to pause.",
    }.get(why, away_usage_text())


def away_set_text(until: date, cover: str | None) -> str:
    text = (f":palm_tree: You are away until *{day_text(until)}* (the end of that day, your time zone). "
            "Reminders and digests pause; new documents still arrive in your messages.")
    if cover:
        text += f" {mention(cover)} gets a daily FYI digest of what waits for you (they cannot decide it)."
    return text + " When you are back, one digest lists what arrived. `/precoro back` ends it early."


def away_status_text(until: date | None, cover: str | None) -> str:
    if until is None:
        return "You are not away. " + away_usage_text()
    return f"You are away until *{day_text(until)}*" + (f", covered by {mention(cover)}" if cover else "") + \
        ". `/precoro back` ends it."


def back_text(was_away: bool) -> str:
    if not was_away:
        return "You were not away; nothing changed."
    return ":wave: Welcome back. Reminders resume; a digest of what arrived while you were away follows shortly."


def cover_set_text(cover: str | None) -> str:
    return f"{mention(cover)} now covers for you (FYI digests only)." if cover else "Nobody covers for you now."


def away_home_blocks(until: date | None, cover: str | None, today: date) -> list[dict[str, Any]]:
    """The Home's "Away" part: a date picker (the last day away), a colleague to cover, "I'm back"."""
    picker: dict[str, Any] = {"type": "datepicker", "action_id": ACTION_AWAY_DATE,
                              "placeholder": plain("Away until…", 150)}
    if until is not None:
        picker["initial_date"] = until.isoformat()
    head = (f"*Away* until *{day_text(until)}*: reminders and digests are paused" + (
        f"; {mention(cover)} gets an FYI digest" if cover else "") if until is not None else
            "*Away?* Pick your last day away: reminders and digests pause until then, and one digest "
            "lists what arrived when you are back.")
    blocks: list[dict[str, Any]] = [{"type": "divider"},
                                    {"type": "section", "block_id": AWAY_BLOCK, "text": mrkdwn(head),
                                     "accessory": picker}]
    if until is not None:
        chooser: dict[str, Any] = {"type": "users_select", "action_id": ACTION_AWAY_COVER,
                                   "placeholder": plain("A colleague to keep informed", 150)}
        if cover:
            chooser["initial_user"] = cover
        blocks.append({"type": "actions", "block_id": AWAY_BLOCK + "_act",
                       "elements": [chooser, button("I'm back", ACTION_AWAY_BACK, value="back")]})
    return blocks


def _lines(items: Sequence[HomeItem], now: datetime) -> list[str]:
    ordered = sorted(items, key=lambda i: (i.since, i.ref))
    return [queue_line(i.doc, i.link, f"waiting {format_age(max(0.0, (now - i.since).total_seconds()))}")
            for i in ordered[:AWAY_SHOWN]]


def cover_digest_message(owner: str, items: Sequence[HomeItem], *, until: date, now: datetime) -> dict[str, Any]:
    """FYI to the colleague covering for `owner`: what waits for them. Links only, no buttons."""
    count = len(items)
    head = (f":information_source: FYI: {mention(owner)} is away until *{day_text(until)}* and asked you to "
            f"keep an eye on their approvals. {count} document{'s are' if count != 1 else ' is'} waiting for them.")
    blocks = [{"type": "section", "text": mrkdwn(head)}, *line_sections(_lines(items, now))]
    more = f"and {count - AWAY_SHOWN} more. " if count > AWAY_SHOWN else ""
    blocks.append({"type": "context", "elements": [mrkdwn(
        f"{more}Only {mention(owner)} can decide these, with their own Precoro key: reach them, or open "
        f"Precoro if you can approve there yourself · {slack_time(now)}")]})
    return {"text": f"FYI: {count} document{'s' if count != 1 else ''} waiting for an away colleague",
            "blocks": blocks}


def return_digest_message(arrived: Sequence[HomeItem], waiting: int, *, since: datetime,
                          now: datetime) -> dict[str, Any]:
    """One digest on return: what arrived while away and still waits, and how much waits in all."""
    count = len(arrived)
    head = (f":wave: Welcome back. Since you went away ({slack_time(since)}), {count} document"
            f"{'s' if count != 1 else ''} arrived and {'are' if count != 1 else 'is'} waiting for your approval"
            f"{f'; {waiting} in all' if waiting != count else ''}.")
    blocks = [{"type": "section", "text": mrkdwn(head)}, *line_sections(_lines(arrived, now))]
    more = f"and {count - AWAY_SHOWN} more. " if count > AWAY_SHOWN else ""
    blocks.append({"type": "context", "elements": [mrkdwn(
        f"{more}Decide them from their messages or the bot's *Home* tab. Reminders resume.")]})
    return {"text": f"Welcome back: {count} document{'s' if count != 1 else ''} arrived while you were away",
            "blocks": blocks}
