"""Durable decisions and their audit trail over real HTTP: the audit command, looking before
sending (stale messages, lost answers), queued retries after 429s and quota deferrals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import dm, shown
from tests.support.stack import alice_id, posts_to, stop_polling

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url)
    running.runtime.decisions.retry_base_seconds = 0.5  # retries on the stack's fast clock
    yield running
    running.stop()


def document_reads(stack: LocalStack, idn: str) -> list[object]:
    return [r for r in stack.precoro.requests if r.method == "GET" and r.path.endswith(f"/{idn}")]


async def test_audit_command_shows_who_did_what_when_and_the_result(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(CAROL, message, messages.ACTION_APPROVE)  # not hers
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)  # once more: nothing happens

    answer = await stack.driver.ask(ADMIN, "audit 10")
    lines = answer.splitlines()
    assert lines[0].startswith("*Audit log: the last 4 entries*")
    assert "decision.approve purchaseorders/PO-1001 → ignored: already approved" in lines[1]
    assert f"<@{ALICE}> · decision.approve purchaseorders/PO-1001 → approved" in lines[2]
    assert f"<@{CAROL}> · decision.approve purchaseorders/PO-1001 → refused: not the approver" in lines[3]
    assert f"<@{ADMIN}> · token.register <@{ALICE}> → ok" in lines[4]
    assert stack.token_of("alice") not in answer

    assert "Only Precoro bot admins" in await stack.driver.ask(ALICE, "audit")
    assert "Usage" in await stack.driver.ask(ADMIN, "audit lots")
    one = await stack.driver.ask(ADMIN, "audit 1")
    assert one.count("\n•") == 1 and "ignored: already approved" in one


async def test_stale_message_is_corrected_with_one_look_instead_of_an_error(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stop_polling(stack)
    stack.runtime.store.approvers.mark_polled(alice_id(stack), stack.runtime.clock.now() - 3600, 0)
    stack.precoro.withdraw("purchaseorders", "PO-1001")

    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "No longer waiting for you: withdrawn" in shown(stack, message), timeout=10)
    assert not posts_to(stack, "/approve"), "a stale message costs one read, not a refused POST"
    assert [r.status for r in document_reads(stack, "PO-1001")] == [200]
    assert stack.runtime.store.audit.recent("acme", limit=1)[0].outcome == "not waiting"


async def test_stale_message_still_waiting_is_read_once_then_approved(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stop_polling(stack)
    stack.runtime.store.approvers.mark_polled(alice_id(stack), stack.runtime.clock.now() - 3600, 0)
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert len(document_reads(stack, "PO-1001")) == 1
    assert [r.status for r in posts_to(stack, "/approve")] == [200]


async def test_a_freshly_polled_message_costs_one_request(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert document_reads(stack, "PO-1001") == []
    assert [r.status for r in posts_to(stack, "/approve")] == [200]


async def test_a_click_before_the_bot_heard_back_from_its_post_still_updates_the_message(stack: LocalStack) -> None:
    """Slack shows a message before the bot learns where it went: a click in that moment is
    carried out, and the message shows it once the post's answer is in."""
    stack.slack.answer_delays["chat.postMessage"] = 1.5
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    assert not any(m.posted for m in stack.runtime.store.messages.for_approver(alice_id(stack)))
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert [r.status for r in posts_to(stack, "/approve")] == [200]


async def test_429_on_the_post_queues_the_click_and_the_worker_finishes_it(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject("429", count=1, path_contains="/approve")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "queued and will be retried" in shown(stack, message), timeout=10)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=15)
    assert [r.status for r in posts_to(stack, "/approve")] == [429, 200]
    assert [e.outcome for e in stack.runtime.store.audit.recent("acme") if e.actor == ALICE] == ["approved"]


async def test_click_without_quota_in_time_is_queued_then_sent(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    now = stack.runtime.clock.now()
    # Longer than the interactive wait (3 s on the stack): the click cannot get a slot in time.
    stack.runtime.store.quota.block("acme", now + 5, "test: quota closed")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "queued and will be retried" in shown(stack, message), timeout=10)
    assert not posts_to(stack, "/approve"), "nothing is sent while the company's quota is closed"
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=20)
    [post] = posts_to(stack, "/approve")
    assert post.status == 200 and post.at >= now + 5
    decision = stack.runtime.store.decisions.for_message(int(message_ref(message)))
    assert decision is not None and decision.attempts >= 2 and decision.outcome == "approved"


async def test_lost_answer_is_resolved_by_looking_not_by_sending_again(stack: LocalStack) -> None:
    """Precoro approves, but its answer never arrives (the client times out): the retry reads the
    document, sees Alice's approval and finishes without a second POST."""
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject("timeout_after", count=1, path_contains="/approve")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "queued" in shown(stack, message), timeout=10)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=20)
    [post] = posts_to(stack, "/approve")
    assert post.applied and post.status is None  # done in Precoro, answer lost
    assert [r.status for r in document_reads(stack, "PO-1001")] == [200]
    step = stack.precoro.document("purchaseorders", "PO-1001").current_step
    assert step is not None and step.approver_ids == [stack.users["bob"].id]  # approved once, not twice
    assert [e.outcome for e in stack.runtime.store.audit.recent("acme") if e.actor == ALICE] == ["approved"]


async def test_lost_rejection_is_resolved_too(stack: LocalStack) -> None:
    await stack.register("bob")
    message = await dm(stack, BOB, "INV-1001")
    stack.precoro.inject("timeout_after", count=1, path_contains="/reject")
    await stack.driver.click(BOB, message, messages.ACTION_REJECT)
    await stack.slack.wait_for(lambda: stack.slack.views, timeout=5)
    view = list(stack.slack.views.values())[-1]
    await stack.driver.submit_view(BOB, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Duplicate invoice"}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=20)
    assert [(p.applied, p.status) for p in posts_to(stack, "/reject")] == [(True, None)]


async def test_timeout_that_changed_nothing_is_sent_again_after_a_look(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject("timeout", count=1, path_contains="/approve")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=20)
    assert [(p.applied, p.status) for p in posts_to(stack, "/approve")] == [(False, None), (True, 200)]
    assert len(document_reads(stack, "PO-1001")) == 1


def message_ref(message: dict) -> str:
    return next(e["value"] for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
                if e.get("action_id") == messages.ACTION_APPROVE)
