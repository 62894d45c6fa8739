"""The document message: one document waiting for an approver, in each state of its decision. Pure.

`document_message` renders the DM an approver decides from (header, fields, custom fields, the
requester's note, items, attachments, approval chain, then the state line and the buttons);
`change_note` is the thread reply telling them what changed in a document still waiting.
`doc_title`, `doc_requester`, `approve_confirm` and `open_in_precoro_button` are shared with the
Home, the forms and the reminders, so a document reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.precoro import api
from bot.precoro.models import ApprovalStep, Document, LineItem
from bot.slack.messages.ids import ACTION_APPROVE, ACTION_APPROVE_COMMENT, ACTION_OPEN, ACTION_REJECT, DECISION_BLOCK
from bot.slack.messages.text import (
    AMOUNT_MAX_DIGITS,
    AMOUNT_UNREADABLE,
    CONFIRM_TEXT_MAX,
    CONFIRM_TITLE_MAX,
    DASH,
    FALLBACK_TEXT_MAX,
    HEADER_TEXT_MAX,
    ITEM_MAX,
    NAME_MAX,
    SECTION_TEXT_MAX,
    URL_MAX,
    at_time,
    button,
    check_ref,
    clean,
    clip,
    escape,
    field,
    format_amount,
    format_date,
    mention,
    mrkdwn,
    mrkdwn_link,
    plain,
    safe,
)


class MessageState(StrEnum):
    """Where an approver's decision on a posted document stands (stored with the message)."""

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

# How much of a document the message shows; the rest is one click away in Precoro.
ITEMS_SHOWN = 3
REASON_SHOWN_MAX = 1500
# Custom fields shown first when present (by name, case-insensitive); others follow, up to the cap.
CUSTOM_FIELDS_FIRST = ("department", "project", "budget", "cost center", "cost centre")
CUSTOM_FIELDS_SHOWN = 4
ATTACHMENTS_SHOWN = 5
CHAIN_SHOWN = 6
NOTE_SHOWN_MAX = 500
PEOPLE_SHOWN = 3


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
    confirm_above: str = "",
) -> dict[str, Any]:
    """`{"text": fallback, "blocks": [...]}` for one document in one state.

    `ref` (opaque, ≤ 2000 characters) is the value of the decision buttons; `actor` is the Slack
    user id who decided, `at` when (shown as a Slack date token, in each reader's zone); `tz` is
    the approver's zone for the document's creation date; `action` ("approve"/"reject") is what
    WORKING, QUEUED and FAILED talk about; `retry_allowed` brings the buttons back in FAILED;
    `confirm_above` (`10,000 EUR`) says the document is above its amount rule: Approve then opens
    the typed confirmation instead of Slack's dialog, and the message says so.
    """
    check_ref(ref)
    state = MessageState(state)
    verb = _verb(action)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(doc_title(doc), HEADER_TEXT_MAX)},
        {"type": "section", "fields": _fields(doc, tz)},
    ]
    custom = _custom_fields(doc)
    if custom:
        blocks.append({"type": "section", "fields": custom})
    decided = (state, actor) if state in (MessageState.APPROVED, MessageState.REJECTED) else None
    for extra in (_note_block(doc), _items_block(doc, link), _attachments_block(doc, link),
                  _chain_block(doc, decided)):
        if extra:
            blocks.append(extra)
    step = _step(doc)
    step_text = f"Approval step: *{safe(step.name, NAME_MAX)}*" if step and clean(step.name) else ""
    if state is MessageState.WAITING:
        line = "Waiting for your approval" + (f" · {step_text}" if step_text else "")
        blocks.append({"type": "context", "elements": [mrkdwn(line)]})
    else:
        # Once decided or gone, the step is history; while in flight it still says where it stands.
        if step_text and state in (MessageState.WORKING, MessageState.QUEUED, MessageState.FAILED):
            blocks.append({"type": "context", "elements": [mrkdwn(step_text)]})
        line = _state_line(doc, state, actor=actor, at=at, reason=reason, verb=verb,
                           retry_allowed=retry_allowed)
        blocks.append({"type": "section", "text": mrkdwn(clip(line, SECTION_TEXT_MAX))})

    buttons: list[dict[str, Any]] = []
    if state is MessageState.WAITING or (state is MessageState.FAILED and retry_allowed):
        if confirm_above:
            blocks.append({"type": "context", "elements": [mrkdwn(amount_rule_text(confirm_above))]})
        buttons.append(button("Approve", ACTION_APPROVE, value=ref, style="primary",
                              **({} if confirm_above else {"confirm": approve_confirm(doc)})))
        buttons.append(button("Approve with comment", ACTION_APPROVE_COMMENT, value=ref))
        buttons.append(button("Reject", ACTION_REJECT, value=ref, style="danger"))
    open_button = open_in_precoro_button(link)
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
        who = safe(clean(comment.author.name) or clean(comment.author.email), NAME_MAX) or "Someone"
        lines.append(f":speech_balloon: New comment from {who}: {safe(comment.text, NOTE_SHOWN_MAX)}")
    if clean(new.note) and clean(new.note) != clean(old.note):
        lines.append(f":memo: The requester's note now reads: {safe(new.note, NOTE_SHOWN_MAX)}")
    known = {(a.name, a.url) for a in old.attachments}
    added = [a for a in new.attachments if (a.name, a.url) not in known]
    if added:
        names = ", ".join(mrkdwn_link(a.url, safe(a.name, ITEM_MAX) or "attachment") for a in added[:ATTACHMENTS_SHOWN])
        lines.append(f":paperclip: New attachment{'s' if len(added) > 1 else ''}: {names}")
    if not lines:
        return ""
    return clip(f"*{safe(doc_title(new), NAME_MAX)} changed in Precoro*\n" + "\n".join(lines), SECTION_TEXT_MAX)


# --- the parts of the message ---------------------------------------------------------------------
def doc_title(doc: Document) -> str:
    """`Purchase Order PO-12`: the document's type and number, as a header shows it (not escaped)."""
    return clip(f"{clean(doc.type_name) or 'Document'} {clean(doc.idn)}".strip(), HEADER_TEXT_MAX)


def doc_requester(doc: Document) -> str:
    """Who asked for the document: its creator's name, else their email (not escaped)."""
    return clean(doc.creator.name) or clean(doc.creator.email)


@dataclass(frozen=True)
class HomeItem:
    """One document of the approver's queue, as stored by the poller (no Precoro request): the
    Home lists them, the digests and away mode's FYI and return digests too."""

    doc: Document
    ref: str
    link: str
    state: MessageState
    since: datetime  # when it entered the approver's queue
    confirm_above: str = ""  # `10,000 EUR`: above its amount rule (Approve asks to type the amount)


def queue_line(doc: Document, link: str, detail: str) -> str:
    """One document in a list (reminders, digests, away mode's): its linked title, amount, requester."""
    title = mrkdwn_link(link, safe(doc_title(doc), NAME_MAX))
    amount = format_amount(doc.total, doc.currency)
    head = f"*{title}*" + (f" · *{escape(amount)}*" if amount != DASH else "")
    who = safe(doc_requester(doc), NAME_MAX) or "Unknown requester"
    return f"{head}\n{who} · {detail}"


def approve_confirm(doc: Document) -> dict[str, Any]:
    """The confirmation dialog of an Approve button: the document and its amount."""
    amount = format_amount(doc.total, doc.currency)
    idn = clip(clean(doc.idn), 60)
    question = f"Approve {idn} for {amount}?" if amount != DASH else f"Approve {idn}?"
    return {
        "title": plain("Approve document?", CONFIRM_TITLE_MAX),
        "text": plain(question, CONFIRM_TEXT_MAX),
        "confirm": plain("Approve", 30),
        "deny": plain("Cancel", 30),
        "style": "primary",
    }


def amount_rule_text(limit: str) -> str:
    """The line on a document above its amount rule, so the typed confirmation surprises nobody."""
    return f":lock: Approving asks you to confirm: above {escape(clip(limit, 40))}"


def open_in_precoro_button(link: str) -> dict[str, Any] | None:
    """The "Open in Precoro" link button, or None when there is no usable link."""
    url = (link or "").strip()
    if not url or len(url) > URL_MAX:
        return None
    return button("Open in Precoro", ACTION_OPEN, url=url)


def _step(doc: Document) -> ApprovalStep | None:
    if doc.current_step is not None:
        return doc.current_step
    return next((s for s in doc.approval_steps if not s.done), None)


def _verb(action: str) -> str:
    """`approve` or `reject`; anything unexpected reads as `approve`."""
    return "reject" if str(action).strip().lower() in ("reject", "rejected", "rejection") else "approve"


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


def _fields(doc: Document, tz: str) -> list[dict[str, Any]]:
    fields = [
        field("Requester", safe(doc_requester(doc), NAME_MAX) or DASH),
        field("Supplier", safe(doc.supplier, NAME_MAX) or DASH),
        field("Total", escape(format_amount(doc.total, doc.currency))),
        field("Created", format_date(doc.created_at, tz)),
    ]
    if clean(doc.location):
        fields.append(field("Location", safe(doc.location, NAME_MAX)))
    return fields


def _item_line(item: LineItem, currency: str) -> str:
    name = safe(item.name, ITEM_MAX) or "(unnamed item)"
    quantity = safe(item.quantity, 20)
    price = safe(_price(clean(item.price), currency), 40) if clean(item.price) else ""
    detail = f"{quantity} × {price}" if quantity and price else quantity or price  # noqa: RUF001
    return f"• {name} — {detail}" if detail else f"• {name}"


def _items_block(doc: Document, link: str = "") -> dict[str, Any] | None:
    if not doc.items:
        return None
    lines = [_item_line(item, doc.currency) for item in doc.items[:ITEMS_SHOWN]]
    more = len(doc.items) - ITEMS_SHOWN
    if more > 0:
        lines.append(mrkdwn_link(link, f"and {more} more in Precoro"))
    return {"type": "section", "text": mrkdwn(clip("*Items*\n" + "\n".join(lines), SECTION_TEXT_MAX))}


def _custom_fields(doc: Document) -> list[dict[str, Any]]:
    def rank(name: str) -> int:
        lowered = name.lower()
        return next((i for i, word in enumerate(CUSTOM_FIELDS_FIRST) if word in lowered), len(CUSTOM_FIELDS_FIRST))

    chosen = sorted(doc.custom_fields, key=lambda f: rank(f.name))[:CUSTOM_FIELDS_SHOWN]
    return [field(safe(f.name, 60) or "Field", safe(f.value, 300) or DASH) for f in chosen]


def _attachments_block(doc: Document, link: str) -> dict[str, Any] | None:
    if not doc.attachments:
        return None
    lines = [f"• {mrkdwn_link(a.url, safe(a.name, ITEM_MAX) or 'attachment')}"
             for a in doc.attachments[:ATTACHMENTS_SHOWN]]
    more = len(doc.attachments) - ATTACHMENTS_SHOWN
    if more > 0:
        lines.append(mrkdwn_link(link, f"and {more} more in Precoro"))
    head = f"*Attachments ({len(doc.attachments)})*"
    return {"type": "section", "text": mrkdwn(clip("\n".join([head, *lines]), SECTION_TEXT_MAX))}


def _names(people: Sequence[Any]) -> str:
    names = [safe(clean(p.name) or clean(p.email), NAME_MAX) for p in people]
    names = [n for n in names if n]
    if len(names) > PEOPLE_SHOWN:
        return ", ".join(names[:PEOPLE_SHOWN]) + f" +{len(names) - PEOPLE_SHOWN}"
    return ", ".join(names) or DASH


def _chain_block(doc: Document, decided: tuple[MessageState, str | None] | None = None) -> dict[str, Any] | None:
    """Who approved before, who holds it now, who comes next.

    `doc` is the copy the bot stored when it posted the message, taken before this approver
    decided. With `decided` (APPROVED or REJECTED, and the Slack user who decided) the chain is
    redrawn as it stands after the decision: the step that waited for them is done by them, and
    after an approval the step after it holds the document now (a step is done once one of its
    approvers approved); after a rejection no later step comes (Precoro's rejection is final).
    """
    if len(doc.approval_steps) < 2:
        return None
    current = _step(doc)
    state, actor = decided if decided is not None else (None, None)
    by = f" by {mention(actor)}" if actor else ""
    promote = stopped = False  # the step after an approved one holds it now; none after a rejection
    lines = []
    for step in doc.approval_steps[:CHAIN_SHOWN]:
        name = safe(step.name, NAME_MAX) or "Step"
        if step.done:
            lines.append(f":white_check_mark: {name} · approved by {_names(step.approved_by or step.approvers)}")
        elif current is not None and step.name == current.name and not current.done:
            current = None  # steps after it are "next"
            if state is MessageState.APPROVED:
                lines.append(f":white_check_mark: {name} · approved{by}")
                promote = True
            elif state is MessageState.REJECTED:
                lines.append(f":x: {name} · rejected{by}")
                stopped = True
            else:
                lines.append(f":arrow_forward: {name} · *now*: {_names(step.approvers)}")
        elif promote:
            lines.append(f":arrow_forward: {name} · *now*: {_names(step.approvers)}")
            promote = False
        elif stopped:
            lines.append(f":white_small_square: {name} · not reached: {_names(step.approvers)}")
        else:
            lines.append(f":white_small_square: {name} · next: {_names(step.approvers)}")
    if len(doc.approval_steps) > CHAIN_SHOWN:
        lines.append(f"and {len(doc.approval_steps) - CHAIN_SHOWN} more steps")
    return {"type": "section", "text": mrkdwn(clip("*Approval chain*\n" + "\n".join(lines), SECTION_TEXT_MAX))}


def _note_block(doc: Document) -> dict[str, Any] | None:
    note = safe(doc.requester_comment, NOTE_SHOWN_MAX, one_line=False)
    if not note:
        return None
    who = safe(doc_requester(doc), NAME_MAX) or "The requester"
    return {"type": "section", "text": mrkdwn(clip(f":speech_balloon: *{who} wrote*\n{note}", SECTION_TEXT_MAX))}


def _gone_why(doc: Document, reason: str) -> str:
    if clean(reason):
        return clean(reason)
    if doc.status is not None and doc.status in _GONE_WHY:
        return _GONE_WHY[doc.status]
    return "it left your approval queue in Precoro"


def _state_line(
    doc: Document, state: MessageState, *, actor: str | None, at: datetime | None,
    reason: str, verb: str, retry_allowed: bool,
) -> str:
    noun = "approval" if verb == "approve" else "rejection"
    why = safe(reason, REASON_SHOWN_MAX, one_line=False)
    if state is MessageState.WORKING:
        text = f"Sending your {noun} to Precoro…"
    elif state is MessageState.QUEUED:
        text = f"Precoro is busy; your {noun} is queued and will be retried automatically."
    elif state is MessageState.APPROVED:
        text = f"Approved by {mention(actor)}{at_time(at)}" if actor else f"Approved{at_time(at)}"
        if why:
            text += f": {why}"
    elif state is MessageState.REJECTED:
        text = f"Rejected by {mention(actor)}{at_time(at)}" if actor else f"Rejected{at_time(at)}"
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
    """The notification text: mrkdwn too, so its outside parts go through `safe`."""
    head = safe(doc_title(doc), HEADER_TEXT_MAX)
    who = doc_requester(doc) or clean(doc.supplier)
    if who:
        head += f" from {safe(who, NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        head += f": {escape(amount)}"
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
    return clip(f"{head}, {tail}", FALLBACK_TEXT_MAX)
