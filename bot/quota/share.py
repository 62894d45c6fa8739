"""The bot's share of Precoro's quota, and what the company's other integrations seem to use of it.

Precoro's limits are per company: an ERP sync, Zapier or a script spends from the same windows
as the bot. So the bot plans and books within `share` of every window of a minute or more
(`bot_policy`); shorter windows are spacing (one request at a time), which a share cannot divide.
The interactive reserve is carved out of the bot's share: polls get `share * limit - reserve`,
clicks the whole share.

A 429 on a volume window while the bot's own ledger shows it within its share there cannot be
the bot's own doing: someone else filled the rest. `learn_429` turns it into an estimate of that
outside use, at least what Precoro's limit leaves above the bot's own requests in the window, and
`bot_policy` keeps the bot below `limit - outside` as well.

Precoro's windows are fixed, not sliding ("all the subsequent requests will fail until the next
minute/hour/day", shared/precoro-api.md): the 429's `RateLimit-Retry-After` is when that window
resets, and from then on the other integration starts from zero like everyone else. So the
estimate holds, whole, until that reset (`OutsideUse.until`, the retry time `retry_at_from_429`
believed, never more than one window length ahead) and ends there (`outside_now`); from the reset
on the bot spends its share again. Nothing of it is carried into the next window: the share's rest
(`1 - share` of each window) is what the bot leaves the others in every window, and if one of them
takes more than that again, the next 429 teaches the estimate again. (Carrying a part over would
cost the bot's polls a large slice of every window after a single burst: 25% of the issue's 1,480
is already more than the 300 the share leaves.)

The bot's own ledger stays sliding (`bot.quota.ledger`): its requests before a reset no longer
count in Precoro's new window, but still count in the ledger's for up to one window length. That
only keeps the bot further below Precoro's limit (it never spends more in any fixed window than
in the sliding one), so it stays as it is.

Nothing here reads a clock or does I/O: `now` is an argument, times are epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.precoro import api
from bot.quota.ledger import QuotaPolicy, Spend, Window

DEFAULT_SHARE = 0.8  # a company that also runs other integrations keeps a fifth for them
SHARED_WINDOW_MIN_SECONDS = 60.0  # shorter windows are spacing: not divided
# Words of Precoro's `RateLimit-Type` naming a volume window, and the window's length.
_VOLUME_WORDS: tuple[tuple[str, float], ...] = (("minute", 60.0), ("hour", 3600.0), ("day", 86400.0))
# 429s that say nothing about the volume other integrations use.
_NOT_VOLUME = (api.RATE_LIMIT_TYPE_DUPLICATE.lower(), api.RATE_LIMIT_TYPE_CONCURRENCY.lower())


@dataclass(frozen=True)
class OutsideUse:
    """Another integration's requests in one of Precoro's windows, as learned from a 429."""

    seconds: float  # the window
    requests: float  # outside requests in it when learned
    at: float  # when learned
    until: float  # when the window resets (the 429's retry time): the estimate ends there


def shared_limit(window: Window, share: float) -> int:
    """The bot's limit in `window` with its share (windows under a minute are not divided), never
    below the interactive reserve plus one: clicks keep their reserve within the share."""
    if window.seconds < SHARED_WINDOW_MIN_SECONDS:
        return window.limit
    return max(window.reserve + 1, math.floor(window.limit * share + 1e-9))


def bot_policy(policy: QuotaPolicy, outside: Mapping[float, float] | None = None) -> QuotaPolicy:
    """The windows the bot books and plans within: `share` of Precoro's, and below what the
    learned outside use (`outside`: window seconds -> requests, see `outside_now`) leaves. The
    result has share 1 (it is already applied)."""
    outside = outside or {}
    windows = []
    for w in policy.windows:
        limit = shared_limit(w, policy.share)
        if w.seconds >= SHARED_WINDOW_MIN_SECONDS and outside.get(w.seconds, 0.0) > 0:
            limit = max(w.reserve + 1, min(limit, w.limit - math.ceil(outside[w.seconds])))
        windows.append(Window(w.seconds, limit, w.reserve))
    return replace(policy, windows=tuple(windows), share=1.0)


def outside_now(learned: Mapping[float, OutsideUse], now: float) -> dict[float, float]:
    """The outside use per window still believed at `now`: each estimate holds whole until its
    window resets (`until`) and is gone from then on (fixed windows: see the module docstring)."""
    return {seconds: use.requests for seconds, use in learned.items() if now < use.until and use.requests > 0}


def named_window(limit_type: str) -> float | None:
    """The volume window a 429's `RateLimit-Type` names (seconds), None for another kind."""
    lowered = limit_type.lower()
    if any(kind in lowered for kind in _NOT_VOLUME):
        return None
    seconds = api.limit_window_seconds(lowered)  # minute, hour/hourly, day/daily
    return seconds if seconds is not None and seconds >= 60.0 else None


def own_use(spends: Sequence[Spend], seconds: float, margin: float, now: float) -> int:
    """The bot's own requests (both lanes) occupying a window of `seconds` at `now`."""
    return sum(1 for s in spends if now - seconds - margin < s.at <= now)


def learn_429(spends: Sequence[Spend], policy: QuotaPolicy, limit_type: str, now: float,
              learned: Mapping[float, OutsideUse], reset_at: float) -> dict[float, OutsideUse] | None:
    """The outside-use estimates after a 429 answered at `now`, or None when the 429 does not
    show another integration: a duplicate or concurrency 429, or the bot itself at or above its
    share in the window (then it overspent, and only backs off).

    `spends`: the bot's own, from its ledger (the refused request included: it counts too);
    `policy`: Precoro's windows with the share; `reset_at`: when the window resets, the 429's
    retry time as `retry_at_from_429` believed it (capped here to one window length and the
    margin from `now`). Without a `RateLimit-Type` the window taken is the one the bot's own use
    leaves least room in (relative to Precoro's limit)."""
    volume = [w for w in policy.windows if w.seconds >= SHARED_WINDOW_MIN_SECONDS]
    if not volume:
        return None
    if limit_type:
        seconds = named_window(limit_type)
        window = next((w for w in volume if w.seconds == seconds), None)
        if window is None:
            return None
    else:
        window = min(volume, key=lambda w: (w.limit - own_use(spends, w.seconds, policy.margin_seconds, now))
                     / w.limit)
    own = own_use(spends, window.seconds, policy.margin_seconds, now)
    if own >= shared_limit(window, policy.share):
        return None
    seen = float(max(1, window.limit - own))
    current = outside_now(learned, now).get(window.seconds, 0.0)
    out = dict(learned)
    until = min(reset_at, now + window.seconds + policy.margin_seconds)
    out = {seconds: use for seconds, use in out.items() if now < use.until}  # windows reset since: forgotten
    out[window.seconds] = OutsideUse(window.seconds, max(seen, current), now, until)
    return out


def describe_share(policy: QuotaPolicy) -> str:
    """One line for `check-config` and status: the share and what it leaves the bot per window."""
    parts = [f"{shared_limit(w, policy.share)} of {w.limit} per {_window_name(w.seconds)}"
             + (f" ({w.reserve} of them kept for clicks)" if w.reserve else "")
             for w in policy.windows if w.seconds >= SHARED_WINDOW_MIN_SECONDS]
    return f"quota share {policy.share:.0%}: the bot uses at most " + ", ".join(parts)


def _window_name(seconds: float) -> str:
    for word, length in _VOLUME_WORDS:
        if seconds == length:
            return word
    return f"{seconds:g} s"
