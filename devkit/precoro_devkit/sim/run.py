"""Run one scenario: the real bot against the Precoro emulator, on virtual time.

What is real: `Runtime.build` with the quota gate on an SQLite file, the Precoro client over
httpx (an ASGI transport into the emulator), the poller, the decision service with its outbox,
and the scheduler's own `tick` (decisions first, then the planner's polls), called every
`tick_seconds` of virtual time as APScheduler would. What is not: Slack, replaced by
`RecordingNotifier`; and approvers are written to the database directly (registering them
through Slack would spend one Precoro request each before the day starts).

A restart cancels every task of the bot (ticks, clicks in flight) at whatever await point
they are, closes it, and builds a new `Runtime` on the same database file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import tempfile
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from bot.config import Config, parse_config
from bot.precoro import api
from bot.quota.planner import PlanPolicy
from bot.runtime import Runtime
from bot.store import Store
from bot.store.schema import quota_spends
from bot.vault import generate_key, owner_binding
from precoro_devkit.emulator.precoro import DEFAULT_WINDOWS, EmDocument, EmUser, PrecoroEmulator
from precoro_devkit.sim.clock import VirtualClock
from precoro_devkit.sim.scenario import DAY, HOUR, START, Arrival, Scenario, draw, outside_times, reaction_time
from precoro_devkit.sim.slack import Post, RecordingNotifier

COMPANY = "acme"
TEAM = "T0SIM"
ADMIN = "U0ADMIN"
BASE_URL = "http://precoro.sim"
CHECK_SECONDS = 60.0  # how often the end of the run is checked once the measured days are over


def company_id(index: int) -> str:
    """The simulated companies: the first is COMPANY (a single-company run is unchanged)."""
    return COMPANY if index == 0 else f"co{index:03d}"


def team_id(index: int) -> str:
    return TEAM if index == 0 else f"T{index:04d}"


def sim_config(database_url: str, document_types: tuple[str, ...], companies: int = 1, **quota: Any) -> Config:
    """The bot's default configuration (Precoro's real limits, the default reserve and tick);
    several companies: each its own workspace and admin, all on one emulated Precoro."""
    one = {"base_url": BASE_URL, "web_url": "https://app.precoro.sim", "document_types": list(document_types)}
    slack: dict[str, Any] = {"signing_secret": "sim-signing-secret", "bot_token": "xoxb-sim"}
    precoro: dict[str, Any]
    if companies == 1:
        slack["admins"], precoro = [ADMIN], {"id": COMPANY, **one}
    else:
        precoro = {"companies": [{"id": company_id(i), "slack_teams": [team_id(i)], "admins": [ADMIN], **one}
                                 for i in range(companies)]}
    raw: dict[str, Any] = {
        "slack": slack,
        "precoro": precoro,
        "storage": {"url": database_url},
        "encryption": {"keys": [{"id": "sim", "key": generate_key()}]},
        "dangerously_allow_http": True,  # the simulated Precoro is in-process: no request leaves it
    }
    if quota:
        raw["quota"] = quota
    return parse_config(raw, env={})


@dataclass
class Click:
    at: float
    post: Post


@dataclass
class Result:
    scenario: Scenario
    config: Config
    delays: list[float]  # seconds from waiting to the Slack message, documents of the measured days
    unposted: int  # measured documents never posted before the run ended
    duplicate_posts: int  # (approver, document) pairs posted more than once
    too_many: int  # 429 answers from Precoro
    requests_day: int  # requests sent during the measured day(s), per day
    max_hour: int  # most requests in any sliding hour that starts in the measured days
    max_day: int  # most requests in any sliding 24 h of the whole run
    poll_day: int  # poll-lane requests per measured day
    interactive_day: int  # interactive-lane requests per measured day
    click_waits: list[float]  # seconds from a click to its approve POST reaching Precoro
    click_first_waits: list[float]  # seconds from a click to its first request (a look, or the POST)
    click_poll_waits: list[float]  # of that, the wait for a poll request sent before the click (0 if none)
    overtaken_clicks: int  # clicks during whose wait a poll request was sent
    ledger_missing: int  # requests Precoro received that the ledger does not hold
    restarts: int
    errors: list[str]
    wall_seconds: float
    posts: int = 0
    arrivals: int = 0
    notes: list[str] = field(default_factory=list)
    own_too_many: dict[str, int] = field(default_factory=dict)  # 429s answered to the bot, by RateLimit-Type
    outside_requests: int = 0  # the other integration's requests (all days)
    outside_too_many: int = 0  # 429s answered to it
    clicks_lost: int = 0  # clicks whose decision never reached Precoro
    outside_learned: int = 0  # 429s the bot counted as another integration's use
    company_delays: dict[str, list[float]] = field(default_factory=dict)  # the delays by company
    marks: dict[str, tuple[float, float, int, int]] = field(default_factory=dict)  # Simulation.marks
    # Company discovery's list reads (GET of a type's list without the waiting-for-me filter, with
    # the discovery user's token) and its single-document reads (hint reads; a look before that
    # user's own click is counted too), per measured day, and the list reads by UTC hour (all measured days).
    discovery_reads_day: int = 0
    discovery_reads_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    hint_reads_day: int = 0


@dataclass
class Tenant:
    """One simulated company: its people in the emulator and in the bot's database. Every company
    replays the same drawn scenario (its own copy of the generator), so each one's delays can be
    compared with a single-company run of that scenario."""

    id: str
    team: str
    rng: random.Random = field(repr=False)
    users: list[EmUser] = field(default_factory=list)
    slack_ids: list[str] = field(default_factory=list)
    requester: EmUser | None = None


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage() + (f" ({record.exc_info[1]!r})" if record.exc_info else ""))


class Simulation:
    def __init__(self, scenario: Scenario, workdir: Path, companies: int = 1) -> None:
        self.scenario = scenario
        self.clock = VirtualClock(START)
        self.db_url = f"sqlite:///{workdir / 'sim.db'}"
        self.config = sim_config(self.db_url, scenario.document_types, companies, duplicate_keying=scenario.keying,
                                 share=scenario.share)
        self.plan = draw(scenario)
        self.rng = self.plan.rng
        self.tenants = [Tenant(company_id(i), team_id(i), self.rng if i == 0 else _copy(self.plan.rng))
                        for i in range(companies)]  # copies taken before anything draws from the first
        self.slack_to: dict[str, tuple[Tenant, EmUser]] = {}  # Slack user id -> company, emulator user
        self.marks: dict[str, tuple[float, float, int, int]] = {}  # name -> (cpu, emulator cpu, ticks, requests)
        self.emulator_cpu = 0.0  # CPU seconds spent inside the emulator's ASGI app
        self.emulator = PrecoroEmulator(clock=self.clock.now, windows=DEFAULT_WINDOWS,
                                        duplicate_keying=scenario.keying, window_mode=scenario.window_mode)
        self.emulator.on_step = self._step_moved
        self._time_emulator()
        self.sink = RecordingNotifier(self.clock, on_post=self._on_post)
        self.users: list[EmUser] = self.tenants[0].users  # the first company's (single-company tests use them)
        self.slack_ids: list[str] = self.tenants[0].slack_ids
        self.slack_by_user: dict[int, str] = {}  # emulator user id -> Slack user id
        self.arrived: dict[tuple[str, str, str], float] = {}  # (slack user, type, idn) -> waiting since
        self.clicks: list[Click] = []
        self.bot_tasks: set[asyncio.Task[Any]] = set()  # die with a restart
        self.human_tasks: set[asyncio.Task[Any]] = set()  # people: survive a restart
        self.backlog: list[Post] = []  # posts nobody reacted to, for the burst
        self.restarts = 0
        self.rt: Runtime | None = None
        self.outside_token: str | None = None
        self.outside_learned = 0  # 429s the bot's gate counted as another integration's use

    # --- the bot ------------------------------------------------------------------------------

    def _build(self) -> Runtime:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.asgi_app))
        rt = Runtime.build(self.config, clock=self.clock, store=Store.open(self.db_url, inline=True), http=http,
                           notifier=self.sink)
        rt.scheduler.policy = PlanPolicy.named(self.scenario.policy)
        for gate in {id(c.gate): c.gate for c in rt.clients.values()}.values():
            self._count_blames(gate)
        return rt

    def _count_blames(self, gate: Any) -> None:
        note_429 = gate.note_429

        def counted(*args: Any, **kwargs: Any) -> Any:  # how often the bot blamed another integration
            learned = note_429(*args, **kwargs)
            self.outside_learned += learned is not None
            return learned

        gate.note_429 = counted

    def _spawn_bot(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.bot_tasks.add(task)
        task.add_done_callback(self.bot_tasks.discard)

    def _spawn_human(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.human_tasks.add(task)
        task.add_done_callback(self.human_tasks.discard)

    async def _ticker(self) -> None:
        tick = self.config.tick_seconds
        while True:
            assert self.rt is not None
            self._spawn_bot(self.rt.scheduler.tick())
            await self.clock.sleep(tick - (self.clock.now() - START) % tick)

    async def _restart(self) -> None:
        for task in list(self.bot_tasks):
            task.cancel()
        await asyncio.gather(*self.bot_tasks, return_exceptions=True)
        assert self.rt is not None
        await self.rt.aclose()
        self.rt = self._build()
        self.restarts += 1
        self._spawn_bot(self._ticker())

    # --- the people ---------------------------------------------------------------------------

    def _seed(self) -> None:
        for c, tenant in enumerate(self.tenants):
            self._seed_company(c, tenant)
        self.requester = self.tenants[0].requester

    def _seed_company(self, c: int, tenant: Tenant) -> None:
        company, team = tenant.id, tenant.team
        tenant.requester = self.emulator.add_user(company, "Rita Requester", f"rita@{company}.example.com")
        assert self.rt is not None
        discovery = self.scenario.source == "discovery"
        for i in range(self.scenario.approvers):
            # Approver 0 is a company admin (sees every document): the discovery user.
            email = f"approver{i}@example.com" if c == 0 else f"approver{i}@{company}.example.com"
            user = self.emulator.add_user(company, f"Approver {i}", email, is_admin=discovery and i == 0)
            slack_id = f"U{c:03d}{i:04d}"  # the first company's: U0000000, U0000001, ...
            ciphertext = self.rt.vault.encrypt(user.token, binding=owner_binding(company, team, slack_id))
            self.rt.store.approvers.upsert(company=company, team_id=team, slack_user_id=slack_id,
                                           email=user.email, token_ciphertext=ciphertext, registered_by=ADMIN,
                                           now=self.clock.now())
            tenant.users.append(user)
            tenant.slack_ids.append(slack_id)
            self.slack_by_user[user.id] = slack_id
            self.slack_to[slack_id] = (tenant, user)
        if discovery:
            admin = self.rt.store.approvers.find(company, team, tenant.slack_ids[0])
            assert admin is not None
            self.rt.store.discovery.set_approver(company, admin.id, by=ADMIN, now=self.clock.now())

    async def _arrivals(self, until: float) -> None:
        for arrival in self.plan.arrivals:
            if arrival.at >= until:
                return
            await self.clock.sleep_until(arrival.at)
            for tenant in self.tenants:
                self._arrive(tenant, arrival)

    def _arrive(self, tenant: Tenant, arrival: Arrival) -> None:
        users = tenant.users
        assert tenant.requester is not None
        steps = [[users[arrival.approver].id]] + ([[users[arrival.second].id]] if arrival.second is not None else [])
        doc = self.emulator.add_document(tenant.id, arrival.doc_type, tenant.requester.id, steps,
                                         created_at=self.clock.now())
        self.arrived[(tenant.slack_ids[arrival.approver], doc.doc_type, doc.idn)] = self.clock.now()
        self._webhook(tenant.id, doc.doc_type, doc.idn)

    def _webhook(self, company: str, doc_type: str, idn: str) -> None:
        """Precoro's webhook for a created or updated document, as the bot's endpoint stores it."""
        if self.scenario.webhooks and self.rt is not None and self.rt.store.hints.add(company, doc_type, idn,
                                                                                      self.clock.now()):
            woken = self.rt.scheduler.wake(company)  # as the server does
            if woken is not None:
                self.bot_tasks.add(woken)  # dies with a restart
                woken.add_done_callback(self.bot_tasks.discard)

    def _step_moved(self, doc: EmDocument) -> None:
        """A document moved on to its next step: its approvers wait from now (emulator lock held)."""
        step = doc.current_step
        for uid in step.approver_ids if step is not None else ():
            slack_id = self.slack_by_user.get(uid)
            if slack_id is not None:
                self.arrived.setdefault((slack_id, doc.doc_type, doc.idn), self.clock.now())
        self._webhook(doc.company, doc.doc_type, doc.idn)

    def _on_post(self, post: Post) -> None:
        s = self.scenario
        rng = self.slack_to[post.user_id][0].rng
        at = reaction_time(s, rng, post.at)
        burst_at = s.measured_from + s.burst_at_hours * 3600.0
        if s.burst_clicks and burst_at - DAY <= post.at < burst_at:
            self.backlog.append(post)  # the approvers were away for a day: they come back all at once
            return
        self._spawn_human(self._decide(post, at, click=rng.random() < s.click_share))

    async def _decide(self, post: Post, at: float, *, click: bool) -> None:
        await self.clock.sleep_until(at)
        if click:
            await self._click(post)
        else:  # decided in Precoro's own UI: the next poll retires the Slack message
            tenant, user = self.slack_to[post.user_id]
            self.emulator.approve_as(user.id, post.doc_type, post.idn)
            self._webhook(tenant.id, post.doc_type, post.idn)

    async def _click(self, post: Post) -> None:
        self.clicks.append(Click(self.clock.now(), post))
        assert self.rt is not None
        await self.rt.decisions.click(team_id=self.slack_to[post.user_id][0].team, user_id=post.user_id,
                                      ref=post.ref, action="approve")

    async def _burst(self) -> None:
        s = self.scenario
        await self.clock.sleep_until(s.measured_from + s.burst_at_hours * 3600.0)
        chosen = self.backlog[-s.burst_clicks:]
        for post in self.backlog[: len(self.backlog) - len(chosen)]:  # the rest: decided later, as usual
            self._spawn_human(self._decide(post, reaction_time(s, self.rng, self.clock.now()),
                                           click=self.rng.random() < s.click_share))
        window = s.burst_minutes * 60.0
        for post in chosen:
            self._spawn_human(self._decide(post, self.clock.now() + self.rng.uniform(0, window), click=True))

    # --- the run ------------------------------------------------------------------------------

    async def main(self) -> None:
        s = self.scenario
        self.rt = self._build()
        self._seed()
        end = s.measured_to + s.tail_days * DAY
        self._spawn_human(self._mark("measured_from", s.measured_from))
        self._spawn_human(self._mark("measured_to", s.measured_to))
        self._spawn_human(self._arrivals(end))
        if s.burst_clicks:
            self._spawn_human(self._burst())
        if s.outside_per_second > 0 or s.outside_burst > 0:
            self._spawn_human(self._outside(end))
        self._spawn_bot(self._ticker())
        for hour in sorted(s.restart_at_hours):
            await self.clock.sleep_until(s.measured_from + hour * 3600.0)
            await self._restart()
        await self.clock.sleep_until(s.measured_to)
        while self.clock.now() < end and self._waiting_measured():
            await self.clock.sleep(CHECK_SECONDS)
        for task in list(self.bot_tasks) + list(self.human_tasks):
            task.cancel()
        await asyncio.gather(*self.bot_tasks, *self.human_tasks, return_exceptions=True)

    async def _mark(self, name: str, at: float) -> None:
        """CPU, ticks and requests so far, at a point of virtual time (the measured span's edges)."""
        await self.clock.sleep_until(at)
        ticks = self.rt.scheduler.ticks if self.rt is not None else 0
        self.marks[name] = (time.process_time(), self.emulator_cpu, ticks, len(self.emulator.requests))

    def _time_emulator(self) -> None:
        """Count the CPU spent inside the emulator (it answers in the calling task, without waiting
        on timers), so a benchmark can tell the bot's share from the stand-in's."""
        app = self.emulator.app

        async def timed(scope: Any, receive: Any, send: Any) -> None:
            started = time.process_time()
            try:
                await app(scope, receive, send)
            finally:
                self.emulator_cpu += time.process_time() - started

        self.asgi_app = timed

    async def _outside(self, until: float) -> None:
        """Another integration of the company (an ERP sync): its own token, its own URLs, no
        back-off; Precoro counts its requests in the same windows as the bot's."""
        user = self.emulator.add_user(COMPANY, "ERP Sync", "erp@example.com")
        self.outside_token = user.token
        headers = {api.TOKEN_HEADER: user.token, api.EMAIL_HEADER: user.email}
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.emulator.app))  # lives as long as the run
        for i, at in enumerate(outside_times(self.scenario, until)):
            await self.clock.sleep_until(at)
            self._spawn_human(http.get(f"{BASE_URL}/invoices", headers=headers,
                                       params={api.PER_PAGE_PARAM: 10, api.PAGE_PARAM: 1000 + i}))

    def _waiting_measured(self) -> bool:
        posted = {(p.user_id, p.doc_type, p.idn) for p in self.sink.posts}
        s = self.scenario
        return any(s.measured_from <= at < s.measured_to and key not in posted for key, at in self.arrived.items())

    # --- measuring ----------------------------------------------------------------------------

    def result(self, wall: float, errors: list[str]) -> Result:
        s = self.scenario
        first: dict[tuple[str, str, str], float] = {}
        counts: Counter[tuple[str, str, str]] = Counter()
        for post in self.sink.posts:
            key = (post.user_id, post.doc_type, post.idn)
            counts[key] += 1
            first.setdefault(key, post.at)
        measured = {k: at for k, at in self.arrived.items() if s.measured_from <= at < s.measured_to}
        delays = [first[k] - at for k, at in measured.items() if k in first]
        company_delays: dict[str, list[float]] = {}
        for k, at in measured.items():
            if k in first:
                company_delays.setdefault(self.slack_to[k[0]][0].id, []).append(first[k] - at)
        ids = {t.id for t in self.tenants}
        requests = sorted(r.at for r in self.emulator.requests if r.company in ids)
        in_days = [t for t in requests if s.measured_from <= t < s.measured_to]
        assert self.rt is not None
        with self.rt.store.engine.connect() as conn:
            spends = conn.execute(select(quota_spends.c.at, quota_spends.c.lane)
                                  .where(quota_spends.c.company.in_(ids))).all()
        lanes = Counter(lane for at, lane in spends if s.measured_from <= at < s.measured_to)
        posts_to: dict[str, float] = {}
        touched: dict[str, list[float]] = {}  # idn -> times of requests about that one document
        for r in self.emulator.requests:
            parts = [p for p in r.path.split("/") if p]
            if len(parts) >= 2:
                touched.setdefault(parts[1], []).append(r.at)
            if r.method == "POST" and r.path.endswith("/approve"):
                posts_to.setdefault(parts[1], r.at)
        polls = sorted(r.at for r in self.emulator.requests if r.method == "GET" and r.path.count("/") == 1)
        everything = sorted(r.at for r in self.emulator.requests)
        poll_times = set(polls)
        waits, first_waits, poll_waits, overtaken = [], [], [], 0
        for click in self.clicks:
            sent = posts_to.get(click.post.idn)
            if sent is None:
                continue
            first = min(t for t in touched[click.post.idn] if t >= click.at)
            waits.append(sent - click.at)
            first_waits.append(first - click.at)
            i = bisect_left(everything, first)
            before = everything[i - 1] if i else None  # the request the click's first one came after
            held = before is not None and before <= click.at and before in poll_times
            poll_waits.append(first - click.at if held else 0.0)
            if _count_between(polls, click.at, sent):
                overtaken += 1
        discovery_reads, by_hour, hint_reads = self._discovery_reads()
        return Result(
            scenario=s, config=self.config, delays=delays, unposted=len(measured) - len(delays),
            duplicate_posts=sum(1 for n in counts.values() if n > 1), too_many=self.emulator.too_many(),
            requests_day=round(len(in_days) / s.days), max_hour=_max_in_window(requests, 3600.0, in_days),
            max_day=_max_in_window(requests, DAY, requests), poll_day=round(lanes["poll"] / s.days),
            interactive_day=round(lanes["interactive"] / s.days), click_waits=waits,
            click_first_waits=first_waits, click_poll_waits=poll_waits, overtaken_clicks=overtaken,
            ledger_missing=max(0, len(requests) - len(spends)), restarts=self.restarts, errors=errors,
            wall_seconds=wall, posts=len(self.sink.posts), arrivals=len(measured),
            own_too_many=dict(Counter(r.limit_type or "?" for r in self.emulator.requests
                                      if r.status == 429 and r.token != self.outside_token
                                      and s.measured_from <= r.at < s.measured_to)),
            outside_requests=sum(1 for r in self.emulator.requests if r.token == self.outside_token
                                 and s.measured_from <= r.at < s.measured_to),
            outside_too_many=sum(1 for r in self.emulator.requests if r.token == self.outside_token
                                 and r.status == 429 and s.measured_from <= r.at < s.measured_to),
            clicks_lost=len(self.clicks) - len(waits), outside_learned=self.outside_learned,
            company_delays=company_delays, marks=dict(self.marks),
            discovery_reads_day=round(discovery_reads / s.days), discovery_reads_by_hour=by_hour,
            hint_reads_day=round(hint_reads / s.days),
        )

    def _discovery_reads(self) -> tuple[int, list[int], int]:
        """The discovery user's list reads and single-document GETs in the measured days (the floors'
        "runs actually spent", `precoro_devkit.sim.floors`), and the list reads by UTC hour."""
        s = self.scenario
        if s.source != "discovery":
            return 0, [0] * 24, 0
        tokens = {t.users[0].token for t in self.tenants if t.users}
        lists, singles, by_hour = 0, 0, [0] * 24
        for r in self.emulator.requests:
            if r.method != "GET" or r.token not in tokens or not s.measured_from <= r.at < s.measured_to:
                continue
            if r.path.strip("/").count("/") == 0:
                if not any(alias in r.query for alias in api.WAITING_PARAM_ALIASES):
                    lists += 1
                    by_hour[int(((r.at - START) % DAY) // HOUR)] += 1
            elif r.path.strip("/").count("/") == 1:
                singles += 1
        return lists, by_hour, singles


def _count_between(times: list[float], lo: float, hi: float) -> int:
    return max(0, bisect_left(times, hi) - bisect_right(times, lo))


def _max_in_window(times: list[float], seconds: float, starts: list[float]) -> int:
    """Most of `times` in any [t, t + seconds) with t in `starts` (both sorted)."""
    return max((bisect_left(times, t + seconds) - bisect_left(times, t) for t in starts), default=0)


def _fast_tmp() -> Path | None:
    """A memory-backed temporary directory when there is one: the database file is real, and
    its commits do not wait for a disk."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def _copy(rng: random.Random) -> random.Random:
    twin = random.Random()
    twin.setstate(rng.getstate())
    return twin


def simulate(scenario: Scenario, workdir: Path | None = None, companies: int = 1) -> Result:
    """Run one scenario to the end and measure it (a few seconds of wall time per simulated day)."""
    errors = _Errors()
    bot_log = logging.getLogger("bot")
    bot_log.addHandler(errors)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(dir=workdir or _fast_tmp()) as tmp:
            sim = Simulation(scenario, Path(tmp), companies)
            sim.clock.run(sim.main())
            result = sim.result(time.perf_counter() - started, errors.messages)
            if sim.rt is not None:
                sim.rt.store.close()
    finally:
        bot_log.removeHandler(errors)
    return result

