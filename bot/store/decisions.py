"""The decision outbox: written before any POST, finished only after Precoro answers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Row, case, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import decisions

PENDING = "pending"  # waiting for its (next) attempt
SENDING = "sending"  # claimed by a worker; a lapsed claim means that worker died
DONE = "done"
FAILED = "failed"  # final for this click; a new click may reopen it
# Outcome prefix of a decision whose earlier POST may have reached Precoro (its answer was lost,
# or the worker died while sending): the next attempt looks at the document before sending again.
UNSURE = "unsure"


@dataclass(frozen=True)
class Decision:
    id: int
    message_id: int
    approver_id: int
    company: str
    doc_type: str
    idn: str
    action: str
    comment: str
    clicked_by: str
    state: str
    attempts: int
    next_attempt_at: float
    claimed_until: float | None
    outcome: str
    created_at: float
    updated_at: float


def _decision(row: Row) -> Decision:
    return Decision(**row._mapping)


class DecisionRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open(
        self, *, message_id: int, approver_id: int, company: str, doc_type: str, idn: str, action: str,
        comment: str, clicked_by: str, now: float, first_attempt_at: float | None = None,
    ) -> tuple[Decision, bool]:
        """Record a click's decision. Returns (decision, True) only for the click that opened it:
        a double click, a retried Slack request or another replica gets (existing, False).

        `first_attempt_at` is when the worker may take it if the click itself never does (the click
        attempts it at once; a worker that took it first would leave the clicker without an answer)."""
        first = now if first_attempt_at is None else first_attempt_at
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(decisions).values(
                            message_id=message_id, approver_id=approver_id, company=company,
                            doc_type=doc_type, idn=idn, action=action, comment=comment,
                            clicked_by=clicked_by, state=PENDING, attempts=0, next_attempt_at=first,
                            outcome="", created_at=now, updated_at=now,
                        )
                    )
                created = True
            except IntegrityError:
                created = bool(
                    conn.execute(
                        update(decisions)
                        .where((decisions.c.message_id == message_id) & (decisions.c.state == FAILED))
                        .values(action=action, comment=comment, clicked_by=clicked_by, state=PENDING,
                                attempts=0, next_attempt_at=first, claimed_until=None, outcome="",
                                updated_at=now)
                    ).rowcount
                )
            row = conn.execute(select(decisions).where(decisions.c.message_id == message_id)).one()
        return _decision(row), created

    def claim(self, decision_id: int, now: float, lease_seconds: float) -> Decision | None:
        """Take a pending (or abandoned) decision for one attempt; None if someone else has it.

        Taking over an abandoned one (its worker died mid-attempt) marks it UNSURE: that worker
        may have sent the POST."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(decisions)
                .where(
                    (decisions.c.id == decision_id)
                    & (
                        (decisions.c.state == PENDING)
                        | ((decisions.c.state == SENDING) & (decisions.c.claimed_until < now))
                    )
                )
                .values(state=SENDING, claimed_until=now + lease_seconds, attempts=decisions.c.attempts + 1,
                        updated_at=now,
                        outcome=case((decisions.c.state == SENDING, literal(UNSURE)), else_=decisions.c.outcome))
            ).rowcount
            if not changed:
                return None
            return _decision(conn.execute(select(decisions).where(decisions.c.id == decision_id)).one())

    def due(self, now: float, limit: int = 20) -> list[Decision]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(decisions)
                .where(
                    or_(
                        (decisions.c.state == PENDING) & (decisions.c.next_attempt_at <= now),
                        (decisions.c.state == SENDING) & (decisions.c.claimed_until < now),
                    )
                )
                .order_by(decisions.c.next_attempt_at)
                .limit(limit)
            ).all()
        return [_decision(r) for r in rows]

    def finish(self, decision_id: int, state: str, outcome: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(decisions)
                .where(decisions.c.id == decision_id)
                .values(state=state, outcome=outcome, claimed_until=None, updated_at=now)
            )

    def retry_later(self, decision_id: int, next_attempt_at: float, outcome: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(decisions)
                .where(decisions.c.id == decision_id)
                .values(state=PENDING, next_attempt_at=next_attempt_at, outcome=outcome, claimed_until=None,
                        updated_at=now)
            )

    def for_message(self, message_id: int) -> Decision | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.message_id == message_id)).first()
        return _decision(row) if row else None
