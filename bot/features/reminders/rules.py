"""When to remind an approver, and when to send the morning digest. Pure: `now` comes in.

Each approver's working hours are read in their own time zone (`bot/workdays.py`). Nothing is
sent outside working hours: a reminder (or a snooze) that falls due at night waits for the next
working moment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot import workdays
from bot.config import ReminderConfig


def personal(policy: ReminderConfig, reminder_hours: float | None, digest: bool | None) -> ReminderConfig:
    """The configured policy with an approver's own choices (None: keep the default; 0 hours: never)."""
    if reminder_hours is not None:
        policy = replace(policy, enabled=reminder_hours > 0,
                         after_working_hours=reminder_hours if reminder_hours > 0 else policy.after_working_hours)
    if digest is not None:
        policy = replace(policy, digest=digest)
    return policy


@dataclass(frozen=True)
class ReminderState:
    since: float  # when the document entered the approver's queue
    reminded_at: float | None = None
    snoozed_until: float | None = None


def reminder_due(state: ReminderState, now: float, tz: str, policy: ReminderConfig) -> bool:
    """Whether to remind the approver of one waiting document now."""
    if not policy.enabled or not workdays.is_working(now, tz, policy):
        return False
    snooze = state.snoozed_until
    if snooze is not None and (state.reminded_at is None or state.reminded_at < snooze):
        return now >= snooze  # a snooze replaces the schedule until it rings
    if state.reminded_at is None:
        return workdays.working_seconds(state.since, now, tz, policy) >= policy.after_working_hours * workdays.HOUR
    if policy.repeat_working_hours <= 0:
        return False
    return workdays.working_seconds(state.reminded_at, now, tz, policy) >= policy.repeat_working_hours * workdays.HOUR


def digest_day(now: float, tz: str, policy: ReminderConfig, last_day: str | None) -> str | None:
    """The local day (YYYY-MM-DD) whose digest is due now, or None: on a working day, from
    `digest_at` until the end of the workday, once a day."""
    if not policy.digest:
        return None
    local = workdays.local(now, tz)
    span = workdays.workday(local.date(), tz, policy)
    if span is None or not local.time() >= policy.digest_at or now >= span[1]:
        return None
    day = local.date().isoformat()
    return None if day == last_day else day
