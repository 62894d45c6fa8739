"""Registered approvers and their encrypted tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, Row, bindparam, delete, func, insert, select, update

from bot.store.schema import approvers

ACTIVE = "active"
SUSPECT = "suspect"  # Precoro refused the token once: not used until a second request confirms it
REVOKED = "revoked"  # refused twice: re-checked now and then (`check_at`), restored when accepted
PENDING = "pending"  # connected by the approver, checked with Precoro, waiting for an admin's approval


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
    check_at: float | None = None
    checks: int = 0

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
        registered_by: str, now: float, status: str = ACTIVE,
    ) -> tuple[Approver, bool]:
        """Register or rotate a token; returns the approver and whether it is new. `status` PENDING:
        stored but not used until an admin approves (`approve_pending`)."""
        owner = (
            (approvers.c.company == company)
            & (approvers.c.team_id == team_id)
            & (approvers.c.slack_user_id == slack_user_id)
        )
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(approvers).where(owner).values(
                    email=email, token_ciphertext=token_ciphertext, status=status,
                    registered_by=registered_by, updated_at=now, check_at=None, checks=0,
                )
            ).rowcount
            if not changed:
                conn.execute(
                    insert(approvers).values(
                        company=company, team_id=team_id, slack_user_id=slack_user_id, email=email,
                        token_ciphertext=token_ciphertext, status=status, registered_by=registered_by,
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

    def stamp(self, company: str) -> tuple[object, ...]:
        """Changes whenever the company's approvers do (count, latest update, latest id): cheap to
        compare on every tick before reading the whole list again."""
        with self.engine.connect() as conn:
            return tuple(conn.execute(
                select(func.count(), func.max(approvers.c.updated_at), func.max(approvers.c.id))
                .where(approvers.c.company == company)
            ).one())

    def stamps(self) -> dict[str, tuple[object, ...]]:
        """`stamp` of every company with approvers, in one query (a company missing: (0, None, None))."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvers.c.company, func.count(), func.max(approvers.c.updated_at), func.max(approvers.c.id))
                .group_by(approvers.c.company)
            ).all()
        return {r[0]: tuple(r[1:]) for r in rows}

    def check_companies(self, now: float) -> set[str]:
        """The companies with a token check due (`due_checks` not empty), in one query."""
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(
                select(approvers.c.company).distinct().where(
                    approvers.c.status.in_((SUSPECT, REVOKED))
                    & ((approvers.c.check_at <= now) | approvers.c.check_at.is_(None)))
            ).all()}

    def remove(self, approver_id: int) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(approvers).where(approvers.c.id == approver_id)).rowcount)

    def mark_suspect(self, approver_id: int, now: float, check_at: float) -> bool:
        """Active -> suspect (one refusal seen); True only for the call that changed it."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(approvers).where((approvers.c.id == approver_id) & (approvers.c.status == ACTIVE))
                .values(status=SUSPECT, updated_at=now, check_at=check_at, checks=0)
            ).rowcount)

    def mark_revoked(self, approver_id: int, now: float, check_at: float | None = None) -> bool:
        """Active or suspect -> revoked; returns True only for the call that changed it (so admins
        are told once). `check_at`: when the token is next tried."""
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(approvers)
                    .where((approvers.c.id == approver_id) & approvers.c.status.in_((ACTIVE, SUSPECT)))
                    .values(status=REVOKED, updated_at=now, check_at=check_at, checks=0)
                ).rowcount
            )

    def check_failed(self, approver_id: int, check_at: float) -> None:
        """A revoked token's re-check was refused again: next one at `check_at`."""
        with self.engine.begin() as conn:
            conn.execute(update(approvers).where((approvers.c.id == approver_id) & (approvers.c.status == REVOKED))
                         .values(check_at=check_at, checks=approvers.c.checks + 1))

    def postpone_check(self, approver_id: int, check_at: float) -> None:
        """A check could not be made (no quota, Precoro busy): try again at `check_at`."""
        with self.engine.begin() as conn:
            conn.execute(update(approvers).where((approvers.c.id == approver_id) & (approvers.c.status != ACTIVE))
                         .values(check_at=check_at))

    def restore(self, approver_id: int, now: float, token_ciphertext: str) -> bool:
        """Suspect or revoked -> active, if the token is still the one checked; True if changed."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(approvers)
                .where((approvers.c.id == approver_id) & approvers.c.status.in_((SUSPECT, REVOKED))
                       & (approvers.c.token_ciphertext == token_ciphertext))
                .values(status=ACTIVE, updated_at=now, check_at=None, checks=0)
            ).rowcount)

    def due_checks(self, company: str, now: float) -> list[Approver]:
        """Suspect and revoked approvers whose token is due to be tried (a revoked one from before
        re-checks existed has no time: due at once)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvers).where(
                    (approvers.c.company == company) & approvers.c.status.in_((SUSPECT, REVOKED))
                    & ((approvers.c.check_at <= now) | approvers.c.check_at.is_(None)))
                .order_by(approvers.c.check_at)
            ).all()
        return [_approver(r) for r in rows]

    def next_check(self, company: str) -> float | None:
        """The earliest pending check of the company's suspect or revoked tokens."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(approvers.c.check_at).where(
                (approvers.c.company == company) & approvers.c.status.in_((SUSPECT, REVOKED)))).all()
        return min((0.0 if r[0] is None else float(r[0]) for r in rows), default=None)

    def mark_polled(self, approver_id: int, now: float, new_documents: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(approvers)
                .where(approvers.c.id == approver_id)
                .values(last_polled_at=now, docs_seen=approvers.c.docs_seen + new_documents)
            )

    def approve_pending(self, approver_id: int, now: float, token_ciphertext: str) -> bool:
        """Pending -> active, if the token is still the one the admin was asked about; True if changed."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(approvers)
                .where((approvers.c.id == approver_id) & (approvers.c.status == PENDING)
                       & (approvers.c.token_ciphertext == token_ciphertext))
                .values(status=ACTIVE, updated_at=now)
            ).rowcount)

    def remove_pending(self, approver_id: int, token_ciphertext: str) -> bool:
        """Delete a pending approver and its sealed token (a denied request); True if deleted."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                delete(approvers).where((approvers.c.id == approver_id) & (approvers.c.status == PENDING)
                                        & (approvers.c.token_ciphertext == token_ciphertext))
            ).rowcount)

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
