"""The requester hears the outcome: approved (the last step done), rejected with the reason, or
sent back for revision, by DM, once per outcome, whichever path learned it first.

Where the bot learns that a document left "waiting" (each calls in here through a hook, so the
sync and decision modules never import this one):
- a click (`DecisionService.on_decided`): a rejection is final and its reason is the clicker's
  own; an approval is final only if no later step waits, which only Precoro knows, so when the
  stored chain says it may be the last step the bot looks once (`GET /{type}/{idn}`, poll lane);
- company discovery (`Discoverer.on_read`): it reads every changed document with its status, so
  it costs nothing more (webhooks make discovery run at once, so they are covered too);
- a per-approver poll that no longer lists a document (`Poller.on_retired`): the list does not
  say why, so the bot looks once, at most `LOOKS_PER_HOUR` times an hour per company (a step that
  moved on is no outcome: nothing is said); not at all while discovery reads that type (it will
  read the document with its status; one the discovery user cannot see is then not told);
- a click that found the document decided elsewhere (`DecisionService.on_read`).

Only documents the bot posted about are told (an old document edited today is not news). The
requester is the document's creator, found in Slack by email (`users.lookupByEmail`); one not in
Slack is skipped and counted in `/precoro status`; one who muted it (`/precoro mute-outcomes` or
the DM's Mute button) is not told. The outcome is recorded before the DM is sent (unique per
company, document and outcome), so two paths or replicas tell it once. Per company opt-in:
`notify_requesters: true`. The finance channel (`finance.py`) gets the same outcomes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from typing import Any

from bot.config import CompanyConfig, Config
from bot.features.outcomes import messages
from bot.features.outcomes import rules as outcome_rules
from bot.features.outcomes.finance import FinanceService
from bot.precoro import api
from bot.precoro.client import PrecoroClient
from bot.precoro.errors import PrecoroError
from bot.precoro.models import Document, parse_document
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack.messages import NOBODY, Actor
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store import outcomes as results
from bot.store.approvers import Approver
from bot.store.decisions import Decision
from bot.store.messages import PostedMessage
from bot.store.outcomes import OutcomeRepo
from bot.tenancy import Tenancy
from bot.tokens import TokenService
from bot.vault import VaultError

log = logging.getLogger(__name__)

LOOKS_PER_HOUR = 30  # GETs per company and hour spent on learning outcomes (polls and clicks)
LOOK_ATTEMPTS = 4  # a look deferred for a click (or a 429, an outage) is tried again this often
LOOK_RETRY_MAX_SECONDS = 60.0


class OutcomeService:
    def __init__(self, config: Config, store: Store, repo: OutcomeRepo, tokens: TokenService,
                 clients: Mapping[str, PrecoroClient], notifier: Notifier, clock: Clock, web_urls: Mapping[str, str],
                 finance: FinanceService, tenancy: Tenancy) -> None:
        self.config = config
        self.tenancy = tenancy
        self.store = store
        self.repo = repo
        self.tokens = tokens
        self.clients = clients
        self.notifier = notifier
        self.clock = clock
        self.web_urls = web_urls
        self.finance = finance
        self._looks: dict[str, list[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.looks = 0  # Precoro requests spent here (tests and the report)

    def _company(self, company: str) -> CompanyConfig | None:
        found = next((c for c in self.config.companies if c.id == company), None)
        return found if found is not None and (found.notify_requesters or found.finance_channel) else None

    # --- the paths that learn an outcome --------------------------------------------------------------

    async def on_decided(self, decision: Decision, message: PostedMessage) -> None:
        """A click's decision went through in Precoro."""
        await self._safely(self._on_decided(decision, message))  # it never breaks the path that learned it

    async def _on_decided(self, decision: Decision, message: PostedMessage) -> None:
        if self._company(decision.company) is None:
            return
        doc = parse_document(message.doc_type, message.raw_document)
        approver = await self.store.run(self.store.approvers.get, decision.approver_id)
        if doc is None or approver is None:
            return
        if decision.action == "reject":
            await self._safely(self._tell(decision.company, approver.team_id, doc, outcome_rules.REJECTED,
                                          reason=decision.comment, by=Actor(slack_id=decision.clicked_by)))
        elif outcome_rules.may_be_final(doc):
            self._spawn(self._look(approver, doc, by=Actor(slack_id=decision.clicked_by)))

    async def on_retired(self, approver: Approver, message: PostedMessage, fresh: Document | None) -> None:
        """A poll or a discovery run retired a message: the document no longer waits for them."""
        await self._safely(self._on_retired(approver, message, fresh))  # it never breaks the path that learned it

    async def _on_retired(self, approver: Approver, message: PostedMessage, fresh: Document | None) -> None:
        if self._company(approver.company) is None:
            return
        if fresh is not None:
            await self._on_read(approver.company, [fresh])
            return
        settings = await self.store.run(self.store.discovery.get, approver.company)
        if settings is not None and settings.active and message.doc_type not in settings.fallback_types:
            return  # discovery reads every changed document with its status: it will tell, for free
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is not None:
            self._spawn(self._look(approver, doc))

    async def on_read(self, company: str, docs: Sequence[Document]) -> None:
        """Documents read from Precoro as they are now (discovery, a click's look)."""
        await self._safely(self._on_read(company, docs))  # it never breaks the path that learned it

    async def _on_read(self, company: str, docs: Sequence[Document]) -> None:
        finals = [d for d in docs if outcome_rules.outcome_of(d)]
        if not finals or self._company(company) is None:
            return
        known = await self.store.run(self.repo.known, company, [(d.doc_type, d.idn) for d in finals])
        for doc in finals:
            found = known.get((doc.doc_type, doc.idn))
            outcome = outcome_rules.outcome_of(doc) or ""
            if found is not None:
                await self._safely(self._tell(company, found.team_id, doc, outcome,
                                              reason=outcome_rules.reason_of(doc),
                                              by=Actor(name=outcome_rules.decided_by(doc, outcome))))

    def _spawn(self, look: Coroutine[Any, Any, None]) -> None:
        """Looks run off the path that asked for them: neither a click's answer nor a poll's tick
        waits for one (or for its retries)."""
        task = asyncio.create_task(self._safely(look))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        """Wait for the looks started by clicks (graceful shutdown, tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # --- looking once -------------------------------------------------------------------------------

    def _may_look(self, company: str) -> bool:
        now = self.clock.now()
        recent = [t for t in self._looks.get(company, []) if now - t < 3600.0]
        if len(recent) >= LOOKS_PER_HOUR:
            self._looks[company] = recent
            return False
        self._looks[company] = [*recent, now]
        return True

    async def _look(self, approver: Approver, doc: Document, *, by: Actor = NOBODY) -> None:
        """One GET of the document with this approver's token (poll lane: clicks go first), unless
        its outcome is known already or the hour's looks are spent."""
        done = await self.store.run(self.repo.recorded, approver.company, doc.doc_type, doc.idn)
        if done & set(outcome_rules.OUTCOMES.values()) or not self._may_look(approver.company):
            return
        raw = None
        for attempt in range(LOOK_ATTEMPTS):
            try:
                cred = self.tokens.credentials(approver)
                raw = await self.clients[approver.company].document(cred, doc.doc_type, doc.idn, lane=Lane.POLL)
                break
            except PrecoroError as exc:
                # Polls (and this look) step aside while a click waits for its slot: try again a
                # little later, a few times; a refusal (403, 404, token) is final.
                if not exc.retryable or attempt + 1 == LOOK_ATTEMPTS or not self._may_look(approver.company):
                    log.info("outcome of %s %s not looked up: %s", doc.doc_type, doc.idn, type(exc).__name__)
                    return
                retry_at = getattr(exc, "retry_at", None) or 0.0
                await self.clock.sleep(min(LOOK_RETRY_MAX_SECONDS,
                                           max(2.0 ** attempt, retry_at - self.clock.now())))
            except VaultError:
                return
            finally:
                self.looks += 1
        if raw is None:
            return
        fresh = parse_document(doc.doc_type, raw)
        outcome = outcome_rules.outcome_of(fresh)
        if fresh is None or outcome is None:
            return  # still pending (a step moved on), or withdrawn: nothing to tell
        await self._tell(approver.company, approver.team_id, fresh, outcome, reason=outcome_rules.reason_of(fresh),
                         by=by or Actor(name=outcome_rules.decided_by(fresh, outcome)))

    # --- telling --------------------------------------------------------------------------------------

    async def _tell(self, company: str, team: str, doc: Document, outcome: str, *, reason: str,
                    by: Actor) -> None:
        cfg = self._company(company)
        if cfg is None:
            return
        if cfg.finance_channel:
            await self.finance.decided(company, team, doc, outcome, reason=reason, by=by)
        if cfg.notify_requesters:
            await self._dm_requester(company, team, doc, outcome, reason=reason, by=by)

    async def _dm_requester(self, company: str, team: str, doc: Document, outcome: str, *, reason: str,
                            by: Actor) -> None:
        email = doc.creator.email.strip().lower()
        args = (company, doc.doc_type, doc.idn, outcome)
        if not await self.store.run(self.repo.claim, *args, email, self.clock.now()):
            return  # told already (another path or replica)
        if not email:
            await self.store.run(self.repo.finish, *args, results.NO_EMAIL)
            return
        try:
            user = await self.notifier.user_by_email(team, email)
        except SlackUnavailable:
            await self.store.run(self.repo.finish, *args, results.FAILED)
            return
        if user is None:
            log.info("requester of %s %s is not in Slack; skipped", doc.doc_type, doc.idn)
            await self.store.run(self.repo.finish, *args, results.NOT_IN_SLACK)
            return
        if await self.store.run(self.repo.muted, team, user):
            await self.store.run(self.repo.finish, *args, results.MUTED, user)
            return
        link = api.web_link(self.web_urls[company], doc.doc_type, doc.idn) if company in self.web_urls else ""
        body = messages.requester_outcome_message(doc, outcome, link=link, reason=reason, by=by)
        try:
            await self.notifier.post(team, user, body)
        except SlackUnavailable:
            await self.store.run(self.repo.finish, *args, results.FAILED, user)
            return
        await self.store.run(self.repo.finish, *args, results.SENT, user)

    @staticmethod
    async def _safely(work: Awaitable[None]) -> None:
        """An outcome never breaks the path that learned it (a poll, a click, discovery)."""
        try:
            await work
        except Exception:
            log.exception("telling an outcome failed")

    # --- the requester's own choice -------------------------------------------------------------

    def serves(self, team: str, enterprise: str | None) -> bool:
        """Is this workspace one a company names (anyone of it may mute their outcome DMs)?"""
        return self.tenancy.serves(team, enterprise)

    async def set_muted(self, team: str, user: str, muted: bool) -> str:
        """Mute or unmute the caller's outcome DMs (any user of a served workspace: a requester need
        not be an approver); the reply to show them."""
        if muted:
            await self.store.run(self.repo.mute, team, user, self.clock.now())
            return messages.outcomes_muted_text()
        await self.store.run(self.repo.unmute, team, user)
        return messages.outcomes_unmuted_text()

    async def tell(self, team: str, user: str, text: str) -> None:
        await self.notifier.dm(team, user, text)

    def status_line(self, company: str) -> str:
        """`/precoro status` (admins): outcomes told and requesters not in Slack. Blocking (database)."""
        cfg = next((c for c in self.config.companies if c.id == company), None)
        if cfg is None or not cfg.notify_requesters:
            return ""
        counts = self.repo.counts(company)
        return messages.requesters_status_line(company, counts.get(results.NOT_IN_SLACK, 0),
                                               self.repo.not_in_slack(company), counts.get(results.SENT, 0),
                                               counts.get(results.MUTED, 0))
