"""Webhook hints: any replica records them, the company's polling replica takes them."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, select, update

from bot.store.schema import posted_messages, webhook_hints

MAX_PENDING = 1000  # per company: a flood of hints is not worth more than a full discovery run
# The IDN of a hint about "some document of this type": the webhook named none the bot could
# resolve (Precoro sends the IDN only "if available"); the next discovery run or poll picks it up.
ANY_DOCUMENT = ""


class HintRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, company: str, doc_type: str, idn: str, now: float) -> bool:
        """Record a hint unless the same document already waits to be looked at, or the company
        has MAX_PENDING waiting (then discovery will find it anyway); True when recorded.

        Either way the document changed: its last read is forgotten (in the same transaction), so
        a click on it looks at Precoro first instead of trusting that read."""
        same = ((webhook_hints.c.company == company) & (webhook_hints.c.doc_type == doc_type)
                & (webhook_hints.c.idn == idn))
        with self.engine.begin() as conn:
            conn.execute(update(posted_messages).where((posted_messages.c.company == company)
                                                       & (posted_messages.c.doc_type == doc_type)
                                                       & (posted_messages.c.idn == idn)
                                                       & posted_messages.c.read_at.is_not(None)).values(read_at=None))
            if conn.execute(select(webhook_hints.c.id).where(same).limit(1)).first() is not None:
                return False
            pending = conn.execute(select(func.count()).select_from(webhook_hints)
                                   .where(webhook_hints.c.company == company)).scalar_one()
            if pending >= MAX_PENDING:
                return False
            conn.execute(insert(webhook_hints).values(company=company, doc_type=doc_type, idn=idn, received_at=now))
        return True

    def purge(self, before: float) -> int:
        """Forget hints received before `before` (a company nobody polls would keep them forever)."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(webhook_hints).where(webhook_hints.c.received_at < before)).rowcount or 0)

    def count(self, company: str | None = None) -> int:
        query = select(func.count()).select_from(webhook_hints)
        if company is not None:
            query = query.where(webhook_hints.c.company == company)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def companies(self) -> set[str]:
        """The companies with pending hints (one query for a tick over every company)."""
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(select(webhook_hints.c.company).distinct()).all()}

    def take(self, company: str) -> list[tuple[str, str]]:
        """The company's pending hints, oldest first, each (type, IDN) once; they are gone after."""
        with self.engine.begin() as conn:
            rows = conn.execute(select(webhook_hints.c.id, webhook_hints.c.doc_type, webhook_hints.c.idn)
                                .where(webhook_hints.c.company == company)
                                .order_by(webhook_hints.c.id).limit(MAX_PENDING)).all()
            if rows:
                conn.execute(delete(webhook_hints).where(webhook_hints.c.id.in_([r.id for r in rows])))
        return list(dict.fromkeys((r.doc_type, r.idn) for r in rows))
