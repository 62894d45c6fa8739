"""The Home's "Decided by me": an approver's finished decisions of the last days, with the
document as the bot last stored it (no Precoro request)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from bot.store.decisions import DONE
from bot.store.schema import decisions, posted_messages

HISTORY_ROWS_MAX = 1000  # a month of one approver's decisions, with room; older ones are not shown


@dataclass(frozen=True)
class Decided:
    company: str
    doc_type: str
    idn: str
    action: str  # approve | reject
    comment: str
    decided_at: float
    document: str  # the document as stored (JSON)


class HistoryRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def decided(self, approver_ids: Iterable[int], clicked_by: str, since: float) -> list[Decided]:
        """Decisions `clicked_by` made for these approvers (their own registrations) that Precoro
        took, since `since`, newest first."""
        ids = list(approver_ids)
        if not ids:
            return []
        query = (
            select(decisions.c.company, decisions.c.doc_type, decisions.c.idn, decisions.c.action,
                   decisions.c.comment, decisions.c.updated_at, posted_messages.c.document)
            .join(posted_messages, posted_messages.c.id == decisions.c.message_id)
            .where(decisions.c.approver_id.in_(ids) & (decisions.c.clicked_by == clicked_by)
                   & (decisions.c.state == DONE) & (decisions.c.updated_at >= since))
            .order_by(decisions.c.updated_at.desc(), decisions.c.id.desc())
            .limit(HISTORY_ROWS_MAX)
        )
        with self.engine.connect() as conn:
            return [Decided(*row) for row in conn.execute(query).all()]
