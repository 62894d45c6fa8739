"""When to remind an approver, and when to send the morning digest. Pure: `now` comes in.

Times are epoch seconds; each approver's working hours are read in their own time zone (Slack's
`tz`), so "4 working hours" skips nights, weekends and the hours outside the workday, across
daylight-saving changes. Nothing is sent outside working hours: a reminder (or a snooze) that
falls due at night waits for the next working moment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import ReminderConfig

HOUR = 3600.0
SCAN_DAYS_MAX = 366  # working time is counted over at most a year (a document older than that is due anyway)


def zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return UTC


def _local(at: float, tz: str) -> datetime:
    return datetime.fromtimestamp(at, tz=zone(tz))


def _workday(day: date, tz: str, policy: ReminderConfig) -> tuple[float, float] | None:
    """The working span of a local day as epoch seconds; None on a day off."""
    if day.weekday() not in policy.working_days:
        return None
    where = zone(tz)
    start = datetime.combine(day, policy.workday_start, tzinfo=where).timestamp()
    end = datetime.combine(day, policy.workday_end, tzinfo=where).timestamp()
    return start, end


def is_working(at: float, tz: str, policy: ReminderConfig) -> bool:
    span = _workday(_local(at, tz).date(), tz, policy)
    return span is not None and span[0] <= at < span[1]


def working_seconds(start: float, end: float, tz: str, policy: ReminderConfig) -> float:
    """Working time between two instants in the zone `tz`."""
    if end <= start:
        return 0.0
    total = 0.0
    day = _local(start, tz).date()
    last = _local(end, tz).date()
    for _ in range(SCAN_DAYS_MAX):
        span = _workday(day, tz, policy)
        if span is not None:
            total += max(0.0, min(end, span[1]) - max(start, span[0]))
        if day >= last:
            return total
        day += timedelta(days=1)
    return max(total, policy.after_working_hours * HOUR)  # more than a year: due


def next_working(at: float, tz: str, policy: ReminderConfig) -> float:
    """`at` itself when it is working time, else the start of the next workday."""
    day = _local(at, tz).date()
    for _ in range(15):
        span = _workday(day, tz, policy)
        if span is not None and at < span[1]:
            return max(at, span[0])
        day += timedelta(days=1)
    return at


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
    if not policy.enabled or not is_working(now, tz, policy):
        return False
    snooze = state.snoozed_until
    if snooze is not None and (state.reminded_at is None or state.reminded_at < snooze):
        return now >= snooze  # a snooze replaces the schedule until it rings
    if state.reminded_at is None:
        return working_seconds(state.since, now, tz, policy) >= policy.after_working_hours * HOUR
    if policy.repeat_working_hours <= 0:
        return False
    return working_seconds(state.reminded_at, now, tz, policy) >= policy.repeat_working_hours * HOUR


def digest_day(now: float, tz: str, policy: ReminderConfig, last_day: str | None) -> str | None:
    """The local day (YYYY-MM-DD) whose digest is due now, or None: on a working day, from
    `digest_at` until the end of the workday, once a day."""
    if not policy.digest:
        return None
    local = _local(now, tz)
    span = _workday(local.date(), tz, policy)
    if span is None or not local.time() >= policy.digest_at or now >= span[1]:
        return None
    day = local.date().isoformat()
    return None if day == last_day else day
