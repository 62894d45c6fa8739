"""The App Home's service: each approver's own queue, rendered from the database (no Precoro request).

`HomeService.publish` gathers what the poller stored (`posted_messages` with their raw document)
and publishes it with `views.publish`. Slack's `app_home_opened` event publishes it and records
that the user keeps a Home (`home_users`); from then on the poller and the decision service call
`refresh` whenever that approver's queue changes (users who never opened it cost no Slack call). Publishes
for one user are coalesced: a change during a publish leads to one more publish, not one each.
"Approve selected" decides each document through the one decision path (`bot.features.approvals.service`).

The Bolt listeners that drive it are `listeners.py` and `history_listeners.py`; this module never
imports the runtime (which builds the service and gives it the decision service), so the two do
not import each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.features.approvals.service import APPROVE, DecisionService, held
from bot.features.home import messages
from bot.features.home.extras import HomeExtras
from bot.features.home.messages import AdminSummary, ApproverRow, BulkResult, QuotaRow, ReminderPrefs
from bot.precoro import api
from bot.precoro.models import parse_document
from bot.quota.gate import Clock
from bot.slack.messages import HomeItem, MessageState, bulk_left_out_text
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.slack.payload import message_id
from bot.store import DATABASE_UNAVAILABLE, Store
from bot.store.approvers import REVOKED, SUSPECT
from bot.tenancy import Tenancy

log = logging.getLogger(__name__)

BULK_MAX = 25  # documents one "Approve selected" click may decide (each is its own POST)
BULK_SHOWN_SECONDS = 900.0  # how long the Home shows the result of a bulk approval


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, tz=UTC) if epoch is not None else None


class HomeService:
    def __init__(self, config: Config, store: Store, notifier: Notifier, clock: Clock,
                 web_urls: Mapping[str, str], tenancy: Tenancy, decisions: DecisionService) -> None:
        self.config = config
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self.web_urls = web_urls
        self.tenancy = tenancy
        self.decisions = decisions  # "Approve selected" decides through it
        self._again: dict[tuple[str, str], bool] = {}  # publishes in progress -> another one asked
        self._bulk: dict[tuple[str, str], tuple[float, list[BulkResult]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # background refreshes (kept referenced)
        self._pages: dict[tuple[str, str], int] = {}  # the Home page each user turned to (0 if none)
        self.extras = HomeExtras(store, web_urls)  # away mode and "Decided by me"
        # Connect's parts (bot/features/connect, wired by bot/runtime.py): the blocks that let
        # someone not registered connect themselves to these companies, and the admins' Invite button.
        self.connect_blocks: Callable[[list[str]], Sequence[dict[str, Any]]] = lambda companies: ()
        self.invite_blocks: Callable[[], Sequence[dict[str, Any]]] = lambda: ()

    # --- rendering from the database ------------------------------------------------------------

    def items(self, team: str, user: str) -> tuple[list[HomeItem], bool, bool]:
        """The user's queue, whether they are registered at all, and whether a token was refused.
        Blocking (database), like `admin_summary` and `prefs`: `view` runs them through `store.run`."""
        mine = self.store.approvers.for_slack_user(team, user)
        found: list[HomeItem] = []
        for row in self.store.messages.queue([a.id for a in mine if a.active]):
            doc = parse_document(row.doc_type, row.raw_document)
            if doc is None:
                continue
            link = api.web_link(self.web_urls[row.company], row.doc_type, row.idn) if row.company in self.web_urls \
                else ""
            found.append(HomeItem(doc=doc, ref=str(row.id), link=link, state=MessageState(row.state),
                                  since=datetime.fromtimestamp(row.first_seen_at, tz=UTC),
                                  confirm_above=self.notifier.confirm_above(row.company, doc)))
        return found, bool(mine), any(a.status in (SUSPECT, REVOKED) for a in mine)

    def admin_summary(self, team: str, companies: Sequence[str] = ()) -> AdminSummary:
        """The admin section: this workspace's approvers and the quota of the companies the admin
        administers (`companies`); another customer's never appear."""
        now = self.clock.now()
        approvers = [a for a in self.store.approvers.list() if a.team_id == team and a.company in companies]
        waiting = Counter(m.approver_id for m in self.store.messages.queue([a.id for a in approvers]))
        rows = tuple(ApproverRow(user=a.slack_user_id, company=a.company, email=a.email, status=a.status,
                                 last_polled=_at(a.last_polled_at), waiting=waiting[a.id]) for a in approvers)
        quotas = []
        for company in self.config.companies:
            if company.id not in companies:
                continue
            windows = tuple((w.seconds, sum(self.store.quota.counts(company.id, now - w.seconds).values()),
                             w.limit, w.reserve) for w in company.quota.windows)
            blocked_until, _ = self.store.quota.gate(company.id)
            quotas.append(QuotaRow(company.id, windows, _at(blocked_until) if blocked_until > now else None))
        return AdminSummary(rows, tuple(quotas))

    def prefs(self, team: str, user: str) -> ReminderPrefs:
        policy = self.config.reminders
        mine = self.store.home.preferences(team, user)
        return ReminderPrefs(
            default_hours=policy.after_working_hours, default_on=policy.enabled, hours=mine.reminder_hours,
            default_digest=policy.digest, digest=mine.digest, digest_at=f"{policy.digest_at:%H:%M}",
            workday=messages.workday_text(f"{policy.workday_start:%H:%M}", f"{policy.workday_end:%H:%M}",
                                          policy.working_days))

    async def view(self, team: str, user: str) -> dict[str, Any]:
        items, registered, revoked = await self.store.run(self.items, team, user)
        admin_of = await self.tenancy.admin_companies(team, user, self.notifier.profile)
        admin = await self.store.run(self.admin_summary, team, admin_of) if admin_of else None
        prefs = await self.store.run(self.prefs, team, user)
        now = self.clock.now()
        shown_at, bulk = self._bulk.get((team, user), (0.0, []))
        if now - shown_at > BULK_SHOWN_SECONDS:
            bulk = []
        selfish = [c.id for c in self.tenancy.companies_for(team) if c.connect_policy != "admin"]
        invite = [c for c in admin_of if c in selfish]
        tz = await self.notifier.tz(team, user)
        extra = await self.store.run(self.extras.blocks, team, user, now, tz) if registered else []
        return messages.home_view(items, now=datetime.fromtimestamp(now, tz=UTC), tz=tz,
                                  registered=registered, revoked=revoked, admin=admin, bulk=bulk,
                                  prefs=prefs, page=self._pages.get((team, user), 0), extra=extra,
                                  connect=self.connect_blocks(selfish) if selfish else (),
                                  admin_actions=self.invite_blocks() if invite else ())

    def turn_page(self, team: str, user: str, page: int) -> None:
        """Show `page` of the user's queue from now on (the view clamps it to the last page)."""
        self._pages[(team, user)] = page

    # --- publishing -------------------------------------------------------------------------------

    async def publish(self, team: str, user: str) -> None:
        """Publish the user's Home now (coalesced); never raises: the next change publishes again."""
        key = (team, user)
        if key in self._again:
            self._again[key] = True
            return
        self._again[key] = False
        try:
            while True:
                try:
                    await self.notifier.publish_home(team, user, await self.view(team, user))
                except (SlackUnavailable, *DATABASE_UNAVAILABLE) as exc:
                    log.info("home of %s not published: %s", user, type(exc).__name__)
                if not self._again.get(key):
                    break
                self._again[key] = False
        finally:
            self._again.pop(key, None)

    async def opened(self, team: str, user: str) -> None:
        """The user opened the Home tab: publish it, and keep it current from now on."""
        with contextlib.suppress(*DATABASE_UNAVAILABLE):
            await self.store.run(self.store.home.opened, team, user, self.clock.now())
        await self.publish(team, user)

    async def refresh(self, team: str, user: str) -> None:
        """An approver's queue changed (posted, decided, retired): republish their Home, if they keep
        one (opened it once), in the background: a click or a poll never waits for a Home."""
        task = asyncio.get_running_loop().create_task(self._refresh(team, user))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refresh(self, team: str, user: str) -> None:
        with contextlib.suppress(Exception):  # a Home is a view of the truth, never in the way of it
            if await self.store.run(self.store.home.has_home, team, user):
                await self.publish(team, user)

    # --- what the Home's controls change ----------------------------------------------------------

    async def set_reminder_hours(self, team: str, user: str, hours: float | None) -> None:
        """The user's reminder choice (None: the configured default; 0: never)."""
        await self.store.run(self.store.home.set_preferences, team, user, reminder_hours=hours,
                             default_reminders=hours is None)

    async def set_digest(self, team: str, user: str, on: bool | None) -> None:
        """The user's digest choice (None: the configured default)."""
        if on is None:
            await self.store.run(self.store.home.clear_digest, team, user)
        else:
            await self.store.run(self.store.home.set_preferences, team, user, digest=on)

    async def tell(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    async def approve_selected(self, team: str, user: str, refs: Sequence[str]) -> None:
        """"Approve selected": each document through the one decision path."""
        await self.bulk_approve(team, user, refs)

    async def bulk_approve(self, team: str, user: str, refs: Sequence[str]) -> list[BulkResult]:
        """Approve each selected document through the one decision path (its own POST, its own
        authorization and outbox entry), one after the other; the Home shows each result."""
        results: list[BulkResult] = []
        for ref in list(dict.fromkeys(refs))[:BULK_MAX]:
            found = message_id(ref)
            message = await self.store.run(self.store.messages.get, found) if found is not None else None
            doc = parse_document(message.doc_type, message.raw_document) if message else None
            title = f"{doc.type_name} {doc.idn}" if doc else "A document"
            hold = await self.store.run(held, self.store, self.notifier.confirm_rules, ref) \
                if any(self.notifier.confirm_rules.values()) else None
            if hold is not None:  # above its amount rule: never approved without the typed confirmation
                results.append(BulkResult(title, False, bulk_left_out_text(hold.limit)))
                continue
            answer = await self.decisions.click(team_id=team, user_id=user, ref=ref, action=APPROVE)
            after = await self.store.run(self.store.messages.get, found) if found is not None else None
            ok = after is not None and after.state == "approved" and answer.accepted
            text = "" if ok else answer.text or messages.bulk_outcome_text(after.state if after else "")
            results.append(BulkResult(title, ok, text, amount=doc.total if ok and doc else None,
                                      currency=doc.currency if doc else ""))
        self._bulk[(team, user)] = (self.clock.now(), results)
        await self.publish(team, user)
        return results
