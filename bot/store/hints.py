"""Webhook hints: any replica records them, the company's polling replica takes them."""

from __future__ import annotations

from sqlalchemy import Engine, delete, insert, select

from bot.store.schema import webhook_hints

MAX_PENDING = 1000  # per company: a flood of hints is not worth more than a full discovery run


class HintRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, company: str, doc_type: str, idn: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(webhook_hints).values(company=company, doc_type=doc_type, idn=idn, received_at=now))

    def take(self, company: str) -> list[tuple[str, str]]:
        """The company's pending hints, oldest first, each (type, IDN) once; they are gone after."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(webhook_hints.c.id, webhook_hints.c.doc_type, webhook_hints.c.idn)
                                .where(webhook_hints.c.company == company)
                                .order_by(webhook_hints.c.id).limit(MAX_PENDING)).all()
            if rows:
                conn.execute(delete(webhook_hints).where(webhook_hints.c.id.in_([r.id for r in rows])))
        return list(dict.fromkeys((r.doc_type, r.idn) for r in rows))
