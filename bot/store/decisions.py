"""The decision outbox: written before any POST, finished only after Precoro answers.

Fenced: every claim writes a new random token into the row and hands it to its attempt; `renew`,
`finish` and `retry_later` change the row only while it still holds that token (and is SENDING),
and say whether it did. An attempt that stalled past its lease (a frozen VM, a blocked event loop,
a lock wait) and was taken over finds its token gone: it must send nothing and change nothing.

One decision per (company, document, Precoro user) as well as per message: the same Precoro user
registered twice (two Slack users with one Precoro email) cannot send two decisions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Row, case, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import approvers, decisions

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
    claim: str | None = None  # the fencing token of the attempt that holds it (see the module doc)
    precoro_user: str | None = None

    @property
    def unsure(self) -> bool:
        """An earlier POST may have reached Precoro: look before sending."""
        return self.outcome.startswith(UNSURE)


def _decision(row: Row) -> Decision:
    return Decision(**row._mapping)


class DecisionRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def open(
        self, *, message_id: int, approver_id: int, company: str, doc_type: str, idn: str, action: str,
        comment: str, clicked_by: str, now: float, first_attempt_at: float | None = None,
        precoro_user: str | None = None,
    ) -> tuple[Decision, bool]:
        """Record a click's decision. Returns (decision, True) only for the click that opened it:
        a double click, a retried Slack request, another replica, or a click by the same Precoro
        user in another message (registered twice) gets (existing, False).

        A FAILED decision of this message is reopened by a new click; if an earlier attempt may
        have sent its POST (UNSURE), it stays unsure, so the next attempt looks before sending.

        `first_attempt_at` is when the worker may take it if the click itself never does (the click
        attempts it at once; a worker that took it first would leave the clicker without an answer).
        `precoro_user` defaults to the approver's email, lower-cased."""
        first = now if first_attempt_at is None else first_attempt_at
        with self.engine.begin() as conn:
            user = precoro_user if precoro_user is not None else self._precoro_user(conn, approver_id)
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(decisions).values(
                            message_id=message_id, approver_id=approver_id, company=company,
                            doc_type=doc_type, idn=idn, action=action, comment=comment,
                            clicked_by=clicked_by, state=PENDING, attempts=0, next_attempt_at=first,
                            outcome="", created_at=now, updated_at=now, precoro_user=user,
                        )
                    )
                created = True
            except IntegrityError:
                created = bool(
                    conn.execute(
                        update(decisions)
                        .where((decisions.c.message_id == message_id) & (decisions.c.state == FAILED))
                        .values(action=action, comment=comment, clicked_by=clicked_by, state=PENDING,
                                attempts=0, next_attempt_at=first, claimed_until=None, claim=None,
                                outcome=case((decisions.c.outcome.like(f"{UNSURE}%"), literal(UNSURE)),
                                             else_=literal("")),
                                updated_at=now)
                    ).rowcount
                )
            row = conn.execute(select(decisions).where(decisions.c.message_id == message_id)).first()
            if row is None:  # the same Precoro user's decision, opened from another message
                row = conn.execute(select(decisions).where(
                    (decisions.c.company == company) & (decisions.c.doc_type == doc_type)
                    & (decisions.c.idn == idn) & (decisions.c.precoro_user == user))).one()
        return _decision(row), created

    @staticmethod
    def _precoro_user(conn: Connection, approver_id: int) -> str | None:
        email = conn.execute(select(func.lower(approvers.c.email)).where(approvers.c.id == approver_id)).scalar()
        return email.strip() if email else None

    def claim(self, decision_id: int, now: float, lease_seconds: float) -> Decision | None:
        """Take a pending (or abandoned) decision for one attempt; None if someone else has it.
        The decision returned carries a new fencing token (`claim`) for the calls that follow.

        Taking over an abandoned one (its worker died or stalled mid-attempt) marks it UNSURE: that
        worker may have sent the POST."""
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
                        updated_at=now, claim=uuid.uuid4().hex,
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

    def _held(self, decision_id: int, claim: str | None):  # type: ignore[no-untyped-def]
        """The row, and only while the attempt holding `claim` still has it (None: unfenced)."""
        where = decisions.c.id == decision_id
        if claim is not None:
            where = where & (decisions.c.claim == claim) & (decisions.c.state == SENDING)
        return update(decisions).where(where)

    def renew(self, decision_id: int, claim: str, now: float, lease_seconds: float) -> bool:
        """Still mine? If the attempt holding `claim` still has the decision, extend its lease from
        now and say True; False once another attempt has taken it over (or it ended)."""
        with self.engine.begin() as conn:
            return bool(conn.execute(self._held(decision_id, claim).values(claimed_until=now + lease_seconds))
                        .rowcount)

    def finish(self, decision_id: int, state: str, outcome: str, now: float, *, claim: str | None = None) -> bool:
        """End the decision (DONE or FAILED); with `claim`, only while that attempt holds it.
        True if it changed."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                self._held(decision_id, claim).values(state=state, outcome=outcome, claimed_until=None, claim=None,
                                                      updated_at=now)
            ).rowcount)

    def retry_later(self, decision_id: int, next_attempt_at: float, outcome: str, now: float, *,
                    claim: str | None = None) -> bool:
        """Back to PENDING for a later attempt; with `claim`, only while that attempt holds it."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                self._held(decision_id, claim).values(state=PENDING, next_attempt_at=next_attempt_at, outcome=outcome,
                                                      claimed_until=None, claim=None, updated_at=now)
            ).rowcount)

    def any_due(self, now: float) -> bool:
        """Whether some decision waits for an attempt (or a dead worker's claim has run out)."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(decisions.c.id)
                .where(or_((decisions.c.state == PENDING) & (decisions.c.next_attempt_at <= now),
                           (decisions.c.state == SENDING) & (decisions.c.claimed_until < now)))
                .limit(1)
            ).first() is not None

    def busy(self, company: str, soon: float) -> bool:
        """Whether a decision of the company is being sent, or is due before `soon`."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(decisions.c.id)
                .where((decisions.c.company == company)
                       & or_((decisions.c.state == PENDING) & (decisions.c.next_attempt_at <= soon),
                             decisions.c.state == SENDING))
                .limit(1)
            ).first() is not None

    def for_message(self, message_id: int) -> Decision | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.message_id == message_id)).first()
        return _decision(row) if row else None
