"""Storage: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (several replicas)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from bot.store.approvers import ApproverRepo
from bot.store.audit import AuditRepo
from bot.store.db import DATABASE_UNAVAILABLE, open_database
from bot.store.decisions import DecisionRepo
from bot.store.discovery import DiscoveryRepo
from bot.store.hints import HintRepo
from bot.store.home import HomeRepo
from bot.store.leases import LeaseRepo
from bot.store.messages import MessageRepo
from bot.store.quota import QuotaRepo

__all__ = ["DATABASE_UNAVAILABLE", "Store"]


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

    @classmethod
    def open(cls, url: str) -> Store:
        engine = open_database(url)
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
        )

    def close(self) -> None:
        self.engine.dispose()
