"""Invitations to connect: who was invited, by whom and when (one row per company and email)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import invitations


@dataclass(frozen=True)
class Invitation:
    company: str
    email: str
    team_id: str
    slack_user_id: str
    invited_by: str
    invited_at: float
    times: int


class InvitationRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def invited(self, company: str) -> dict[str, Invitation]:
        """The company's invitations by lower-cased email."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(invitations).where(invitations.c.company == company)).all()
        return {r.email: Invitation(**r._mapping) for r in rows}

    def record(self, *, company: str, email: str, team_id: str, slack_user_id: str, by: str, now: float) -> None:
        """Note an invitation sent (again: its count goes up)."""
        email = email.strip().lower()
        key = (invitations.c.company == company) & (invitations.c.email == email)
        values = {"team_id": team_id, "slack_user_id": slack_user_id, "invited_by": by, "invited_at": now}
        with self.engine.begin() as conn:
            if conn.execute(update(invitations).where(key).values(times=invitations.c.times + 1, **values)).rowcount:
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(invitations).values(company=company, email=email, times=1, **values))
            except IntegrityError:  # another replica recorded it meanwhile
                conn.execute(update(invitations).where(key).values(times=invitations.c.times + 1, **values))

    def forget_team(self, team: str) -> None:
        """The workspace left (uninstall): who was invited there (Slack ids, emails) goes with it."""
        with self.engine.begin() as conn:
            conn.execute(delete(invitations).where(invitations.c.team_id == team))
