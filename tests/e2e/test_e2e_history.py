"""The Home's "Decided by me" end to end: decisions made by signed clicks show on the deciding
approver's Home (and nobody else's), link to Precoro, and filter by supplier, type and document
number through the Home's own selects and input; long histories page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, home, home_text, opened_view, shown
from tests.support.stack import add_po, quiet

ALICE, BOB = SLACK_USERS["alice"], SLACK_USERS["bob"]
pytestmark = pytest.mark.asyncio


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url)
    yield running
    running.stop()


def history_part(view: dict[str, Any]) -> str:
    """The Home's text from "Decided by me" on (the queue above may name the same documents)."""
    text = home_text(view)
    return text[text.index("Decided by me"):]


async def approve(stack: LocalStack, user: str, idn: str) -> None:
    message = await dm(stack, user, idn)
    await stack.driver.click(user, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)


async def test_decided_by_me_filters_by_supplier_type_and_number(stack: LocalStack) -> None:
    users = stack.users
    globex_po = add_po(stack, "alice", "640.00", "Globex")
    initech_po = add_po(stack, "alice", "75.00", "Initech")
    invoice = stack.precoro.add_document("acme", "invoices", users["admin"].id, [[users["alice"].id]],
                                         sum="990.00", supplier="Globex").idn
    await stack.register("alice")
    await stack.register("bob")
    for idn in ("PO-1001", globex_po, invoice):
        await approve(stack, ALICE, idn)
    message = await dm(stack, ALICE, initech_po)
    await stack.driver.click(ALICE, message, messages.ACTION_REJECT)
    await stack.driver.submit_view(ALICE, await opened_view(stack), {messages.REASON_BLOCK: {
        messages.REASON_ACTION: {"type": "plain_text_input", "value": "Wrong supplier"}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=10)
    await approve(stack, BOB, "INV-1001")  # Bob's decision: never on Alice's Home
    await quiet(stack)

    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "Showing 1–4 of 4")  # noqa: RUF001
    text = history_part(view)
    for idn in ("PO-1001", globex_po, invoice, initech_po):
        assert idn in text
    assert "INV-1001" not in text, "Bob decided it"
    assert f"Approved *<https://app.precoro.test/purchase/order/{globex_po}|Purchase order {globex_po}>*" in text
    assert f"Rejected *<https://app.precoro.test/purchase/order/{initech_po}|" in text

    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_SUPPLIER, choose="Globex")
    view = await home(stack, ALICE, "of 2 (of 4, filtered)")
    text = history_part(view)
    assert globex_po in text and invoice in text and "PO-1001" not in text and initech_po not in text

    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_TYPE, choose="invoices")
    view = await home(stack, ALICE, "of 1 (of 4, filtered)")
    text = history_part(view)
    assert invoice in text and globex_po not in text

    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_CLEAR)
    view = await home(stack, ALICE, "Showing 1–4 of 4")  # noqa: RUF001
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_NUMBER, typed=initech_po.lower())
    view = await home(stack, ALICE, "of 1 (of 4, filtered)")
    text = history_part(view)
    assert initech_po in text and "PO-1001" not in text and "Wrong supplier" in text
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_NUMBER, typed="PO-9999")
    assert "Nothing you decided matches" in history_part(await home(stack, ALICE, "Nothing you decided matches"))

    await stack.driver.open_home(BOB)
    bob_view = await home(stack, BOB, "Decided by me")
    assert "INV-1001" in history_part(bob_view) and globex_po not in history_part(bob_view)


async def test_a_long_history_pages(stack: LocalStack) -> None:
    made = [add_po(stack, "alice", f"{10 + i}.00", f"Supplier {i % 3}") for i in range(11)]
    await stack.register("alice")
    for idn in ["PO-1001", *made]:
        await approve(stack, ALICE, idn)
    await quiet(stack)
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "Showing 1–10 of 12")  # noqa: RUF001
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_HISTORY_PAGE, value="1")
    view = await home(stack, ALICE, "Showing 11–12 of 12")  # noqa: RUF001
    assert "PO-1001" in history_part(view), "oldest last"
    assert len(view["blocks"]) <= 100
