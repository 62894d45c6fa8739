"""Registered approvers and their encrypted tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, Row, bindparam, delete, insert, select, update

from bot.store.schema import approvers

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True)
class Approver:
    id: int
    company: str
    team_id: str
    slack_user_id: str
    email: str
    token_ciphertext: str = field(repr=False)
    status: str
    registered_by: str
    created_at: float
    updated_at: float
    last_polled_at: float | None
    docs_seen: int

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


def _approver(row: Row) -> Approver:
    return Approver(**row._mapping)


# Built once: every click reads its approver several times, and building the statement would
# cost more than running it.
_BY_ID = select(approvers).where(approvers.c.id == bindparam("id"))


class ApproverRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(
        self, *, company: str, team_id: str, slack_user_id: str, email: str, token_ciphertext: str,
        registered_by: str, now: float,
    ) -> tuple[Approver, bool]:
        """Register or rotate a token; returns the approver and whether it is new."""
        owner = (
            (approvers.c.company == company)
            & (approvers.c.team_id == team_id)
            & (approvers.c.slack_user_id == slack_user_id)
        )
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(approvers).where(owner).values(
                    email=email, token_ciphertext=token_ciphertext, status=ACTIVE,
                    registered_by=registered_by, updated_at=now,
                )
            ).rowcount
            if not changed:
                conn.execute(
                    insert(approvers).values(
                        company=company, team_id=team_id, slack_user_id=slack_user_id, email=email,
                        token_ciphertext=token_ciphertext, status=ACTIVE, registered_by=registered_by,
                        created_at=now, updated_at=now, docs_seen=0,
                    )
                )
            row = conn.execute(select(approvers).where(owner)).one()
        return _approver(row), not changed

    def get(self, approver_id: int) -> Approver | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BY_ID, {"id": approver_id}).first()
        return _approver(row) if row else None

    def find(self, company: str, team_id: str, slack_user_id: str) -> Approver | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(approvers).where(
                    (approvers.c.company == company)
                    & (approvers.c.team_id == team_id)
                    & (approvers.c.slack_user_id == slack_user_id)
                )
            ).first()
        return _approver(row) if row else None

    def for_slack_user(self, team_id: str, slack_user_id: str) -> list[Approver]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvers)
                .where((approvers.c.team_id == team_id) & (approvers.c.slack_user_id == slack_user_id))
                .order_by(approvers.c.company)
            ).all()
        return [_approver(r) for r in rows]

    def list(self, company: str | None = None, *, active_only: bool = False) -> list[Approver]:
        query = select(approvers).order_by(approvers.c.company, approvers.c.slack_user_id)
        if company is not None:
            query = query.where(approvers.c.company == company)
        if active_only:
            query = query.where(approvers.c.status == ACTIVE)
        with self.engine.connect() as conn:
            return [_approver(r) for r in conn.execute(query).all()]

    def remove(self, approver_id: int) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(approvers).where(approvers.c.id == approver_id)).rowcount)

    def mark_revoked(self, approver_id: int, now: float) -> bool:
        """Returns True only for the call that changed it (so admins are told once)."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(approvers)
                    .where((approvers.c.id == approver_id) & (approvers.c.status == ACTIVE))
                    .values(status=REVOKED, updated_at=now)
                ).rowcount
            )

    def mark_polled(self, approver_id: int, now: float, new_documents: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(approvers)
                .where(approvers.c.id == approver_id)
                .values(last_polled_at=now, docs_seen=approvers.c.docs_seen + new_documents)
            )

    def replace_ciphertext(self, approver_id: int, old: str, new: str) -> bool:
        """Compare-and-set, so a rotation never overwrites a token registered meanwhile."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(approvers)
                    .where((approvers.c.id == approver_id) & (approvers.c.token_ciphertext == old))
                    .values(token_ciphertext=new)
                ).rowcount
            )
