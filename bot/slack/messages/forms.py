"""The modals: approve with a comment, the rejection reason, an approver's registration, and
the notice view that tells how a form went. Pure.

Each form's `private_metadata` carries what its submission needs (the decision buttons' `ref`, or
the registration's target user and company); the ids its listener reads are in `ids.py`.
"""

from __future__ import annotations

import json
from typing import Any

from bot.precoro import api
from bot.precoro.models import Document
from bot.slack.messages.document import doc_requester, doc_title
from bot.slack.messages.ids import (
    APPROVE_CALLBACK,
    COMMENT_ACTION,
    COMMENT_BLOCK,
    EMAIL_ACTION,
    EMAIL_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REGISTER_CALLBACK,
    REJECT_CALLBACK,
    TOKEN_ACTION,
    TOKEN_BLOCK,
)
from bot.slack.messages.text import (
    APPROVE_COMMENT_MAX,
    DASH,
    EMAIL_MAX,
    MODAL_TITLE_MAX,
    NAME_MAX,
    PRIVATE_METADATA_MAX,
    SECTION_TEXT_MAX,
    TOKEN_MAX,
    check_ref,
    clean,
    clip,
    escape,
    format_amount,
    mention,
    mrkdwn,
    plain,
    safe,
)


def _modal(callback_id: str, title: str, submit: str, metadata: str, blocks: list[dict[str, Any]]
           ) -> dict[str, Any]:
    if len(metadata) > PRIVATE_METADATA_MAX:
        raise ValueError(f"private_metadata too long: {len(metadata)} > {PRIVATE_METADATA_MAX}")
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": metadata,
        "title": plain(title, MODAL_TITLE_MAX),
        "submit": plain(submit, MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }


def approve_modal(ref: str, doc: Document) -> dict[str, Any]:
    """The form of "Approve with comment": an optional comment; `ref` comes back as private_metadata."""
    check_ref(ref)
    question = f"Approve {safe(doc_title(doc), NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        question += f" for {escape(amount)}"
    return _modal(APPROVE_CALLBACK, "Approve document", "Approve", ref, [
        {"type": "section", "text": mrkdwn(f"{question}?")},
        {
            "type": "input",
            "block_id": COMMENT_BLOCK,
            "optional": True,
            "label": plain("Comment", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": COMMENT_ACTION,
                "multiline": True,
                "max_length": APPROVE_COMMENT_MAX,
                "placeholder": plain("Optional: a word for the record", 150),
            },
            "hint": plain("Shown on this message and kept in the bot's audit records. Precoro's API takes no "
                           "comment with an approval, so it does not appear in Precoro.", 2000),
        },
    ])


def reject_modal(ref: str, doc: Document) -> dict[str, Any]:
    """The reason form opened by the Reject button; `ref` comes back as private_metadata."""
    check_ref(ref)
    question = f"Reject {safe(doc_title(doc), NAME_MAX)}"
    party = clean(doc.supplier) or doc_requester(doc)
    if party:
        question += f" from {safe(party, NAME_MAX)}"
    amount = format_amount(doc.total, doc.currency)
    if amount != DASH:
        question += f" for {escape(amount)}"
    sentence = f"{question}? Precoro notifies the requester; a rejection cannot be undone."
    return _modal(REJECT_CALLBACK, "Reject document", "Reject", ref, [
        {"type": "section", "text": mrkdwn(sentence)},
        {
            "type": "input",
            "block_id": REASON_BLOCK,
            "label": plain("Reason", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": REASON_ACTION,
                "multiline": True,
                "min_length": 1,
                "max_length": api.REJECT_COMMENT_MAX,
                "placeholder": plain("What should the requester change or know?", 150),
            },
            "hint": plain(f"Shown to the requester in Precoro. Up to {api.REJECT_COMMENT_MAX} characters.",
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
        "placeholder": plain("name@company.com", 150),
    }
    if clean(email):
        email_element["initial_value"] = clip(clean(email), EMAIL_MAX)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": mrkdwn(intro)}]
    if clean(company):
        blocks.append({"type": "context",
                       "elements": [mrkdwn(f"Precoro company: *{safe(company, NAME_MAX)}*")]})
    blocks += [
        {
            "type": "input",
            "block_id": EMAIL_BLOCK,
            "label": plain("Precoro email", 2000),
            "element": email_element,
            "hint": plain("The email of their Precoro account; Precoro checks it with the token.", 2000),
        },
        {
            "type": "input",
            "block_id": TOKEN_BLOCK,
            "label": plain("API token", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": TOKEN_ACTION,
                "min_length": 1,
                "max_length": TOKEN_MAX,
                "placeholder": plain("Paste the API token", 150),
            },
            "hint": plain("Slack has no masked input, so the token is visible while you type. "
                           "Paste it only here, never in a channel.", 2000),
        },
    ]
    return _modal(REGISTER_CALLBACK, "Register approver", "Register", metadata, blocks)


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only tells something (progress or result of a form)."""
    return {
        "type": "modal",
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain("Close", MODAL_TITLE_MAX),
        "blocks": [{"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT_MAX) or DASH)}],  # never empty
    }
