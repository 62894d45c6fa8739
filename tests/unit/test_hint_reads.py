"""The hint reads' share of the day's poll budget: a fallback discovery run may draw ahead of the
pacing bucket only within `HINT_SHARE` over a sliding day, and the share comes back a day later."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from bot.config import CompanyConfig
from bot.precoro.errors import QuotaDeferred, TokenRejected
from bot.quota.ledger import QuotaPolicy
from bot.store.approvers import Approver
from bot.store.hints import ANY_DOCUMENT
from bot.sync import hint_reads
from bot.sync.hint_reads import HINT_SHARE, HintReader
from bot.sync.planning import DAY, CompanyState, Plan


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def plan(at: float, budget: float) -> Plan:
    return Plan(at=at, approvers=[], loads=[], budget_per_day=budget, hour_budget_per_day=budget, profile=(1.0,) * 24,
                interactive_per_day=0.0, intervals={}, bucket=0.0, allowance=0, list_room=0)


def test_draws_ahead_of_the_bucket_stop_at_the_share_and_come_back_after_a_day() -> None:
    clock = Clock()
    reader = HintReader(store=None, poller=None, discoverer=None, clock=clock)  # type: ignore[arg-type]
    budget, quota = 40.0, QuotaPolicy()
    granted = 0
    for _ in range(100):
        clock.t += 60.0  # a minute apart: Precoro's shorter windows never bind
        granted += 2 * reader.draw("acme", plan(clock.t, budget), quota, 2)
    assert granted == HINT_SHARE * budget
    assert reader.reads_today("acme") == granted
    clock.t += DAY
    assert reader.draw("acme", plan(clock.t, budget), quota, 2)


# --- the read loop, with fakes for Precoro, the store and discovery's routing ------------------

ORDER = "purchaseorders"


class FakeStore:
    def __init__(self) -> None:
        self.pending: list[tuple[str, str]] = []
        self.hints = self
        self.messages = self

    async def run(self, fn, *args):  # type: ignore[no-untyped-def]
        return fn(*args)

    def take(self, company: str) -> list[tuple[str, str]]:
        taken, self.pending = self.pending, []
        return taken

    def for_documents(self, company: str, keys: list[tuple[str, str]]) -> list[object]:
        return []


class FakeClient:
    """Precoro's single-document GET: `answers[idn]` is an exception to raise (else a document)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.answers: dict[str, Exception] = {}
        self.gets: list[tuple[str, str]] = []

    async def document(self, cred: str, doc_type: str, idn: str, *, lane: object) -> dict:
        if isinstance(answer := self.answers.get(idn), QuotaDeferred):
            raise answer
        self.gets.append((cred, idn))
        if answer is not None:
            raise answer
        return {"idn": idn}


class FakeTokens:
    def __init__(self) -> None:
        self.refusals: list[tuple[int, str]] = []

    def credentials(self, approver: Approver) -> str:
        return f"token-{approver.id}"

    async def refused(self, approver: Approver, where: str) -> str:
        self.refusals.append((approver.id, where))
        return "suspect"


class FakeDiscoverer:
    def __init__(self) -> None:
        self.routed: list[str] = []
        self.revoked: list[int] = []
        self.fail_on: str | None = None

    async def route_read(self, company: str, doc: object, raw: dict, started: float) -> None:
        if raw["idn"] == self.fail_on:
            raise TimeoutError("database")
        self.routed.append(raw["idn"])

    async def refused(self, company: str, approver: Approver) -> None:
        self.revoked.append(approver.id)


def approver(id: int) -> Approver:
    return Approver(id=id, company="acme", team_id="T", slack_user_id=f"U{id}", email="", token_ciphertext="",
                    status="active", registered_by="", created_at=0.0, updated_at=0.0, last_polled_at=None,
                    docs_seen=0)


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    monkeypatch.setattr(hint_reads, "parse_document", lambda doc_type, raw: raw)
    monkeypatch.setattr(hint_reads.route, "waiting_people", lambda doc: [])
    clock, store, tokens, discoverer = Clock(), FakeStore(), FakeTokens(), FakeDiscoverer()
    client = FakeClient(clock)
    poller = SimpleNamespace(tokens=tokens, clients={"acme": client})
    reader = HintReader(store, poller, discoverer, clock)  # type: ignore[arg-type]
    admin = approver(1)
    state = CompanyState(approvers=[admin], discovery=admin, discovery_types=(ORDER,), discovered_at=clock.t - 100)
    company = CompanyConfig(id="acme", base_url="", web_url="", document_types=(ORDER,), quota=QuotaPolicy())

    async def take() -> None:
        await reader.take(company, state, budget_per_day=1000.0, click_busy=no_click)

    return SimpleNamespace(clock=clock, store=store, client=client, tokens=tokens, discoverer=discoverer,
                           reader=reader, state=state, take=take, admin=admin)


async def no_click() -> bool:
    return False


def webhooks(rig: SimpleNamespace, *idns: str) -> None:
    rig.store.pending += [(ORDER, idn) for idn in idns]


@pytest.mark.asyncio
async def test_a_held_back_hint_is_due_for_the_next_tick_without_another_webhook(rig: SimpleNamespace) -> None:
    rig.client.answers["PO-1"] = QuotaDeferred("no room", retry_at=rig.clock.t + 5.0)
    webhooks(rig, "PO-1")
    await rig.take()
    assert rig.discoverer.routed == [] and not rig.reader.due("acme", rig.clock.now())
    rig.clock.t += 5.0
    del rig.client.answers["PO-1"]
    assert rig.reader.due("acme", rig.clock.now()), "a tick must take it although the database has no hint"
    await rig.take()
    assert rig.discoverer.routed == ["PO-1"]


@pytest.mark.asyncio
async def test_one_document_in_its_duplicate_window_holds_back_only_itself(rig: SimpleNamespace) -> None:
    rig.client.answers["PO-1"] = QuotaDeferred("a click's look took the URL", retry_at=rig.clock.t + 60.0)
    webhooks(rig, "PO-1", "PO-2", "PO-3")
    await rig.take()
    assert rig.discoverer.routed == ["PO-2", "PO-3"]


@pytest.mark.asyncio
async def test_a_refused_token_is_reported_and_not_used_again(rig: SimpleNamespace) -> None:
    rig.client.answers["PO-1"] = TokenRejected("401")
    webhooks(rig, "PO-1", "PO-2")
    await rig.take()
    assert rig.discoverer.revoked == [rig.admin.id]
    assert [idn for _, idn in rig.client.gets] == ["PO-1"], "no second request with a refused token"
    assert rig.state.discovery_hinted  # both fall back to discovery (checked again before it runs)


@pytest.mark.asyncio
async def test_a_holders_refused_token_goes_the_polls_way(rig: SimpleNamespace) -> None:
    rig.state.discovery = None  # no discovery: a holder's token reads it
    bob = approver(2)
    rig.state.approvers = [bob]
    rig.store.for_documents = lambda company, keys: [SimpleNamespace(doc_type=ORDER, idn=i, state="waiting",
                                                                    approver_id=2) for _, i in keys]
    rig.client.answers["PO-1"] = TokenRejected("401")
    webhooks(rig, "PO-1", "PO-2")
    await rig.take()
    assert rig.tokens.refusals == [(2, "poll")]
    assert [idn for _, idn in rig.client.gets] == ["PO-1"]
    assert not rig.state.approvers


@pytest.mark.asyncio
async def test_a_database_error_in_the_loop_leaves_the_rest_to_discovery(rig: SimpleNamespace) -> None:
    rig.discoverer.fail_on = "PO-1"
    webhooks(rig, "PO-1", "PO-2")
    with pytest.raises(TimeoutError):
        await rig.take()
    assert rig.state.discovery_hinted, "the unserved hints fall back to a discovery run, not dropped"


@pytest.mark.asyncio
async def test_a_webhook_being_read_never_makes_a_tick_skip() -> None:
    """A wake holds only its company: the tick still retries due decisions and polls the others."""
    from bot.sync.scheduler import PollScheduler

    released, polled, decided = asyncio.Event(), [], []

    async def slow_read(company: CompanyConfig, state: CompanyState) -> None:
        await released.wait()  # e.g. a slow single-document GET of a webhook's document

    async def poll(company: CompanyConfig) -> int:
        polled.append(company.id)
        return 0

    async def nothing(*args: object) -> object:
        return True

    @contextlib.asynccontextmanager
    async def held() -> AsyncIterator[None]:  # the leases kept while the tick runs: always, here
        yield

    companies = {c: CompanyConfig(id=c, base_url="", web_url="", document_types=(ORDER,), quota=QuotaPolicy())
                 for c in ("acme", "beta")}
    sched = PollScheduler.__new__(PollScheduler)
    sched.__dict__.update(
        config=SimpleNamespace(companies=list(companies.values()), company=companies.__getitem__),
        _stopping=False, _lock=asyncio.Lock(), _woken=set(), _wakes=set(), ticks=0, clock=Clock(),
        hints=HintReader(None, None, None, Clock()),  # type: ignore[arg-type]
        decisions=SimpleNamespace(run_due=lambda: nothing(decided.append(1))),
        leases=SimpleNamespace(claim=nothing, holds=lambda c: True, keeps=nothing, keeping=held),
        fleet=SimpleNamespace(refresh=nothing),
        token_checks=None, _companies={}, _decision_due=nothing, _state=nothing, _take_hints=slow_read, _limit=4,
        _poll_company=poll)
    woken = sched.wake("acme")
    await asyncio.sleep(0)  # the wake has started reading
    tick = asyncio.create_task(sched.tick())
    for _ in range(20):
        await asyncio.sleep(0)
    assert decided and "beta" in polled, "the tick went on beside the webhook's read"
    assert "acme" not in polled, "never the company's poll beside its own webhook read"
    released.set()
    await asyncio.gather(tick, woken)  # type: ignore[arg-type]
    assert polled == ["beta", "acme"]


@pytest.mark.asyncio
async def test_a_tick_takes_held_back_hints_when_the_database_has_none(rig: SimpleNamespace) -> None:
    from bot.sync.scheduler import PollScheduler

    rig.client.answers["PO-1"] = QuotaDeferred("no room", retry_at=rig.clock.t + 5.0)
    webhooks(rig, "PO-1")
    await rig.take()
    del rig.client.answers["PO-1"]
    taken: list[str] = []

    async def take_hints(company: CompanyConfig, state: CompanyState) -> None:
        taken.append(company.id)

    async def state(company: CompanyConfig, now: float) -> CompanyState:
        return rig.state

    async def discovering(*args: object) -> bool:
        return True

    sched = PollScheduler.__new__(PollScheduler)
    sched.__dict__.update(clock=rig.clock, hints=rig.reader, fleet=SimpleNamespace(hints_for=lambda c: False),
                          token_checks=None, _state=state, _take_hints=take_hints, discover_company=discovering)
    company = CompanyConfig(id="acme", base_url="", web_url="", document_types=(ORDER,), quota=QuotaPolicy())
    await sched.poll_company(company)
    assert taken == [], "not due yet"
    rig.clock.t += 5.0
    await sched.poll_company(company)
    assert taken == ["acme"], "held back, now due: the tick takes it without another webhook"


@pytest.mark.asyncio
async def test_a_hint_without_an_idn_makes_discovery_due_and_reads_nothing_alone(rig: SimpleNamespace) -> None:
    webhooks(rig, ANY_DOCUMENT)  # Precoro named no IDN, and the bot did not know the id
    await rig.take()
    assert rig.client.gets == [] and rig.state.discovery_hinted


@pytest.mark.asyncio
async def test_a_hint_without_an_idn_and_no_discovery_polls_every_approver_first(rig: SimpleNamespace) -> None:
    rig.state.discovery = None
    rig.state.approvers = [approver(2), approver(3)]
    webhooks(rig, ANY_DOCUMENT)
    await rig.take()
    assert rig.client.gets == [] and rig.state.hinted == {"2", "3"}
