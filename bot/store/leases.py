"""Per-company leases: with several replicas on one database, one of them polls each company.

A lease is a row claim with an expiry, renewed by its holder (all of a replica's companies in
one statement, `claim`, a few times per lease period: `bot/sync/leases.py`). A replica that dies
stops renewing, and another takes the company over once the lease expires.
"""

from __future__ import annotations

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import company_leases


class LeaseRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, companies: list[str], owner: str, now: float, seconds: float) -> set[str]:
        """Take or renew, in one transaction, every lease of `companies` that `owner` holds or
        that has run out; the companies `owner` holds until now + seconds. A company without a
        row yet gets one (once in its life); one another replica holds is left alone."""
        with self.engine.begin() as conn:
            conn.execute(
                update(company_leases)
                .where(company_leases.c.company.in_(companies)
                       & ((company_leases.c.owner == owner) | (company_leases.c.expires_at < now)))
                .values(owner=owner, expires_at=now + seconds)
            )
            rows = conn.execute(select(company_leases.c.company, company_leases.c.owner)
                                .where(company_leases.c.company.in_(companies))).all()
            held = {r.company for r in rows if r.owner == owner}
            for company in set(companies) - {r.company for r in rows}:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(company_leases).values(company=company, owner=owner,
                                                                   expires_at=now + seconds))
                    held.add(company)
                except IntegrityError:
                    pass  # another replica inserted it first
        return held

    def release_all(self, companies: list[str], owner: str) -> None:
        """Give the companies up at once (graceful shutdown), so another replica need not wait."""
        with self.engine.begin() as conn:
            conn.execute(update(company_leases)
                         .where(company_leases.c.company.in_(companies) & (company_leases.c.owner == owner))
                         .values(expires_at=0.0))

    def holder(self, company: str, now: float) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(company_leases.c.owner, company_leases.c.expires_at).where(company_leases.c.company == company)
            ).first()
        return str(row[0]) if row and row[1] >= now else None
