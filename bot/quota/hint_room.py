"""Room for the hint reads webhooks will ask for: polls and timed discovery runs leave it. Pure.

A webhook's hint is read at once with one single-document GET (`bot/sync/hint_reads.py`). Those
reads do not wait for the pacing bucket, but they need room in the bot's hour and day windows;
polls and timed discovery runs, paced by the bucket, would otherwise fill the day window on a busy
day, and the evening's hints would then wait for the window (bench/README.md §9, seed 5: 175 hint
reads deferred after 16:13). So while webhooks arrive, a poll or a timed run may start only if
every window of an hour or more keeps room for the hint reads expected before it frees.

The windows are sliding (`bot.quota.ledger`): a request sent now occupies a window of width W
until now + W. At a moment now + h (0 < h <= W) the window holds what was sent in
(now + h - W, now] (known) plus whatever is sent meanwhile. The hint reads expected in
(now, now + h] are

    expected(h) = reads per hint * (r * min(h, R) + yesterday's hints in (now - DAY + R, now - DAY + h])

with r the recent webhook rate (hints in the last R = `RECENT_SECONDS`, per second): the recent
rate predicts the next R seconds, the same stretch a day earlier the rest (webhooks follow the
working day, which a rate held all night would overstate), capped at `SHARE_CAP` of the window's
poll lane (hint reads never take more than `bot.sync.hint_reads.HINT_SHARE` of the day's budget).
A poll of `n` requests may start now if, for every horizon h,

    held(now + h) + n + expected(h) <= limit - reserve          (the poll lane's limit)

so `allowance` is the least of limit - reserve - held(now + h) - expected(h) over the horizons
(`HORIZONS`, up to W). That alone is not enough: it counts the slots that free before the hints
come as theirs, but polls asking a moment later take each slot as it frees (measured: N=500 with
webhooks, seed 5, unchanged). So a standing room is kept as well: polls may fill a window only up
to limit - reserve - expected(`STANDING_SECONDS`), the next hour's hints at the recent rate, at
every moment; a slot that frees goes to polls only beyond it, and hints draw on it first.
Without webhooks expected(h) = 0 and this is the lane's room as before.
Hint reads themselves and a hint's fallback discovery run are not held to it: they are what the
room is kept for. A restart forgets the hints seen (in memory); the room comes back with the next.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

from bot.quota.ledger import QuotaPolicy

DAY = 86400.0
RECENT_SECONDS = 3600.0  # the last hour's webhook rate predicts the next hour
READS_PER_HINT = 1.0  # one single-document GET a hint
SHARE_CAP = 0.5  # at most this share of a window's poll lane is kept for hints
HORIZONS = (300.0, 900.0, 1800.0, 3600.0, 7200.0, 4 * 3600.0, 8 * 3600.0, 12 * 3600.0, DAY)  # seconds
MIN_WINDOW_SECONDS = 3600.0  # windows shorter than this free up too soon to need room kept
STANDING_SECONDS = 3600.0  # the room kept free at every moment: this long of hints at the recent rate


def expected_hint_reads(hint_times: Sequence[float], now: float, horizon: float, *,
                        reads_per_hint: float = READS_PER_HINT, recent: float = RECENT_SECONDS,
                        cap: float = math.inf) -> float:
    """Hint reads expected in (now, now + horizon]: the recent rate over the first `recent`
    seconds, the same stretch a day earlier beyond it; at most `cap`. `hint_times` sorted."""
    if horizon <= 0 or not hint_times:
        return 0.0
    recent_count = bisect_right(hint_times, now) - bisect_right(hint_times, now - recent)
    near = recent_count / recent * min(horizon, recent)
    far = 0.0
    if horizon > recent:
        lo, hi = now - DAY + recent, now - DAY + min(horizon, DAY)
        far = bisect_right(hint_times, hi) - bisect_right(hint_times, lo)
    return min(cap, reads_per_hint * (near + far))


def allowance(sorted_times: Sequence[float], policy: QuotaPolicy, now: float, hint_times: Sequence[float], *,
              reads_per_hint: float = READS_PER_HINT, horizons: Sequence[float] = HORIZONS) -> int | None:
    """Poll requests that may start now and still leave every window of an hour or more room for
    the expected hint reads (see the module docstring); None when no hint came (nothing to keep).
    `sorted_times`: every spend of the company in the bot's windows, sorted."""
    if not hint_times:
        return None
    best: float = math.inf
    for w in policy.windows:
        if w.seconds < MIN_WINDOW_SECONDS:
            continue
        width = w.seconds + policy.margin_seconds
        lane = w.limit - w.reserve
        cap = SHARE_CAP * lane
        upto = bisect_right(sorted_times, now)
        # Standing: the next `STANDING_SECONDS` of hints, kept free now (a slot that frees later
        # goes to polls only beyond it, so polls never take the room as it frees).
        held_now = upto - bisect_right(sorted_times, now - width)
        standing = expected_hint_reads(hint_times, now, STANDING_SECONDS, reads_per_hint=reads_per_hint, cap=cap)
        best = min(best, lane - held_now - standing)
        for h in (*[x for x in horizons if x < width], width):
            held = upto - bisect_right(sorted_times, now + h - width)  # still inside at now + h
            expected = expected_hint_reads(hint_times, now, h, reads_per_hint=reads_per_hint, cap=cap)
            best = min(best, lane - held - expected)
    return None if best == math.inf else max(0, math.floor(best + 1e-9))
