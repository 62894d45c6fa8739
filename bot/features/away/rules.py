"""Away mode, pure: is an approver away at an instant, has their period ended, and reading the
day they give (`/precoro away until 2026-12-24`). Days are the approver's own: "until the 24th"
means to the end of the 24th in their Slack time zone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.store.away import Away
from bot.workdays import zone

AWAY_DAYS_MAX = 366  # further ahead is a typo (2062 for 2026), not a sabbatical planned in Slack


def local_day(at: float, tz: str) -> date:
    return datetime.fromtimestamp(at, tz=zone(tz)).date()


def is_away(away: Away, now: float, tz: str) -> bool:
    """Away now: not ended with `back`, and today (in `tz`) is not after the last day away."""
    return away.ended_at is None and local_day(now, tz).isoformat() <= away.until_day


def returned(away: Away, now: float, tz: str) -> bool:
    return not is_away(away, now, tz)


def parse_until(text: str, today: date) -> tuple[date | None, str]:
    """The last day away from `YYYY-MM-DD`, or (None, why not)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None, "format"
    if day < today:
        return None, "past"
    if day > today + timedelta(days=AWAY_DAYS_MAX):
        return None, "far"
    return day, ""
