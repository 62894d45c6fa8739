"""What a requester hears when their document is decided, the mute replies, the finance channel's
lines and the status line about requesters not in Slack. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.precoro.models import Document
from bot.slack.messages.document import doc_requester, doc_title, open_in_precoro_button
from bot.slack.messages.ids import ACTION_MUTE_OUTCOMES
from bot.slack.messages.text import (
    DASH,
    NAME_MAX,
    NOBODY,
    SECTION_TEXT_MAX,
    Actor,
    button,
    clip,
    escape,
    format_amount,
    mrkdwn,
    mrkdwn_link,
    person,
    safe,
)

OUTCOME_REASON_MAX = 800  # Precoro's own limit on a rejection's reason
OUTCOME_VERBS = {"approved": "was approved", "rejected": "was rejected", "revision": "was sent back for revision"}
OUTCOME_WORDS = {"approved": "approved", "rejected": "rejected", "revision": "sent back"}
OUTCOME_ICONS = {"approved": ":white_check_mark:", "rejected": ":x:", "revision": ":leftwards_arrow_with_hook:"}


def _what(doc: Document, link: str) -> str:
    title = mrkdwn_link(link, safe(doc_title(doc), NAME_MAX))
    amount = format_amount(doc.total, doc.currency)
    supplier = safe(doc.supplier, NAME_MAX)
    return (f"*{title}*" + (f" · *{escape(amount)}*" if amount != DASH else "")
            + (f" · {supplier}" if supplier else ""))


def requester_outcome_message(doc: Document, outcome: str, *, link: str, reason: str = "",
                              by: Actor = NOBODY) -> dict[str, Any]:
    """The requester's DM: their document approved (final step), rejected with the reason, or sent
    back for revision; with Open in Precoro and a Mute button. `by` is a mention only when the bot
    resolved the Slack user itself (a click); a name from Precoro is text."""
    verb = OUTCOME_VERBS.get(outcome, outcome)
    who = f" by {person(by)}" if by else ""
    line = f"{OUTCOME_ICONS.get(outcome, '')} Your request {_what(doc, link)} {verb}{who}.".strip()
    text = f"Your request {safe(doc_title(doc), NAME_MAX)} {verb}."
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(clip(line, SECTION_TEXT_MAX))}]
    if reason.strip() and outcome != "approved":
        quoted = "\n".join(f">{part}" for part in safe(reason, OUTCOME_REASON_MAX, one_line=False).splitlines())
        blocks.append({"type": "section", "text": mrkdwn(clip(f"*Reason:*\n{quoted}", SECTION_TEXT_MAX))})
        text += f" Reason: {safe(reason, 200)}"
    elements = [e for e in (open_in_precoro_button(link),) if e is not None]
    elements.append(button("Mute these messages", ACTION_MUTE_OUTCOMES, value="mute"))
    blocks.append({"type": "actions", "elements": elements})
    blocks.append({"type": "context", "elements": [mrkdwn(
        "You get this because you asked for it in Precoro. `/precoro unmute-outcomes` turns it back on.")]})
    return {"text": clip(text, 3000), "blocks": blocks}


def outcomes_muted_text() -> str:
    return ("Muted: you will not hear here when your requests are approved, rejected or sent back. "
            "`/precoro unmute-outcomes` turns it back on.")


def outcomes_unmuted_text() -> str:
    return "You will hear here again when your requests are approved, rejected or sent back."


def finance_decision_line(doc: Document, outcome: str, *, link: str, reason: str = "",
                          by: Actor = NOBODY) -> str:
    """One compact line for the finance channel: a final decision (`by` as in the requester's DM)."""
    who = f" by {person(by)}" if by else ""
    asker = safe(doc_requester(doc), NAME_MAX) or "unknown requester"
    word = OUTCOME_WORDS.get(outcome, outcome)
    line = f"{OUTCOME_ICONS.get(outcome, '')} {_what(doc, link)} · requested by {asker} · {word}{who}"
    if reason.strip() and outcome != "approved":
        line += f": _{safe(reason, 200)}_"
    return clip(line.strip(), SECTION_TEXT_MAX)


def finance_waiting_line(doc: Document, *, link: str, hours: float, waiting_for: Sequence[str] = ()) -> str:
    """One compact line for the finance channel: a document waiting longer than the threshold."""
    asker = safe(doc_requester(doc), NAME_MAX) or "unknown requester"
    whom = ", ".join(safe(n, NAME_MAX) for n in waiting_for[:3])
    line = (f":hourglass: {_what(doc, link)} · requested by {asker} · waiting over {hours:g} working "
            f"{'hour' if hours == 1 else 'hours'}" + (f" for {whom}" if whom else ""))
    return clip(line, SECTION_TEXT_MAX)


def requesters_status_line(company: str, not_in_slack: int, emails: Sequence[str], sent: int, muted: int) -> str:
    """`/precoro status` for admins: outcomes told, muted, and requesters not found in Slack."""
    line = (f"*{safe(company, 40)}* requesters told of outcomes: {sent} sent, {muted} muted, "
            f"{not_in_slack} skipped (requester not in Slack)")
    if emails:
        line += ": " + ", ".join(safe(e, 100) for e in emails)
    return line + "."
