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
    """`1,200.00 USD`; `—` when there is no (finite) amount."""
    if total is None:
        return DASH
    try:
        value = total if isinstance(total, Decimal) else Decimal(str(total))
    except (InvalidOperation, ValueError):
        return DASH
    if not value.is_finite():
        return DASH
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
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return text
    return format_amount(value, currency) if value.is_finite() else text


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


def _items_block(doc: Document) -> dict[str, Any] | None:
    if not doc.items:
        return None
    lines = [_item_line(item, doc.currency) for item in doc.items[:ITEMS_SHOWN]]
    more = len(doc.items) - ITEMS_SHOWN
    if more > 0:
        lines.append(f"and {more} more in Precoro")
    return {"type": "section", "text": _mrkdwn("*Items*\n" + "\n".join(lines))}


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
    items = _items_block(doc)
    if items:
        blocks.append(items)
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
        buttons.append(_button("Reject", ACTION_REJECT, value=ref, style="danger"))
    open_button = _open_button(link)
    if open_button:
        buttons.append(open_button)
    if buttons:
        blocks.append({"type": "actions", "block_id": DECISION_BLOCK, "elements": buttons})
    return {"text": _fallback(doc, state, verb), "blocks": blocks}


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
            "• `/precoro register @user email token`: register in one line",
            "• `/precoro remove @user`: remove an approver and delete their token",
            f"• `/precoro audit [N]`: the last N decisions and token changes (default {AUDIT_DEFAULT}, "
            f"at most {AUDIT_MAX})",
            "• `/precoro discovery @user`: find new documents for every approver with this registered "
            "approver's token (it must see the whole company); `/precoro discovery off` stops it",
        ]
    return "\n".join(lines)


def not_admin_text() -> str:
    return "Only Precoro bot admins can do that. See `/precoro help` for what you can do."


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


def precoro_unavailable_text() -> str:
    return "Precoro is not answering right now; nothing was changed. Try again in a few minutes."


def reason_required_text() -> str:
    """Modal validation error for a blank rejection reason."""
    return "Write a reason; Precoro shows it to the requester."


def invalid_email_text() -> str:
    """Modal validation error for an email that does not look like one."""
    return "Enter the email address of their Precoro account."


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
