"""Precoro webhooks: an unsigned hint at a secret URL that makes the bot look at once.

Polls are slowed to one an hour here, so only the webhook can explain a quick correction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack

pytestmark = pytest.mark.asyncio

BOB = SLACK_USERS["bob"]
SECRET = "w" * 32
SLOW_POLLS = {"scheduler.min_poll_interval_seconds": 3600, "precoro.webhook_secret": SECRET}


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **SLOW_POLLS)
    yield running
    running.stop()


async def webhook(stack: LocalStack, body: object, secret: str = SECRET, company: str = "acme") -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        return await http.post(f"/precoro/webhooks/{company}/{secret}", json=body)


def invoice_message(stack: LocalStack) -> dict:
    return next(m for m in stack.slack.messages_in(dm_channel(BOB)) if "INV-1001" in (m.get("text") or ""))


async def test_a_webhook_has_a_document_decided_elsewhere_corrected_at_once(stack: LocalStack) -> None:
    await stack.register("bob")
    await stack.slack.wait_for(lambda: any("INV-1001" in (m.get("text") or "")
                                           for m in stack.slack.messages_in(dm_channel(BOB))))
    stack.precoro.approve_as(stack.users["carol"].id, "invoices", "INV-1001")  # Carol, in Precoro's UI
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.list()[0].last_polled_at, timeout=5)
    sent = time.time()
    answer = await webhook(stack, {"id": 2, "type": 3, "action": 1, "idn": "INV-1001"})
    assert answer.status_code == 202
    await stack.slack.wait_for(lambda: "No longer waiting for you" in str(invoice_message(stack)["blocks"]),
                               timeout=5)
    reads = [r for r in stack.precoro.requests if r.token == stack.token_of("bob") and r.at >= sent]
    assert reads and all(r.method == "GET" for r in reads), "the hint made a poll, with the approver's own token"


async def test_webhooks_need_the_secret_and_a_well_formed_body(stack: LocalStack) -> None:
    good = {"id": 2, "type": 3, "action": 1, "idn": "INV-1001"}
    assert (await webhook(stack, good, secret="x" * 32)).status_code == 404
    assert (await webhook(stack, good, company="globex")).status_code == 404
    for bad in ({"type": 3, "action": 1}, {"id": 2, "type": 99, "action": 1, "idn": "X"}, [1, 2],
                {"id": 2, "type": "3", "action": 1, "idn": "INV-1"}, {"id": 2, "type": 3, "action": 7, "idn": "X"}):
        assert (await webhook(stack, bad)).status_code == 400, bad
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        assert (await http.post(f"/precoro/webhooks/acme/{SECRET}", content=b"{not json")).status_code == 400
    assert (await webhook(stack, {"id": 9, "type": 6, "action": 0, "idn": "EXP-1"})).status_code == 202
    assert stack.runtime.store.hints.take("acme") == [], "a type the company does not enable is not a hint"


async def test_a_webhook_without_an_idn_finds_the_document_by_its_precoro_id(stack: LocalStack) -> None:
    """Precoro sends the IDN "if available": by its internal id, a document the bot posted is known."""
    await stack.register("bob")
    await stack.slack.wait_for(lambda: any("INV-1001" in (m.get("text") or "")
                                           for m in stack.slack.messages_in(dm_channel(BOB))))
    stack.precoro.approve_as(stack.users["carol"].id, "invoices", "INV-1001")  # Carol, in Precoro's UI
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.list()[0].last_polled_at, timeout=5)
    invoice = stack.precoro.document("invoices", "INV-1001")
    assert (await webhook(stack, {"id": invoice.id, "type": 3, "action": 1})).status_code == 202
    await stack.slack.wait_for(lambda: "No longer waiting for you" in str(invoice_message(stack)["blocks"]),
                               timeout=5)


async def test_webhooks_about_what_is_not_a_document_are_acknowledged_and_ignored(stack: LocalStack) -> None:
    for kind in (4, 7, 8, 9, 10, 11):  # request for proposal, supplier, stock transfer, budget, custom fields
        assert (await webhook(stack, {"id": 50 + kind, "type": kind, "action": 1, "idn": 50 + kind})).status_code == 202
    assert stack.runtime.store.hints.take("acme") == []
