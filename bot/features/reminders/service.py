"""Sending reminders and digests, and snoozing one. When is decided by `rules.py`.

`ReminderService.run_due(now)` looks at every active approver's stored queue (no Precoro
request), sends the morning digest and the reminders that are due, and records each in the
database with a compare-and-set, so overlapping runs or replicas send each one once. It runs on its
own APScheduler interval job (`start` / `shutdown`, `reminders.check_seconds`).

The snooze button's listener is `listeners.py`; this module never imports the runtime (which
builds the service and wires `authorize`, the approvals' check of a click, and `on_away`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import workdays
from bot.config import Config, ReminderConfig
from bot.features.reminders import messages
from bot.features.reminders import rules as reminders
from bot.features.reminders.messages import ReminderItem
from bot.precoro import api
from bot.precoro.models import parse_document
from bot.quota.gate import Clock
from bot.slack.messages import HomeItem, MessageState, already_decided_text
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.messages import OPEN_STATES, PostedMessage

log = logging.getLogger(__name__)

# An away approver's sends at an instant (team, user, approver ids, their away period, now): the DMs sent.
AwayRun = Callable[[str, str, list[int], Any, float], Awaitable[int]]
# The message a click refers to, or a refusal text (`DecisionService.authorize`). Blocking (database).
Authorize = Callable[..., tuple[PostedMessage | None, str]]


class ReminderService:
    def __init__(self, config: Config, store: Store, notifier: Notifier, clock: Clock,
                 web_urls: Mapping[str, str], authorize: Authorize) -> None:
        self.config = config
        self.authorize = authorize
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
        policy = self.policy_for(mine)
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
                waited = workdays.working_seconds(states[row.id].since, now, tz, policy) / workdays.HOUR
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

    def policy_for(self, preferences: Any) -> ReminderConfig:
        """The configured policy with an approver's own choices (`store.home.preferences`)."""
        return reminders.personal(self.policy, preferences.reminder_hours, preferences.digest)

    def digest_day(self, now: float, tz: str, *, always: bool = False) -> str | None:
        """The local day whose digest is due at `now` in `tz`, or None (`always`: even when the
        configured digest is off, as for away mode's FYI digest)."""
        return reminders.digest_day(now, tz, replace(self.policy, digest=True) if always else self.policy, None)

    async def snooze_clicked(self, team: str, user: str, value: str) -> str:
        """A reminder's snooze button (its value names the message and the hours); the reply."""
        parsed = messages.parse_snooze_value(value)
        if parsed is None or parsed[1] not in self.policy.snooze_hours:
            return messages.snooze_refused_text()
        ref, hours = parsed
        message, refusal = await self.store.run(self.authorize, team_id=team, user_id=user, ref=ref, action="snooze")
        if message is None:
            return refusal
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is None or message.state not in OPEN_STATES:
            return already_decided_text(message.state)
        rings, tz = await self.snooze(message.id, hours, team, user)
        return messages.snoozed_text(doc, datetime.fromtimestamp(rings, tz=UTC), tz)

    async def tell(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    async def snooze(self, message_id: int, hours: float, team: str, user: str) -> tuple[float, str]:
        """Remind `user` of this message in `hours` (at the next working moment from then); returns
        when it will ring and the user's time zone."""
        until = self.clock.now() + hours * workdays.HOUR
        await self.store.run(self.store.home.snooze, message_id, until)
        tz = await self.notifier.tz(team, user)
        return workdays.next_working(until, tz, self.policy), tz

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
