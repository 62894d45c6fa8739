"""The App Home end to end: signed events and clicks in, the Home as Slack holds it out."""

from __future__ import annotations

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import dm, home, home_text, refs_on, shown
from tests.support.stack import add_po, posts_to, quiet, stored_ref

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


async def test_opening_the_home_shows_the_queue_from_the_database(stack: LocalStack) -> None:
    second = add_po(stack, "alice", "99.90", "Globex")
    await stack.register("alice")
    await dm(stack, ALICE, second)
    await quiet(stack)
    before = len(stack.precoro.requests)
    response = await stack.driver.open_home(ALICE)
    assert response.status_code == 200
    view = await home(stack, ALICE, "Waiting for your approval (2)")
    text = home_text(view)
    assert "Purchase orders (2)" in text
    assert text.index("PO-1001") < text.index(second), "oldest first"
    assert "1,250.00 USD" in text and "99.90 USD" in text and "Dana Admin" in text and "waiting" in text
    assert set(refs_on(view, messages.ACTION_APPROVE)) == {stored_ref(stack, "PO-1001"), stored_ref(stack, second)}
    assert len(stack.precoro.requests) == before, "the Home costs no Precoro request"
    assert "Admin" not in [b.get("text", {}).get("text") for b in view["blocks"] if b["type"] == "header"]


async def test_home_for_someone_not_registered(stack: LocalStack) -> None:
    await stack.driver.open_home(CAROL)
    view = await home(stack, CAROL, "not registered")
    assert refs_on(view, messages.ACTION_APPROVE) == []


async def test_approve_from_the_home_uses_the_decision_path(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "PO-1001")
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_APPROVE, value=stored_ref(stack, "PO-1001"))
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    [post] = posts_to(stack, "/purchaseorders/PO-1001/approve")
    assert post.token == stack.token_of("alice") and post.status == 200
    # The Home is published again without it.
    after = await home(stack, ALICE, "Nothing is waiting")
    assert refs_on(after, messages.ACTION_APPROVE) == []


async def test_a_forged_home_click_by_someone_else_is_refused(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "PO-1001")
    await stack.driver.click_in_view(CAROL, view, messages.ACTION_APPROVE, value=stored_ref(stack, "PO-1001"))
    await stack.slack.wait_for(lambda: any("only they can decide" in (m.get("text") or "")
                                           for m in stack.slack.messages_in("D" + CAROL)), timeout=5)
    assert not posts_to(stack, "/approve")


async def test_reject_from_the_home_asks_for_a_reason(stack: LocalStack) -> None:
    await stack.register("bob")
    message = await dm(stack, BOB, "INV-1001")
    await stack.driver.open_home(BOB)
    view = await home(stack, BOB, "INV-1001")
    await stack.driver.click_in_view(BOB, view, messages.ACTION_REJECT, value=stored_ref(stack, "INV-1001"))
    await stack.slack.wait_for(lambda: stack.slack.calls_to("views.open"), timeout=5)
    modal = next(v for v in stack.slack.views.values() if v.get("callback_id") == messages.REJECT_CALLBACK)
    await stack.driver.submit_view(BOB, modal, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Duplicate invoice"}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=10)
    [post] = posts_to(stack, "/invoices/INV-1001/reject")
    assert post.token == stack.token_of("bob") and post.form == {"comment": "Duplicate invoice"}
    await home(stack, BOB, "Nothing is waiting")


async def test_the_home_follows_new_documents_without_being_opened_again(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.driver.open_home(ALICE)
    await home(stack, ALICE, "(1)")
    idn = add_po(stack, "alice", "10.00", "Initech")
    view = await home(stack, ALICE, idn)
    assert "Waiting for your approval (2)" in home_text(view)


async def test_bulk_approve_sends_one_post_each_and_shows_each_result(stack: LocalStack) -> None:
    second = add_po(stack, "alice", "20.00", "Initech")
    third = add_po(stack, "alice", "30.00", "Hooli")
    await stack.register("alice")
    await dm(stack, ALICE, third)
    await quiet(stack)
    stack.precoro.approve_as(stack.users["alice"].id, "purchaseorders", second)  # decided in Precoro meanwhile
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, third)
    picked = [stored_ref(stack, "PO-1001"), stored_ref(stack, second)]
    values = {messages.HOME_DOC_BLOCK + ref: {messages.ACTION_SELECT: {
        "type": "checkboxes", "selected_options": [{"value": ref, "text": {"type": "plain_text", "text": "Select"}}]}}
        for ref in picked}
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_BULK_APPROVE, values=values)
    after = await home(stack, ALICE, "1 of 2 approved")
    text = home_text(after)
    assert "Purchase order PO-1001" in text and f"Purchase order {second}: no longer waiting" in text
    assert refs_on(after, messages.ACTION_APPROVE) == [stored_ref(stack, third)], "the unselected one stays"
    assert [(r.path, r.token) for r in posts_to(stack, "/approve")] == [
        ("/purchaseorders/PO-1001/approve", stack.token_of("alice")),
        (f"/purchaseorders/{second}/approve", stack.token_of("alice"))]


async def test_bulk_approve_with_nothing_selected_says_so(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "PO-1001")
    await stack.driver.click_in_view(ALICE, view, messages.ACTION_BULK_APPROVE)
    await stack.slack.wait_for(lambda: any("Tick at least one" in (m.get("text") or "")
                                           for m in stack.slack.messages_in("D" + ALICE)), timeout=5)
    assert not posts_to(stack, "/approve")


async def test_admins_see_registrations_and_quota_use(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.register("bob")
    await dm(stack, BOB, "INV-1001")
    stack.precoro.disable_token(stack.users["bob"].id)
    stack.precoro.add_document("acme", "invoices", stack.users["admin"].id, [[stack.users["bob"].id]])
    await stack.slack.wait_for(lambda: any(a.status == "revoked" for a in stack.runtime.store.approvers.list()))
    await stack.driver.open_home(ADMIN)
    view = await home(stack, ADMIN, "Approvers (2)")
    text = home_text(view)
    assert f"<@{ALICE}>" in text and f"<@{BOB}>" in text and "revoked" in text
    assert "Precoro quota use" in text and "per hour" in text and "per day" in text
    assert stack.token_of("alice") not in text
    # An approver does not see the admin part.
    await stack.driver.open_home(ALICE)
    assert "Precoro quota use" not in home_text(await home(stack, ALICE, "PO-1001"))


async def test_no_home_is_published_for_someone_who_never_opened_it(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert stack.slack.calls_to("views.publish") == []
    assert not stack.runtime.store.home.has_home("T0TEAM", ALICE)
