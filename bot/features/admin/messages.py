"""What a bot admin reads: registration, the approver list, `/precoro resume`, the quota and
company discovery lines of `/precoro status`, what the bot learned of a company's Precoro, and
the audit log. Pure. (What the engine tells admins by DM is `bot/slack/messages/notices.py`.)

Mrkdwn strings of at most 3000 characters; lists stop with "and N more" before that. Names,
emails and reasons from Precoro or Slack are escaped (`safe`, `mention`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime

from bot.slack.messages.notices import AUDIT_DEFAULT, AUDIT_MAX
from bot.slack.messages.text import (
    DASH,
    EMAIL_MAX,
    SECTION_TEXT_MAX,
    SLACK_USER_ID,
    clean,
    clip,
    escape,
    format_age,
    format_span,
    mention,
    plural,
    safe,
    slack_time,
)


# --- registration and tokens ----------------------------------------------------------------------
def register_usage_text() -> str:
    return ("Usage: `/precoro register @user` opens a form, or `/precoro register @user email token` "
            "registers in one line. Mention the user with @ so Slack links it.")


def remove_usage_text() -> str:
    return "Usage: `/precoro remove @user`. Mention the user with @ so Slack links it."


def choose_company_text(companies: Sequence[str]) -> str:
    names = ", ".join(f"`{safe(c, 40)}`" for c in companies)
    return f"Several Precoro companies are configured; name one: `/precoro register @user COMPANY`. Companies: {names}."


def checking_token_text(user: str) -> str:
    return f"Checking the token for {mention(user)} with Precoro…"


def invalid_token_text() -> str:
    return "That does not look like a Precoro API token (8 to 512 letters, digits and - _ . ~ + / =)."


def invalid_email_text() -> str:
    """Modal validation error for an email that does not look like one."""
    return ("Enter the email address of their Precoro account (plain ASCII letters, digits and punctuation, "
            "no spaces or special characters).")


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


def token_rejected_text(reason: str) -> str:
    why = safe(reason, 500)
    return f"Precoro did not accept that token{': ' + why if why else ''}. Nothing was stored."


def token_check_failed_text() -> str:
    return ("Precoro could not be asked right now (busy or not answering); nothing was stored. "
            "Try again in a minute.")


def registered_text(user: str, email: str) -> str:
    return (f"{mention(user)} is registered with Precoro account {safe(email, EMAIL_MAX)}. "
            "Documents waiting for their approval will arrive as direct messages.")


def removed_text(user: str) -> str:
    return f"{mention(user)} is removed; their token is deleted and no more documents will be sent to them."


def registration_list(rows: Sequence[tuple[str, str, str, datetime | None]], tz: str) -> str:
    """Rows of (Slack user id, email, status, last polled) as one mrkdwn list, ≤ 3000 characters.
    Times are Slack date tokens (each reader's zone); `tz` no longer changes them."""
    if not rows:
        return "No approvers are registered yet. Register one with `/precoro register @user`."
    head = f"*Registered approvers ({len(rows)})*"
    return _fit(head, [f"• {mention(user)} · {safe(email, 100) or DASH} · {safe(status, 40) or DASH}"
                       f" · last checked {slack_time(last_polled) if last_polled else 'never'}"
                       for user, email, status, last_polled in rows])


def _fit(head: str, lines: Sequence[str]) -> str:
    """`head` and as many `lines` as fit in one section (3000 characters); the rest counted."""
    kept: list[str] = []
    used = len(head)
    for shown, line in enumerate(lines):
        left = len(lines) - shown
        if used + len(line) + 1 + len(f"\nand {left} more") > SECTION_TEXT_MAX:
            kept.append(f"and {left} more")
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([head, *kept])


# --- the quota pause ------------------------------------------------------------------------------
def resume_text(company: str, cleared: bool) -> str:
    """An admin's `/precoro resume` (and `precoro-bot resume`): a 429 pause cleared, or none held."""
    if cleared:
        return f"The Precoro pause of *{company}* is cleared: requests go out again now."
    return f"*{company}* is not paused by Precoro."


# --- `/precoro status` for admins -----------------------------------------------------------------
NEXT_CHECKS_SHOWN = 5


def _in(seconds: float) -> str:
    """`in 3 min`; `now` when due; `not planned` when the planner gives the approver no poll."""
    if not math.isfinite(seconds):
        return "not planned"
    if seconds <= 0:
        return "now"
    return "in under a minute" if seconds < 60 else f"in {format_age(seconds)}"


def quota_status_text(company: str, *, windows: Sequence[tuple[float, int, int, int]],
                      paused_until: datetime | None, paused_reason: str,
                      next_checks: Sequence[tuple[str, float]], shown: int = NEXT_CHECKS_SHOWN) -> str:
    """A company's Precoro use in plain words for an admin (the planner's own terms are behind
    `/precoro status verbose`): requests used of the limit per window (`windows`: seconds, used,
    limit, kept for clicks), a pause said plainly, and when each approver is next checked
    (`next_checks`: Slack user id and seconds from now, soonest first), named by mention."""
    used = " · ".join(f"{u:,} of {limit:,} per {format_span(sec)}" + (f" ({keep:,} kept for clicks)" if keep else "")
                      for sec, u, limit, keep in windows)
    lines = [f"*{safe(company, 40)}*: Precoro requests used {used or DASH}"]
    if paused_until is not None:
        why = f" ({safe(paused_reason, 200)})" if paused_reason.strip() else ""
        lines.append(f":double_vertical_bar: Precoro asked the bot to wait{why}: it sends nothing until "
                     f"{slack_time(paused_until)}, then goes on by itself. `/precoro resume` goes on now.")
    if not next_checks:
        lines.append("No active approvers to check.")
    else:
        checks = [f"{mention(user)} {_in(after)}" for user, after in next_checks[:shown]]
        more = f" and {len(next_checks) - shown} more" if len(next_checks) > shown else ""
        lines.append(f"{plural(len(next_checks), 'active approver')}; next check of " + ", ".join(checks) + more + ".")
    return "\n".join(lines)


# --- company discovery ----------------------------------------------------------------------------
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


def discovery_status_line(user: str | None, cursor: datetime | None, fallback: Sequence[str], note: str) -> str:
    if user is None:
        why = f" ({safe(note, 80)})" if note else ""
        return f"Discovery: off{why}; each approver's waiting list is polled."
    since = slack_time(cursor) if cursor else "not yet"
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


# What the bot learned about a company's Precoro by itself (bot/sync/adapt.py), told once and
# shown in `/precoro status`.
def findings_status_line(sentences: Sequence[str]) -> str:
    return "Learned from Precoro: " + " ".join(sentences) if sentences else ""


# --- the audit log --------------------------------------------------------------------------------
_SUBJECT_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)>$")


def audit_usage_text() -> str:
    return f"Usage: `/precoro audit [N]`: the last N audit entries (1 to {AUDIT_MAX}, default {AUDIT_DEFAULT})."


def audit_log_text(rows: Sequence[tuple[datetime, str, str, str, str, str]], tz: str, *,
                   show_company: bool = False) -> str:
    """Rows of (when, company, actor, action, subject, outcome), newest first, as one mrkdwn list
    of at most 3000 characters: who did what, when (a Slack date token, so `tz` no longer changes
    it), with what result."""
    if not rows:
        return "The audit log is empty: no decisions or token changes yet."
    head = f"*Audit log: the last {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}*"
    lines = []
    for at, company, actor, action, subject, outcome in rows:
        who = mention(actor) if SLACK_USER_ID.match(actor or "") else safe(actor, 40) or DASH
        match = _SUBJECT_MENTION.match(subject or "")
        what = f"{escape(clip(clean(action), 40))} {mention(match.group(1)) if match else safe(subject, 120)}".strip()
        where = f" · {safe(company, 40)}" if show_company else ""
        line = f"• {slack_time(at)}{where} · {who} · {what or DASH} → {safe(outcome, 64) or DASH}"
        lines.append(line)
    return _fit(head, lines)
