"""Precoro's request limits as pure arithmetic over the spends of one company.

Rules (all approvers' tokens of a company share them; failed requests count too):

- every `Window(seconds, limit, reserve)` is a *sliding* window: a request sent at `s` occupies
  it during `[s, s + seconds + margin)`, and at no instant may more than `limit` requests occupy
  it. The margin widens every window against clock skew and latency. Defaults: 1 per second
  (which also means one at a time), 1500 per hour, 3000 per day, margin 0.2 s. A finished
  request is recorded when its answer arrived (the gate does that), so the 1 s spacing already
  counts from the previous answer; the margin only covers jitter and skew on top, and a small
  one keeps a click's wait behind a poll on the wire short.
- lanes: the interactive lane (approve / reject clicks) may fill a window up to `limit`; the poll
  lane only up to `limit - reserve`. Both lanes are counted together, so polls can never eat the
  reserve and a click is never queued behind them.
- no identical GET (same `get_key`, the URL) within `duplicate_get_seconds + margin`;
  writes (`get_key=None`) are exempt.
- after a 429 nothing is sent before its retry time (`blocked_until`), which
  `retry_at_from_429` caps to what the 429 can sanely mean.

Spends are expected at or before `now` (in-flight requests sit at `now`). A spend later than
`now` (another replica's clock running ahead) is honoured conservatively: a new request must keep
a full window away from it on both sides.

Nothing here reads a clock or does I/O: `now` is an argument, times are epoch seconds.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from bot.precoro import api

MIN_RETRY_SECONDS = 1.0
# A 429 without Precoro's fields (a proxy's HTML page): back off 2, 4, 8 ... s, at most 5 min.
BARE_BACKOFF_BASE = 2.0
BARE_BACKOFF_MAX = 300.0


class Lane(StrEnum):
    INTERACTIVE = "interactive"
    POLL = "poll"


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int
    reserve: int = 0  # slots of this window only the interactive lane may use

    def lane_limit(self, lane: Lane) -> int:
        return self.limit - self.reserve if lane is Lane.POLL else self.limit


@dataclass(frozen=True)
class QuotaPolicy:
    windows: tuple[Window, ...] = (Window(1, 1), Window(3600, 1500, 100), Window(86400, 3000, 200))
    duplicate_get_seconds: float = 60.0
    margin_seconds: float = 0.2  # widens every window against clock skew and latency (see above)
    # Which GETs Precoro counts as identical: "token" or "company" (+ the URL; the gate keys
    # company-wide either way) or "route" (the path, any query: one list read per path a minute).
    duplicate_keying: str = "company"
    # The fraction of each window of a minute or more the bot may use (`bot.quota.share`): the
    # company's other integrations share Precoro's quota. `windows` stay Precoro's own limits.
    share: float = 1.0


@dataclass(frozen=True)
class Spend:
    at: float
    lane: Lane
    get_key: str | None = None  # the URL of a GET; None for a write


class _Occupancy:
    """Sorted intervals `[s - width, s + width)` around sorted spend times `s`.

    A new request at `t` collides with every spend whose interval strictly contains `t`; for
    spends at or before `t` that is exactly "the spend still occupies the sliding window"."""

    def __init__(self, times: Sequence[float], width: float) -> None:
        self.starts = [s - width for s in times]
        self.ends = [s + width for s in times]  # compared as computed: no float round trip

    def next_fit(self, t: float, allowed: int) -> float:
        """The earliest time >= t at which at most `allowed` spends collide."""
        while True:
            first = bisect_right(self.ends, t)  # spends with end > t
            stop = bisect_left(self.starts, t)  # spends with start < t
            excess = stop - first - allowed
            if excess <= 0:
                return t
            t = self.ends[first + excess - 1]  # let the `excess` oldest colliding ones expire


def earliest_slot(spends: Sequence[Spend], policy: QuotaPolicy, lane: Lane, now: float, *,
                  get_key: str | None = None, blocked_until: float = 0.0) -> float | None:
    """The earliest time >= now at which one more `lane` request may be sent, or None if that
    lane can never send (a window's lane limit is zero or less). Exact for sliding windows."""
    allowed = [w.lane_limit(lane) - 1 for w in policy.windows]  # spends that may already be there
    if any(a < 0 for a in allowed):
        return None
    times = sorted(s.at for s in spends)
    checks = [(_Occupancy(times, w.seconds + policy.margin_seconds), a)
              for w, a in zip(policy.windows, allowed, strict=True)]
    if get_key is not None:
        same = sorted(s.at for s in spends if s.get_key == get_key)
        checks.append((_Occupancy(same, policy.duplicate_get_seconds + policy.margin_seconds), 0))
    t = max(now, blocked_until)
    while True:  # each check only moves t forward; stop when none has to
        moved = False
        for occupancy, limit in checks:
            fit = occupancy.next_fit(t, limit)
            if fit > t:
                t, moved = fit, True
        if not moved:
            return t


def spent(spends: Sequence[Spend], window: Window, now: float) -> int:
    """How many spends (both lanes) occupy `window` at `now` (no margin)."""
    return sum(1 for s in spends if s.at <= now < s.at + window.seconds)


def retry_at_from_429(body: Mapping[str, Any], headers: Mapping[str, str], now: float,
                      policy: QuotaPolicy, *, day_reset_at: float | None = None, bare_streak: int = 1) -> float:
    """When to send again after a 429: believed only as far as it is sane.

    The time asked for, in order: Precoro's `RateLimit-Retry-After` (UTC date-time, body or
    header); a standard `Retry-After` header (seconds or HTTP-date); else the end of the window
    `RateLimit-Type` names; else the longest window. Server times get the margin added (second
    precision, another clock). That time is then capped:

    - by the window `RateLimit-Type` names (second, minute, hour, day): no wait longer than that
      window (plus the margin) can be needed for it to let one more request in;
    - always by the next reset of the day window (`day_reset_at`, see `day_window_reset`): no
      limit Precoro has outlasts its longest window, so a pause "until 9999" or "for a year" ends
      within a day at the latest.

    A 429 with none of those fields (an HTML page from a proxy, a gateway) says nothing we can
    believe: it gets a short exponential back-off instead, `BARE_BACKOFF_BASE * 2**(streak-1)` up to
    `BARE_BACKOFF_MAX`, where `bare_streak` counts such 429s in a row. Never earlier than now + 1 s."""
    lowered = {k.lower(): v for k, v in headers.items()}
    margin = policy.margin_seconds
    day_cap = day_reset_at if day_reset_at is not None else now + _longest(policy) + margin
    at: float | None = None
    precoro = body.get(api.RATE_LIMIT_RETRY_AFTER) or lowered.get(api.RATE_LIMIT_RETRY_AFTER.lower())
    if isinstance(precoro, str):
        at = api.parse_retry_after(precoro)
        at = at + margin if at is not None else None
    if at is None and (standard := lowered.get("retry-after")) is not None:
        at = _parse_retry_after_header(standard, now)
        at = at + margin if at is not None else None
    limit_type = str(body.get(api.RATE_LIMIT_TYPE) or lowered.get(api.RATE_LIMIT_TYPE.lower()) or "").lower()
    named = api.limit_window_seconds(limit_type)  # by word stem: "by minute", "Hourly", "Daily"...
    if at is None and not limit_type:
        backoff = BARE_BACKOFF_BASE * 2.0 ** min(max(bare_streak, 1) - 1, 30)
        return now + max(MIN_RETRY_SECONDS, min(backoff, BARE_BACKOFF_MAX))
    window_cap = now + named + margin if named is not None else day_cap
    if at is None:
        at = window_cap
    return max(min(at, window_cap, day_cap), now + MIN_RETRY_SECONDS)


def day_window_reset(spends: Sequence[Spend], policy: QuotaPolicy, now: float) -> float:
    """When the day (longest) window next frees a request: Precoro's day window is taken to be a
    rolling 24 h (how it resets is unconfirmed; a fixed midnight reset would only come sooner), so
    the oldest spend it still counts leaves it 24 h after it was sent. With no spend counted,
    now + 24 h. The margin is added, as for every window."""
    longest = _longest(policy)
    counted = [s.at for s in spends if now - longest < s.at <= now]
    return min(counted, default=now) + longest + policy.margin_seconds


def _longest(policy: QuotaPolicy) -> float:
    return max((w.seconds for w in policy.windows), default=86400.0)


def _parse_retry_after_header(value: str, now: float) -> float | None:
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return now + seconds if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:  # HTTP-dates are GMT; a bare one is suspect
        return None
    return moment.timestamp()
