"""Storage: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (several replicas).

The repositories are synchronous; async code reaches them only through `Store.run`, which
runs the call off the event loop within a timeout (`bot/store/boundary.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine, text

from bot.store.approvers import ApproverRepo
from bot.store.audit import AuditRepo
from bot.store.away import AwayRepo
from bot.store.boundary import DEFAULT_TIMEOUT_SECONDS, Boundary
from bot.store.db import DATABASE_UNAVAILABLE, open_database
from bot.store.decisions import DecisionRepo
from bot.store.discovery import DiscoveryRepo
from bot.store.hints import HintRepo
from bot.store.history import HistoryRepo
from bot.store.home import HomeRepo
from bot.store.invitations import InvitationRepo
from bot.store.leases import LeaseRepo
from bot.store.messages import MessageRepo
from bot.store.quota import QuotaRepo

__all__ = ["DATABASE_UNAVAILABLE", "Store"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Store:
    engine: Engine
    approvers: ApproverRepo
    messages: MessageRepo
    decisions: DecisionRepo
    quota: QuotaRepo
    audit: AuditRepo
    leases: LeaseRepo
    discovery: DiscoveryRepo
    home: HomeRepo
    hints: HintRepo
    invitations: InvitationRepo
    boundary: Boundary
    away: AwayRepo
    history: HistoryRepo

    @classmethod
    def open(cls, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS, inline: bool = False) -> Store:
        """`timeout` bounds every database wait; `inline` runs `run`'s calls on the event loop
        (the simulation's virtual clock: see `Boundary`)."""
        engine = open_database(url, timeout=timeout)
        return cls(
            engine=engine,
            approvers=ApproverRepo(engine),
            messages=MessageRepo(engine),
            decisions=DecisionRepo(engine),
            quota=QuotaRepo(engine),
            audit=AuditRepo(engine),
            leases=LeaseRepo(engine),
            discovery=DiscoveryRepo(engine),
            home=HomeRepo(engine),
            hints=HintRepo(engine),
            invitations=InvitationRepo(engine),
            boundary=Boundary(timeout=timeout, inline=inline),
            away=AwayRepo(engine),
            history=HistoryRepo(engine),
        )

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """A repository call from async code: off the event loop, within the timeout."""
        return await self.boundary.run(fn, *args, **kwargs)

    def ping(self) -> bool:
        """The database answers a trivial statement (blocking)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def close(self) -> None:
        self.boundary.close()
        self.engine.dispose()
