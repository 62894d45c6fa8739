"""Working time, pure: the working hours of a day in a person's own time zone (Slack's `tz`),
whether an instant is working time, the working time between two instants, the next working
moment. Times are epoch seconds; "4 working hours" skips nights, weekends and the hours outside
the workday, across daylight-saving changes. The policy (`ReminderConfig`: workday, working days)
comes in. Shared by the features: reminders, away mode, the finance channel's waiting time.
"""

from __future__ import annotations

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


def local(at: float, tz: str) -> datetime:
    return datetime.fromtimestamp(at, tz=zone(tz))


def workday(day: date, tz: str, policy: ReminderConfig) -> tuple[float, float] | None:
    """The working span of a local day as epoch seconds; None on a day off."""
    if day.weekday() not in policy.working_days:
        return None
    where = zone(tz)
    start = datetime.combine(day, policy.workday_start, tzinfo=where).timestamp()
    end = datetime.combine(day, policy.workday_end, tzinfo=where).timestamp()
    return start, end


def is_working(at: float, tz: str, policy: ReminderConfig) -> bool:
    span = workday(local(at, tz).date(), tz, policy)
    return span is not None and span[0] <= at < span[1]


def working_seconds(start: float, end: float, tz: str, policy: ReminderConfig) -> float:
    """Working time between two instants in the zone `tz`."""
    if end <= start:
        return 0.0
    total = 0.0
    day = local(start, tz).date()
    last = local(end, tz).date()
    for _ in range(SCAN_DAYS_MAX):
        span = workday(day, tz, policy)
        if span is not None:
            total += max(0.0, min(end, span[1]) - max(start, span[0]))
        if day >= last:
            return total
        day += timedelta(days=1)
    return max(total, policy.after_working_hours * HOUR)  # more than a year: due


def next_working(at: float, tz: str, policy: ReminderConfig) -> float:
    """`at` itself when it is working time, else the start of the next workday."""
    day = local(at, tz).date()
    for _ in range(15):
        span = workday(day, tz, policy)
        if span is not None and at < span[1]:
            return max(at, span[0])
        day += timedelta(days=1)
    return at
