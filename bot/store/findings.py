"""What the bot learned about each company's Precoro (run time or `precoro-bot doctor`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import precoro_findings


@dataclass(frozen=True)
class Finding:
    company: str
    name: str
    value: str
    source: str
    found_at: float
    told_at: float | None


class FindingRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self, company: str) -> list[Finding]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(precoro_findings).where(precoro_findings.c.company == company)
                                .order_by(precoro_findings.c.name)).all()
        return [Finding(r.company, r.name, r.value, r.source, r.found_at, r.told_at) for r in rows]

    def get(self, company: str, name: str) -> Finding | None:
        return next((f for f in self.all(company) if f.name == name), None)

    def record(self, company: str, name: str, value: str, *, source: str, now: float) -> bool:
        """Store a finding; True if it is new or its value changed (then the admins are to be told
        again: `told_at` is cleared)."""
        where = (precoro_findings.c.company == company) & (precoro_findings.c.name == name)
        with self.engine.begin() as conn:
            if conn.execute(update(precoro_findings).where(where & (precoro_findings.c.value != value))
                            .values(value=value, source=source, found_at=now, told_at=None)).rowcount:
                return True
            if conn.execute(select(precoro_findings.c.value).where(where)).first() is not None:
                return False
            try:
                with conn.begin_nested():
                    conn.execute(insert(precoro_findings).values(company=company, name=name, value=value,
                                                                 source=source, found_at=now, told_at=None))
            except IntegrityError:  # another replica recorded it meanwhile
                return False
            return True

    def claim_telling(self, company: str, name: str, now: float) -> bool:
        """True for exactly one caller (any replica): the one that tells the admins."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(precoro_findings)
                .where((precoro_findings.c.company == company) & (precoro_findings.c.name == name)
                       & precoro_findings.c.told_at.is_(None))
                .values(told_at=now)).rowcount)
