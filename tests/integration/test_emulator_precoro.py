"""The Precoro emulator, seen from a client: answers, approval chains, limits and faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bot.precoro import api
from bot.precoro.models import parse_document
from precoro_devkit.emulator.precoro import EmUser, PrecoroEmulator, seed_demo
from precoro_devkit.emulator.serve import serve_in_thread

START = datetime(2025, 1, 2, 10, 0, tzinfo=UTC).timestamp()
BASE = "http://precoro.test"


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth(user: EmUser, email: str | None = None) -> dict[str, str]:
    return {api.TOKEN_HEADER: user.token, api.EMAIL_HEADER: email or user.email, "Accept": api.ACCEPT}


class Setup:
    """An emulator with the demo seed, a fake clock and an in-process client."""

    def __init__(self, **options: Any) -> None:
        self.clock = FakeClock()
        self.em = PrecoroEmulator(self.clock, **options)
        self.users = seed_demo(self.em)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.em.app), base_url=BASE)

    async def send(self, method: str, path: str, user: EmUser | None = None, *, gap: float = 61.0,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """A well-behaved client: each request `gap` seconds after the last (clear of every limit)."""
        self.clock.advance(gap)
        headers = headers or (auth(user) if user else {})
        return await self.http.request(method, path, headers=headers, **kwargs)

    async def status(self, method: str, path: str, user: EmUser | None = None, **kwargs: Any) -> int:
        return (await self.send(method, path, user, **kwargs)).status_code

    async def waiting_idns(self, name: str, doc_type: str, param: str = api.WAITING_PARAM) -> list[str]:
        answer = await self.send("GET", api.list_path(doc_type), self.users[name],
                                 params={param: api.WAITING_VALUE})
        assert answer.status_code == 200
        return [item["idn"] for item in answer.json()[api.LIST_DATA]]

    async def close(self) -> None:
        await self.http.aclose()


@pytest_asyncio.fixture
async def s():
    setup = Setup()
    yield setup
    await setup.close()


def assert_429(answer: httpx.Response, limit_type: str, limit: int, free_at: float) -> None:
    assert answer.status_code == 429
    body = answer.json()
    assert body["error"] == api.RATE_LIMIT_ERROR
    assert body[api.RATE_LIMIT_TYPE] == limit_type
    assert body[api.RATE_LIMIT_LIMIT] == limit
    assert api.parse_retry_after(body[api.RATE_LIMIT_RETRY_AFTER]) == free_at


# --- auth ---------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_credentials_must_match_an_active_token(s: Setup) -> None:
    alice = s.users["alice"]
    path = api.list_path("purchaseorders")
    assert (await s.send("GET", path, alice)).status_code == 200
    assert (await s.send("GET", path, headers=auth(alice, "ALICE@Example.com"))).status_code == 200
    refused = [
        await s.send("GET", path, headers={**auth(alice), api.TOKEN_HEADER: "not-a-token"}),
        await s.send("GET", path, headers=auth(alice, "bob@example.com")),
        await s.send("GET", path),
    ]
    s.em.disable_token(alice.id)
    refused.append(await s.send("GET", path, alice))
    assert [r.status_code for r in refused] == [401] * 4
    assert all(r.json() == {"message": "Invalid credentials"} for r in refused)


# --- approval chains, visibility, documents -------------------------------------------------------

@pytest.mark.asyncio
async def test_waiting_list_follows_the_chain_until_approved(s: Setup) -> None:
    assert await s.waiting_idns("alice", "purchaseorders") == ["PO-1001"]
    assert await s.waiting_idns("bob", "purchaseorders", param="waitingForapprove") == []

    answer = await s.send("POST", api.approve_path("purchaseorders", "PO-1001"), s.users["alice"])
    assert answer.status_code == 200
    doc = parse_document("purchaseorders", answer.json())
    assert doc is not None and doc.is_pending
    assert [step.done for step in doc.approval_steps] == [True, False]
    assert doc.current_step is not None and doc.current_step.approvers[0].email == "bob@example.com"

    assert await s.waiting_idns("alice", "purchaseorders") == []
    assert await s.waiting_idns("bob", "purchaseorders") == ["PO-1001"]
    answer = await s.send("POST", api.approve_path("purchaseorders", "PO-1001"), s.users["bob"])
    doc = parse_document("purchaseorders", answer.json())
    assert doc is not None and doc.status == api.STATUS_APPROVED and doc.current_step is None
    assert await s.waiting_idns("bob", "purchaseorders") == []
    # the log keeps which token made each decision
    approvals = [r for r in s.em.requests if r.path.endswith("/approve")]
    assert [r.token for r in approvals] == [s.users["alice"].token, s.users["bob"].token]


@pytest.mark.asyncio
async def test_document_answer_parses_with_every_field(s: Setup) -> None:
    answer = await s.send("GET", api.document_path("invoices", "INV-1001"), s.users["carol"])
    assert answer.status_code == 200
    raw = answer.json()
    assert raw["createDate"] == "2025-01-02T10:00:00+00:00"
    doc = parse_document("invoices", raw)
    assert doc is not None
    assert (doc.idn, str(doc.total), doc.currency) == ("INV-1001", "480.50", "USD")
    assert doc.supplier == "Northwind Traders"
    assert doc.creator.email == "admin@example.com" and doc.location == "Main office"
    assert doc.items[0].name == "Printer paper (box)"
    assert [p.email for p in doc.current_step.approvers] == ["bob@example.com", "carol@example.com"]


@pytest.mark.asyncio
async def test_visibility_admin_all_involved_some_outsider_none(s: Setup) -> None:
    dave = s.em.add_user("acme", "Dave Doe", "dave@example.com")
    other = s.em.add_user("globex", "Gus Globex", "gus@example.com", is_admin=True)
    s.em.add_document("acme", "invoices", s.users["admin"].id, [[s.users["bob"].id]], idn="INV-9")

    async def idns(user: EmUser) -> list[str]:
        answer = await s.send("GET", api.list_path("invoices"), user)
        return [i["idn"] for i in answer.json()[api.LIST_DATA]]

    assert await idns(s.users["admin"]) == ["INV-1001", "INV-9"]
    assert await idns(s.users["alice"]) == ["INV-1001"]
    assert await idns(dave) == []
    assert await idns(other) == []
    hidden = api.document_path("invoices", "INV-9")
    assert (await s.send("GET", hidden, dave)).json() == {"message": "Not found"}
    assert await s.status("GET", hidden, other) == 404
    assert await s.status("GET", "/nosuchtype", dave) == 404


@pytest.mark.asyncio
async def test_approve_and_reject_rules(s: Setup) -> None:
    alice, bob, carol = s.users["alice"], s.users["bob"], s.users["carol"]
    po_approve = api.approve_path("purchaseorders", "PO-1001")
    inv_reject = api.reject_path("invoices", "INV-1001")

    wrong = await s.send("POST", po_approve, bob)  # bob is step 2
    assert wrong.status_code == 403
    assert wrong.json() == {"message": "You are not an approver of the current step"}
    assert await s.status("POST", api.approve_path("purchaseorders", "PO-404"), alice) == 404

    missing = await s.send("POST", inv_reject, carol, data={})
    assert missing.status_code == 422 and api.REJECT_COMMENT_FIELD in missing.json()["errors"]
    blank = await s.send("POST", inv_reject, carol, data={api.REJECT_COMMENT_FIELD: "   "})
    assert blank.status_code == 422
    too_long = "x" * (api.REJECT_COMMENT_MAX + 1)
    assert await s.status("POST", inv_reject, carol, data={api.REJECT_COMMENT_FIELD: too_long}) == 422
    as_json = await s.send("POST", inv_reject, carol, json={api.REJECT_COMMENT_FIELD: "no"})
    assert as_json.status_code == 415

    longest = "x" * api.REJECT_COMMENT_MAX
    rejected = await s.send("POST", inv_reject, carol, data={api.REJECT_COMMENT_FIELD: longest})
    assert rejected.status_code == 200 and rejected.json()["status"] == api.STATUS_DENIED
    assert rejected.json()["comments"][0]["text"] == longest
    assert s.em.requests[-1].form == {api.REJECT_COMMENT_FIELD: longest}
    decided = await s.send("POST", api.approve_path("invoices", "INV-1001"), bob)
    assert (decided.status_code, decided.json()) == (400, {"message": "Document is not waiting for approval"})

    assert (await s.send("GET", po_approve, alice)).status_code == 405


@pytest.mark.asyncio
async def test_decisions_made_elsewhere(s: Setup) -> None:
    alice = s.users["alice"]
    s.em.approve_as(alice.id, "purchaseorders", "PO-1001")
    assert [d.idn for d in s.em.waiting_for(s.users["bob"].id, "purchaseorders")] == ["PO-1001"]
    assert await s.waiting_idns("alice", "purchaseorders") == []
    with pytest.raises(ValueError, match="not an approver"):
        s.em.approve_as(alice.id, "purchaseorders", "PO-1001")
    s.em.withdraw("purchaseorders", "PO-1001")
    assert s.em.document("purchaseorders", "PO-1001").status == api.STATUS_CANCELED
    assert await s.status("POST", api.approve_path("purchaseorders", "PO-1001"), s.users["bob"]) == 400


@pytest.mark.asyncio
async def test_pagination(s: Setup) -> None:
    alice = s.users["alice"]
    for n in range(24):
        s.em.add_document("acme", "invoices", s.users["admin"].id, [[alice.id]], idn=f"INV-{n:03}")
    seen, pages = [], []
    for page in (1, 2, 3, 4):
        params = {api.WAITING_PARAM: api.WAITING_VALUE, api.PAGE_PARAM: page, api.PER_PAGE_PARAM: 10}
        answer = await s.send("GET", "/invoices", alice, params=params)
        body = answer.json()
        seen += [i["idn"] for i in body[api.LIST_DATA]]
        pagination = body[api.LIST_META][api.LIST_PAGINATION]
        pages.append((pagination["count"], pagination[api.HAS_NEXT_PAGE], pagination["total_pages"]))
    assert pages == [(10, True, 3), (10, True, 3), (4, False, 3), (0, False, 3)]
    assert seen == [f"INV-{n:03}" for n in range(24)]
    assert (await s.send("GET", "/invoices", alice, params={api.PER_PAGE_PARAM: 15})).status_code == 400


@pytest.mark.asyncio
async def test_modified_since_and_status_filters(s: Setup) -> None:
    admin, alice = s.users["admin"], s.users["alice"]
    await s.send("POST", api.approve_path("purchaseorders", "PO-1001"), alice)
    changed_at = s.clock.now
    s.em.add_document("acme", "purchaseorders", admin.id, [[alice.id]], idn="PO-7")
    since = api.format_modified_since(changed_at)

    async def idns(**params: Any) -> list[str]:
        answer = await s.send("GET", "/purchaseorders", admin, params=params)
        assert answer.status_code == 200
        return [i["idn"] for i in answer.json()[api.LIST_DATA]]

    assert await idns(**{api.MODIFIED_SINCE_PARAM: since}) == ["PO-1001", "PO-7"]
    s.clock.advance(1)
    assert await idns(**{api.MODIFIED_SINCE_PARAM: api.format_modified_since(s.clock.now)}) == []
    assert await idns(**{api.STATUS_PARAM: [str(api.STATUS_PENDING)]}) == ["PO-1001", "PO-7"]
    s.em.withdraw("purchaseorders", "PO-7")
    both = [str(api.STATUS_PENDING), str(api.STATUS_APPROVED)]
    assert await idns(**{api.STATUS_PARAM: both}) == ["PO-1001"]
    bad = await s.send("GET", "/purchaseorders", admin, params={api.MODIFIED_SINCE_PARAM: "yesterday"})
    assert bad.status_code == 400


# --- limits -------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_one_request_per_second_per_company(s: Setup) -> None:
    alice, bob = s.users["alice"], s.users["bob"]
    assert (await s.send("GET", "/invoices", alice)).status_code == 200
    now = s.clock.now
    too_soon = await s.send("GET", "/purchaseorders", bob, gap=0.5)  # another token, same company
    assert_429(too_soon, api.RATE_LIMIT_TYPE_CONCURRENCY, 1, now + 2)  # the 429 itself counts
    assert (await s.send("GET", "/purchaseorders", bob, gap=1.5)).status_code == 200
    assert s.em.too_many("acme") == 1
    assert s.em.requests[-2].limit_type == api.RATE_LIMIT_TYPE_CONCURRENCY


@pytest.mark.asyncio
async def test_overlapping_requests_hit_the_concurrency_limiter() -> None:
    s = Setup(latency=0.2)
    try:
        first = asyncio.create_task(s.send("GET", "/invoices", s.users["alice"]))
        await asyncio.sleep(0.05)  # the first is still in flight...
        second = await s.send("GET", "/purchaseorders", s.users["bob"], gap=5)  # ...though 5 s passed
        assert_429(second, api.RATE_LIMIT_TYPE_CONCURRENCY, 1, s.clock.now + 1)
        assert (await first).status_code == 200
        assert (await s.send("GET", "/purchaseorders", s.users["bob"], gap=1)).status_code == 200
    finally:
        await s.close()


@pytest.mark.asyncio
async def test_hour_and_day_windows_slide() -> None:
    s = Setup(windows=((1.0, 1), (3600.0, 3), (86400.0, 5)), duplicate_get_seconds=0)
    try:
        alice, path = s.users["alice"], "/invoices"
        t0 = s.clock.now + 2
        assert [(await s.send("GET", path, alice, gap=2)).status_code for _ in range(3)] == [200] * 3
        # arrivals t0, t0+2, t0+4; the 4th at t0+6 (counted too) -> frees when t0+2 leaves the hour
        assert_429(await s.send("GET", path, alice, gap=2), api.RATE_LIMIT_TYPE_HOUR, 3, t0 + 2 + 3600)
        s.clock.now = t0 + 3602
        assert (await s.send("GET", path, alice, gap=0)).status_code == 200
        assert s.em.quota_used("acme", 86400) == 5
        assert_429(await s.send("GET", path, alice, gap=2), api.RATE_LIMIT_TYPE_DAY, 5, t0 + 2 + 86400)
    finally:
        await s.close()


@pytest.mark.asyncio
async def test_failed_requests_count() -> None:
    s = Setup(windows=((1.0, 1), (60.0, 3, api.RATE_LIMIT_TYPE_HOUR)))
    try:
        alice = s.users["alice"]
        assert await s.status("GET", "/invoices", headers=auth(alice, "x@example.com"), gap=2) == 401
        assert await s.status("GET", "/invoices/INV-0", alice, gap=2) == 404
        assert await s.status("POST", "/invoices/INV-1001/approve", alice, gap=2) == 403
        unknown = {api.TOKEN_HEADER: "nobody", api.EMAIL_HEADER: "x@example.com"}
        assert (await s.send("GET", "/invoices", headers=unknown, gap=2)).status_code == 401  # no company
        answer = await s.send("GET", "/purchaseorders", alice, gap=2)
        assert answer.json()[api.RATE_LIMIT_TYPE] == api.RATE_LIMIT_TYPE_HOUR
        assert s.em.quota_used("acme", 60) == 4 and s.em.too_many("acme") == 1
    finally:
        await s.close()


@pytest.mark.asyncio
async def test_duplicate_get_keyed_by_token_by_default(s: Setup) -> None:
    alice, bob = s.users["alice"], s.users["bob"]
    first = [(api.WAITING_PARAM, api.WAITING_VALUE), (api.PER_PAGE_PARAM, "50")]
    t0 = s.clock.now + 2
    assert (await s.send("GET", "/invoices", alice, gap=2, params=first)).status_code == 200
    assert (await s.send("GET", "/invoices", bob, gap=2, params=first)).status_code == 200
    reordered = [(api.PER_PAGE_PARAM, "50"), (api.WAITING_PARAM, api.WAITING_VALUE)]
    again = await s.send("GET", "/invoices", alice, gap=2, params=reordered)
    assert_429(again, api.RATE_LIMIT_TYPE_DUPLICATE, 1, t0 + 60)
    s.clock.now = t0 + 60 - 1  # the refused attempt did not restart the minute
    assert (await s.send("GET", "/invoices", alice, gap=1, params=reordered)).status_code == 200
    # writes are exempt: the same POST twice is judged on its merits
    reject = api.reject_path("invoices", "INV-1001")
    assert [(await s.send("POST", reject, alice, gap=2)).status_code for _ in range(2)] == [403, 403]


@pytest.mark.asyncio
async def test_duplicate_get_keyed_by_company_when_strict() -> None:
    s = Setup(strict_duplicates=True)
    try:
        path = api.document_path("invoices", "INV-1001")
        assert (await s.send("GET", path, s.users["bob"], gap=2)).status_code == 200
        answer = await s.send("GET", path, s.users["carol"], gap=2)
        assert answer.json()[api.RATE_LIMIT_TYPE] == api.RATE_LIMIT_TYPE_DUPLICATE
    finally:
        await s.close()


# --- faults -------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_injected_faults_in_process(s: Setup) -> None:
    alice = s.users["alice"]
    s.em.inject("500", count=2, path_contains="/invoices")
    s.em.inject("429")
    assert (await s.send("GET", "/purchaseorders", alice)).status_code == 429  # the "429" applies anywhere
    assert (await s.send("GET", "/invoices", alice)).status_code == 500
    assert (await s.send("GET", "/purchaseorders", alice)).status_code == 200
    assert (await s.send("GET", "/invoices", alice)).status_code == 500
    assert (await s.send("GET", "/invoices", alice)).status_code == 200
    s.em.inject("drop")
    with pytest.raises(httpx.TransportError):
        await s.send("GET", "/invoices", alice)
    assert s.em.requests[-1].status is None
    assert s.em.quota_used("acme", 86400) == 6  # every one of them counted


def test_over_real_http_with_faults_and_control_endpoints() -> None:
    clock = FakeClock()
    em = PrecoroEmulator(clock, fault_timeout=10.0)
    users = seed_demo(em)
    alice = users["alice"]
    server = serve_in_thread(em.app)
    try:
        with httpx.Client(base_url=server.url, headers=auth(alice), timeout=5.0) as http:
            answer = http.get(api.list_path("purchaseorders"), params={api.WAITING_PARAM: api.WAITING_VALUE})
            assert [i["idn"] for i in answer.json()[api.LIST_DATA]] == ["PO-1001"]

            em.inject("drop")
            clock.advance(61)
            with pytest.raises(httpx.RemoteProtocolError):
                http.get("/invoices")
            em.inject("timeout")
            clock.advance(61)
            with pytest.raises(httpx.ReadTimeout):
                http.get("/invoices", timeout=0.5)
            em.inject("500")
            clock.advance(61)
            assert http.get("/invoices").status_code == 500
            clock.advance(61)
            assert http.get("/invoices").status_code == 200

            # control endpoints: no auth, not counted
            used = em.quota_used("acme", 86400)
            created = http.post("/_emulator/documents", headers={}, json={
                "company": "acme", "doc_type": "invoices", "creator_id": users["admin"].id,
                "approver_steps": [[alice.id]], "sum": "99.00"}).json()
            assert created["idn"] == "INV-1002" and created["sum"] == "99.00"
            assert http.post("/_emulator/approve_as", headers={}, json={
                "user_id": alice.id, "doc_type": "invoices", "idn": "INV-1002"}).json()["status"] == 2
            assert http.post("/_emulator/faults", json={"kind": "nope"}).status_code == 400
            assert http.post("/_emulator/disable_token", json={"user_id": alice.id}).status_code == 200
            log = http.get("/_emulator/requests").json()
            assert em.quota_used("acme", 86400) == used
            clock.advance(61)
            assert http.get("/invoices").status_code == 401
        assert [r["status"] for r in log] == [200, None, None, 500, 200]
        assert {r["token"] for r in log} == {alice.token}
    finally:
        server.stop()
    assert not server.thread.is_alive()
