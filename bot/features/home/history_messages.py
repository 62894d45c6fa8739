"""The Home's "Decided by me": the approver's decisions of the last 30 days, filtered by type,
supplier and document number, HISTORY_PAGE_SIZE a page, each linking to Precoro. Pure.

It costs at most 10 blocks (entries share sections: one, or a few for long names), so the queue
above keeps its room within Slack's 100 blocks; the selects offer at most HISTORY_OPTIONS_MAX
options each (Slack's limit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.precoro.models import Document
from bot.slack.messages.document import doc_title
from bot.slack.messages.ids import (
    ACTION_HISTORY_CLEAR,
    ACTION_HISTORY_NUMBER,
    ACTION_HISTORY_PAGE,
    ACTION_HISTORY_PAGE_BACK,
    ACTION_HISTORY_SUPPLIER,
    ACTION_HISTORY_TYPE,
    ALL_CHOICE,
    HISTORY_FILTER_BLOCK,
    HISTORY_NUMBER_BLOCK,
    HISTORY_PAGER_BLOCK,
)
from bot.slack.messages.text import (
    DASH,
    HEADER_TEXT_MAX,
    NAME_MAX,
    SECTION_TEXT_MAX,
    button,
    clean,
    clip,
    escape,
    format_amount,
    mrkdwn,
    mrkdwn_link,
    option,
    plain,
    safe,
    slack_time,
)

HISTORY_DAYS = 30
HISTORY_PAGE_SIZE = 10
HISTORY_OPTIONS_MAX = 99  # Slack: 100 options a select, one of them "All"
OPTION_VALUE_MAX = 75  # an option value (Slack allows 150; every click carries the whole Home back)
NUMBER_MAX = 64


@dataclass(frozen=True)
class HistoryEntry:
    doc: Document
    action: str  # approve | reject
    at: datetime
    link: str
    comment: str = ""


@dataclass(frozen=True)
class HistoryFilter:
    """What the approver filters by ("" for any) and the page they turned to."""

    doc_type: str = ""
    supplier: str = ""
    number: str = ""
    page: int = 0

    @property
    def active(self) -> bool:
        return bool(self.doc_type or self.supplier or self.number)


def supplier_value(supplier: str) -> str:
    """A supplier as an option value (Slack caps values at 150 characters)."""
    return clean(supplier)[:OPTION_VALUE_MAX]


def matches(entry: HistoryEntry, wanted: HistoryFilter) -> bool:
    doc = entry.doc
    return ((not wanted.doc_type or doc.doc_type == wanted.doc_type)
            and (not wanted.supplier or supplier_value(doc.supplier) == wanted.supplier)
            and (not wanted.number or wanted.number.strip().casefold() in clean(doc.idn).casefold()))


def _type_name(doc: Document) -> str:
    return clean(doc.type_name) or doc.doc_type


def _entry_line(entry: HistoryEntry) -> str:
    doc = entry.doc
    mark = ":white_check_mark: Approved" if entry.action == "approve" else ":x: Rejected"
    title = mrkdwn_link(entry.link, safe(doc_title(doc), NAME_MAX))
    amount = format_amount(doc.total, doc.currency)
    parts = [f"{mark} *{title}*"]
    if amount != DASH:
        parts.append(escape(amount))
    if clean(doc.supplier):
        parts.append(safe(doc.supplier, NAME_MAX))
    parts.append(slack_time(entry.at))
    line = " · ".join(parts)
    if clean(entry.comment):
        line += f"\n> {safe(entry.comment, 150)}"
    return line


def history_blocks(entries: Sequence[HistoryEntry], wanted: HistoryFilter) -> list[dict[str, Any]]:
    """The "Decided by me" part of the Home: filters, one page of entries, Previous / Next."""
    types = sorted({(e.doc.doc_type, _type_name(e.doc)) for e in entries}, key=lambda t: t[1])
    suppliers = sorted({supplier_value(e.doc.supplier) for e in entries if clean(e.doc.supplier)})
    type_options = [option("All types", ALL_CHOICE)] + [option(clip(name, 75), value[:OPTION_VALUE_MAX])
                                                         for value, name in types[:HISTORY_OPTIONS_MAX]]
    supplier_options = [option("All suppliers", ALL_CHOICE)] + [option(clip(s, 75), s)
                                                                for s in suppliers[:HISTORY_OPTIONS_MAX]]
    type_select: dict[str, Any] = {"type": "static_select", "action_id": ACTION_HISTORY_TYPE,
                                   "placeholder": plain("Type", 150), "options": type_options,
                                   "initial_option": next((o for o in type_options if o["value"] == wanted.doc_type),
                                                          type_options[0])}
    supplier_select: dict[str, Any] = {
        "type": "static_select", "action_id": ACTION_HISTORY_SUPPLIER, "placeholder": plain("Supplier", 150),
        "options": supplier_options,
        "initial_option": next((o for o in supplier_options if o["value"] == wanted.supplier), supplier_options[0])}
    number_input: dict[str, Any] = {"type": "plain_text_input", "action_id": ACTION_HISTORY_NUMBER,
                                    "max_length": NUMBER_MAX, "placeholder": plain("PO-1001, then Enter", 150),
                                    "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]}}
    if wanted.number:
        number_input["initial_value"] = wanted.number[:NUMBER_MAX]
    shown = [e for e in entries if matches(e, wanted)]
    pages = max(1, -(-len(shown) // HISTORY_PAGE_SIZE))
    page = min(max(wanted.page, 0), pages - 1)
    first = page * HISTORY_PAGE_SIZE
    on_page = shown[first:first + HISTORY_PAGE_SIZE]
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        {"type": "header", "text": plain(f"Decided by me (last {HISTORY_DAYS} days)", HEADER_TEXT_MAX)},
        {"type": "actions", "block_id": HISTORY_FILTER_BLOCK, "elements": [type_select, supplier_select] + (
            [button("Clear filters", ACTION_HISTORY_CLEAR, value="clear")] if wanted.active else [])},
        {"type": "input", "block_id": HISTORY_NUMBER_BLOCK, "dispatch_action": True, "optional": True,
         "label": plain("Document number", 2000), "element": number_input},
    ]
    if not on_page:
        empty = ("Nothing you decided matches these filters." if wanted.active and entries
                 else f"You decided nothing from Slack in the last {HISTORY_DAYS} days.")
        blocks.append({"type": "section", "text": mrkdwn(empty)})
        return blocks
    text = ""
    for entry in on_page:  # several entries a section, as many sections as their length needs
        line = clip(_entry_line(entry), SECTION_TEXT_MAX)  # each part is bounded: clip never cuts here
        if text and len(text) + len(line) + 1 > SECTION_TEXT_MAX:
            blocks.append({"type": "section", "text": mrkdwn(text)})
            text = ""
        text = f"{text}\n{line}" if text else line
    blocks.append({"type": "section", "text": mrkdwn(text)})
    filtered = f" (of {len(entries)}, filtered)" if wanted.active else ""
    blocks.append({"type": "context", "elements": [mrkdwn(
        f"Showing {first + 1}–{first + len(on_page)} of {len(shown)}{filtered}")]})  # noqa: RUF001
    if pages > 1:
        pager = []
        if page > 0:
            pager.append(button("Previous", ACTION_HISTORY_PAGE_BACK, value=str(page - 1)))
        if page < pages - 1:
            pager.append(button("Next", ACTION_HISTORY_PAGE, value=str(page + 1)))
        blocks.append({"type": "actions", "block_id": HISTORY_PAGER_BLOCK, "elements": pager})
    return blocks
