"""The URLs of one discovery list read: equivalent variants, so a retry never repeats a URL.

Precoro refuses an identical GET within its minute (`../shared/precoro-api.md`), and the quota
gate holds such a read back instead of sending it. A discovery run cut short (a click took the
next slot, a 429) is retried at the next tick, often with the same cursor for the types it did
not finish. Each list read therefore offers the gate several URLs that answer the same
question: `modifiedSince` moved back by a few whole seconds (the bot routes by document, so a
document listed twice is posted once) and each page size. The gate books the first one that
is free. With duplicate GETs keyed by route (path only) every variant is one key, and the gate
spaces the reads of one list path by Precoro's minute instead. Pure.
"""

from __future__ import annotations

from bot.precoro import api

NUDGE_SECONDS = 4  # modifiedSince moved back by 0 .. this many seconds
PAGE_SIZES: tuple[int, ...] = (200, 100)  # page sizes a discovery read may use (largest first)
OVERLAP_SECONDS = 30.0  # modifiedSince reaches this far before the cursor (clock skew, commit lag)

Params = list[tuple[str, str]]


def filter_variants(cursor: float | None) -> list[Params]:
    """The equivalent filters for a type whose last complete read started at `cursor` (None:
    never read completely, so the pending ones are listed)."""
    if cursor is None:
        return [[(api.STATUS_PARAM, str(api.STATUS_PENDING))]]
    since = cursor - OVERLAP_SECONDS
    return [[(api.MODIFIED_SINCE_PARAM, api.format_modified_since(since - nudge))]
            for nudge in range(NUDGE_SECONDS + 1)]

