"""Pure rules for telling outcomes: which status is an outcome worth telling, its reason, whether
an approval may have been the last step (worth one look at Precoro), and the finance channel's
threshold and waiting time. No I/O; `now` comes in."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot import workdays
from bot.config import CompanyConfig, ReminderConfig
from bot.precoro import api
from bot.precoro.models import Document
from bot.sync import route

APPROVED, REJECTED, REVISION = "approved", "rejected", "revision"
OUTCOMES = {api.STATUS_APPROVED: APPROVED, api.STATUS_DENIED: REJECTED, api.STATUS_ON_REVISION: REVISION}


def outcome_of(doc: Document | None) -> str | None:
    """"approved" (every step done), "rejected", "revision" (sent back); None for anything else
    (pending, open, canceled by the requester themself)."""
    return OUTCOMES.get(doc.status) if doc is not None and doc.status is not None else None


def reason_of(doc: Document) -> str:
    """Why it was rejected or sent back: the latest comment not written by the requester (Precoro
    keeps a rejection's reason as a comment), else the latest comment."""
    creator = doc.creator.email.strip().lower()
    for comment in reversed(doc.comments):
        if comment.text.strip() and (not creator or comment.author.email.strip().lower() != creator):
            return comment.text.strip()
    return doc.comments[-1].text.strip() if doc.comments else ""


def decided_by(doc: Document, outcome: str) -> str:
    """Who decided, as Precoro names them (a name, never guessed): the last approver of an approved
    document, the author of a rejection's reason."""
    if outcome == APPROVED and doc.last_approver is not None:
        return doc.last_approver.name or doc.last_approver.email
    creator = doc.creator.email.strip().lower()
    for comment in reversed(doc.comments):
        if comment.author.email.strip().lower() != creator:
            return comment.author.name or comment.author.email
    return ""


def may_be_final(doc: Document | None) -> bool:
    """After an approval of the current step, might the document be approved? False only when a
    later step is known to be still to do (then no look at Precoro is spent on it)."""
    if doc is None:
        return True
    step = route.current_step(doc)
    if step is None or step not in doc.approval_steps:
        return True
    later = doc.approval_steps[doc.approval_steps.index(step) + 1:]
    return not any(not s.done for s in later)


def over_threshold(company: CompanyConfig, doc: Document) -> bool:
    """At or above the finance channel's minimum amount (any currency: the amount as Precoro gives
    it). A document without a readable amount counts only when there is no minimum."""
    minimum = company.finance_min_amount
    if minimum <= 0:
        return True
    if doc.total is None:
        return False
    try:
        return doc.total >= Decimal(str(minimum))
    except InvalidOperation:
        return False


def waiting_due(first_seen: float, now: float, company: CompanyConfig, policy: ReminderConfig) -> bool:
    """Has the document waited `finance_waiting_hours` working hours (the reminders' workday, in
    the company's `finance_timezone`)?"""
    hours = company.finance_waiting_hours
    if hours <= 0:
        return False
    return workdays.working_seconds(first_seen, now, company.finance_timezone, policy) >= hours * workdays.HOUR
