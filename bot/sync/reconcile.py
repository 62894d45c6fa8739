"""Pure reconciliation of "what Precoro says waits for an approver" with the messages we posted.

A document type whose read did not complete (quota, outage) proves nothing about what is gone,
so only types in `complete_types` can retire a message. And a read that started before a
message last changed (a click decided it meanwhile) cannot bring its buttons back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from bot.precoro.models import Document

OPEN_STATES = frozenset({"waiting", "failed"})
# A decision is under way: its own outcome will redraw the message.
BUSY_STATES = frozenset({"working", "queued"})


@dataclass(frozen=True)
class Known:
    """A message we posted (or are about to post) for one document."""

    message_id: int
    doc_type: str
    idn: str
    state: str
    fingerprint: str
    posted: bool
    updated_at: float


@dataclass(frozen=True)
class SyncPlan:
    new: tuple[Document, ...] = ()  # never posted (or the post never completed): post it
    changed: tuple[tuple[int, Document], ...] = ()  # still waiting, details changed: redraw
    reopened: tuple[tuple[int, Document], ...] = ()  # retired earlier, waiting again: show buttons
    gone: tuple[int, ...] = ()  # no longer waiting: retire the buttons

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.reopened or self.gone)


def reconcile(known: Sequence[Known], waiting: Sequence[Document], complete_types: Collection[str],
              read_started_at: float) -> SyncPlan:
    by_key = {(k.doc_type, k.idn): k for k in known}
    waiting_keys = {(d.doc_type, d.idn) for d in waiting}
    new, changed, reopened = [], [], []
    for doc in waiting:
        mine = by_key.get((doc.doc_type, doc.idn))
        if mine is None or not mine.posted:
            new.append(doc)
        elif mine.state in OPEN_STATES:
            if mine.fingerprint != doc.fingerprint():
                changed.append((mine.message_id, doc))
        elif mine.state not in BUSY_STATES and mine.updated_at < read_started_at:
            reopened.append((mine.message_id, doc))
    gone = tuple(
        k.message_id
        for k in known
        if k.posted and k.state in OPEN_STATES and k.doc_type in complete_types
        and (k.doc_type, k.idn) not in waiting_keys
    )
    return SyncPlan(tuple(new), tuple(changed), tuple(reopened), gone)
