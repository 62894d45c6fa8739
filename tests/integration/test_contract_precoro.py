"""Precoro's answers as public evidence shows them (`tests/contract/precoro/`), through the bot's
real parsers: webhook bodies, documents, list pages (the client's paging over an
`httpx.MockTransport`) and 429 bodies. Each fixture cites its source; each case asserts what a
person would check: the document named, the supplier and amount shown, the next page asked for,
the limit's window recognised.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from bot.precoro import api
from bot.precoro.client import Credentials, PrecoroClient
from bot.precoro.models import parse_document
from bot.quota.gate import QuotaGate
from bot.quota.ledger import QuotaPolicy, Window, retry_at_from_429
from bot.quota.share import named_window
from bot.store import Store
from bot.sync import route
from tests.support.paths import CONTRACT

FIXTURES = CONTRACT


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def cases(name: str) -> list[Any]:
    data = fixture(name)
    return list(data.get("cases", [data]))


def test_every_fixture_cites_its_source() -> None:
    files = sorted(FIXTURES.glob("*.json"))
    assert len(files) >= 15
    for path in files:
        source = json.loads(path.read_text()).get("source", "")
        assert "Precoro help page" in source or "hotgluexyz/" in source or "extrapolation" in source, path.name


# --- webhooks ---------------------------------------------------------------------------------

WEBHOOK_CASES = [c for name in ("webhook_example.json", "webhook_types.json", "webhook_idn_string.json",
                                "webhook_idn_absent.json") for c in cases(name)]


@pytest.mark.parametrize("case", WEBHOOK_CASES, ids=lambda c: json.dumps(c["body"]))
def test_a_precoro_webhook_body_names_its_document(case: dict[str, Any]) -> None:
    hook = api.parse_webhook(case["body"])
    assert hook is not None, "a body Precoro sends is never refused"
    want = case["expect"]
    assert (hook.doc_type, hook.idn, hook.action) == (want["doc_type"], want["idn"], want["action"])
    if "entity_id" in want:
        assert hook.entity_id == want["entity_id"]


def test_precoros_example_body_names_purchase_order_5() -> None:
    hook = api.parse_webhook(fixture("webhook_example.json")["body"])
    assert hook is not None and (hook.doc_type, hook.idn) == ("purchaseorders", "5")


def test_every_type_on_precoros_page_is_known_and_only_documents_are_read() -> None:
    kinds = {c["body"]["type"]: api.parse_webhook(c["body"]) for c in cases("webhook_types.json")}
    assert sorted(kinds) == list(range(12))
    documents = {k for k, hook in kinds.items() if hook is not None and hook.doc_type is not None}
    assert documents == {0, 1, 2, 3, 5, 6}, "4 and 7-11 are not documents the bot shows"


@pytest.mark.parametrize("body", cases("webhook_not_precoro.json"), ids=json.dumps)
def test_a_body_that_is_not_a_precoro_webhook_is_refused(body: Any) -> None:
    assert api.parse_webhook(body) is None


# --- documents --------------------------------------------------------------------------------

DOCUMENT_FILES = ("document_lists.json", "document_wrapped.json", "document_strings.json")


@pytest.mark.parametrize("name", DOCUMENT_FILES)
def test_a_document_in_each_public_shape_shows_the_same_things(name: str) -> None:
    data = fixture(name)
    doc = parse_document(data["doc_type"], data["document"])
    want = data["expect"]
    assert doc is not None
    assert doc.idn == want["idn"]
    assert doc.supplier == want["supplier"]
    assert doc.total == Decimal(want["total"])
    assert doc.creator.name == want["requester"]
    assert doc.location == want["location"]
    assert [i.name for i in doc.items] == want["items"]
    assert [c.text for c in doc.comments] == want["comments"]
    assert [a.name for a in doc.attachments] == want["attachments"]
    assert {f.name: f.value for f in doc.custom_fields} == want["custom_fields"]
    assert sorted(route.waiting_emails(doc) or ()) == want["waiting_for"], "routed to the current step"
    assert (doc.last_approver.name if doc.last_approver else None) == want["last_approver"]
    if "current_step" in want:
        assert doc.current_step is not None and doc.current_step.name == want["current_step"]
    assert doc.status_name == want["status_name"]


@pytest.mark.parametrize("case", cases("document_number_sums.json"), ids=lambda c: c["document"]["idn"])
def test_sums_as_numbers_or_strings_show_the_amount(case: dict[str, Any]) -> None:
    doc = parse_document("expenses", case["document"])
    assert doc is not None
    assert doc.total == Decimal(case["expect"]["total"]) and doc.total.is_finite()
    assert doc.supplier == case["expect"]["supplier"]


@pytest.mark.parametrize("case", cases("document_statuses.json"), ids=lambda c: c["document"]["idn"])
def test_every_status_is_shown_and_none_fails(case: dict[str, Any]) -> None:
    doc = parse_document("invoices", case["document"])
    want = case["expect"]
    assert doc is not None
    assert (doc.status, doc.status_name, doc.is_pending) == (want["status"], want["status_name"], want["pending"])


# --- list pages -------------------------------------------------------------------------------

class VirtualClock:
    """The gate's clock: sleeps pass at once, so pacing between pages costs no wall time."""

    def __init__(self) -> None:
        self.t = 1_750_000_000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)


def answering(pages: list[dict[str, Any]], asked: list[dict[str, list[str]]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        asked.append(query)
        number = int(query[api.PAGE_PARAM][0])
        body = pages[number - 1] if number <= len(pages) else {api.LIST_DATA: []}
        return httpx.Response(200, json=body)
    return httpx.MockTransport(handler)


LIST_FILES = ("list_has_next_page.json", "list_current_total_pages.json", "list_no_pagination.json")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    store = Store.open(f"sqlite:///{tmp_path / 'contract.db'}", inline=True)
    yield store
    store.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("name", LIST_FILES)
@pytest.mark.parametrize("read", ["discovery", "waiting"])
async def test_the_client_reads_every_page_in_either_pagination_shape(name: str, read: str,
                                                                      sqlite_store: Store) -> None:
    data, asked = fixture(name), []
    gate = QuotaGate(sqlite_store.quota, {"acme": QuotaPolicy(duplicate_get_seconds=0.0)}, VirtualClock(),
                     in_flight_timeout=5.0)
    cred = Credentials("alice@example.com", "t" * 32)
    async with httpx.AsyncClient(transport=answering(data["pages"], asked)) as http:
        client = PrecoroClient("acme", "https://api.precoro.test", gate, http)
        if read == "discovery":
            items, spent = await client.list_documents(cred, "purchaseorders", [[(api.STATUS_PARAM, "1")]],
                                                       sizes=(data["per_page"],))
        else:
            items, spent = await client.waiting_documents(cred, "purchaseorders")
    want = data["expect"]
    if read == "waiting" and name == "list_no_pagination.json":
        # Polls ask for 200 a page: a page of 2 without pagination is short, hence the last.
        assert [i["idn"] for i in items] == want["idns"][:2] and spent == 1
        return
    assert [i["idn"] for i in items] == want["idns"]
    assert [int(q[api.PAGE_PARAM][0]) for q in asked] == want["pages_requested"]
    assert spent == len(want["pages_requested"])


def test_a_pagination_that_never_ends_is_capped() -> None:
    endless = {api.LIST_DATA: [{"idn": "X"}], api.LIST_META: {api.LIST_PAGINATION: {api.HAS_NEXT_PAGE: True}}}
    assert api.has_next_page(endless, items=1, per_page=200)
    empty = {api.LIST_DATA: [], api.LIST_META: {api.LIST_PAGINATION: {api.HAS_NEXT_PAGE: True}}}
    assert not api.has_next_page(empty, items=0, per_page=200), "an empty page ends the read whatever it says"


# --- 429 answers -------------------------------------------------------------------------------

RATE_FILES = ("429_route_minute.json", "429_daily.json", "429_hourly.json", "429_hourly_no_retry_time.json")
POLICY = QuotaPolicy(windows=(Window(1, 1), Window(3600, 1500, 100), Window(86400, 3000, 200)))


@pytest.mark.parametrize("name", RATE_FILES)
def test_a_429_names_its_window_and_when_to_send_again(name: str) -> None:
    data = fixture(name)
    now = api.parse_retry_after(data["now"])
    assert now is not None
    want = data["expect"]
    limit_type = data["body"][api.RATE_LIMIT_TYPE]
    assert named_window(limit_type) == want["volume_window"], "the outside-use learning sees the window"
    retry_at = retry_at_from_429(data["body"], {}, now, POLICY)
    assert retry_at == pytest.approx(now + want["wait_seconds"] + POLICY.margin_seconds)
    assert api.limit_window_seconds(limit_type) == want["window_seconds"]


def test_limiter_names_are_recognised_by_their_stem_whatever_the_case() -> None:
    assert api.limit_window_seconds(api.RATE_LIMIT_TYPE_DAILY) == 86400
    assert api.limit_window_seconds(api.RATE_LIMIT_TYPE_HOURLY) == 3600
    assert api.limit_window_seconds("DAILY LIMITER") == 86400
    assert api.limit_window_seconds(api.RATE_LIMIT_TYPE_DUPLICATE) == 60
    assert api.limit_window_seconds("Something else") is None
