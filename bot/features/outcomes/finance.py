"""The finance channel: per company, one compact line per final decision and per document waiting
longer than `finance_waiting_hours` working hours, at or above `finance_min_amount`.

Posts are threaded per document: the first line about a document is the thread's parent (its ts
is stored), every later one replies in that thread, so the channel shows one entry per document.
Each line is claimed in the database before it is posted (once per document and kind, whichever
replica or path gets there first) and released when Slack refuses it, so the next run tries
again. Reads nothing from Precoro: the waiting lines come from the messages the bot stored, the
decision lines from `OutcomeService`, which learned them within the quota already.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.config import CompanyConfig, Config
from bot.features.outcomes import messages
from bot.features.outcomes import rules as outcome_rules
from bot.precoro import api
from bot.precoro.models import Document, parse_document
from bot.quota.gate import Clock
from bot.slack.messages import NOBODY, Actor
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.outcomes import OutcomeRepo
from bot.sync import route

log = logging.getLogger(__name__)

WAITING, DECIDED = "waiting", "decided"


class FinanceService:
    def __init__(self, config: Config, store: Store, repo: OutcomeRepo, notifier: Notifier, clock: Clock,
                 web_urls: Mapping[str, str]) -> None:
        self.config = config
        self.store = store
        self.repo = repo
        self.notifier = notifier
        self.clock = clock
        self.web_urls = web_urls
        self._locks: dict[str, asyncio.Lock] = {}
        self._scheduler: AsyncIOScheduler | None = None

    def _company(self, company: str) -> CompanyConfig | None:
        found = next((c for c in self.config.companies if c.id == company), None)
        return found if found is not None and found.finance_channel else None

    def link(self, company: str, doc: Document) -> str:
        return api.web_link(self.web_urls[company], doc.doc_type, doc.idn) if company in self.web_urls else ""

    async def decided(self, company: str, team: str, doc: Document, outcome: str, *, reason: str = "",
                      by: Actor = NOBODY) -> bool:
        """A final decision's line (once per document), if the company has a finance channel and
        the amount reaches its minimum."""
        cfg = self._company(company)
        if cfg is None or not outcome_rules.over_threshold(cfg, doc):
            return False
        text = messages.finance_decision_line(doc, outcome, link=self.link(company, doc), reason=reason, by=by)
        try:
            return await self._post(cfg, team, doc, DECIDED, outcome, text)
        except SlackUnavailable:
            return False  # released: the next path that learns the outcome posts it

    async def run_due(self, now: float | None = None) -> int:
        """Post the "waiting too long" lines due at `now`; returns how many were posted."""
        now = self.clock.now() if now is None else now
        posted = 0
        for cfg in self.config.companies:
            if not cfg.finance_channel or cfg.finance_waiting_hours <= 0:
                continue
            for known in await self.store.run(self.repo.waiting, cfg.id):
                doc = parse_document(known.doc_type, known.raw_document)
                if (doc is None or not outcome_rules.over_threshold(cfg, doc)
                        or not outcome_rules.waiting_due(known.first_seen_at, now, cfg, self.config.reminders)):
                    continue
                people = route.waiting_people(doc) or ()
                text = messages.finance_waiting_line(doc, link=self.link(cfg.id, doc), hours=cfg.finance_waiting_hours,
                                                     waiting_for=[p.name or p.email for p in people])
                try:
                    posted += await self._post(cfg, known.team_id, doc, WAITING, "", text)
                except SlackUnavailable:
                    break  # Slack is down: the next run tries again
        return posted

    async def _post(self, cfg: CompanyConfig, team: str, doc: Document, kind: str, value: str, text: str) -> bool:
        """Claim the line, then post it: the thread's parent if the document has none yet, else a
        reply in its thread. One company's posts go one at a time, so two lines of a new document
        never both become parents."""
        lock = self._locks.setdefault(cfg.id, asyncio.Lock())
        channel = cfg.finance_channel
        async with lock:
            claimed, parent = await self.store.run(self.repo.claim_line, cfg.id, doc.doc_type, doc.idn, channel,
                                                   kind, value, self.clock.now())
            if not claimed:
                return False
            try:
                if parent:
                    await self.notifier.post_text(team, channel, text, thread_ts=parent)
                else:
                    ts = await self.notifier.post_text(team, channel, text)
                    await self.store.run(self.repo.set_parent, cfg.id, doc.doc_type, doc.idn, channel, ts)
            except SlackUnavailable:
                await self.store.run(self.repo.release_line, cfg.id, doc.doc_type, doc.idn, kind)
                raise
        log.info("finance channel of %s: %s line for %s %s", cfg.id, kind, doc.doc_type, doc.idn)
        return True

    # --- its own job ----------------------------------------------------------------------------------

    async def _job(self) -> None:
        try:
            await self.run_due()
        except Exception:
            log.exception("finance run failed; the next run starts over from the database")

    def start(self) -> None:
        if not any(c.finance_channel and c.finance_waiting_hours > 0 for c in self.config.companies):
            return
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(self._job, "interval", seconds=self.config.reminders.check_seconds, max_instances=1,
                                coalesce=True, misfire_grace_time=None, id="finance")
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
