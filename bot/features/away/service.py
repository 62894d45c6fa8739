"""Away mode's sends, asked by the reminder run for each approver who has an away period.

While away, the approver gets no reminder and no digest; their covering colleague, if any, gets
one FYI digest a working day (at the digest time, in the colleague's zone) listing what waits,
with links and no buttons. Once the period is over (the last day passed in the approver's zone,
or `/precoro back`), at the first working moment one return digest lists what arrived meanwhile
and the reminders due then count as sent by it; the period is deleted, so it is sent once.
When is `bot/away.py` and `bot/reminders.py`; the texts are `bot/slack/messages/away.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from bot import away as away_mode
from bot import reminders
from bot.config import ReminderConfig
from bot.slack import messages
from bot.slack.messages import HomeItem
from bot.slack.notifier import Notifier
from bot.store import Store
from bot.store.away import Away
from bot.store.messages import PostedMessage

OpenQueue = Callable[[str, str, list[int]], tuple[list[PostedMessage], Any]]
ClaimDue = Callable[..., Any]
ToItem = Callable[[PostedMessage], HomeItem | None]


class AwayService:
    def __init__(self, store: Store, notifier: Notifier, policy: ReminderConfig, open_queue: OpenQueue,
                 claim_due: ClaimDue, to_item: ToItem) -> None:
        self.store = store
        self.notifier = notifier
        self.policy = policy
        self.open_queue = open_queue  # blocking (database), like claim_due
        self.claim_due = claim_due
        self.to_item = to_item

    async def run(self, team: str, user: str, approver_ids: list[int], away: Away, now: float) -> int:
        """The away approver's sends at `now` (their own reminders and digests are paused while
        away); returns the DMs sent."""
        tz = await self.notifier.tz(team, user)
        if away_mode.is_away(away, now, tz):
            return await self._cover(team, user, approver_ids, away, now)
        if not reminders.is_working(now, tz, self.policy):
            return 0  # back, but at night: the return digest waits for the morning
        return await self._welcome(team, user, approver_ids, away, now, tz)

    async def _cover(self, team: str, user: str, approver_ids: list[int], away: Away, now: float) -> int:
        if not away.cover_user:
            return 0
        rows, _ = await self.store.run(self.open_queue, team, user, approver_ids)
        if not rows:
            return 0
        cover_tz = await self.notifier.tz(team, away.cover_user)
        day = reminders.digest_day(now, cover_tz, replace(self.policy, digest=True), None)
        if not day or not await self.store.run(self.store.away.claim_cover_day, team, user, day):
            return 0
        items = [i for i in map(self.to_item, rows) if i is not None]
        await self.notifier.post(team, away.cover_user, messages.cover_digest_message(
            user, items, until=date.fromisoformat(away.until_day), now=datetime.fromtimestamp(now, tz=UTC)))
        return 1

    async def _welcome(self, team: str, user: str, approver_ids: list[int], away: Away, now: float, tz: str) -> int:
        rows, mine = await self.store.run(self.open_queue, team, user, approver_ids)
        if rows:  # the return digest stands for the reminders and the morning digest due now
            policy = reminders.personal(self.policy, mine.reminder_hours, mine.digest)
            await self.store.run(self.claim_due, team, user, rows, now, tz, policy)
        if not await self.store.run(self.store.away.finish, team, user, away.started_at):
            return 0  # another run (replica) sends it
        arrived = [i for i in (self.to_item(r) for r in rows if r.first_seen_at >= away.started_at) if i is not None]
        await self.notifier.post(team, user, messages.return_digest_message(
            arrived, len(rows), since=datetime.fromtimestamp(away.started_at, tz=UTC),
            now=datetime.fromtimestamp(now, tz=UTC)))
        return 1
