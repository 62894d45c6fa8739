"""Persistence of the quota ledger: the database is the one truth all replicas share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot.quota.ledger import Lane, Spend
from bot.store.schema import quota_gates, quota_spends


@dataclass(frozen=True)
class StoredSpend:
    id: int
    at: float
    lane: str
    get_key: str | None
    finished_at: float | None
    status: int | None


class LockedBook:
    """One company's ledger inside a transaction that holds its lock."""

    def __init__(self, conn: Connection, company: str) -> None:
        self.conn = conn
        self.company = company

    def spends_since(self, since: float) -> list[StoredSpend]:
        rows = self.conn.execute(
            select(quota_spends.c.id, quota_spends.c.at, quota_spends.c.lane, quota_spends.c.get_key,
                   quota_spends.c.finished_at, quota_spends.c.status)
            .where((quota_spends.c.company == self.company) & (quota_spends.c.at >= since))
            .order_by(quota_spends.c.at)
        ).all()
        return [StoredSpend(*r) for r in rows]

    def blocked_until(self) -> float:
        value = self.conn.execute(
            select(quota_gates.c.blocked_until).where(quota_gates.c.company == self.company)
        ).scalar_one()
        return float(value)

    def add(self, at: float, lane: str, get_key: str | None) -> int:
        result = self.conn.execute(
            insert(quota_spends).values(company=self.company, at=at, lane=lane, get_key=get_key)
        )
        return int(result.inserted_primary_key[0])


class QuotaRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def locked(self, company: str) -> Iterator[LockedBook]:
        """A transaction holding the company's ledger lock (row lock on PostgreSQL, the
        database write lock on SQLite), so that reading the spends and adding one is atomic
        across processes."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    pg_insert(quota_gates).values(company=company, blocked_until=0.0, blocked_reason="")
                    .on_conflict_do_nothing()
                )
                conn.execute(select(quota_gates.c.company).where(quota_gates.c.company == company)
                             .with_for_update())
            else:
                exists = conn.execute(select(quota_gates.c.company).where(quota_gates.c.company == company)).first()
                if not exists:
                    conn.execute(insert(quota_gates).values(company=company, blocked_until=0.0, blocked_reason=""))
            yield LockedBook(conn, company)

    def finish(self, spend_id: int, finished_at: float, status: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(quota_spends).where(quota_spends.c.id == spend_id)
                .values(finished_at=finished_at, status=status)
            )

    def block(self, company: str, until: float, reason: str) -> None:
        """Close the company's gate until `until` (never shortening a longer block)."""
        with self.locked(company) as book:
            if until > book.blocked_until():
                book.conn.execute(
                    update(quota_gates).where(quota_gates.c.company == company)
                    .values(blocked_until=until, blocked_reason=reason[:80])
                )

    def unblock(self, company: str, now: float) -> bool:
        """Open the company's gate at once (an admin's `resume`); True if a block was in force."""
        with self.locked(company) as book:
            if book.blocked_until() <= now:
                return False
            book.conn.execute(update(quota_gates).where(quota_gates.c.company == company)
                              .values(blocked_until=0.0, blocked_reason=""))
            return True

    def cancel(self, spend_id: int) -> None:
        """Drop a booked spend whose request was never sent."""
        with self.engine.begin() as conn:
            conn.execute(delete(quota_spends).where(quota_spends.c.id == spend_id))

    def gate(self, company: str) -> tuple[float, str]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(quota_gates.c.blocked_until, quota_gates.c.blocked_reason)
                .where(quota_gates.c.company == company)
            ).first()
        return (float(row[0]), str(row[1])) if row else (0.0, "")

    def counts(self, company: str, since: float) -> dict[str, int]:
        """Requests per lane since a time, for status and metrics."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(quota_spends.c.lane, func.count())
                .where((quota_spends.c.company == company) & (quota_spends.c.at >= since))
                .group_by(quota_spends.c.lane)
            ).all()
        return {lane: int(n) for lane, n in rows}

    def prune(self, before: float) -> int:
        """Drop spends older than every window: they can no longer limit anything."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(quota_spends).where(quota_spends.c.at < before)).rowcount)

    def recent_spends(self, company: str, since: float) -> list[Spend]:
        """Spends since a time as the pure ledger sees them (for planning, not for booking)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(quota_spends.c.at, quota_spends.c.lane, quota_spends.c.get_key)
                .where((quota_spends.c.company == company) & (quota_spends.c.at >= since))
            ).all()
        return [Spend(at=at, lane=Lane(lane), get_key=key) for at, lane, key in rows]
