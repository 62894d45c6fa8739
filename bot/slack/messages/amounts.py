"""Amount rules as the approver reads them: the rule line on a message, the typed-confirmation
modal, its error, and what a bulk approval says of the documents it left out. Pure.

The rule itself (which documents, what counts as a match) is `bot/amounts.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bot.precoro.models import Document
from bot.slack.messages.document import doc_title
from bot.slack.messages.ids import (
    AMOUNT_CONFIRM_ACTION,
    AMOUNT_CONFIRM_BLOCK,
    AMOUNT_CONFIRM_CALLBACK,
    COMMENT_ACTION,
    COMMENT_BLOCK,
)
from bot.slack.messages.text import (
    APPROVE_COMMENT_MAX,
    DASH,
    MODAL_TITLE_MAX,
    NAME_MAX,
    PRIVATE_METADATA_MAX,
    check_ref,
    clean,
    clip,
    escape,
    format_amount,
    mrkdwn,
    plain,
    safe,
)


def limit_text(limit: Decimal, currency: str) -> str:
    """`10,000 EUR` (`10,000.50 EUR` when the limit has cents)."""
    shown = f"{limit:,.0f}" if limit == limit.to_integral_value() else f"{limit:,.2f}"
    return f"{shown} {clip(clean(currency).upper(), 10)}"


def amount_confirm_modal(ref: str, doc: Document, limit: str) -> dict[str, Any]:
    """Type the amount or the document number to approve (with an optional comment); `ref` comes
    back as private_metadata. Nothing is sent until what is typed matches."""
    check_ref(ref)
    if len(ref) > PRIVATE_METADATA_MAX:
        raise ValueError("ref too long for private_metadata")
    amount = format_amount(doc.total, doc.currency)
    idn = safe(doc.idn, 60)
    return {
        "type": "modal",
        "callback_id": AMOUNT_CONFIRM_CALLBACK,
        "private_metadata": ref,
        "title": plain("Confirm approval", MODAL_TITLE_MAX),
        "submit": plain("Approve", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": [
            {"type": "section", "text": mrkdwn(
                f"Approve *{safe(doc_title(doc), NAME_MAX)}* for *{escape(amount)}*?\n"
                f"Documents above {escape(limit)} need a typed confirmation.")},
            {"type": "input", "block_id": AMOUNT_CONFIRM_BLOCK,
             "label": plain("Type the amount or the document number", 2000),
             "element": {"type": "plain_text_input", "action_id": AMOUNT_CONFIRM_ACTION, "max_length": 100,
                         "placeholder": plain(f"{amount if amount != DASH else ''} or {doc.idn}".strip()[:150], 150)},
             "hint": plain(f"For example {amount} or {idn}."[:2000], 2000)},
            {"type": "input", "block_id": COMMENT_BLOCK, "optional": True, "label": plain("Comment", 2000),
             "element": {"type": "plain_text_input", "action_id": COMMENT_ACTION, "multiline": True,
                         "max_length": APPROVE_COMMENT_MAX,
                         "placeholder": plain("Optional: a word for the record (not sent to Precoro)", 150)}},
        ],
    }


def wrong_confirmation_text(doc: Document) -> str:
    """The modal's error: plain text (Slack shows input errors as plain text)."""
    amount = format_amount(doc.total, doc.currency)
    return clip(f"That is neither the amount ({amount}) nor the number ({clean(doc.idn)}). Nothing was sent.", 150)


def confirmation_needed_text(limit: str) -> str:
    """A form that skipped the typed confirmation (an old "Approve with comment" form)."""
    return clip(f"Documents above {limit} need a typed confirmation: click Approve again.", 150)


def bulk_left_out_text(limit: str) -> str:
    return f"left out: above {limit}, approve it on its own (it asks you to type the amount)"


def bulk_total_text(totals: Sequence[tuple[str, Decimal]]) -> str:
    """`total approved 3,450.00 USD + 900.00 EUR` (per currency, never added across them)."""
    parts = [format_amount(total, currency) for currency, total in totals]
    return "total approved " + " + ".join(parts) if parts else ""


def bulk_rule_note(limits: Sequence[str]) -> str:
    """Under "Approve selected" when the queue holds documents above a limit."""
    shown = ", ".join(escape(limit) for limit in limits[:5])
    return f":lock: *Approve selected* leaves out documents above {shown}: approve those one by one."
