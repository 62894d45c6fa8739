"""Per-approver polls when Precoro keys duplicate GETs by route (path only, any query).

Then a list path (`/purchaseorders`, `/invoices`...) can be read once a minute company-wide,
whatever the query: page sizes and filters no longer make distinct reads, and a poll and a
discovery run of one type collide. Discovery goes first (one run finds documents for everyone):
a safety-net poll, which reads every type's list path, may start only when no list path was read
within the duplicate window and the next discovery run is not due before that window ends (else
the poll would hold the run back by up to a minute). One poll at most per window. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.precoro import api
from bot.quota import planner
from bot.quota.gate import get_key
from bot.quota.ledger import QuotaPolicy, Spend

SAFETY_NET_SECONDS = 600.0  # a poll may hold discovery back when none started for this long


def list_keys(doc_types: Sequence[str]) -> frozenset[str]:
    """The route keys of the types' list reads (the gate's keys once route keyed)."""
    return frozenset(get_key(api.list_path(t), []) for t in doc_types)


def poll_room(spends: Sequence[Spend], doc_types: Sequence[str], policy: QuotaPolicy, now: float, *,
              discovery_due: tuple[float, int] | None, last_poll: float | None,
              profile: Sequence[float] = planner.FLAT) -> int:
    """Polls that may start now (0 or 1). `discovery_due`: the scheduler's (weighted seconds
    until the next discovery run, its cost), None when discovery is off or not planned;
    `last_poll`: when the last per-approver poll started (None: not known)."""
    window = policy.duplicate_get_seconds + policy.margin_seconds
    keys = list_keys(doc_types)
    if any(s.get_key in keys and s.at > now - window for s in reversed(spends)):
        return 0
    starved = last_poll is None or now - last_poll >= SAFETY_NET_SECONDS
    if (discovery_due is not None and not starved
            and discovery_due[0] < planner.weighted_seconds(profile, now, now + window)):
        return 0
    return 1
