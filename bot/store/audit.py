"""Who did what, when, with what result: decisions and token changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from bot.store.schema import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    company: str
    actor: str
    action: str
    subject: str
    outcome: str


class AuditRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, *, at: float, company: str, actor: str, action: str, subject: str = "",
               outcome: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    at=at, company=company, actor=actor, action=action, subject=subject[:120],
                    outcome=outcome[:64],
                )
            )

    def recent(self, company: str | Sequence[str] | None = None, limit: int = 20) -> list[AuditEntry]:
        """Newest first; of one company, of several, or of all (None)."""
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        if isinstance(company, str):
            query = query.where(audit_log.c.company == company)
        elif company is not None:
            query = query.where(audit_log.c.company.in_(list(company)))
        with self.engine.connect() as conn:
            return [AuditEntry(**r._mapping) for r in conn.execute(query).all()]
