"""Requesters told of an outcome, their mutes, and the finance channel's threads (issue 17).

Each "once" is a row claimed before the Slack call (a unique key or a compare-and-set), so two
paths that learn the same outcome (a click and a discovery run, two replicas) send it once.
Blocking (database): async code calls these through `store.run`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import approvers, finance_threads, outcome_mutes, posted_messages, requester_outcomes

REVISION = "revision"  # the outcome "sent back" (bot/features/outcomes/rules.py): not final, a decision may follow

CLAIMED = "claimed"
SENT = "sent"
MUTED = "muted"
NOT_IN_SLACK = "not_in_slack"
NO_EMAIL = "no_email"
FAILED = "failed"
WAITING_STATES = ("waiting", "failed", "working", "queued")  # still in someone's queue


@dataclass(frozen=True)
class KnownDocument:
    """A document the bot posted about: its workspace and the copy last stored."""

    doc_type: str
    idn: str
    team_id: str
    document: str  # raw JSON
    first_seen_at: float

    @property
    def raw_document(self) -> dict[str, Any]:
        return json.loads(self.document)


class OutcomeRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- requesters -------------------------------------------------------------------------------

    def recorded(self, company: str, doc_type: str, idn: str) -> set[str]:
        """The outcomes already handled for this document."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(requester_outcomes.c.outcome).where(
                (requester_outcomes.c.company == company) & (requester_outcomes.c.doc_type == doc_type)
                & (requester_outcomes.c.idn == idn))).all()
        return {str(r[0]) for r in rows}

    def claim(self, company: str, doc_type: str, idn: str, outcome: str, email: str, now: float) -> bool:
        """True for exactly one caller per (company, document, outcome): the one that tells."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(requester_outcomes).values(
                    company=company, doc_type=doc_type, idn=idn, outcome=outcome, requester_email=email[:320],
                    slack_user_id="", result=CLAIMED, at=now))
        except IntegrityError:
            return False
        return True

    def finish(self, company: str, doc_type: str, idn: str, outcome: str, result: str, slack_user: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(update(requester_outcomes).where(
                (requester_outcomes.c.company == company) & (requester_outcomes.c.doc_type == doc_type)
                & (requester_outcomes.c.idn == idn) & (requester_outcomes.c.outcome == outcome))
                .values(result=result, slack_user_id=slack_user[:32]))

    def counts(self, company: str) -> dict[str, int]:
        """How many outcomes ended in each result."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(requester_outcomes.c.result, func.count()).where(
                requester_outcomes.c.company == company).group_by(requester_outcomes.c.result)).all()
        return {str(r): int(n) for r, n in rows}

    def not_in_slack(self, company: str, limit: int = 5) -> list[str]:
        """The latest requesters' emails that matched nobody in Slack (distinct)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(requester_outcomes.c.requester_email).where(
                (requester_outcomes.c.company == company) & (requester_outcomes.c.result == NOT_IN_SLACK))
                .order_by(requester_outcomes.c.at.desc()).limit(50)).all()
        out: list[str] = []
        for (email,) in rows:
            if email not in out:
                out.append(str(email))
        return out[:limit]

    def mute(self, team: str, user: str, now: float) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(outcome_mutes).values(team_id=team, slack_user_id=user, at=now))
        except IntegrityError:
            pass  # muted already

    def unmute(self, team: str, user: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(outcome_mutes).where((outcome_mutes.c.team_id == team)
                                                     & (outcome_mutes.c.slack_user_id == user)))

    def muted(self, team: str, user: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(outcome_mutes.c.at).where(
                (outcome_mutes.c.team_id == team) & (outcome_mutes.c.slack_user_id == user))).first() is not None

    # --- documents the bot knows ------------------------------------------------------------------

    def known(self, company: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], KnownDocument]:
        """Of these documents, those the bot posted about (to any approver), with their workspace."""
        out: dict[tuple[str, str], KnownDocument] = {}
        by_type: dict[str, list[str]] = {}
        for doc_type, idn in keys:
            by_type.setdefault(doc_type, []).append(idn)
        query = select(posted_messages.c.doc_type, posted_messages.c.idn, approvers.c.team_id,
                       posted_messages.c.document, posted_messages.c.first_seen_at).join(
            approvers, approvers.c.id == posted_messages.c.approver_id)
        with self.engine.connect() as conn:
            for doc_type, idns in by_type.items():
                for i in range(0, len(idns), 500):
                    for row in conn.execute(query.where(
                            (posted_messages.c.company == company) & (posted_messages.c.doc_type == doc_type)
                            & posted_messages.c.idn.in_(idns[i:i + 500]) & posted_messages.c.ts.is_not(None))
                            .order_by(posted_messages.c.id)):
                        out.setdefault((row.doc_type, row.idn), KnownDocument(
                            row.doc_type, row.idn, row.team_id, row.document, float(row.first_seen_at)))
        return out

    def waiting(self, company: str) -> list[KnownDocument]:
        """Documents still in an approver's queue whose finance "waiting" line was not posted yet,
        each once (first seen: the earliest of its messages)."""
        with self.engine.connect() as conn:
            told = {(r.doc_type, r.idn) for r in conn.execute(
                select(finance_threads.c.doc_type, finance_threads.c.idn).where(
                    (finance_threads.c.company == company) & finance_threads.c.waiting_at.is_not(None)))}
            rows = conn.execute(
                select(posted_messages.c.doc_type, posted_messages.c.idn, approvers.c.team_id,
                       posted_messages.c.document, posted_messages.c.first_seen_at)
                .join(approvers, approvers.c.id == posted_messages.c.approver_id)
                .where((posted_messages.c.company == company)
                       & posted_messages.c.state.in_(list(WAITING_STATES)) & posted_messages.c.ts.is_not(None))
                .order_by(posted_messages.c.first_seen_at)).all()
        out: dict[tuple[str, str], KnownDocument] = {}
        for row in rows:
            if (row.doc_type, row.idn) not in told:
                out.setdefault((row.doc_type, row.idn), KnownDocument(
                    row.doc_type, row.idn, row.team_id, row.document, float(row.first_seen_at)))
        return list(out.values())

    # --- the finance channel ------------------------------------------------------------------------

    def claim_line(self, company: str, doc_type: str, idn: str, channel: str, kind: str, value: str,
                   now: float) -> tuple[bool, str | None]:
        """Claim the document's "waiting" or "decided" line (once each); returns (claimed, the
        thread's parent ts if its first post is recorded)."""
        where = ((finance_threads.c.company == company) & (finance_threads.c.doc_type == doc_type)
                 & (finance_threads.c.idn == idn))
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(finance_threads).values(company=company, doc_type=doc_type, idn=idn,
                                                            channel=channel, updated_at=now))
        except IntegrityError:
            pass  # the thread exists
        column = finance_threads.c.waiting_at if kind == "waiting" else finance_threads.c.decided
        free = column.is_(None)
        if kind != "waiting" and value != REVISION:  # a final decision still comes after a sending back
            free = free | (column == REVISION)
        with self.engine.begin() as conn:
            claimed = bool(conn.execute(update(finance_threads).where(where & free).values(
                **{column.name: now if kind == "waiting" else value[:16]}, updated_at=now)).rowcount)
            parent = conn.execute(select(finance_threads.c.parent_ts, finance_threads.c.channel).where(where)).first()
        if parent is None or parent.channel != channel:
            return claimed, None  # the channel changed in the config: a new thread there
        return claimed, parent.parent_ts

    def release_line(self, company: str, doc_type: str, idn: str, kind: str) -> None:
        """Slack did not take the line: claimable again (the next run tries once more)."""
        column = "waiting_at" if kind == "waiting" else "decided"
        with self.engine.begin() as conn:
            conn.execute(update(finance_threads).where(
                (finance_threads.c.company == company) & (finance_threads.c.doc_type == doc_type)
                & (finance_threads.c.idn == idn)).values(**{column: None}))

    def set_parent(self, company: str, doc_type: str, idn: str, channel: str, ts: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(finance_threads).where(
                (finance_threads.c.company == company) & (finance_threads.c.doc_type == doc_type)
                & (finance_threads.c.idn == idn)).values(channel=channel, parent_ts=ts))

    def parent(self, company: str, doc_type: str, idn: str) -> tuple[str, str] | None:
        """(channel, parent ts) of the document's thread, if its first post is recorded."""
        with self.engine.connect() as conn:
            row = conn.execute(select(finance_threads.c.channel, finance_threads.c.parent_ts).where(
                (finance_threads.c.company == company) & (finance_threads.c.doc_type == doc_type)
                & (finance_threads.c.idn == idn))).first()
        return (str(row.channel), str(row.parent_ts)) if row is not None and row.parent_ts else None

    def forget_team(self, team: str) -> None:
        """The workspace left (uninstall): its requesters' mutes go with it."""
        with self.engine.begin() as conn:
            conn.execute(delete(outcome_mutes).where(outcome_mutes.c.team_id == team))
