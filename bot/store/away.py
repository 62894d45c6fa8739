"""Away mode: who is away until when, their covering colleague, and the sends that must happen
once (the cover's daily FYI digest, the return digest), each claimed with a compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import away_periods


@dataclass(frozen=True)
class Away:
    team_id: str
    slack_user_id: str
    until_day: str  # YYYY-MM-DD, the last day away (in the approver's zone)
    started_at: float
    cover_user: str | None
    cover_day: str | None
    ended_at: float | None


def _user(team_id: str, user_id: str):  # type: ignore[no-untyped-def]
    return (away_periods.c.team_id == team_id) & (away_periods.c.slack_user_id == user_id)


class AwayRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, team_id: str, user_id: str) -> Away | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(away_periods).where(_user(team_id, user_id))).first()
        return Away(**row._mapping) if row else None

    def all(self) -> list[Away]:
        with self.engine.connect() as conn:
            return [Away(**r._mapping) for r in conn.execute(select(away_periods)).all()]

    def set(self, team_id: str, user_id: str, until_day: str, cover_user: str | None, now: float) -> None:
        """Away until `until_day` (a new period, or a new day / cover for the current one; the
        period keeps its start, so the return digest still lists everything since)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(away_periods).where(_user(team_id, user_id) & away_periods.c.ended_at.is_(None))
                                .values(until_day=until_day, cover_user=cover_user)).rowcount
            if done:
                return
            conn.execute(delete(away_periods).where(_user(team_id, user_id)))  # an ended one not yet welcomed
            try:
                with conn.begin_nested():
                    conn.execute(insert(away_periods).values(team_id=team_id, slack_user_id=user_id,
                                                             until_day=until_day, started_at=now,
                                                             cover_user=cover_user))
            except IntegrityError:
                pass  # a simultaneous set: theirs stands

    def set_cover(self, team_id: str, user_id: str, cover_user: str | None) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(update(away_periods).where(_user(team_id, user_id)
                                                                & away_periods.c.ended_at.is_(None))
                                     .values(cover_user=cover_user)).rowcount)

    def end(self, team_id: str, user_id: str, now: float) -> bool:
        """`/precoro back`: the period ends now (the return digest follows); False if not away."""
        with self.engine.begin() as conn:
            return bool(conn.execute(update(away_periods).where(_user(team_id, user_id)
                                                                & away_periods.c.ended_at.is_(None))
                                     .values(ended_at=now)).rowcount)

    def claim_cover_day(self, team_id: str, user_id: str, day: str) -> bool:
        """Mark today's FYI digest to the cover as sent; True only for the one caller that does it."""
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(away_periods)
                .where(_user(team_id, user_id)
                       & (away_periods.c.cover_day.is_(None) | (away_periods.c.cover_day != day)))
                .values(cover_day=day)).rowcount)

    def finish(self, team_id: str, user_id: str, started_at: float) -> bool:
        """Delete the period (the approver is back); True only for the one caller that does it,
        who sends the return digest."""
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(away_periods).where(
                _user(team_id, user_id) & (away_periods.c.started_at == started_at))).rowcount)

    def forget_team(self, team: str) -> None:
        """The workspace left (uninstall): its away periods and covers go with it."""
        with self.engine.begin() as conn:
            conn.execute(delete(away_periods).where(away_periods.c.team_id == team))
