"""`precoro-bot doctor` against the emulator in each of its modes, and what the running bot learns."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bot.doctor import DoctorReport, run_doctor, shapes
from bot.doctor.checks import Row, Verdict, table
from bot.doctor.probe import MAX_REQUESTS, MAX_RETRIES, MAX_TYPES
from bot.precoro import api
from bot.precoro.client import Credentials
from bot.precoro.models import parse_document
from bot.store import Store
from bot.store.findings import FindingRepo
from bot.vault import generate_key
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.stack import FAST_EMULATOR, stack_config
from precoro_devkit.sim.clock import VirtualClock
from tests.support.paths import DATA

if TYPE_CHECKING:
    from bot.runtime import Runtime

pytestmark = pytest.mark.asyncio
SHAPES_FILE = DATA / "emulator-shapes.json"
BASE = "http://precoro.test"


def scene(**emulator: Any) -> PrecoroEmulator:
    """The demo company, plus a purchase order Bob asked for that waits for Alice (so the admin's
    pending list holds a document it neither created nor approves... and so does nobody else's)."""
    precoro = PrecoroEmulator(**{**FAST_EMULATOR, **emulator})
    users = seed_demo(precoro)
    precoro.add_document("acme", "purchaseorders", users["bob"].id, [[users["alice"].id]], sum="75.00",
                         supplier="Globex")
    # Every optional part present at least once, so the recorded shapes show them.
    precoro.edit_document("purchaseorders", "PO-1001", note="Urgent for the Berlin office", comment_by=users["bob"].id,
                          comment="Please hurry", attachments=["quote.pdf"], custom_fields={"Project": "Apollo"})
    return precoro


async def doctor(precoro: PrecoroEmulator, database_url: str, who: str = "alice", *,
                 record: Path | None = None) -> tuple[DoctorReport, Store]:
    """Run the doctor against the emulator on a virtual clock shared by both: Precoro's spacing and
    its duplicate-GET window are waited out in virtual seconds (the wall clock is not under test)."""
    config = stack_config(precoro_url=BASE, slack_url="http://slack.test", database_url=database_url,
                          signing_secret="s" * 32, key=generate_key(), dangerously_allow_http=True)
    user = next(u for u in precoro.users.values() if u.email.startswith(who))
    clock = VirtualClock(time.time())
    precoro.clock = clock.now

    async def probe() -> DoctorReport:
        store = Store.open(database_url, inline=True)  # a timer on the virtual loop would outrun a worker thread
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=precoro.app)) as http:
                return await run_doctor(config, config.companies[0], Credentials(user.email, user.token),
                                        store=store, record=record, source="emulator", http=http, clock=clock)
        finally:
            store.close()

    report = await asyncio.to_thread(clock.run, probe())
    return report, Store.open(database_url)


def row(report: DoctorReport, start: str) -> Row:
    found = [r for r in report.rows if r.assumption.startswith(start)]
    assert len(found) == 1, [r.assumption for r in report.rows]
    return found[0]


def verdict(report: DoctorReport, start: str) -> Verdict:
    return row(report, start).verdict


def assert_read_only(precoro: PrecoroEmulator) -> None:
    """Counted at Precoro: never a write, never more than the budget."""
    assert [r.method for r in precoro.requests if r.method != "GET"] == []
    assert 0 < len(precoro.requests) <= MAX_REQUESTS


URL_KEYED = "Duplicate GETs are keyed by URL"
IDENTICAL = "An identical GET within a minute"
TWO_TOKENS = "Two tokens' identical GETs"


@pytest.mark.parametrize("keying", ["token", "company"])
async def test_doctor_confirms_the_emulators_answers(database_url: str, keying: str) -> None:
    precoro = scene(duplicate_keying=keying)
    report, store = await doctor(precoro, database_url)
    try:
        assert not report.stop
        for confirmed in ("The token and email", "Precoro answers JSON", "`waitingForApprove=yes`",
                          "Purchase order: list items carry", "Invoice: list items carry", "A document read alone",
                          "`modifiedSince`", URL_KEYED, IDENTICAL, "A 429 names"):
            assert verdict(report, confirmed) is Verdict.CONFIRMED, row(report, confirmed)
        # One token cannot tell token keying from company keying: said so, whichever the emulator uses.
        assert verdict(report, TWO_TOKENS) is Verdict.UNKNOWN
        assert verdict(report, "Precoro says which company") is Verdict.REFUTED
        assert re.search(r"open https://app\.precoro\.test/(invoice/INV|purchase/order/PO)-\d+ in a browser",
                         row(report, "The web link").action)
        # Alice only sees documents she created or approves.
        assert verdict(report, "This token sees every document") is Verdict.REFUTED
        assert_read_only(precoro)
        assert precoro.too_many() == 1  # the deliberate repeat, and nothing else
        assert FindingRepo(store.engine).all("acme") == []
    finally:
        store.close()


async def test_doctor_sees_a_token_that_sees_beyond_its_own_documents(database_url: str) -> None:
    precoro = scene()
    report, store = await doctor(precoro, database_url, "admin")
    store.close()
    assert verdict(report, "This token sees every document") is Verdict.CONFIRMED
    # Nothing waits for the admin: the filter cannot be judged from its answers.
    assert verdict(report, "`waitingForApprove=yes`") is Verdict.UNKNOWN
    assert_read_only(precoro)


async def test_route_keyed_duplicates_are_found_remembered_and_waited_out(database_url: str) -> None:
    precoro = scene(duplicate_keying="route")
    report, store = await doctor(precoro, database_url)
    try:
        assert verdict(report, URL_KEYED) is Verdict.REFUTED
        assert "once a minute" in row(report, URL_KEYED).action
        # Every other check still got its answer: the doctor waited out Precoro's minute per path.
        for confirmed in ("`waitingForApprove=yes`", "Purchase order: list items carry", "`modifiedSince`"):
            assert verdict(report, confirmed) is Verdict.CONFIRMED, row(report, confirmed)
        assert precoro.too_many() == 1  # the route probe alone
        assert_read_only(precoro)
        found = FindingRepo(store.engine).get("acme", "duplicate_keying")
        assert found is not None and (found.value, found.source) == ("route", "doctor")
    finally:
        store.close()


async def test_an_ignored_waiting_filter_is_refuted_remembered_and_not_a_stop(database_url: str) -> None:
    precoro = scene(ignore_waiting_filter=True)
    report, store = await doctor(precoro, database_url)
    try:
        waiting = row(report, "`waitingForApprove=yes`")
        assert waiting.verdict is Verdict.REFUTED and "do not wait for this user" in waiting.answered
        assert "status[]=1" in waiting.action and not waiting.stop and not report.stop
        found = FindingRepo(store.engine).get("acme", "waiting_filter")
        assert found is not None and (found.value, found.source) == ("ignored", "doctor")
        assert_read_only(precoro)
    finally:
        store.close()


def restarted_after(database_url: str, finding: str, value: str) -> Runtime:
    """A bot started on a database where the doctor already recorded `finding` = `value`."""
    from bot.runtime import Runtime

    store = Store.open(database_url)
    FindingRepo(store.engine).record("acme", finding, value, source="doctor", now=1.0)
    store.close()
    config = stack_config(precoro_url=BASE, slack_url="http://slack.test", database_url=database_url,
                          signing_secret="s" * 32, key=generate_key(), dangerously_allow_http=True)
    return Runtime.build(config)


async def test_a_restarted_bot_reads_pending_lists_after_the_doctor_refuted_the_filter(database_url: str) -> None:
    rt = restarted_after(database_url, "waiting_filter", "ignored")
    try:
        assert rt.clients["acme"].waiting_filter_ignored and not rt.clients["acme"].route_keyed
    finally:
        await rt.aclose()


async def test_a_discovery_role_limited_to_its_own_documents_is_refuted(database_url: str) -> None:
    precoro = scene()
    precoro.restrict_role(next(u.id for u in precoro.users.values() if u.email.startswith("admin")))
    report, store = await doctor(precoro, database_url, "admin")
    store.close()
    visibility = row(report, "This token sees every document")
    assert visibility.verdict is Verdict.REFUTED and "do not use this token for discovery" in visibility.action
    assert_read_only(precoro)


async def test_missing_steps_are_refuted_per_type(database_url: str) -> None:
    precoro = scene()
    precoro.stepless_types = {"invoices"}
    report, store = await doctor(precoro, database_url, "admin")
    store.close()
    assert verdict(report, "Purchase order: list items carry") is Verdict.CONFIRMED
    invoices = row(report, "Invoice: list items carry")
    assert invoices.verdict is Verdict.REFUTED
    assert "read alone lacks them too" in invoices.answered and "per-approver polls" in invoices.action
    assert not invoices.stop
    # The document read alone was the invoice whose list item lacked its steps.
    assert any(r.path.startswith("/invoices/INV-") for r in precoro.requests)


@pytest.mark.parametrize("status", [502, 200])
async def test_a_proxy_answering_html_is_named_not_a_traceback(database_url: str, status: int) -> None:
    precoro = scene()
    precoro.proxy_answers_html(status)
    report, store = await doctor(precoro, database_url)
    store.close()
    assert report.stop and report.requests == 1
    answers = row(report, "Precoro answers JSON")
    assert answers.verdict is Verdict.REFUTED and answers.stop
    assert f"GET /purchaseorders?page&per_page&waitingForApprove ({status}): the answer is HTML" in answers.answered
    assert "Bad Gateway" in answers.answered and "[email]" in answers.answered
    assert "proxy.example.com" not in answers.answered
    assert_read_only(precoro)


async def test_recorded_shapes_hold_no_values(database_url: str, tmp_path: Path) -> None:
    precoro = scene()
    recorded = tmp_path / "shapes.json"
    report, store = await doctor(precoro, database_url, record=recorded)
    store.close()
    text = recorded.read_text()
    for secret_or_value in ("@example.com", "Alice", "PO-1001", "1250.00", "Acme Supplies", "Berlin", "hurry",
                            "quote.pdf", "Apollo", precoro.users[2].token, "acme"):
        assert secret_or_value not in text
    answers = shapes.load(recorded)
    assert len(answers) == report.requests
    requests = {a["request"] for a in answers}
    assert "GET /purchaseorders?page&per_page&waitingForApprove" in requests
    assert requests & {"GET /purchaseorders/{idn}", "GET /invoices/{idn}"}
    assert all("content-type" in a["headers"] for a in answers)


def _documents_in(recorded: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    doc_type = recorded["request"].split()[1].split("/")[1].split("?")[0]
    body = shapes.inflate(recorded["body"])
    if recorded["request"].endswith("{idn}"):
        return [(doc_type, body)]
    return [(doc_type, item) for item in body["data"]]


async def test_the_models_parse_every_recorded_shape() -> None:
    """The shipped emulator recording, and any recording an admin sends: each list item and each
    document read alone parses, with its approval steps and approvers' emails."""
    answers = [a for a in shapes.load(SHAPES_FILE) if a["status"] == 200]
    documents = [d for a in answers for d in _documents_in(a)]
    assert len(documents) >= 4
    for doc_type, raw in documents:
        doc = parse_document(doc_type, raw)
        assert doc is not None and doc.idn and doc.total is not None and doc.created_at is not None
        assert doc.approval_steps and all(p.email for s in doc.approval_steps for p in s.approvers)
        assert doc.creator.email and doc.supplier
    # The optional parts were recorded too (from the emulator's richest document).
    parsed = [parse_document(t, raw) for t, raw in documents]
    assert any(d.comments and d.attachments and d.custom_fields and d.note for d in parsed if d)


async def test_the_shipped_recording_is_the_emulators_current_shape(database_url: str, tmp_path: Path) -> None:
    """Fails when the emulator's answers change shape: then record tests/data/emulator-shapes.json
    again (`precoro-bot doctor --record` against `precoro-bot emulator`, or this test's scene)."""
    precoro = scene()
    recorded = tmp_path / "shapes.json"
    _, store = await doctor(precoro, database_url, record=recorded)
    store.close()
    fresh, shipped = json.loads(recorded.read_text()), json.loads(SHAPES_FILE.read_text())
    strip = re.compile(r'"length": \d+')
    assert strip.sub("", json.dumps(fresh["answers"])) == strip.sub("", json.dumps(shipped["answers"]))


# --- what the running bot learns by itself ------------------------------------------------------

def admin_dms(stack: Any, needle: str) -> list[dict[str, Any]]:
    from precoro_devkit.emulator.slack import dm_channel
    from precoro_devkit.emulator.stack import ADMIN

    return [m for m in stack.slack.messages_in(dm_channel(ADMIN)) if needle in (m.get("text") or "")]


async def test_a_route_keyed_429_switches_the_running_bot_and_tells_the_admins_once(database_url: str) -> None:
    from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack

    stack = LocalStack.start(database_url, emulator={"duplicate_keying": "route"})
    try:
        client = stack.runtime.clients["acme"]
        assert not client.route_keyed
        await stack.register("alice")
        # Bob's registration reads a list path Alice's poll has just read, with another query: a
        # 429 under route keying (his registration is refused as "try again"; the switch is made).
        bob = stack.users["bob"]
        await stack.driver.slash_command(ADMIN, f"register <@{SLACK_USERS['bob']}> {bob.email} {bob.token}")
        told = await stack.slack.wait_for(lambda: admin_dms(stack, "keyed by route"), timeout=20)
        assert "*acme*" in told[0]["text"]
        # From now on list reads of one path are spaced by Precoro's minute: a 429 already booked
        # may still come back once (spends booked before the switch carry URL keys), then none.
        import asyncio

        await asyncio.sleep(2 * FAST_EMULATOR["duplicate_get_seconds"])  # type: ignore[operator]
        settled = stack.precoro.too_many()
        polls_before = len([r for r in stack.precoro.requests if r.method == "GET"])
        await asyncio.sleep(3 * FAST_EMULATOR["duplicate_get_seconds"])  # type: ignore[operator]
        assert len([r for r in stack.precoro.requests if r.method == "GET"]) > polls_before  # still polling
        assert stack.precoro.too_many() == settled
        assert client.route_keyed
        assert len(admin_dms(stack, "keyed by route")) == 1
        found = FindingRepo(stack.runtime.store.engine).get("acme", "duplicate_keying")
        assert found is not None and (found.value, found.source) == ("route", "429")
        assert "keyed by route" in await stack.driver.ask(ADMIN, "status")
    finally:
        stack.stop()


async def test_a_restarted_bot_starts_route_keyed(database_url: str) -> None:
    rt = restarted_after(database_url, "duplicate_keying", "route")
    try:
        assert rt.clients["acme"].route_keyed
    finally:
        await rt.aclose()


async def test_a_type_without_steps_is_told_to_the_admins_once(database_url: str) -> None:
    from precoro_devkit.emulator.stack import ADMIN, LocalStack

    stack = LocalStack.start(database_url, **{"scheduler.min_poll_interval_seconds": 3600})
    try:
        stack.precoro.stepless_types.add("invoices")
        admin = stack.users["admin"]
        await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
        await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", ADMIN))
        await stack.driver.slash_command(ADMIN, f"discovery <@{ADMIN}>")
        told = await stack.slack.wait_for(lambda: admin_dms(stack, "carry no readable approval steps"), timeout=20)
        assert "invoices" in told[0]["text"]
        admin_reads = lambda: [r for r in stack.precoro.requests if r.token == admin.token]  # noqa: E731
        seen = len(admin_reads())
        # More discovery runs (a duplicate window apart, 3 s on the test stack; one list read each now).
        await stack.slack.wait_for(lambda: len(admin_reads()) >= seen + 4, timeout=30)
        assert len(admin_dms(stack, "carry no readable approval steps")) == 1
        assert "carry no readable approval steps" in await stack.driver.ask(ADMIN, "status")
    finally:
        stack.stop()


async def test_an_html_answer_to_a_poll_is_named_with_a_safe_excerpt(database_url: str) -> None:
    from bot.precoro.errors import InvalidRequest
    from bot.quota.gate import QuotaGate, SystemClock

    precoro = scene()
    precoro.proxy_answers_html(200)
    config = stack_config(precoro_url=BASE, slack_url="http://slack.test", database_url=database_url,
                          signing_secret="s" * 32, key=generate_key(), dangerously_allow_http=True)
    company = config.companies[0]
    store = Store.open(database_url)
    gate = QuotaGate(store.quota, {company.id: company.quota}, SystemClock(), in_flight_timeout=5.0)
    alice = next(u for u in precoro.users.values() if u.email.startswith("alice"))
    from bot.precoro.client import PrecoroClient

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=precoro.app)) as http:
            client = PrecoroClient(company.id, BASE, gate, http)
            with pytest.raises(InvalidRequest) as caught:
                await client.waiting_page(Credentials(alice.email, alice.token), "purchaseorders")
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith("GET /purchaseorders (200): the answer is HTML, not JSON")
    assert "502 Bad Gateway" in message and "[email]" in message and "@" not in message
    assert alice.token not in message


# --- a 429 the doctor did not ask for (issue 23, item 7) ---------------------------------------

async def test_a_429_on_the_first_request_is_asked_again_after_its_retry_time(database_url: str) -> None:
    """Another integration took the company's second: the doctor waits the second Precoro names
    and asks again, so the check is decided, not "nothing waits for this user"."""
    precoro = scene()
    precoro.inject("429", count=1)  # a concurrency 429 naming a retry a second ahead
    report, store = await doctor(precoro, database_url)
    store.close()
    assert precoro.requests[0].status == 429 and precoro.requests[1].path == precoro.requests[0].path
    assert verdict(report, "`waitingForApprove=yes`") is Verdict.CONFIRMED, row(report, "`waitingForApprove=yes`")
    assert report.undecided == [] and report.exit_code == 0
    assert verdict(report, "A 429 names") is Verdict.CONFIRMED
    assert_read_only(precoro)


async def test_a_429_that_frees_too_late_leaves_checks_undecided_and_the_doctor_fails(database_url: str) -> None:
    precoro = scene()
    retry = api.format_retry_after(time.time() + 1800)  # the hour is full until half past
    precoro.inject_answer(429, {"error": api.RATE_LIMIT_ERROR, api.RATE_LIMIT_TYPE: "Hourly limiter",
                                api.RATE_LIMIT_RETRY_AFTER: retry}, path_contains="/purchaseorders")
    report, store = await doctor(precoro, database_url)
    store.close()
    assert report.requests == 1 and len(precoro.requests) == 1  # it never spams a full window
    waiting = row(report, "`waitingForApprove=yes`")
    assert waiting.verdict is Verdict.UNKNOWN and waiting.blocked == "Hourly limiter"
    assert waiting.verdict_text == "could not tell: Precoro answered 429 (Hourly limiter)"
    assert "could not tell: Precoro answered 429 (Hourly limiter)" in table(report.rows)
    for blocked in ("Purchase order: list items carry", "A document read alone", "`modifiedSince`", URL_KEYED):
        assert row(report, blocked).blocked == "Hourly limiter", row(report, blocked)
    assert not report.stop and report.exit_code == 1


async def test_retries_are_bounded_and_a_check_left_undecided_says_so(database_url: str) -> None:
    precoro = scene()
    precoro.inject("429", count=3)  # the first request, its retry, and the next one
    report, store = await doctor(precoro, database_url)
    store.close()
    assert MAX_TYPES * 2 + 5 + MAX_RETRIES <= MAX_REQUESTS
    statuses = [r.status for r in precoro.requests]
    assert statuses[:3] == [429, 429, 429] and 429 not in statuses[3:]
    waiting = row(report, "`waitingForApprove=yes`")
    assert waiting.blocked == "Concurrency limiter by second" and report.exit_code == 1
    assert_read_only(precoro)
