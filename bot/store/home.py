"""Who keeps a Home tab, their last digest, and each waiting message's reminder state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import home_users, message_reminders


@dataclass(frozen=True)
class Preferences:
    """An approver's own reminder choices; None means the configured default."""

    reminder_hours: float | None = None  # 0: never
    digest: bool | None = None


@dataclass(frozen=True)
class ReminderState:
    message_id: int
    reminded_at: float | None
    reminders: int
    snoozed_until: float | None


def _user(team_id: str, user_id: str):  # type: ignore[no-untyped-def]
    return (home_users.c.team_id == team_id) & (home_users.c.slack_user_id == user_id)


class HomeRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _ensure_user(self, team_id: str, user_id: str) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(home_users.c.team_id).where(_user(team_id, user_id))).first():
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(home_users).values(team_id=team_id, slack_user_id=user_id))
            except IntegrityError:
                pass  # another replica made it

    def opened(self, team_id: str, user_id: str, now: float) -> None:
        """The user opened the Home tab: keep it current from now on."""
        self._ensure_user(team_id, user_id)
        with self.engine.begin() as conn:
            conn.execute(update(home_users).where(_user(team_id, user_id)).values(home_opened_at=now))

    def has_home(self, team_id: str, user_id: str) -> bool:
        with self.engine.connect() as conn:
            row = conn.execute(select(home_users.c.home_opened_at).where(_user(team_id, user_id))).first()
        return bool(row and row[0] is not None)

    def preferences(self, team_id: str, user_id: str) -> Preferences:
        with self.engine.connect() as conn:
            row = conn.execute(select(home_users.c.reminder_hours, home_users.c.digest)
                               .where(_user(team_id, user_id))).first()
        if row is None:
            return Preferences()
        return Preferences(row[0], None if row[1] is None else bool(row[1]))

    def set_preferences(self, team_id: str, user_id: str, *, reminder_hours: float | None = None,
                        digest: bool | None = None, default_reminders: bool = False) -> None:
        """Change the given choices (`default_reminders` puts reminders back to the default)."""
        values: dict[str, object] = {}
        if reminder_hours is not None or default_reminders:
            values["reminder_hours"] = None if default_reminders else reminder_hours
        if digest is not None:
            values["digest"] = int(digest)
        if not values:
            return
        self._ensure_user(team_id, user_id)
        with self.engine.begin() as conn:
            conn.execute(update(home_users).where(_user(team_id, user_id)).values(**values))

    def clear_digest(self, team_id: str, user_id: str) -> None:
        """Back to the configured default for the morning digest."""
        with self.engine.begin() as conn:
            conn.execute(update(home_users).where(_user(team_id, user_id)).values(digest=None))

    def claim_digest(self, team_id: str, user_id: str, day: str) -> bool:
        """Mark today's digest as sent; True only for the one caller (replica) that does it."""
        self._ensure_user(team_id, user_id)
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(home_users)
                .where(_user(team_id, user_id)
                       & (home_users.c.digest_day.is_(None) | (home_users.c.digest_day != day)))
                .values(digest_day=day)).rowcount)

    # --- reminders ---------------------------------------------------------------------------------

    def reminders(self, message_ids: list[int]) -> dict[int, ReminderState]:
        if not message_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(message_reminders)
                                .where(message_reminders.c.message_id.in_(message_ids))).all()
        return {r.message_id: ReminderState(**r._mapping) for r in rows}

    def _ensure_reminder(self, message_id: int) -> None:
        with self.engine.begin() as conn:
            if conn.execute(select(message_reminders.c.message_id)
                            .where(message_reminders.c.message_id == message_id)).first():
                return
            try:
                with conn.begin_nested():
                    conn.execute(insert(message_reminders).values(message_id=message_id, reminders=0))
            except IntegrityError:
                pass

    def claim_reminder(self, message_id: int, seen: float | None, now: float) -> bool:
        """Compare-and-set `reminded_at` from `seen` to `now`: True only for the one caller that
        sends this reminder (replicas, overlapping runs)."""
        self._ensure_reminder(message_id)
        was = message_reminders.c.reminded_at.is_(None) if seen is None else message_reminders.c.reminded_at == seen
        with self.engine.begin() as conn:
            return bool(conn.execute(
                update(message_reminders).where((message_reminders.c.message_id == message_id) & was)
                .values(reminded_at=now, reminders=message_reminders.c.reminders + 1)).rowcount)

    def snooze(self, message_id: int, until: float) -> None:
        self._ensure_reminder(message_id)
        with self.engine.begin() as conn:
            conn.execute(update(message_reminders).where(message_reminders.c.message_id == message_id)
                         .values(snoozed_until=until))
