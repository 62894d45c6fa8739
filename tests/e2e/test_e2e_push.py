"""Push first over real HTTP: a Precoro webhook reads the hinted document alone, at once, and a
click right after such a read sends only its decision (no look at Precoro first).

Discovery is on (the admin's token) and per-approver polls are slowed to one an hour, so bob's own
poll is old: only the webhook's read (or a discovery run) can explain what happens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.slack import messages
from bot.store.schema import approvers, posted_messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.paths import CONTRACT
from tests.support.slack import dm, text_of
from tests.support.stack import discovery_on, discovery_reads

pytestmark = pytest.mark.asyncio

BOB = SLACK_USERS["bob"]
SECRET = "p" * 32
PURCHASE_ORDER, INVOICE = 2, 3  # Precoro's webhook codes of the types


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **{"scheduler.min_poll_interval_seconds": 3600,
                                                "precoro.webhook_secret": SECRET})
    yield running
    running.stop()


async def webhook(stack: LocalStack, idn: str, kind: int = PURCHASE_ORDER) -> None:
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        answer = await http.post(f"/precoro/webhooks/acme/{SECRET}",
                                 json={"id": 1, "type": kind, "action": 0, "idn": idn})
    assert answer.status_code == 202


def about(stack: LocalStack, idn: str, since: float) -> list[Any]:
    return [r for r in stack.precoro.requests if idn in r.path and r.at >= since]


def age_everything(stack: LocalStack) -> None:
    """Bob's poll and every read of his documents an hour old: the bot's knowledge is old."""
    long_ago = time.time() - 3600
    with stack.runtime.store.engine.begin() as conn:
        conn.execute(update(approvers).values(last_polled_at=long_ago))
        conn.execute(update(posted_messages).values(read_at=long_ago))


async def new_order_with_webhook(stack: LocalStack, *, aged: bool = False) -> tuple[str, float, dict[str, Any]]:
    """A new purchase order for bob and its webhook, once discovery has read everything (`aged`:
    bob's own poll and everything read before are an hour old by then)."""
    await stack.register("bob")
    bob = lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", BOB)  # noqa: E731
    await stack.slack.wait_for(lambda: (b := bob()) is not None and b.last_polled_at is not None, timeout=10)
    if aged:
        age_everything(stack)
    await discovery_on(stack)
    settings = stack.runtime.store.discovery.get
    await stack.slack.wait_for(lambda: (s := settings("acme")) is not None and s.cursor is not None, timeout=10)
    await webhook(stack, "INV-1001", INVOICE)  # webhooks arrive: timed discovery runs stretch
    sent = time.time()
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await webhook(stack, doc.idn)
    message = await dm(stack, BOB, doc.idn, timeout=5)
    return doc.idn, sent, message


async def test_a_webhook_posts_the_document_at_once_with_one_read_of_it_and_no_list(stack: LocalStack) -> None:
    idn, sent, _ = await new_order_with_webhook(stack)
    assert time.time() - sent < 2.0
    reads = about(stack, idn, sent)
    assert [(r.method, r.path, r.token) for r in reads] == [("GET", f"/purchaseorders/{idn}",
                                                             stack.token_of("admin"))]
    lists = [r for r in discovery_reads(stack, sent) if r.path.count("/") == 1 and r.at <= reads[0].at]
    assert not lists, "the webhook was served by the document's own read, not by a list"


async def test_a_second_webhook_within_the_minute_never_meets_a_429(stack: LocalStack) -> None:
    idn, sent, _ = await new_order_with_webhook(stack)
    await webhook(stack, idn)  # within Precoro's duplicate window of the first read
    await webhook(stack, idn)
    window = stack.runtime.config.company("acme").quota.duplicate_get_seconds
    await stack.slack.wait_for(lambda: time.time() - sent > 2 * window, timeout=10)
    assert not [r for r in stack.precoro.requests if r.status == 429]
    gets = [r.at for r in about(stack, idn, sent) if r.method == "GET" and r.path == f"/purchaseorders/{idn}"]
    assert all(b - a >= window for a, b in pairwise(gets))


async def test_a_click_right_after_the_webhook_read_sends_only_the_decision(stack: LocalStack) -> None:
    idn, _, message = await new_order_with_webhook(stack, aged=True)  # only the webhook's read is fresh
    clicked = time.time()
    await stack.driver.click(BOB, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "Approved by" in text_of(stack.slack.messages[(message["channel"], message["ts"])]), timeout=10)
    mine = [(r.method, r.path) for r in about(stack, idn, clicked) if r.token == stack.token_of("bob")]
    assert mine == [("POST", f"/purchaseorders/{idn}/approve")]


async def test_a_click_on_a_document_known_only_from_an_old_read_looks_first(stack: LocalStack) -> None:
    await stack.register("bob")  # his first poll posts INV-1001; no discovery, no webhook reads it again
    message = await dm(stack, BOB, "INV-1001")
    age_everything(stack)
    clicked = time.time()
    await stack.driver.click(BOB, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "Approved by" in text_of(stack.slack.messages[(message["channel"], message["ts"])]), timeout=10)
    mine = [(r.method, r.path) for r in about(stack, "INV-1001", clicked) if r.token == stack.token_of("bob")]
    assert mine == [("GET", "/invoices/INV-1001"), ("POST", "/invoices/INV-1001/approve")]


async def test_a_webhook_after_the_bots_read_makes_a_click_look_first(stack: LocalStack) -> None:
    idn, _, message = await new_order_with_webhook(stack, aged=True)  # read fresh by the webhook's read
    await webhook(stack, idn)  # ... and changed since: that read no longer tells what it is
    clicked = time.time()
    await stack.driver.click(BOB, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "Approved by" in text_of(stack.slack.messages[(message["channel"], message["ts"])]), timeout=10)
    mine = [(r.method, r.path) for r in about(stack, idn, clicked) if r.token == stack.token_of("bob")]
    assert mine == [("GET", f"/purchaseorders/{idn}"), ("POST", f"/purchaseorders/{idn}/approve")]


async def test_precoros_own_example_body_with_a_number_idn_posts_the_document(stack: LocalStack) -> None:
    """The body of Precoro's help page, verbatim: `idn` is the JSON number 5."""
    body = json.loads((CONTRACT / "webhook_example.json").read_text())["body"]
    assert body == {"id": 123456, "type": 2, "action": 0, "idn": 5}
    await stack.register("bob")
    bob = lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", BOB)  # noqa: E731
    await stack.slack.wait_for(lambda: (b := bob()) is not None and b.last_polled_at is not None, timeout=10)
    await discovery_on(stack)
    settings = stack.runtime.store.discovery.get
    await stack.slack.wait_for(lambda: (s := settings("acme")) is not None and s.cursor is not None, timeout=10)
    sent = time.time()
    stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]],
                               idn="5", supplier="Initech", sum="77.00")
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        answer = await http.post(f"/precoro/webhooks/acme/{SECRET}", content=json.dumps(body, separators=(",", ":")),
                                 headers={"content-type": "application/json"})
    assert answer.status_code == 202
    message = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages_in(dm_channel(BOB)) if "Initech" in str(m)), None), timeout=5)
    assert "77.00" in str(message)
    assert [(r.method, r.path) for r in about(stack, "/purchaseorders/5", sent)] == [("GET", "/purchaseorders/5")]


async def test_a_webhook_naming_no_document_it_knows_makes_discovery_look_at_once(stack: LocalStack) -> None:
    """No IDN and an id the bot never saw (a new document): the type's next discovery run is due now."""
    await stack.register("bob")
    await discovery_on(stack)
    settings = stack.runtime.store.discovery.get
    await stack.slack.wait_for(lambda: (s := settings("acme")) is not None and s.cursor is not None, timeout=10)
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        answer = await http.post(f"/precoro/webhooks/acme/{SECRET}", json={"id": doc.id, "type": 2, "action": 0})
    assert answer.status_code == 202
    await dm(stack, BOB, doc.idn, timeout=5)
    assert not [r for r in stack.precoro.requests if r.status == 429]
