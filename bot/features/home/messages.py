"""The App Home: an approver's queue, paged, with the buttons of its DM messages; the result of
a bulk approval; their reminder and digest choices; and, for admins, the approvers and the quota
use of the companies they administer. Pure: the `HomeService` gathers what it shows.

A view holds at most VIEW_BLOCKS_MAX blocks, and Slack sends the whole view back with every click
on it, so the Home shows HOME_PAGE_SIZE documents a page, each clipped to HOME_DOC_TEXT_MAX.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.precoro.models import Document
from bot.slack.messages.amounts import bulk_rule_note, bulk_total_text
from bot.slack.messages.approver import token_revoked_text
from bot.slack.messages.document import (
    HomeItem,
    MessageState,
    amount_rule_text,
    approve_confirm,
    doc_requester,
    doc_title,
    open_in_precoro_button,
)
from bot.slack.messages.ids import (
    ACTION_APPROVE,
    ACTION_BULK_APPROVE,
    ACTION_DIGEST_CHOICE,
    ACTION_HOME_PAGE,
    ACTION_HOME_PAGE_BACK,
    ACTION_REJECT,
    ACTION_REMINDER_CHOICE,
    ACTION_SELECT,
    BULK_BLOCK,
    DEFAULT_CHOICE,
    HOME_ACTIONS_BLOCK,
    HOME_DOC_BLOCK,
    HOME_PAGER_BLOCK,
    NEVER_CHOICE,
)
from bot.slack.messages.text import (
    CONFIRM_TEXT_MAX,
    CONFIRM_TITLE_MAX,
    DASH,
    HEADER_TEXT_MAX,
    NAME_MAX,
    SECTION_TEXT_MAX,
    URL_MAX,
    button,
    check_ref,
    clean,
    clip,
    escape,
    format_age,
    format_amount,
    format_span,
    mention,
    mrkdwn,
    option,
    plain,
    plural,
    safe,
    slack_time,
)

VIEW_BLOCKS_MAX = 100
HOME_SHOWN_MAX = 40  # documents listed on the Home at most; the rest are counted
# Documents per Home page. Slack sends the whole view back (URL-encoded JSON) with every click on
# it, and our server refuses a body over 256 KB; a page of 20 documents, each clipped to
# HOME_DOC_TEXT_MAX, stays far below that even with long titles (the Slack stand-in checks it).
HOME_PAGE_SIZE = 20
HOME_DOC_TEXT_MAX = 600


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
    amount: Decimal | None = None  # what was approved (for the total), per currency
    currency: str = ""


def home_view(items: Sequence[HomeItem], *, now: datetime, tz: str, registered: bool = True,
              revoked: bool = False, admin: AdminSummary | None = None,
              bulk: Sequence[BulkResult] = (), prefs: ReminderPrefs | None = None,
              page: int = 0, extra: Sequence[dict[str, Any]] = (), connect: Sequence[dict[str, Any]] = (),
              admin_actions: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The approver's App Home: their queue grouped by type, oldest first, with the buttons of the
    DM messages, HOME_PAGE_SIZE documents a page (`page`, clamped) with Previous / Next; a summary
    of a bulk approval; their reminder choices; `extra` (away mode, "Decided by me": rendered by
    their own modules, a few blocks each); for admins, approvers and quota use. ≤ 100 blocks,
    and small enough that the click payload Slack sends back stays under 256 KB. `connect`: blocks
    that let someone not registered connect themselves; `admin_actions`: buttons of the admin part."""
    admin_part = (_prefs_blocks(prefs) if prefs is not None and registered else []) + list(extra) + \
        (_admin_blocks(admin) + list(admin_actions) if admin is not None else [])
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"Waiting for your approval ({len(items)})", HEADER_TEXT_MAX)},
        {"type": "context", "elements": [mrkdwn(f"Oldest first · updated {slack_time(now)}")]},
    ]
    blocks += _bulk_blocks(bulk)
    if not registered and connect:
        blocks += connect
    elif not registered:
        blocks.append({"type": "section", "text": mrkdwn(not_registered_home_text(admin=admin is not None))})
    elif revoked:
        blocks.append({"type": "section", "text": mrkdwn(f":warning: {token_revoked_text()}")})
    if registered and not items:
        blocks.append({"type": "section", "text": mrkdwn(
            ":tada: Nothing is waiting for your approval. New documents appear here and in your messages.")})
    if any(i.state in (MessageState.WAITING, MessageState.FAILED) for i in items):
        blocks.append({"type": "actions", "block_id": BULK_BLOCK, "elements": [
            button("Approve selected", ACTION_BULK_APPROVE, style="primary", confirm={
                "title": plain("Approve selected?", CONFIRM_TITLE_MAX),
                "text": plain("Each selected document is approved in Precoro with your token.", CONFIRM_TEXT_MAX),
                "confirm": plain("Approve", 30), "deny": plain("Cancel", 30), "style": "primary"})]})
        blocks.append({"type": "context", "elements": [mrkdwn("Tick documents, then *Approve selected*.")]})
        limits = sorted({i.confirm_above for i in items if i.confirm_above})
        if limits:
            blocks.append({"type": "context", "elements": [mrkdwn(bulk_rule_note(limits))]})
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
        blocks.append({"type": "section", "text": mrkdwn(f"*{safe(name, NAME_MAX)} ({len(group)})*")})
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
        blocks.append({"type": "context", "elements": [mrkdwn(
            f"and {len(on_page) - shown} more: decide the ones above first, or open Precoro.")]})
    return {"type": "home", "blocks": blocks + admin_part}


def not_registered_home_text(*, admin: bool) -> str:
    """The Home of someone with no approver registration. An admin is told to register themself
    (sending them to "a bot admin" would send them to themself); anyone else, whom to ask."""
    if admin:
        return ("You are not registered as a Precoro approver yet. As an admin you can register yourself: "
                "`/precoro register @yourname` (mention yourself; a form asks for your Precoro API token).")
    return ("You are not registered as a Precoro approver yet. Ask a Precoro bot admin of your company "
            "to run `/precoro register @you`.")


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


# --- the queue ------------------------------------------------------------------------------------
_HOME_STATE_NOTE: dict[MessageState, str] = {
    MessageState.WORKING: ":hourglass_flowing_sand: Sending your decision to Precoro…",
    MessageState.QUEUED: ":clock3: Precoro is busy; your decision is queued and retried automatically.",
    MessageState.FAILED: ":warning: Your last decision did not go through; you can try again.",
}


def _home_doc_text(item: HomeItem, now: datetime) -> str:
    doc = item.doc
    name = safe(doc_title(doc), NAME_MAX)
    url = (item.link or "").strip()
    title = f"<{url}|{name}>" if url and len(url) <= URL_MAX and "|" not in url and ">" not in url else name
    amount = format_amount(doc.total, doc.currency)
    head = f"*{title}*" + (f" · *{escape(amount)}*" if amount != DASH else "")
    parts = [safe(doc_requester(doc), NAME_MAX) or "Unknown requester"]
    if clean(doc.supplier):
        parts.append(safe(doc.supplier, NAME_MAX))
    parts.append(f"waiting {format_age(max(0.0, (now - item.since).total_seconds()))}")
    text = head + "\n" + " · ".join(parts)
    note = _HOME_STATE_NOTE.get(item.state)
    if item.confirm_above and item.state in (MessageState.WAITING, MessageState.FAILED):
        text += "\n" + amount_rule_text(item.confirm_above)
    return clip(text + (f"\n{note}" if note else ""), HOME_DOC_TEXT_MAX)


def _home_doc_blocks(item: HomeItem, now: datetime) -> list[dict[str, Any]]:
    check_ref(item.ref)
    decidable = item.state in (MessageState.WAITING, MessageState.FAILED)
    section: dict[str, Any] = {"type": "section", "block_id": HOME_DOC_BLOCK + item.ref,
                               "text": mrkdwn(_home_doc_text(item, now))}
    if decidable:
        section["accessory"] = {"type": "checkboxes", "action_id": ACTION_SELECT,
                                "options": [{"text": plain("Select", 75), "value": item.ref}]}
    blocks = [section]
    buttons: list[dict[str, Any]] = []
    if decidable:
        buttons.append(button("Approve", ACTION_APPROVE, value=item.ref, style="primary",
                              **({} if item.confirm_above else {"confirm": approve_confirm(item.doc)})))
        buttons.append(button("Reject", ACTION_REJECT, value=item.ref, style="danger"))
    open_button = open_in_precoro_button(item.link)
    if open_button:
        buttons.append(open_button)
    if buttons:
        blocks.append({"type": "actions", "block_id": HOME_ACTIONS_BLOCK + item.ref, "elements": buttons})
    return blocks


def _type_plural(doc: Document) -> str:
    name = clean(doc.type_name) or "Document"
    return name if name.endswith("s") else name + "s"


def _home_pager(page: int, pages: int, first: int, count: int, total: int) -> list[dict[str, Any]]:
    """The "Showing 21-40 of 500" line and Previous / Next buttons (their value: the page to show)."""
    buttons = []
    if page > 0:
        buttons.append(button("Previous", ACTION_HOME_PAGE_BACK, value=str(page - 1)))
    if page < pages - 1:
        buttons.append(button("Next", ACTION_HOME_PAGE, value=str(page + 1)))
    return [{"type": "context", "elements": [mrkdwn(f"Showing {first + 1}–{first + count} of {total}")]},  # noqa: RUF001
            {"type": "actions", "block_id": HOME_PAGER_BLOCK, "elements": buttons}]


def _bulk_blocks(results: Sequence[BulkResult]) -> list[dict[str, Any]]:
    if not results:
        return []
    done = sum(r.ok for r in results)
    totals: dict[str, Decimal] = {}
    for r in results:
        if r.ok and r.amount is not None:
            totals[r.currency] = totals.get(r.currency, Decimal(0)) + r.amount
    total = bulk_total_text(sorted(totals.items()))
    lines = [f"*Approve selected: {done} of {len(results)} approved*" + (f" · {escape(total)}" if total else "")]
    for r in results:
        mark = ":white_check_mark:" if r.ok else ":warning:"
        lines.append(f"{mark} {safe(r.title, NAME_MAX)}" + (f": {safe(r.text, 300)}" if r.text else ""))
    return [{"type": "section", "text": mrkdwn(clip("\n".join(lines), SECTION_TEXT_MAX))}]


# --- the admin section ----------------------------------------------------------------------------
def _admin_blocks(admin: AdminSummary) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "divider"},
                                    {"type": "header", "text": plain("Admin", HEADER_TEXT_MAX)}]
    head = f"*Approvers ({len(admin.approvers)})*"
    lines: list[str] = []
    used = len(head)
    for shown, row in enumerate(admin.approvers):
        polled = slack_time(row.last_polled) if row.last_polled else "never"
        mark = ":white_check_mark:" if row.status == "active" else ":no_entry:"
        line = (f"• {mark} {mention(row.user)} · {safe(row.company, 40)} · {safe(row.email, 100) or DASH} · "
                f"{safe(row.status, 20)} · {plural(row.waiting, 'document')} waiting · last checked {polled}")
        left = len(admin.approvers) - shown
        if used + len(line) + 1 + len(f"\nand {left} more") > SECTION_TEXT_MAX:
            lines.append(f"and {left} more")
            break
        lines.append(line)
        used += len(line) + 1
    if not admin.approvers:
        lines.append("No approvers are registered yet. Register one with `/precoro register @user`.")
    blocks.append({"type": "section", "text": mrkdwn("\n".join([head, *lines]))})
    quota_lines = ["*Precoro quota use* (shared by every approver of a company)"]
    for q in admin.quotas[:20]:
        windows = " · ".join(
            f"{used_:,}/{limit:,} per {format_span(seconds)}" + (f" ({reserve:,} kept for clicks)" if reserve else "")
            for seconds, used_, limit, reserve in q.windows)
        line = f"• *{safe(q.company, 40)}*: {windows or DASH}"
        if q.paused_until is not None:
            line += f" · paused by Precoro until {slack_time(q.paused_until)}"
        quota_lines.append(line)
    if len(admin.quotas) > 20:
        quota_lines.append(f"and {len(admin.quotas) - 20} more")
    blocks.append({"type": "section", "text": mrkdwn(clip("\n".join(quota_lines), SECTION_TEXT_MAX))})
    return blocks


# --- reminder and digest choices ------------------------------------------------------------------
REMINDER_CHOICES = (2.0, 4.0, 8.0, 16.0)  # working hours offered on the Home, besides the default and never


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
    options = [option(f"Default ({default_text})", DEFAULT_CHOICE)]
    options += [option(_working_hours(h).capitalize(), f"{h:g}") for h in REMINDER_CHOICES]
    options.append(option("Never", NEVER_CHOICE))
    chosen = reminder_choice_value(prefs.hours)
    if chosen not in {o["value"] for o in options}:  # a value no longer offered: show the default
        chosen = DEFAULT_CHOICE
    current = next(o for o in options if o["value"] == chosen)
    digest_default = "on" if prefs.default_digest else "off"
    digest_options = [option(f"Default ({digest_default})", DEFAULT_CHOICE), option("On", "on"),
                      option("Off", "off")]
    digest_chosen = DEFAULT_CHOICE if prefs.digest is None else "on" if prefs.digest else "off"
    return [
        {"type": "divider"},
        {"type": "section", "text": mrkdwn(
            f"*Reminders* of documents still waiting, within your workday ({escape(clip(prefs.workday, 100))}, "
            "your time zone)"),
         "accessory": {"type": "static_select", "action_id": ACTION_REMINDER_CHOICE, "options": options,
                       "initial_option": current}},
        {"type": "section", "text": mrkdwn(
            f"*Morning digest* of everything waiting, on workdays at {escape(clip(prefs.digest_at, 10))}"),
         "accessory": {"type": "static_select", "action_id": ACTION_DIGEST_CHOICE, "options": digest_options,
                       "initial_option": next(o for o in digest_options if o["value"] == digest_chosen)}},
    ]
