"""Away mode's I/O: setting and ending a period (`/precoro away`, `/precoro back`, the Home's
controls), the Home's "Away" part, and the sends the reminder run asks for each approver who has
an away period.

Only a registered approver can be away (there is nothing else to pause), and the colleague must
be a user of the same workspace: they get FYI digests and can decide nothing with the approver's key.

While away, the approver gets no reminder and no digest; their covering colleague, if any, gets
one FYI digest a working day (at the digest time, in the colleague's zone) listing what waits,
with links and no buttons. Once the period is over (the last day passed in the approver's zone,
or `/precoro back`), at the first working moment one return digest lists what arrived meanwhile
and the reminders due then count as sent by it; the period is deleted, so it is sent once.
When is `rules.py` and the reminders' (`ReminderService`); the texts are `messages.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from bot import workdays
from bot.features.away import messages
from bot.features.away import rules as away_mode
from bot.features.home.service import HomeService
from bot.features.reminders.service import ReminderService
from bot.quota.gate import Clock
from bot.slack.notifier import Notifier
from bot.store import Store
from bot.store.away import Away


class AwayService:
    def __init__(self, store: Store, notifier: Notifier, clock: Clock, home: HomeService,
                 reminders: ReminderService) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.home = home
        self.reminders = reminders  # the queue, the claims and the policy the reminder run uses
        self.policy = reminders.policy
        self.open_queue = reminders.open_queue  # blocking (database), like claim_due
        self.claim_due = reminders.claim_due
        self.to_item = reminders.home_item

    # --- setting and ending a period -----------------------------------------------------------

    async def today(self, team: str, user: str) -> date:
        return away_mode.local_day(self.clock.now(), await self.notifier.tz(team, user))

    async def refusal(self, team: str, user: str, cover: str | None) -> str:
        """Why this user cannot be away (with this cover), or ""."""
        mine = await self.store.run(self.store.approvers.for_slack_user, team, user)
        if not mine:
            return "not_approver"
        if cover == user:
            return "cover_self"
        if cover and not _colleague(await self.notifier.profile(team, cover), team):
            return "cover_unknown"
        return ""

    async def _audit(self, team: str, user: str, action: str, subject: str, outcome: str) -> None:
        """One audit entry per company the user approves for (its admins see it in `/precoro audit`)."""
        for approver in await self.store.run(self.store.approvers.for_slack_user, team, user):
            await self.store.run(self.store.audit.record, at=self.clock.now(), company=approver.company, actor=user,
                                 action=action, subject=subject, outcome=outcome)

    async def set_away(self, team: str, user: str, until_text: str, cover: str | None) -> str:
        """Away until a day (YYYY-MM-DD, in the user's zone); the reply text."""
        until, why = away_mode.parse_until(until_text, await self.today(team, user))
        why = why or await self.refusal(team, user, cover)
        if until is None or why:
            return messages.away_refused_text(why)
        await self.store.run(self.store.away.set, team, user, until.isoformat(), cover, self.clock.now())
        await self._audit(team, user, "away.on", f"until {until.isoformat()}", f"cover <@{cover}>" if cover else "ok")
        await self.home.refresh(team, user)
        return messages.away_set_text(until, cover)

    async def set_until(self, team: str, user: str, day: str) -> str:
        """The Home's date picker: away until `day`, keeping the current cover; the reply text."""
        current = await self.store.run(self.store.away.get, team, user)
        cover = current.cover_user if current is not None and current.ended_at is None else None
        return await self.set_away(team, user, day, cover)

    async def set_cover(self, team: str, user: str, cover: str) -> str:
        """The Home's colleague select: why it was refused (the text to tell), or ""."""
        why = await self.refusal(team, user, cover)
        if why or not await self.store.run(self.store.away.set_cover, team, user, cover):
            return messages.away_refused_text(why or "format")
        return ""

    async def come_back(self, team: str, user: str) -> str:
        was = await self.store.run(self.store.away.end, team, user, self.clock.now())
        if was:
            await self._audit(team, user, "away.off", "", "back")
            await self.home.refresh(team, user)
        return messages.back_text(was)

    async def status(self, team: str, user: str) -> str:
        """`/precoro away` with nothing after it: where it stands."""
        current = await self.store.run(self.store.away.get, team, user)
        if current is None or current.ended_at is not None:
            return messages.away_status_text(None, None)
        return messages.away_status_text(date.fromisoformat(current.until_day), current.cover_user)

    async def tell(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    async def publish_home(self, team: str, user: str) -> None:
        await self.home.publish(team, user)

    def home_blocks(self, team: str, user: str, now: float, tz: str) -> list[dict[str, Any]]:
        """The Home's "Away" part for a registered approver. Blocking (database)."""
        away = self.store.away.get(team, user)
        until = cover = None
        if away is not None and away_mode.is_away(away, now, tz):
            until, cover = date.fromisoformat(away.until_day), away.cover_user
        return messages.away_home_blocks(until, cover, away_mode.local_day(now, tz))

    # --- the reminder run's sends ----------------------------------------------------------------

    async def run(self, team: str, user: str, approver_ids: list[int], away: Away, now: float) -> int:
        """The away approver's sends at `now` (their own reminders and digests are paused while
        away); returns the DMs sent."""
        tz = await self.notifier.tz(team, user)
        if away_mode.is_away(away, now, tz):
            return await self._cover(team, user, approver_ids, away, now)
        if not workdays.is_working(now, tz, self.policy):
            return 0  # back, but at night: the return digest waits for the morning
        return await self._welcome(team, user, approver_ids, away, now, tz)

    async def _cover(self, team: str, user: str, approver_ids: list[int], away: Away, now: float) -> int:
        if not away.cover_user:
            return 0
        rows, _ = await self.store.run(self.open_queue, team, user, approver_ids)
        if not rows:
            return 0
        cover_tz = await self.notifier.tz(team, away.cover_user)
        day = self.reminders.digest_day(now, cover_tz, always=True)
        if not day or not await self.store.run(self.store.away.claim_cover_day, team, user, day):
            return 0
        items = [i for i in map(self.to_item, rows) if i is not None]
        await self.notifier.post(team, away.cover_user, messages.cover_digest_message(
            user, items, until=date.fromisoformat(away.until_day), now=datetime.fromtimestamp(now, tz=UTC)))
        return 1

    async def _welcome(self, team: str, user: str, approver_ids: list[int], away: Away, now: float, tz: str) -> int:
        rows, mine = await self.store.run(self.open_queue, team, user, approver_ids)
        if rows:  # the return digest stands for the reminders and the morning digest due now
            policy = self.reminders.policy_for(mine)
            await self.store.run(self.claim_due, team, user, rows, now, tz, policy)
        if not await self.store.run(self.store.away.finish, team, user, away.started_at):
            return 0  # another run (replica) sends it
        arrived = [i for i in (self.to_item(r) for r in rows if r.first_seen_at >= away.started_at) if i is not None]
        await self.notifier.post(team, user, messages.return_digest_message(
            arrived, len(rows), since=datetime.fromtimestamp(away.started_at, tz=UTC),
            now=datetime.fromtimestamp(now, tz=UTC)))
        return 1


def _colleague(profile: dict[str, Any], team: str) -> bool:
    """A person of this workspace: not a bot, not deactivated, not a Slack Connect stranger (the
    cover's digest shows the approver's documents, amounts and suppliers)."""
    return bool(profile) and not (profile.get("is_bot") or profile.get("deleted") or profile.get("is_stranger")) \
        and profile.get("team_id", team) in (team, "")
