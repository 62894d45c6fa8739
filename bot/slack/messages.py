"""Everything an approver or admin reads, rendered as Slack Block Kit or mrkdwn. Pure.

No I/O and no clock reads: times come in as arguments. Text that comes from Precoro (names,
suppliers, reasons) is escaped for mrkdwn (`&`, `<`, `>`) and clipped to Slack's limits, so a
supplier called `<!channel>` is shown, not executed, and a long name never breaks a message.

Command replies are mrkdwn strings (each ≤ 3000 characters, so a caller may also put one in a
section block).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.precoro import api
from bot.precoro.models import ApprovalStep, Document, LineItem

# --- ids the handlers match on ----------------------------------------------------------------
ACTION_APPROVE = "precoro_approve"
ACTION_REJECT = "precoro_reject"
ACTION_OPEN = "precoro_open"
ACTION_APPROVE_COMMENT = "precoro_approve_comment"
APPROVE_CALLBACK = "precoro_approve_comment"
COMMENT_BLOCK = "comment"
COMMENT_ACTION = "comment_input"
APPROVE_COMMENT_MAX = 800  # like a rejection's reason; kept in Slack and the bot's records only
DECISION_BLOCK = "decision"
REJECT_CALLBACK = "precoro_reject_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"
REGISTER_CALLBACK = "precoro_register"
EMAIL_BLOCK = "email"
EMAIL_ACTION = "email_input"
TOKEN_BLOCK = "token"
TOKEN_ACTION = "token_input"

# --- Slack limits -------------------------------------------------------------------------------
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
FALLBACK_TEXT_MAX = 3000
EMAIL_MAX = 254
TOKEN_MAX = 1000

DASH = "—"
AMOUNT_UNREADABLE = "amount unreadable"  # an amount that is not a sane number (NaN, 1e10000000)
AMOUNT_MAX_DIGITS = 16  # digits before the point that an amount may have
ITEMS_SHOWN = 3
NAME_MAX = 200  # a person, supplier, location or step name as shown in a field
ITEM_MAX = 150
REASON_SHOWN_MAX = 1500


class MessageState(StrEnum):
    WAITING = "waiting"  # buttons shown
    WORKING = "working"  # decision being sent to Precoro
    QUEUED = "queued"  # Precoro busy (429/5xx); the decision is retried automatically
    APPROVED = "approved"
    REJECTED = "rejected"
    GONE = "gone"  # no longer waiting for this approver (decided or withdrawn elsewhere)
    FAILED = "failed"  # the decision did not go through; buttons return when a retry makes sense


_STATE_EMOJI: dict[MessageState, str] = {
    MessageState.WORKING: ":hourglass_flowing_sand:",
    MessageState.QUEUED: ":clock3:",
    MessageState.APPROVED: ":white_check_mark:",
    MessageState.REJECTED: ":x:",
    MessageState.GONE: ":information_source:",
    MessageState.FAILED: ":warning:",
}

_GONE_WHY: dict[int, str] = {
    api.STATUS_APPROVED: "approved in Precoro",
    api.STATUS_DENIED: "rejected in Precoro",
    api.STATUS_ON_REVISION: "sent back for revision",
    api.STATUS_CANCELED: "withdrawn",
}

_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- text helpers --------------------------------------------------------------------------------
def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut (for plain text)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def _clean(text: Any, *, one_line: bool = True) -> str:
    value = _CONTROL.sub("", "" if text is None else str(text))
    return _SPACES.sub(" ", value).strip() if one_line else value.strip()


def safe(text: Any, limit: int, *, one_line: bool = True) -> str:
    """Escaped mrkdwn of at most `limit` characters; never cuts an `&amp;`-style entity in half."""
    escaped = escape(_clean(text, one_line=one_line))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(_clean(text) or DASH, limit), "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def mention(user: str | None) -> str:
    """`<@U123>` for a Slack user id; anything else is shown as escaped text."""
    value = (user or "").strip()
    if _USER_ID.match(value):
        return f"<@{value}>"
    return safe(value, NAME_MAX) or "someone"


# --- numbers and times ---------------------------------------------------------------------------
def format_amount(total: Decimal | None, currency: str) -> str:
    """`1,200.00 USD`; `—` when there is no amount; AMOUNT_UNREADABLE for one that is not a finite
    number of at most AMOUNT_MAX_DIGITS digits before the point (`1e10000000` would otherwise
    render ten million digits, a 13 MB message)."""
    if total is None:
        return DASH
    try:
        value = total if isinstance(total, Decimal) else Decimal(str(total))
    except (InvalidOperation, ValueError):
        return AMOUNT_UNREADABLE
    if not value.is_finite() or value.adjusted() >= AMOUNT_MAX_DIGITS:
        return AMOUNT_UNREADABLE
    if value.is_zero():
        value = abs(value)  # never "-0.00"
    try:
        rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the decimal context holds
        rounded = value
    text = f"{rounded:,.2f}"
    code = _clean(currency)[:10]
    return f"{text} {code}" if code else text


def _zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return UTC


def _local(at: datetime, tz: str) -> datetime:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(_zone(tz))


def format_time(at: datetime, tz: str) -> str:
    """`Jan 05, 14:02 CET` in the zone `tz` (UTC for an unknown zone; naive times are UTC)."""
    return _local(at, tz).strftime("%b %d, %H:%M %Z").strip()


def format_date(at: datetime | None, tz: str) -> str:
    """`Jan 05, 2025` in the zone `tz`; `—` when unknown."""
    if at is None:
        return DASH
    return _local(at, tz).strftime("%b %d, %Y")


def _price(text: str, currency: str) -> str:
    """A line item's price formatted, or its raw text (the caller clips it) when unreadable."""
    if len(text) > AMOUNT_MAX_DIGITS * 2:
        return text
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return text
    shown = format_amount(value, currency)
    return text if shown == AMOUNT_UNREADABLE else shown


# --- the document message ------------------------------------------------------------------------
def _title(doc: Document) -> str:
    return clip(f"{_clean(doc.type_name) or 'Document'} {_clean(doc.idn)}".strip(), HEADER_TEXT_MAX)


def _who(doc: Document) -> str:
    return _clean(doc.creator.name) or _clean(doc.creator.email)


def _step(doc: Document) -> ApprovalStep | None:
    if doc.current_step is not None:
        return doc.current_step
    return next((s for s in doc.approval_steps if not s.done), None)


def _verb(action: str) -> str:
    """`approve` or `reject`; anything unexpected reads as `approve`."""
    return "reject" if str(action).strip().lower() in ("reject", "rejected", "rejection") else "approve"


def _field(label: str, value: str) -> dict[str, Any]:
    return _mrkdwn(f"*{label}*\n{value}")


def _fields(doc: Document, tz: str) -> list[dict[str, Any]]:
    fields = [
        _field("Requester", safe(_who(doc), NAME_MAX) or DASH),
        _field("Supplier", safe(doc.supplier, NAME_MAX) or DASH),
        _field("Total", escape(format_amount(doc.total, doc.currency))),
        _field("Created", format_date(doc.created_at, tz)),
    ]
    if _clean(doc.location):
        fields.append(_field("Location", safe(doc.location, NAME_MAX)))
    return fields


def _item_line(item: LineItem, currency: str) -> str:
    name = safe(item.name, ITEM_MAX) or "(unnamed item)"
    quantity = safe(item.quantity, 20)
    price = safe(_price(_clean(item.price), currency), 40) if _clean(item.price) else ""
    detail = f"{quantity} × {price}" if quantity and price else quantity or price  # noqa: RUF001
    return f"• {name} — {detail}" if detail else f"• {name}"


def _link(url: str, text: str) -> str:
    """`<url|text>` when the URL is safe to put in mrkdwn; else the (already escaped) text."""
    url = (url or "").strip()
    if url.startswith(("https://", "http://")) and len(url) <= URL_MAX and not any(c in url for c in "|<> "):
        return f"<{url}|{text.replace('|', '/')}>"
    return text


def _items_block(doc: Document, link: str = "") -> dict[str, Any] | None:
    if not doc.items:
        return None
    lines = [_item_line(item, doc.currency) for item in doc.items[:ITEMS_SHOWN]]
    more = len(doc.items) - ITEMS_SHOWN
    if more > 0:
        lines.append(_link(link, f"and {more} more in Precoro"))
    return {"type": "section", "text": _mrkdwn(clip("*Items*\n" + "\n".join(lines), SECTION_TEXT_MAX))}


# Custom fields shown first when present (by name, case-insensitive); others follow, up to the cap.
CUSTOM_FIELDS_FIRST = ("department", "project", "budget", "cost center", "cost centre")
CUSTOM_FIELDS_SHOWN = 4
ATTACHMENTS_SHOWN = 5
CHAIN_SHOWN = 6
NOTE_SHOWN_MAX = 500
PEOPLE_SHOWN = 3


def _custom_fields(doc: Document) -> list[dict[str, Any]]:
    def rank(name: str) -> int:
        lowered = name.lower()
        return next((i for i, word in enumerate(CUSTOM_FIELDS_FIRST) if word in lowered), len(CUSTOM_FIELDS_FIRST))

    chosen = sorted(doc.custom_fields, key=lambda f: rank(f.name))[:CUSTOM_FIELDS_SHOWN]
    return [_field(safe(f.name, 60) or "Field", safe(f.value, 300) or DASH) for f in chosen]


def _attachments_block(doc: Document, link: str) -> dict[str, Any] | None:
    if not doc.attachments:
        return None
    lines = [f"• {_link(a.url, safe(a.name, ITEM_MAX) or 'attachment')}" for a in doc.attachments[:ATTACHMENTS_SHOWN]]
    more = len(doc.attachments) - ATTACHMENTS_SHOWN
    if more > 0:
        lines.append(_link(link, f"and {more} more in Precoro"))
    head = f"*Attachments ({len(doc.attachments)})*"
    return {"type": "section", "text": _mrkdwn(clip("\n".join([head, *lines]), SECTION_TEXT_MAX))}


def _names(people: Sequence[Any]) -> str:
    names = [safe(_clean(p.name) or _clean(p.email), NAME_MAX) for p in people]
    names = [n for n in names if n]
    if len(names) > PEOPLE_SHOWN:
        return ", ".join(names[:PEOPLE_SHOWN]) + f" +{len(names) - PEOPLE_SHOWN}"
    return ", ".join(names) or DASH


def _chain_block(doc: Document) -> dict[str, Any] | None:
    """Who approved before, who holds it now, who comes next."""
    if len(doc.approval_steps) < 2:
        return None
    current = _step(doc)
    lines = []
    for step in doc.approval_steps[:CHAIN_SHOWN]:
        name = safe(step.name, NAME_MAX) or "Step"
        if step.done:
            lines.append(f":white_check_mark: {name} · approved by {_names(step.approved_by or step.approvers)}")
        elif current is not None and step.name == current.name and not current.done:
            lines.append(f":arrow_forward: {name} · *now*: {_names(step.approvers)}")
            current = None  # steps after it are "next"
        else:
            lines.append(f":white_small_square: {name} · next: {_names(step.approvers)}")
    if len(doc.approval_steps) > CHAIN_SHOWN:
        lines.append(f"and {len(doc.approval_steps) - CHAIN_SHOWN} more steps")
    return {"type": "section", "text": _mrkdwn(clip("*Approval chain*\n" + "\n".join(lines), SECTION_TEXT_MAX))}


def _note_block(doc: Document) -> dict[str, Any] | None:
    note = safe(doc.requester_comment, NOTE_SHOWN_MAX, one_line=False)
    if not note:
        return None
    who = safe(_who(doc), NAME_MAX) or "The requester"
    return {"type": "section", "text": _mrkdwn(clip(f":speech_balloon: *{who} wrote*\n{note}", SECTION_TEXT_MAX))}


def _when(at: datetime | None, tz: str) -> str:
    return f" at {format_time(at, tz)}" if at is not None else ""


def _gone_why(doc: Document, reason: str) -> str:
    if _clean(reason):
        return _clean(reason)
    if doc.status is not None and doc.status in _GONE_WHY:
        return _GONE_WHY[doc.status]
    return "it left your approval queue in Precoro"


def _state_line(
    doc: Document, state: MessageState, *, actor: str | None, at: datetime | None, tz: str,
    reason: str, verb: str, retry_allowed: bool,
) -> str:
    noun = "approval" if verb == "approve" else "rejection"
    why = safe(reason, REASON_SHOWN_MAX, one_line=False)
    if state is MessageState.WORKING:
        text = f"Sending your {noun} to Precoro…"
    elif state is MessageState.QUEUED:
        text = f"Precoro is busy; your {noun} is queued and will be retried automatically."
    elif state is MessageState.APPROVED:
        text = f"Approved by {mention(actor)}{_when(at, tz)}" if actor else f"Approved{_when(at, tz)}"
        if why:
            text += f": {why}"
    elif state is MessageState.REJECTED:
        text = f"Rejected by {mention(actor)}{_when(at, tz)}" if actor else f"Rejected{_when(at, tz)}"
        if why:
            text += f": {why}"
    elif state is MessageState.GONE:
        text = f"No longer waiting for you: {safe(_gone_why(doc, reason), 500)}"
    elif state is MessageState.FAILED:
        text = f"Could not {verb}: {why or 'Precoro did not accept the request'}"
        if retry_allowed:
            text += " You can try again."
    else:
        return ""
    return f"{_STATE_EMOJI[state]} {text}"


def _fallback(doc: Document, state: MessageState, verb: str) -> str:
    head = _title(doc)
    who = _who(doc) or _clean(doc.supplier)
    if who:
        head += f" from {clip(who, NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        head += f": {amount}"
    noun = "approval" if verb == "approve" else "rejection"
    tail = {
        MessageState.WAITING: "waiting for your approval",
        MessageState.WORKING: f"sending your {noun} to Precoro",
        MessageState.QUEUED: f"your {noun} is queued",
        MessageState.APPROVED: "approved",
        MessageState.REJECTED: "rejected",
        MessageState.GONE: "no longer waiting for you",
        MessageState.FAILED: f"could not {verb}",
    }[state]
    return clip(escape(f"{head}, {tail}"), FALLBACK_TEXT_MAX)


def _button(text: str, action_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "button", "text": _plain(text, BUTTON_TEXT_MAX), "action_id": action_id, **extra}


def _approve_confirm(doc: Document) -> dict[str, Any]:
    amount = format_amount(doc.total, doc.currency)
    idn = clip(_clean(doc.idn), 60)
    question = f"Approve {idn} for {amount}?" if amount != DASH else f"Approve {idn}?"
    return {
        "title": _plain("Approve document?", CONFIRM_TITLE_MAX),
        "text": _plain(question, CONFIRM_TEXT_MAX),
        "confirm": _plain("Approve", 30),
        "deny": _plain("Cancel", 30),
        "style": "primary",
    }


def _open_button(link: str) -> dict[str, Any] | None:
    url = (link or "").strip()
    if not url or len(url) > URL_MAX:
        return None
    return _button("Open in Precoro", ACTION_OPEN, url=url)


def _check_ref(ref: str) -> None:
    if not ref or len(ref) > BUTTON_VALUE_MAX:
        raise ValueError(f"ref must be 1..{BUTTON_VALUE_MAX} characters, got {len(ref or '')}")


def document_message(
    doc: Document,
    *,
    ref: str,
    link: str,
    state: MessageState = MessageState.WAITING,
    actor: str | None = None,
    at: datetime | None = None,
    tz: str = "UTC",
    reason: str = "",
    action: str = "approve",
    retry_allowed: bool = False,
) -> dict[str, Any]:
    """`{"text": fallback, "blocks": [...]}` for one document in one state.

    `ref` (opaque, ≤ 2000 characters) is the value of the decision buttons; `actor` is the Slack
    user id who decided; `action` ("approve"/"reject") is what WORKING, QUEUED and FAILED talk
    about; `retry_allowed` brings the buttons back in FAILED.
    """
    _check_ref(ref)
    state = MessageState(state)
    verb = _verb(action)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(_title(doc), HEADER_TEXT_MAX)},
        {"type": "section", "fields": _fields(doc, tz)},
    ]
    custom = _custom_fields(doc)
    if custom:
        blocks.append({"type": "section", "fields": custom})
    for extra in (_note_block(doc), _items_block(doc, link), _attachments_block(doc, link), _chain_block(doc)):
        if extra:
            blocks.append(extra)
    step = _step(doc)
    step_text = f"Approval step: *{safe(step.name, NAME_MAX)}*" if step and _clean(step.name) else ""
    if state is MessageState.WAITING:
        line = "Waiting for your approval" + (f" · {step_text}" if step_text else "")
        blocks.append({"type": "context", "elements": [_mrkdwn(line)]})
    else:
        # Once decided or gone, the step is history; while in flight it still says where it stands.
        if step_text and state in (MessageState.WORKING, MessageState.QUEUED, MessageState.FAILED):
            blocks.append({"type": "context", "elements": [_mrkdwn(step_text)]})
        line = _state_line(doc, state, actor=actor, at=at, tz=tz, reason=reason, verb=verb,
                           retry_allowed=retry_allowed)
        blocks.append({"type": "section", "text": _mrkdwn(clip(line, SECTION_TEXT_MAX))})

    buttons: list[dict[str, Any]] = []
    if state is MessageState.WAITING or (state is MessageState.FAILED and retry_allowed):
        buttons.append(_button("Approve", ACTION_APPROVE, value=ref, style="primary",
                               confirm=_approve_confirm(doc)))
        buttons.append(_button("Approve with comment", ACTION_APPROVE_COMMENT, value=ref))
        buttons.append(_button("Reject", ACTION_REJECT, value=ref, style="danger"))
    open_button = _open_button(link)
    if open_button:
        buttons.append(open_button)
    if buttons:
        blocks.append({"type": "actions", "block_id": DECISION_BLOCK, "elements": buttons})
    return {"text": _fallback(doc, state, verb), "blocks": blocks}


def change_note(old: Document, new: Document) -> str:
    """What changed in a waiting document that its approver should hear about, as one thread reply
    (mrkdwn); "" when nothing worth a word changed (a redraw is enough then)."""
    lines: list[str] = []
    before, after = format_amount(old.total, old.currency), format_amount(new.total, new.currency)
    if before != after:
        lines.append(f":pencil2: Amount changed: {escape(before)} → *{escape(after)}*")
    seen = {(c.text, c.author.email, c.author.name) for c in old.comments}
    for comment in [c for c in new.comments if (c.text, c.author.email, c.author.name) not in seen][-3:]:
        who = safe(_clean(comment.author.name) or _clean(comment.author.email), NAME_MAX) or "Someone"
        lines.append(f":speech_balloon: New comment from {who}: {safe(comment.text, NOTE_SHOWN_MAX)}")
    if _clean(new.note) and _clean(new.note) != _clean(old.note):
        lines.append(f":memo: The requester's note now reads: {safe(new.note, NOTE_SHOWN_MAX)}")
    known = {(a.name, a.url) for a in old.attachments}
    added = [a for a in new.attachments if (a.name, a.url) not in known]
    if added:
        names = ", ".join(_link(a.url, safe(a.name, ITEM_MAX) or "attachment") for a in added[:ATTACHMENTS_SHOWN])
        lines.append(f":paperclip: New attachment{'s' if len(added) > 1 else ''}: {names}")
    if not lines:
        return ""
    return clip(f"*{safe(_title(new), NAME_MAX)} changed in Precoro*\n" + "\n".join(lines), SECTION_TEXT_MAX)


# --- modals --------------------------------------------------------------------------------------
def _modal(callback_id: str, title: str, submit: str, metadata: str, blocks: list[dict[str, Any]]
           ) -> dict[str, Any]:
    if len(metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata too long: {len(metadata)} > {PRIVATE_METADATA_MAX}")
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": _plain(title, MODAL_TITLE_MAX),
        "submit": _plain(submit, MODAL_TITLE_MAX),
        "close": _plain("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }


def approve_modal(ref: str, doc: Document) -> dict[str, Any]:
    """The form of "Approve with comment": an optional comment; `ref` comes back as private_metadata."""
    _check_ref(ref)
    question = f"Approve {safe(_title(doc), NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        question += f" for {escape(amount)}"
    return _modal(APPROVE_CALLBACK, "Approve document", "Approve", ref, [
        {"type": "section", "text": _mrkdwn(f"{question}?")},
        {
            "type": "input",
            "block_id": COMMENT_BLOCK,
            "optional": True,
            "label": _plain("Comment", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": COMMENT_ACTION,
                "multiline": True,
                "max_length": APPROVE_COMMENT_MAX,
                "placeholder": _plain("Optional: a word for the record", 150),
            },
            "hint": _plain("Shown on this message and kept in the bot's audit records. Precoro's API takes no "
                           "comment with an approval, so it does not appear in Precoro.", 2000),
        },
    ])


def reject_modal(ref: str, doc: Document) -> dict[str, Any]:
    """The reason form opened by the Reject button; `ref` comes back as private_metadata."""
    _check_ref(ref)
    question = f"Reject {safe(_title(doc), NAME_MAX)}"
    party = _clean(doc.supplier) or _who(doc)
    if party:
        question += f" from {safe(party, NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        question += f" for {escape(amount)}"
    sentence = f"{question}? Precoro notifies the requester; a rejection cannot be undone."
    return _modal(REJECT_CALLBACK, "Reject document", "Reject", ref, [
        {"type": "section", "text": _mrkdwn(sentence)},
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": _plain("Reason", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": REASON_ACTION,
                "multiline": True,
                "min_length": 1,
                "max_length": api.REJECT_COMMENT_MAX,
                "placeholder": _plain("What should the requester change or know?", 150),
            },
            "hint": _plain(f"Shown to the requester in Precoro. Up to {api.REJECT_COMMENT_MAX} characters.",
                           2000),
        },
    ])


def register_modal(*, target_user: str, email: str, company: str) -> dict[str, Any]:
    """The admin's form for an approver's Precoro email and API token.

    private_metadata is JSON `{"user": target_user, "company": company}`.
    """
    metadata = json.dumps({"user": target_user, "company": company}, separators=(",", ":"))
    intro = (
        f"Precoro API token for {mention(target_user)}. Find it in Precoro under "
        "*Configuration → Integrations → API Key*. It is stored encrypted and never shown again."
    )
    email_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": EMAIL_ACTION,
        "min_length": 3,
        "max_length": EMAIL_MAX,
        "placeholder": _plain("name@company.com", 150),
    }
    if _clean(email):
        email_element["initial_value"] = clip(_clean(email), EMAIL_MAX)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(intro)}]
    if _clean(company):
        blocks.append({"type": "context",
                       "elements": [_mrkdwn(f"Precoro company: *{safe(company, NAME_MAX)}*")]})
    blocks += [
        {
            "type": "input",
            "block_id": EMAIL_BLOCK,
            "label": _plain("Precoro email", 2000),
            "element": email_element,
            "hint": _plain("The email of their Precoro account; Precoro checks it with the token.", 2000),
        },
        {
            "type": "input",
            "block_id": TOKEN_BLOCK,
            "label": _plain("API token", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": TOKEN_ACTION,
                "min_length": 1,
                "max_length": TOKEN_MAX,
                "placeholder": _plain("Paste the API token", 150),
            },
            "hint": _plain("Slack has no masked input, so the token is visible while you type. "
                           "Paste it only here, never in a channel.", 2000),
        },
    ]
    return _modal(REGISTER_CALLBACK, "Register approver", "Register", metadata, blocks)


# --- command replies and errors (mrkdwn strings) ------------------------------------------------
def help_text(is_admin: bool) -> str:
    lines = [
        "*Precoro approvals*",
        "Documents waiting for your approval arrive here as direct messages; "
        "approve or reject them with the buttons.",
        "• `/precoro help`: this help",
        "• `/precoro status`: your registration and when Precoro was last checked",
    ]
    if is_admin:
        lines += [
            "*Admin commands*",
            "• `/precoro list`: registered approvers and their status",
            "• `/precoro register @user`: register an approver (a form asks for the token)",
            "• `/precoro register @user email token [override]`: register in one line (the email must be "
            "the user's Slack email; `override` accepts another, audited)",
            "• `/precoro remove @user`: remove an approver and delete their token",
            "• `/precoro resume`: clear a pause after Precoro answered 429 (status shows it)",
            f"• `/precoro audit [N]`: the last N decisions and token changes (default {AUDIT_DEFAULT}, "
            f"at most {AUDIT_MAX})",
            "• `/precoro discovery @user`: find new documents for every approver with this registered "
            "approver's token (it must see the whole company); `/precoro discovery off` stops it",
        ]
    return "\n".join(lines)


def not_admin_text() -> str:
    return "Only Precoro bot admins can do that. See `/precoro help` for what you can do."


def not_connected_text() -> str:
    """A workspace no company names: the same answer whatever it asks (nothing about others)."""
    return ("This Slack workspace is not connected to a Precoro company on this service. "
            "Ask the service's operator to connect it.")


def install_not_connected_html() -> str:
    """The install page's answer for a workspace no company names: nothing was installed."""
    return ("<html><body><h1>Not connected</h1><p>This Slack workspace is not connected to a Precoro "
            "company on this service, so nothing was installed. Ask the service's operator to connect "
            "it, then install again.</p></body></html>")


def email_mismatch_text(user: str, slack_email: str) -> str:
    """Registration: the Precoro email is not the Slack user's profile email."""
    shown = safe(slack_email, EMAIL_MAX) if slack_email else "no email Slack can show"
    return (f"That Precoro email is not {mention(user)}'s Slack email ({shown}), so nothing was stored. "
            "If the token really is theirs, register in one line and add `override` at the end: "
            "`/precoro register @user email token override` (the override is audited).")


def not_workspace_user_text(user: str) -> str:
    """Registration: Slack does not know this user in the caller's workspace (or could not answer)."""
    return (f"Slack could not show {mention(user)}'s profile in this workspace, so nothing was stored. "
            "Only users of this workspace can be registered; if Slack was just unavailable, try again.")


def registered_text(user: str, email: str) -> str:
    return (f"{mention(user)} is registered with Precoro account {safe(email, EMAIL_MAX)}. "
            "Documents waiting for their approval will arrive as direct messages.")


def removed_text(user: str) -> str:
    return f"{mention(user)} is removed; their token is deleted and no more documents will be sent to them."


def not_registered_text(user: str) -> str:
    return (f"{mention(user)} is not registered. An admin can register them with "
            "`/precoro register @user`.")


def registration_list(rows: Sequence[tuple[str, str, str, datetime | None]], tz: str) -> str:
    """Rows of (Slack user id, email, status, last polled) as one mrkdwn list, ≤ 3000 characters."""
    if not rows:
        return "No approvers are registered yet. Register one with `/precoro register @user`."
    head = f"*Registered approvers ({len(rows)})*"
    lines: list[str] = []
    used = len(head)
    for shown, (user, email, status, last_polled) in enumerate(rows):
        polled = format_time(last_polled, tz) if last_polled else "never"
        line = (f"• {mention(user)} · {safe(email, 100) or DASH} · {safe(status, 40) or DASH}"
                f" · last checked {polled}")
        left = len(rows) - shown
        if used + len(line) + 1 + len(f"\nand {left} more") > SECTION_TEXT_MAX:
            lines.append(f"and {left} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join([head, *lines])


def token_rejected_text(reason: str) -> str:
    why = safe(reason, 500)
    return f"Precoro did not accept that token{': ' + why if why else ''}. Nothing was stored."


def wrong_user_text(owner: str) -> str:
    return f"This document waits for {mention(owner)}; only they can decide it."


def already_decided_text(
    decision: str = "", *, actor: str | None = None, at: datetime | None = None, tz: str = "UTC"
) -> str:
    """A second click on a decided document: who decided it and when; nothing changed."""
    word = {"approve": "approved", "approved": "approved", "reject": "rejected",
            "rejected": "rejected"}.get(_clean(decision).lower(), safe(decision, 100) or "decided")
    by = f" by {mention(actor)}" if actor else ""
    return f"This document was already {word}{by}{_when(at, tz)}; nothing changed."


def token_revoked_text() -> str:
    return ("Precoro refused your API token; ask an admin to register a new one with "
            "`/precoro register`.")


def token_restored_text() -> str:
    return "Precoro accepts your API token again: your documents come to Slack as before."


def precoro_unavailable_text() -> str:
    return "Precoro is not answering right now; nothing was changed. Try again in a few minutes."


def comment_too_long_text() -> str:
    return f"Keep the comment to {APPROVE_COMMENT_MAX} characters."


def reason_required_text() -> str:
    """Modal validation error for a blank rejection reason."""
    return "Write a reason; Precoro shows it to the requester."


def invalid_email_text() -> str:
    """Modal validation error for an email that does not look like one."""
    return ("Enter the email address of their Precoro account (plain ASCII letters, digits and punctuation, "
            "no spaces or special characters).")


def decision_in_progress_text() -> str:
    """A second click while the first one's decision is still being sent."""
    return "Your decision on this document is already on its way to Precoro; nothing more was sent."


def unknown_document_text() -> str:
    return "This message is no longer tracked by the bot; open the document in Precoro to decide it."


def not_waiting_reason() -> str:
    return "Precoro says it no longer waits for your approval (decided elsewhere, changed or withdrawn)."


def token_unreadable_text() -> str:
    return ("Your stored token cannot be read (the encryption key changed). Ask an admin to register "
            "it again with `/precoro register`.")


def precoro_refused_text(detail: str) -> str:
    return f"Precoro refused the request: {safe(detail, 300)}"


def admin_token_revoked_text(user: str) -> str:
    return (f"Precoro refused the API token of {mention(user)}; the bot stopped using it. "
            f"Register a new one with `/precoro register {mention(user)}`.")


def admin_token_restored_text(user: str) -> str:
    return f"Precoro accepts the API token of {mention(user)} again; the bot uses it as before."


def resume_text(company: str, cleared: bool) -> str:
    """An admin's `/precoro resume` (and `precoro-bot resume`): a 429 pause cleared, or none held."""
    if cleared:
        return f"The Precoro pause of *{company}* is cleared: requests go out again now."
    return f"*{company}* is not paused by Precoro."


# --- company discovery ---------------------------------------------------------------------------
def discovery_usage_text() -> str:
    return ("Usage: `/precoro discovery @user` (a registered approver whose Precoro user sees every document "
            "of the company, such as a company admin) or `/precoro discovery off`.")


def discovery_on_text(user: str, company: str) -> str:
    return (f"Discovery for *{safe(company, 40)}* now reads every pending document with {mention(user)}'s token "
            "and sends each to the approvers of its current step. That token is used for reading only; "
            "each approver still decides with their own token.")


def discovery_off_text(company: str) -> str:
    return f"Discovery for *{safe(company, 40)}* is off; each approver's own waiting list is polled."


def discovery_not_approver_text(user: str) -> str:
    return (f"{mention(user)} is not a registered, active approver of this company. Register them first "
            f"with `/precoro register {mention(user)}`.")


def admin_discovery_revoked_text(user: str, company: str) -> str:
    return (f"Precoro refused the discovery token of {mention(user)} for *{safe(company, 40)}*: discovery is off "
            "and each approver's own waiting list is polled again. Register a new token, then turn discovery "
            f"back on with `/precoro discovery {mention(user)}`.")


def admin_discovery_lost_text(company: str) -> str:
    return (f"Discovery for *{safe(company, 40)}* is off: its approver was removed or their token stopped working. "
            "Each approver's own waiting list is polled again. Choose another with `/precoro discovery @user`.")


# What the bot learned about a company's Precoro by itself (bot/sync/adapt.py), told once and
# shown in `/precoro status`.
FINDING_TEXTS: dict[str, str] = {
    "duplicate_keying=route": "Precoro refuses a second read of the same list within a minute even with other "
                              "parameters (its duplicate-GET limit is keyed by route): each list is now read at "
                              "most once a minute, so new documents may take longer to arrive.",
    "stepless": "Precoro's answers for {detail} carry no readable approval steps: company discovery leaves them to "
                "each approver's own waiting list (slower with many approvers).",
}


def finding_sentence(name: str, value: str) -> str:
    if name.startswith("stepless:"):
        return FINDING_TEXTS["stepless"].format(detail=safe(name.removeprefix("stepless:"), 40))
    return FINDING_TEXTS.get(f"{name}={value}", f"{safe(name, 40)}: {safe(value, 80)}")


def admin_finding_text(company: str, name: str, value: str) -> str:
    return f"About *{safe(company, 40)}*: {finding_sentence(name, value)} `precoro-bot doctor` checks the rest."


def findings_status_line(sentences: Sequence[str]) -> str:
    return "Learned from Precoro: " + " ".join(sentences) if sentences else ""


def discovery_status_line(user: str | None, cursor: datetime | None, fallback: Sequence[str], note: str) -> str:
    if user is None:
        why = f" ({safe(note, 80)})" if note else ""
        return f"Discovery: off{why}; each approver's waiting list is polled."
    since = format_time(cursor, "UTC") if cursor else "not yet"
    line = f"Discovery: on with {mention(user)}'s token; last complete read {since}."
    if fallback:
        line += f" Left to per-approver polls (no readable approval steps): {', '.join(sorted(fallback))}."
    return line


def unregistered_line(documents: int, people: Sequence[tuple[str, str]], shown: int = 10) -> str:
    """Approvers named in a waiting document's current step who have no registered token."""
    if not documents:
        return "Every approver of the waiting documents seen by discovery is registered."
    names = [f"{safe(name, 60)} ({safe(email, EMAIL_MAX)})" if name else safe(email, EMAIL_MAX)
             for email, name in people[:shown]]
    more = f" and {len(people) - shown} more" if len(people) > shown else ""
    docs = "document waits" if documents == 1 else "documents wait"
    who = "approver" if len(people) == 1 else "approvers"
    return f"{documents} {docs} for {len(people)} unregistered {who}: {', '.join(names)}{more}."


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only tells something (progress or result of a form)."""
    return {
        "type": "modal",
        "title": _plain(title, MODAL_TITLE_MAX),
        "close": _plain("Close", MODAL_TITLE_MAX),
        "blocks": [{"type": "section", "text": _mrkdwn(clip(text, SECTION_TEXT_MAX))}],
    }


def choose_company_text(companies: Sequence[str]) -> str:
    names = ", ".join(f"`{safe(c, 40)}`" for c in companies)
    return f"Several Precoro companies are configured; name one: `/precoro register @user COMPANY`. Companies: {names}."


def checking_token_text(user: str) -> str:
    return f"Checking the token for {mention(user)} with Precoro…"


def register_usage_text() -> str:
    return ("Usage: `/precoro register @user` opens a form, or `/precoro register @user email token` "
            "registers in one line. Mention the user with @ so Slack links it.")


def invalid_token_text() -> str:
    return "That does not look like a Precoro API token (8 to 512 letters, digits and - _ . ~ + / =)."


def form_expired_text() -> str:
    return "This form is out of date; run `/precoro register @user` again."


def click_not_recorded_text() -> str:
    """The database could not record a click: nothing happened, the user should click again."""
    return ("Your click could not be recorded (the bot's database is unavailable for a moment); nothing was "
            "sent to Precoro. Please click again in a minute.")


def click_recorded_text() -> str:
    """The decision is in the outbox but its attempt was interrupted (database hiccup)."""
    return ("Your decision is saved; the bot sends it to Precoro as soon as its database answers again "
            "and updates the message then. No need to click again.")


def not_installed_text() -> str:
    """Several workspaces: a request from a workspace where the app is not (or no longer) installed."""
    return ("Precoro approvals is not installed in this Slack workspace (or was removed). "
            "Ask a Slack admin to install it again from the app's install page.")


def request_failed_text() -> str:
    """The safety net of every handler: something unexpected failed; never a traceback."""
    return "Something went wrong on the bot's side and your request was not completed. Please try again."


def unreadable_request_text() -> str:
    return "The bot could not read that request from Slack; nothing was done. Please try again."


AUDIT_DEFAULT = 20
AUDIT_MAX = 100
_SUBJECT_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)>$")


def audit_usage_text() -> str:
    return f"Usage: `/precoro audit [N]`: the last N audit entries (1 to {AUDIT_MAX}, default {AUDIT_DEFAULT})."


def audit_log_text(rows: Sequence[tuple[datetime, str, str, str, str, str]], tz: str, *,
                   show_company: bool = False) -> str:
    """Rows of (when, company, actor, action, subject, outcome), newest first, as one mrkdwn list
    of at most 3000 characters: who did what, when, with what result."""
    if not rows:
        return "The audit log is empty: no decisions or token changes yet."
    head = f"*Audit log: the last {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}*"
    lines: list[str] = []
    used = len(head)
    for shown, (at, company, actor, action, subject, outcome) in enumerate(rows):
        who = mention(actor) if _USER_ID.match(actor or "") else safe(actor, 40) or DASH
        match = _SUBJECT_MENTION.match(subject or "")
        what = f"{safe(action, 40)} {mention(match.group(1)) if match else safe(subject, 120)}".strip()
        where = f" · {safe(company, 40)}" if show_company else ""
        line = f"• {format_time(at, tz)}{where} · {who} · {what or DASH} → {safe(outcome, 64) or DASH}"
        left = len(rows) - shown
        if used + len(line) + 1 + len(f"\nand {left} more") > SECTION_TEXT_MAX:
            lines.append(f"and {left} more")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join([head, *lines])


def token_check_failed_text() -> str:
    return ("Precoro could not be asked right now (busy or not answering); nothing was stored. "
            "Try again in a minute.")


# --- App Home ----------------------------------------------------------------------------------
ACTION_SELECT = "precoro_home_select"
ACTION_BULK_APPROVE = "precoro_bulk_approve"
BULK_BLOCK = "home_bulk"
HOME_DOC_BLOCK = "home_doc_"  # + ref: the document's section (its checkbox lives there)
HOME_ACTIONS_BLOCK = "home_act_"  # + ref: its buttons
VIEW_BLOCKS_MAX = 100
HOME_SHOWN_MAX = 40  # documents listed on the Home at most; the rest are counted
# Documents per Home page. Slack sends the whole view back (URL-encoded JSON) with every click on
# it, and our server refuses a body over 256 KB; a page of 20 documents, each clipped to
# HOME_DOC_TEXT_MAX, stays far below that even with long titles (the Slack stand-in checks it).
HOME_PAGE_SIZE = 20
HOME_DOC_TEXT_MAX = 600
# Next and Previous: each button's value is the page number (0-based) to show. Two action ids, as
# Slack refuses a view whose block holds two elements with the same action_id (views.publish
# answers invalid_arguments and the user keeps the page they had).
ACTION_HOME_PAGE = "precoro_home_page"
ACTION_HOME_PAGE_BACK = "precoro_home_page_back"
HOME_PAGER_BLOCK = "home_pager"


@dataclass(frozen=True)
class HomeItem:
    """One document of the approver's queue, as stored by the poller (no Precoro request)."""

    doc: Document
    ref: str
    link: str
    state: MessageState
    since: datetime  # when it entered the approver's queue


@dataclass(frozen=True)
class ApproverRow:
    user: str
    company: str
    email: str
    status: str
    last_polled: datetime | None
    waiting: int


@dataclass(frozen=True)
class QuotaRow:
    company: str
    windows: tuple[tuple[float, int, int, int], ...]  # (seconds, used, limit, reserve)
    paused_until: datetime | None = None


@dataclass(frozen=True)
class AdminSummary:
    approvers: tuple[ApproverRow, ...]
    quotas: tuple[QuotaRow, ...]


@dataclass(frozen=True)
class BulkResult:
    """One document of a bulk approval and how it ended."""

    title: str
    ok: bool
    text: str = ""


def format_age(seconds: float) -> str:
    """`just now`, `12 min`, `3 h`, `2 d`."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def format_span(seconds: float) -> str:
    """A quota window's length: `1 s`, `1 h`, `1 day`."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return "day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


_HOME_STATE_NOTE: dict[MessageState, str] = {
    MessageState.WORKING: ":hourglass_flowing_sand: Sending your decision to Precoro…",
    MessageState.QUEUED: ":clock3: Precoro is busy; your decision is queued and retried automatically.",
    MessageState.FAILED: ":warning: Your last decision did not go through; you can try again.",
}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _home_doc_text(item: HomeItem, now: datetime) -> str:
    doc = item.doc
    name = safe(_title(doc), NAME_MAX)
    url = (item.link or "").strip()
    title = f"<{url}|{name}>" if url and len(url) <= URL_MAX and "|" not in url and ">" not in url else name
    amount = format_amount(doc.total, doc.currency)
    head = f"*{title}*" + (f" · *{escape(amount)}*" if amount != DASH else "")
    parts = [safe(_who(doc), NAME_MAX) or "Unknown requester"]
    if _clean(doc.supplier):
        parts.append(safe(doc.supplier, NAME_MAX))
    parts.append(f"waiting {format_age(max(0.0, (now - item.since).total_seconds()))}")
    text = head + "\n" + " · ".join(parts)
    note = _HOME_STATE_NOTE.get(item.state)
    return clip(text + (f"\n{note}" if note else ""), HOME_DOC_TEXT_MAX)


def _home_doc_blocks(item: HomeItem, now: datetime) -> list[dict[str, Any]]:
    _check_ref(item.ref)
    decidable = item.state in (MessageState.WAITING, MessageState.FAILED)
    section: dict[str, Any] = {"type": "section", "block_id": HOME_DOC_BLOCK + item.ref,
                               "text": _mrkdwn(_home_doc_text(item, now))}
    if decidable:
        section["accessory"] = {"type": "checkboxes", "action_id": ACTION_SELECT,
                                "options": [{"text": _plain("Select", 75), "value": item.ref}]}
    blocks = [section]
    buttons: list[dict[str, Any]] = []
    if decidable:
        buttons.append(_button("Approve", ACTION_APPROVE, value=item.ref, style="primary",
                               confirm=_approve_confirm(item.doc)))
        buttons.append(_button("Reject", ACTION_REJECT, value=item.ref, style="danger"))
    open_button = _open_button(item.link)
    if open_button:
        buttons.append(open_button)
    if buttons:
        blocks.append({"type": "actions", "block_id": HOME_ACTIONS_BLOCK + item.ref, "elements": buttons})
    return blocks


def _type_plural(doc: Document) -> str:
    name = _clean(doc.type_name) or "Document"
    return name if name.endswith("s") else name + "s"


def _admin_blocks(admin: AdminSummary, tz: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "divider"},
                                    {"type": "header", "text": _plain("Admin", HEADER_TEXT_MAX)}]
    head = f"*Approvers ({len(admin.approvers)})*"
    lines: list[str] = []
    used = len(head)
    for shown, row in enumerate(admin.approvers):
        polled = format_time(row.last_polled, tz) if row.last_polled else "never"
        mark = ":white_check_mark:" if row.status == "active" else ":no_entry:"
        line = (f"• {mark} {mention(row.user)} · {safe(row.company, 40)} · {safe(row.email, 100) or DASH} · "
                f"{safe(row.status, 20)} · {_plural(row.waiting, 'document')} waiting · last checked {polled}")
        left = len(admin.approvers) - shown
        if used + len(line) + 1 + len(f"\nand {left} more") > SECTION_TEXT_MAX:
            lines.append(f"and {left} more")
            break
        lines.append(line)
        used += len(line) + 1
    if not admin.approvers:
        lines.append("No approvers are registered yet. Register one with `/precoro register @user`.")
    blocks.append({"type": "section", "text": _mrkdwn("\n".join([head, *lines]))})
    quota_lines = ["*Precoro quota use* (shared by every approver of a company)"]
    for q in admin.quotas[:20]:
        windows = " · ".join(
            f"{used_:,}/{limit:,} per {format_span(seconds)}" + (f" ({reserve:,} kept for clicks)" if reserve else "")
            for seconds, used_, limit, reserve in q.windows)
        line = f"• *{safe(q.company, 40)}*: {windows or DASH}"
        if q.paused_until is not None:
            line += f" · paused by Precoro until {format_time(q.paused_until, tz)}"
        quota_lines.append(line)
    if len(admin.quotas) > 20:
        quota_lines.append(f"and {len(admin.quotas) - 20} more")
    blocks.append({"type": "section", "text": _mrkdwn(clip("\n".join(quota_lines), SECTION_TEXT_MAX))})
    return blocks


def _bulk_blocks(results: Sequence[BulkResult]) -> list[dict[str, Any]]:
    if not results:
        return []
    done = sum(r.ok for r in results)
    lines = [f"*Approve selected: {done} of {len(results)} approved*"]
    for r in results:
        mark = ":white_check_mark:" if r.ok else ":warning:"
        lines.append(f"{mark} {safe(r.title, NAME_MAX)}" + (f": {safe(r.text, 300)}" if r.text else ""))
    return [{"type": "section", "text": _mrkdwn(clip("\n".join(lines), SECTION_TEXT_MAX))}]


ACTION_REMINDER_CHOICE = "precoro_reminder_choice"
ACTION_DIGEST_CHOICE = "precoro_digest_choice"
REMINDER_CHOICES = (2.0, 4.0, 8.0, 16.0)  # working hours offered on the Home, besides the default and never
DEFAULT_CHOICE = "default"
NEVER_CHOICE = "off"


@dataclass(frozen=True)
class ReminderPrefs:
    """What the Home's "Your reminders" part shows: the defaults and the approver's own choices."""

    default_hours: float
    default_on: bool
    hours: float | None  # None: default; 0: never
    default_digest: bool
    digest: bool | None
    digest_at: str  # "09:00"
    workday: str  # "09:00 to 18:00, Mon to Fri"


def workday_text(start: str, end: str, days: Sequence[int]) -> str:
    """`09:00 to 18:00, Mon to Fri` (days: Monday is 0)."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    ordered = sorted(set(days))
    run = len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1))
    shown = f"{names[ordered[0]]} to {names[ordered[-1]]}" if run else ", ".join(names[d] for d in ordered)
    return f"{start} to {end}, {shown}"


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _plain(text, 75), "value": value}


def _working_hours(hours: float) -> str:
    return f"after {hours:g} working hour{'s' if hours != 1 else ''}"


def reminder_choice_value(hours: float | None) -> str:
    return DEFAULT_CHOICE if hours is None else NEVER_CHOICE if hours <= 0 else f"{hours:g}"


def parse_reminder_choice(value: str) -> tuple[bool, float | None] | None:
    """(valid, hours): hours None for the default, 0 for never; None when not an offered choice."""
    if value == DEFAULT_CHOICE:
        return True, None
    if value == NEVER_CHOICE:
        return True, 0.0
    try:
        hours = float(value)
    except ValueError:
        return None
    return (True, hours) if hours in REMINDER_CHOICES else None


def _prefs_blocks(prefs: ReminderPrefs) -> list[dict[str, Any]]:
    default_text = _working_hours(prefs.default_hours) if prefs.default_on else "never"
    options = [_option(f"Default ({default_text})", DEFAULT_CHOICE)]
    options += [_option(_working_hours(h).capitalize(), f"{h:g}") for h in REMINDER_CHOICES]
    options.append(_option("Never", NEVER_CHOICE))
    chosen = reminder_choice_value(prefs.hours)
    if chosen not in {o["value"] for o in options}:  # a value no longer offered: show the default
        chosen = DEFAULT_CHOICE
    current = next(o for o in options if o["value"] == chosen)
    digest_default = "on" if prefs.default_digest else "off"
    digest_options = [_option(f"Default ({digest_default})", DEFAULT_CHOICE), _option("On", "on"),
                      _option("Off", "off")]
    digest_chosen = DEFAULT_CHOICE if prefs.digest is None else "on" if prefs.digest else "off"
    return [
        {"type": "divider"},
        {"type": "section", "text": _mrkdwn(
            f"*Reminders* of documents still waiting, within your workday ({safe(prefs.workday, 100)}, "
            "your time zone)"),
         "accessory": {"type": "static_select", "action_id": ACTION_REMINDER_CHOICE, "options": options,
                       "initial_option": current}},
        {"type": "section", "text": _mrkdwn(
            f"*Morning digest* of everything waiting, on workdays at {safe(prefs.digest_at, 10)}"),
         "accessory": {"type": "static_select", "action_id": ACTION_DIGEST_CHOICE, "options": digest_options,
                       "initial_option": next(o for o in digest_options if o["value"] == digest_chosen)}},
    ]


def home_view(items: Sequence[HomeItem], *, now: datetime, tz: str, registered: bool = True,
              revoked: bool = False, admin: AdminSummary | None = None,
              bulk: Sequence[BulkResult] = (), prefs: ReminderPrefs | None = None,
              page: int = 0) -> dict[str, Any]:
    """The approver's App Home: their queue grouped by type, oldest first, with the buttons of the
    DM messages, HOME_PAGE_SIZE documents a page (`page`, clamped) with Previous / Next; a summary
    of a bulk approval; their reminder choices; for admins, approvers and quota use. ≤ 100 blocks,
    and small enough that the click payload Slack sends back stays under 256 KB."""
    admin_part = (_prefs_blocks(prefs) if prefs is not None and registered else []) + \
        (_admin_blocks(admin, tz) if admin is not None else [])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"Waiting for your approval ({len(items)})", HEADER_TEXT_MAX)},
        {"type": "context", "elements": [_mrkdwn(f"Oldest first · updated {format_time(now, tz)}")]},
    ]
    blocks += _bulk_blocks(bulk)
    if not registered:
        blocks.append({"type": "section", "text": _mrkdwn(
            "You are not registered as a Precoro approver yet. Ask a bot admin to run `/precoro register @you`.")})
    elif revoked:
        blocks.append({"type": "section", "text": _mrkdwn(f":warning: {token_revoked_text()}")})
    if registered and not items:
        blocks.append({"type": "section", "text": _mrkdwn(
            ":tada: Nothing is waiting for your approval. New documents appear here and in your messages.")})
    if any(i.state in (MessageState.WAITING, MessageState.FAILED) for i in items):
        blocks.append({"type": "actions", "block_id": BULK_BLOCK, "elements": [
            _button("Approve selected", ACTION_BULK_APPROVE, style="primary", confirm={
                "title": _plain("Approve selected?", CONFIRM_TITLE_MAX),
                "text": _plain("Each selected document is approved in Precoro with your token.", CONFIRM_TEXT_MAX),
                "confirm": _plain("Approve", 30), "deny": _plain("Cancel", 30), "style": "primary"})]})
        blocks.append({"type": "context", "elements": [_mrkdwn("Tick documents, then *Approve selected*.")]})
    ordered = sorted(items, key=lambda i: (i.since, i.ref))
    pages = max(1, -(-len(ordered) // HOME_PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    first = page * HOME_PAGE_SIZE
    on_page = ordered[first:first + HOME_PAGE_SIZE]
    pager = _home_pager(page, pages, first, len(on_page), len(ordered)) if pages > 1 else []
    blocks += pager
    groups: dict[str, list[HomeItem]] = {}
    for item in on_page:
        groups.setdefault(_type_plural(item.doc), []).append(item)
    shown = 0
    budget = VIEW_BLOCKS_MAX - len(admin_part) - 1  # one left for "and N more"
    for name, group in groups.items():
        if len(blocks) + 3 > budget or shown >= HOME_SHOWN_MAX:
            break
        blocks.append({"type": "section", "text": _mrkdwn(f"*{safe(name, NAME_MAX)} ({len(group)})*")})
        for item in group:
            doc_blocks = _home_doc_blocks(item, now)
            if len(blocks) + len(doc_blocks) > budget or shown >= HOME_SHOWN_MAX:
                break
            blocks += doc_blocks
            shown += 1
        else:
            continue
        break  # the view is full
    if shown < len(on_page):
        blocks.append({"type": "context", "elements": [_mrkdwn(
            f"and {len(on_page) - shown} more: decide the ones above first, or open Precoro.")]})
    return {"type": "home", "blocks": blocks + admin_part}


def _home_pager(page: int, pages: int, first: int, count: int, total: int) -> list[dict[str, Any]]:
    """The "Showing 21-40 of 500" line and Previous / Next buttons (their value: the page to show)."""
    buttons = []
    if page > 0:
        buttons.append(_button("Previous", ACTION_HOME_PAGE_BACK, value=str(page - 1)))
    if page < pages - 1:
        buttons.append(_button("Next", ACTION_HOME_PAGE, value=str(page + 1)))
    return [{"type": "context", "elements": [_mrkdwn(f"Showing {first + 1}–{first + count} of {total}")]},  # noqa: RUF001
            {"type": "actions", "block_id": HOME_PAGER_BLOCK, "elements": buttons}]


def nothing_selected_text() -> str:
    return "Tick at least one document on the Home tab, then click *Approve selected*."


def bulk_outcome_text(state: str) -> str:
    """Why a document of a bulk approval is not approved (yet), from its message's state."""
    return {
        "working": "still being sent to Precoro",
        "queued": "Precoro is busy; queued and retried automatically",
        "gone": "no longer waiting for you",
        "rejected": "already rejected",
        "failed": "Precoro did not accept it",
    }.get(state, "not approved")


# --- reminders, snooze and the morning digest ---------------------------------------------------
ACTION_SNOOZE = "precoro_snooze"
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


def _queue_line(doc: Document, link: str, detail: str) -> str:
    title = _link(link, safe(_title(doc), NAME_MAX))
    amount = format_amount(doc.total, doc.currency)
    head = f"*{title}*" + (f" · *{escape(amount)}*" if amount != DASH else "")
    who = safe(_who(doc), NAME_MAX) or "Unknown requester"
    return f"{head}\n{who} · {detail}"


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
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(head)}]
    for item in items[:REMINDER_SHOWN]:
        _check_ref(item.ref)
        waited = f"waited {format_age(item.waited_working_hours * 3600).replace('just now', 'under a minute')}" \
                 " of working time"
        blocks.append({"type": "section", "text": _mrkdwn(clip(_queue_line(item.doc, item.link, waited),
                                                                 SECTION_TEXT_MAX))})
        buttons = [_button(f"Remind me in {_hours(h)}", ACTION_SNOOZE, value=snooze_value(item.ref, h))
                   for h in list(snooze_hours)[:3]]
        open_button = _open_button(item.link)
        if open_button:
            buttons.append(open_button)
        blocks.append({"type": "actions", "block_id": f"remind_{item.ref}", "elements": buttons})
    if count > REMINDER_SHOWN:
        blocks.append({"type": "context", "elements": [_mrkdwn(f"and {count - REMINDER_SHOWN} more on the Home tab")]})
    blocks.append({"type": "context", "elements": [_mrkdwn(
        "Approve or reject from each document's message above, or from the bot's *Home* tab.")]})
    fallback = f"{count} document{'s are' if count > 1 else ' is'} still waiting for your approval"
    return {"text": fallback, "blocks": blocks}


def digest_message(items: Sequence[HomeItem], *, now: datetime, tz: str) -> dict[str, Any]:
    """The morning digest: everything waiting for the approver, oldest first."""
    ordered = sorted(items, key=lambda i: (i.since, i.ref))
    count = len(ordered)
    head = f":sunrise: Good morning. {count} document{'s are' if count != 1 else ' is'} waiting for your approval."
    lines = [_queue_line(i.doc, i.link, f"waiting {format_age(max(0.0, (now - i.since).total_seconds()))}")
             for i in ordered[:DIGEST_SHOWN]]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(head)}]
    text = ""
    for line in lines:  # several documents per section, each section within Slack's limit
        if len(text) + len(line) + 2 > SECTION_TEXT_MAX:
            blocks.append({"type": "section", "text": _mrkdwn(text)})
            text = ""
        text = f"{text}\n\n{line}" if text else line
    if text:
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    more = f"and {count - DIGEST_SHOWN} more. " if count > DIGEST_SHOWN else ""
    blocks.append({"type": "context", "elements": [_mrkdwn(
        f"{more}Decide them from their messages or the bot's *Home* tab · {format_time(now, tz)}")]})
    return {"text": f"Good morning: {count} document{'s' if count != 1 else ''} waiting for your approval",
            "blocks": blocks}


def snoozed_text(doc: Document, at: datetime, tz: str) -> str:
    return f"Snoozed. I'll remind you about {safe(_title(doc), NAME_MAX)} on {format_time(at, tz)}."


def snooze_refused_text() -> str:
    return "That snooze is not offered any more; nothing changed."
