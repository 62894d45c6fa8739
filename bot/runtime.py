"""Wires the parts together for one process: store, vault, quota gate, clients, services."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass

import httpx
from aiohttp import ServerDisconnectedError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.config import Config
from bot.features.admin.service import AdminService
from bot.features.approvals.service import DecisionService, attempt_lease
from bot.features.away.service import AwayService
from bot.features.connect import messages as connect_messages
from bot.features.connect.service import ConnectService
from bot.features.home.service import HomeService
from bot.features.outcomes.finance import FinanceService
from bot.features.outcomes.service import OutcomeService
from bot.features.reminders.service import ReminderService
from bot.metrics import Metrics
from bot.precoro.client import PrecoroClient
from bot.quota.gate import Clock, QuotaGate, SystemClock
from bot.slack.installations import EncryptedInstallationStore, SlackClients
from bot.slack.notifier import Notifier
from bot.store import Store
from bot.store.outcomes import OutcomeRepo
from bot.sync.adapt import Adaptations
from bot.sync.blind import BlindWatch
from bot.sync.discovery import Discoverer
from bot.sync.poller import Poller
from bot.sync.scheduler import PollScheduler
from bot.sync.token_checks import TokenChecker
from bot.tenancy import Tenancy
from bot.tokens import TokenService
from bot.vault import Vault

log = logging.getLogger(__name__)


class StaleConnectionRetryHandler(AsyncConnectionErrorRetryHandler):
    """Retry once a call whose kept-alive connection the server closed as it was reused (the
    server saw no request), except a post: a connection lost after Slack took it would double it."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1, error_types=[ServerDisconnectedError])

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        if request.url.rstrip("/").endswith(("chat.postMessage", "chat.postEphemeral")):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


@dataclass
class Runtime:
    config: Config
    store: Store
    vault: Vault
    clock: Clock
    http: httpx.AsyncClient
    slack: SlackClients  # the Web API client of each workspace
    gate: QuotaGate
    clients: dict[str, PrecoroClient]
    notifier: Notifier
    tokens: TokenService
    poller: Poller
    decisions: DecisionService
    scheduler: PollScheduler
    metrics: Metrics
    replica: str  # this process's name among replicas (company leases, /readyz)
    home: HomeService
    reminders: ReminderService
    tenancy: Tenancy  # which workspace may use which company, and its admins
    adapt: Adaptations | None = None  # what the bot learned of each company's Precoro (bot/sync/adapt.py)
    outcomes: OutcomeService | None = None  # requesters told of outcomes (bot/features/outcomes)
    finance: FinanceService | None = None  # the finance channel (bot/features/outcomes/finance.py)
    away: AwayService | None = None  # away mode (bot/features/away)
    connect: ConnectService | None = None  # approvers' own keys, invitations (bot/features/connect)
    admin: AdminService | None = None  # `/precoro` admin commands, status, a workspace that leaves (bot/features/admin)

    @classmethod
    def build(cls, config: Config, *, clock: Clock | None = None, store: Store | None = None,
              http: httpx.AsyncClient | None = None, notifier: Notifier | None = None) -> Runtime:
        """`notifier` replaces the Slack Web API sender (the simulation records instead of posting)."""
        clock = clock or SystemClock()
        store = store or Store.open(config.storage_url, timeout=config.storage_timeout_seconds)
        vault = Vault((k.id, k.key) for k in config.encryption_keys)
        http = http or httpx.AsyncClient(timeout=httpx.Timeout(config.request_timeout_seconds, connect=5.0))
        tenancy = Tenancy(config)
        installations = None
        if config.slack.oauth is not None:
            installations = EncryptedInstallationStore(
                config.slack.oauth.client_id, store.engine, vault, boundary=store.boundary,
                allowed=lambda enterprise, team: tenancy.serves(team, enterprise))
        slack = SlackClients(config.slack.api_url, bot_token=config.slack.bot_token, installations=installations,
                             retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2),
                                             StaleConnectionRetryHandler()])
        gate = QuotaGate(store.quota, {c.id: c.quota for c in config.companies}, clock,
                         in_flight_timeout=config.request_timeout_seconds + 5.0, boundary=store.boundary)
        clients = {
            c.id: PrecoroClient(c.id, c.base_url, gate, http, interactive_wait=config.interactive_wait_seconds)
            for c in config.companies
        }
        types = {c.id: c.document_types for c in config.companies}
        web_urls = {c.id: c.web_url for c in config.companies}
        metrics = Metrics(store, clock, config.companies)
        admins = {c.id: c.admins for c in config.companies}
        notifier = notifier or Notifier(slack, on_error=metrics.slack_error)
        notifier.confirm_rules = {c.id: c.confirm_above for c in config.companies}
        tokens = TokenService(store, vault, clients, types, notifier, admins, clock)
        poller = Poller(store, tokens, clients, types, web_urls, notifier, clock)
        decisions = DecisionService(store, tokens, clients, web_urls, notifier, clock, lease_seconds=attempt_lease(
            config.interactive_wait_seconds, config.request_timeout_seconds))
        replica = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        discoverer = Discoverer(store, tokens, clients, types, poller, notifier, admins, clock)
        token_checks = TokenChecker(store, tokens, clients, types, clock)
        adapt = Adaptations(store, clients, notifier, admins, clock)
        adapt.install()
        discoverer.on_fallback = adapt.stepless
        poller.on_filter_refuted = adapt.filter_refuted
        blind = BlindWatch(store, tokens, clients, clock)  # is the discovery token's view complete?
        blind.on_blind, poller.on_new = adapt.blind, blind.polled
        # the engine's tick retries due decisions through the approvals feature's service (its DueDecisions)
        scheduler = PollScheduler(config, store, poller, decisions, clock, replica, discoverer=discoverer,
                                  token_checks=token_checks)
        home = HomeService(config, store, notifier, clock, web_urls, tenancy, decisions)
        poller.on_queue_change = decisions.on_queue_change = home.refresh
        poller.on_posted, decisions.on_finished = metrics.document_posted, metrics.decision_finished
        reminders = ReminderService(config, store, notifier, clock, web_urls, authorize=decisions.authorize)
        away = AwayService(store, notifier, clock, home, reminders)
        reminders.on_away = away.run  # the reminder run hands each away approver to away mode
        home.extras.parts.append(away.home_blocks)  # the Home's "Away" part, before "Decided by me"
        connect = ConnectService(config, store, tokens, notifier, clock, home, tenancy)
        home.connect_blocks = connect_messages.connect_home_blocks  # the Home's Connect part
        home.invite_blocks = connect_messages.invite_home_blocks  # the admins' Invite button
        outcome_repo = OutcomeRepo(store.engine)
        finance = FinanceService(config, store, outcome_repo, notifier, clock, web_urls)
        outcomes = OutcomeService(config, store, outcome_repo, tokens, clients, notifier, clock, web_urls, finance,
                                  tenancy)
        decisions.on_decided, decisions.on_read = outcomes.on_decided, outcomes.on_read
        poller.on_retired, discoverer.on_read = outcomes.on_retired, outcomes.on_read
        admin = AdminService(config, store, tokens, clients, notifier, clock, tenancy, scheduler, slack,
                             outcomes=outcomes, adapt=adapt)
        return cls(config, store, vault, clock, http, slack, gate, clients, notifier, tokens, poller, decisions,
                   scheduler, metrics, replica, home, reminders, tenancy, adapt, outcomes, finance, away,
                   connect, admin)

    async def aclose(self) -> None:
        await self.http.aclose()
        self.store.close()
