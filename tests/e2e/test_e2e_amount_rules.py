"""Amount rules end to end: a document above its currency's limit asks its approver to type the
amount or the number (signed clicks and form submissions), a rule in another currency changes
nothing, and bulk approve leaves the big one out and shows the total."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.precoro.models import parse_document
from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, home, home_text, opened_view, shown, text_of
from tests.support.stack import posts_to, quiet, stored_ref

ALICE = SLACK_USERS["alice"]
pytestmark = pytest.mark.asyncio
RULES = {"EUR": 10000, "USD": 12000}


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **{"precoro.confirm_above": RULES})
    yield running
    running.stop()


def add(stack: LocalStack, amount: str, currency: str, supplier: str = "Initech") -> str:
    users = stack.users
    return stack.precoro.add_document("acme", "purchaseorders", users["admin"].id, [[users["alice"].id]],
                                      sum=amount, currency=currency, supplier=supplier).idn


def typed(text: str) -> dict[str, dict[str, Any]]:
    return {messages.AMOUNT_CONFIRM_BLOCK: {messages.AMOUNT_CONFIRM_ACTION: {"type": "plain_text_input",
                                                                            "value": text}}}


def approve_button(message: dict[str, Any]) -> dict[str, Any]:
    return next(e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
                if e.get("action_id") == messages.ACTION_APPROVE)


async def test_threshold_in_another_currency_and_typed_confirmation(stack: LocalStack) -> None:
    big_eur = add(stack, "15000.00", "EUR")  # above the EUR rule
    usd_between = add(stack, "11000.00", "USD")  # above 10,000 but under the USD rule: no confirmation
    big_usd = add(stack, "12500.00", "USD")  # above the USD rule
    await stack.register("alice")
    eur_message, usd_message, big_usd_message = [await dm(stack, ALICE, idn) for idn in (big_eur, usd_between, big_usd)]
    await quiet(stack)

    assert "Approving asks you to confirm: above 10,000 EUR" in text_of(eur_message)
    assert "confirm" not in approve_button(eur_message), "a modal asks instead of Slack's dialog"
    assert "Approving asks you to confirm: above 12,000 USD" in text_of(big_usd_message)
    assert "asks you to confirm" not in text_of(usd_message), "the USD rule is not the EUR one, nor lower"
    assert "confirm" in approve_button(usd_message)

    # 11,000 USD: the EUR limit (10,000) does not apply to a USD document; approved at once.
    await stack.driver.click(ALICE, usd_message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, usd_message), timeout=10)
    assert not stack.slack.calls_to("views.open")

    # 15,000 EUR: Approve opens the typed confirmation and sends nothing yet.
    await stack.driver.click(ALICE, eur_message, messages.ACTION_APPROVE)
    form = await opened_view(stack)
    assert form["callback_id"] == messages.AMOUNT_CONFIRM_CALLBACK and "15,000.00 EUR" in text_of(form)
    assert len(posts_to(stack, "/approve")) == 1
    wrong = await stack.driver.submit_view(ALICE, form, typed("1500"))
    assert wrong.json()["response_action"] == "errors"
    assert "neither the amount" in wrong.json()["errors"][messages.AMOUNT_CONFIRM_BLOCK]
    assert len(posts_to(stack, "/approve")) == 1, "a wrong answer sends nothing"
    assert "Waiting for your approval" in shown(stack, eur_message)
    await stack.driver.submit_view(ALICE, form, typed("15,000 eur"))
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, eur_message), timeout=10)
    assert [(r.path, r.token) for r in posts_to(stack, "/approve")][-1] == (
        f"/purchaseorders/{big_eur}/approve", stack.token_of("alice"))

    # The document number counts too (any case); "Approve with comment" asks the same.
    await stack.driver.click(ALICE, big_usd_message, messages.ACTION_APPROVE_COMMENT)
    await stack.slack.wait_for(lambda: len(stack.slack.calls_to("views.open")) == 2, timeout=5)
    form = await opened_view(stack)
    assert form["callback_id"] == messages.AMOUNT_CONFIRM_CALLBACK
    await stack.driver.submit_view(ALICE, form, typed(big_usd.lower()))
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, big_usd_message), timeout=10)
    assert len(posts_to(stack, "/approve")) == 3
    decisions = stack.runtime.store.audit.recent(["acme"], limit=20)
    assert sum(e.action == "decision.approve" and e.outcome == "approved" for e in decisions) == 3


async def test_an_old_comment_form_cannot_skip_the_rule(stack: LocalStack) -> None:
    big = add(stack, "20000.00", "EUR")
    await stack.register("alice")
    await dm(stack, ALICE, big)
    await quiet(stack)
    ref = stored_ref(stack, big)
    doc = parse_document("purchaseorders", stack.runtime.store.messages.get(int(ref)).raw_document)
    forged = messages.approve_modal(ref, doc)  # the plain "Approve with comment" form, as if opened earlier
    answer = await stack.driver.submit_view(ALICE, forged, {})
    assert answer.json()["response_action"] == "errors"
    assert "typed confirmation" in answer.json()["errors"][messages.COMMENT_BLOCK]
    assert not posts_to(stack, "/approve")


async def test_bulk_approve_leaves_out_the_big_one_and_shows_the_total(stack: LocalStack) -> None:
    small = add(stack, "300.00", "EUR")
    big = add(stack, "25000.00", "EUR")
    await stack.register("alice")
    for idn in ("PO-1001", small, big):
        await dm(stack, ALICE, idn)
    await quiet(stack)
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, big)
    text = home_text(view)
    assert "leaves out documents above 10,000 EUR" in text and "Approving asks you to confirm" in text
    picked = [stored_ref(stack, idn) for idn in ("PO-1001", small, big)]
    values = {messages.HOME_DOC_BLOCK + ref: {messages.ACTION_SELECT: {
        "type": "checkboxes", "selected_options": [{"value": ref, "text": {"type": "plain_text", "text": "Select"}}]}}
        for ref in picked}
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_BULK_APPROVE, values=values)
    after = home_text(await home(stack, ALICE, "2 of 3 approved"))
    assert "total approved 300.00 EUR + 1,250.00 USD" in after
    assert f"Purchase order {big}: left out: above 10,000 EUR" in after
    assert sorted(r.path for r in posts_to(stack, "/approve")) == sorted(
        ["/purchaseorders/PO-1001/approve", f"/purchaseorders/{small}/approve"])
    assert stack.runtime.store.messages.get(int(stored_ref(stack, big))).state == "waiting"
