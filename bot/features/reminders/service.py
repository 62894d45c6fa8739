"""Sending reminders and digests. When is decided by `bot.reminders`.

`ReminderService.run_due(now)` looks at every active approver's stored queue (no Precoro
request), sends the morning digest and the reminders that are due, and records each in the
database with a compare-and-set, so overlapping runs or replicas send each one once. It runs on its
own APScheduler interval job (`start` / `shutdown`, `reminders.check_seconds`).

The snooze button's listener is in `bot/slack/reminders.py`; this module never imports the
runtime (which builds the service), so the two do not import each other.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import reminders
from bot.config import Config, ReminderConfig
from bot.precoro import api
from bot.precoro.models import parse_document
from bot.quota.gate import Clock
from bot.slack import messages
from bot.slack.messages import HomeItem, MessageState, ReminderItem
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.messages import OPEN_STATES, PostedMessage

log = logging.getLogger(__name__)

# An away approver's sends at an instant (team, user, approver ids, their away period, now): the DMs sent.
AwayRun = Callable[[str, str, list[int], Any, float], Awaitable[int]]


class ReminderService:
    def __init__(self, config: Config, store: Store, notifier: Notifier, clock: Clock,
                 web_urls: Mapping[str, str]) -> None:
        self.config = config
        self.policy = config.reminders
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.web_urls = web_urls
        self._scheduler: AsyncIOScheduler | None = None
        # Away mode: the approvers away get their own treatment (`AwayService.run`, wired by
        # `bot/runtime.py`; see `bot/features/away/service.py`).
        self.on_away: AwayRun | None = None

    def link(self, row: PostedMessage) -> str:
        return api.web_link(self.web_urls[row.company], row.doc_type, row.idn) if row.company in self.web_urls else ""

    async def run_due(self, now: float | None = None) -> int:
        """Send the digests and reminders due at `now` (default: the clock); returns DMs sent.
        Each approver's own choices (Home tab) override the configured defaults."""
        now = self.clock.now() if now is None else now
        users: dict[tuple[str, str], list[int]] = {}
        for approver in await self.store.run(self.store.approvers.list, active_only=True):
            users.setdefault((approver.team_id, approver.slack_user_id), []).append(approver.id)
        away = {(a.team_id, a.slack_user_id): a for a in await self.store.run(self.store.away.all)}
        sent = 0
        for (team, user), ids in users.items():
            try:
                if (team, user) in away:  # away, or just back: paused, an FYI, the return digest
                    sent += await self.on_away(team, user, ids, away[(team, user)], now) if self.on_away else 0
                    continue
                sent += await self._user(team, user, ids, now)
            except SlackUnavailable:
                continue  # logged by the notifier; the next run tries the next reminder
        return sent

    async def _user(self, team: str, user: str, approver_ids: list[int], now: float) -> int:
        rows, mine = await self.store.run(self.open_queue, team, user, approver_ids)
        if not rows:
            return 0
        policy = reminders.personal(self.policy, mine.reminder_hours, mine.digest)
        if not policy.enabled and not policy.digest:
            return 0
        tz = await self.notifier.tz(team, user)
        claimed, states, digest = await self.store.run(self.claim_due, team, user, rows, now, tz, policy)
        if digest:
            items = [i for i in (self.home_item(r) for r in rows) if i is not None]
            await self.notifier.post(team, user, messages.digest_message(items, now=datetime.fromtimestamp(now, tz=UTC),
                                                                   tz=tz))
            return 1  # the digest lists the due ones too: no second ping
        if not claimed:
            return 0
        items = []
        for row in claimed:
            doc = parse_document(row.doc_type, row.raw_document)
            if doc is not None:
                waited = reminders.working_seconds(states[row.id].since, now, tz, policy) / reminders.HOUR
                items.append(ReminderItem(doc, str(row.id), self.link(row), waited))
        if not items:
            return 0
        await self.notifier.post(team, user, messages.reminder_message(items, snooze_hours=self.policy.snooze_hours))
        return 1

    def open_queue(self, team: str, user: str, approver_ids: list[int]) -> tuple[list[PostedMessage], Any]:
        """The user's open messages and their reminder choices. Blocking (database)."""
        rows = [r for r in self.store.messages.queue(approver_ids) if r.state in OPEN_STATES]
        return rows, self.store.home.preferences(team, user) if rows else None

    def claim_due(self, team: str, user: str, rows: list[PostedMessage], now: float, tz: str,
                   policy: ReminderConfig) -> tuple[list[PostedMessage], dict[int, reminders.ReminderState], bool]:
        """Claim the reminders due now, and today's digest if it is due (True). Claimed before
        sending: a reminder lost to a Slack failure is not worth a double one. Blocking (database)."""
        known = self.store.home.reminders([r.id for r in rows])
        states = {r.id: reminders.ReminderState(r.first_seen_at, known[r.id].reminded_at if r.id in known else None,
                                                known[r.id].snoozed_until if r.id in known else None)
                  for r in rows}
        due = [r for r in rows if reminders.reminder_due(states[r.id], now, tz, policy)]
        claimed = [r for r in due if self.store.home.claim_reminder(r.id, states[r.id].reminded_at, now)]
        day = reminders.digest_day(now, tz, policy, None)
        return claimed, states, bool(day and self.store.home.claim_digest(team, user, day))

    async def snooze(self, message_id: int, hours: float, team: str, user: str) -> tuple[float, str]:
        """Remind `user` of this message in `hours` (at the next working moment from then); returns
        when it will ring and the user's time zone."""
        until = self.clock.now() + hours * reminders.HOUR
        await self.store.run(self.store.home.snooze, message_id, until)
        tz = await self.notifier.tz(team, user)
        return reminders.next_working(until, tz, self.policy), tz

    def home_item(self, row: PostedMessage) -> HomeItem | None:
        doc = parse_document(row.doc_type, row.raw_document)
        if doc is None:
            return None
        return HomeItem(doc, str(row.id), self.link(row), MessageState(row.state),
                        datetime.fromtimestamp(row.first_seen_at, tz=UTC))

    # --- its own job ----------------------------------------------------------------------------------

    async def _job(self) -> None:
        try:
            await self.run_due()
        except Exception:
            log.exception("reminder run failed; the next run starts over from the database")

    def start(self) -> None:
        # Runs even when both are off by default: an approver may turn them on for themselves.
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self._job, "interval", seconds=self.policy.check_seconds, max_instances=1,
                                coalesce=True, misfire_grace_time=None, id="reminders")
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
