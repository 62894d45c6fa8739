"""Issue 17: the requester hears the outcome, and a finance channel, over real HTTP (signed Slack
requests in, the Precoro emulator behind).

The seeded documents were asked for by Dana (admin@example.com, in Slack as U0ADMIN): PO-1001
(1,250.00 USD, Alice then Bob) and INV-1001 (480.50 USD, Bob or Carol, then Alice)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.features.outcomes import messages as outcome_messages
from bot.slack import messages
from bot.store.schema import requester_outcomes
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import dm, opened_view, shown, text_of
from tests.support.stack import NO_SAFETY_NET, discovery_on, discovery_reads

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
FINANCE = "C0FINANCE"
pytestmark = pytest.mark.asyncio


@pytest.fixture
def told(database_url: str) -> Iterator[LocalStack]:
    """The stack with both features on: requesters told, a finance channel from 500 up after 2
    working hours."""
    running = LocalStack.start(database_url, **{
        "precoro.notify_requesters": True, "precoro.finance_channel": FINANCE,
        "precoro.finance_min_amount": 500, "precoro.finance_waiting_hours": 2})
    yield running
    running.stop()


def outcomes_of(stack: LocalStack, idn: str) -> list[tuple[str, str, str]]:
    """The bot's own record: (outcome, result, Slack user) per outcome of this document."""
    with stack.runtime.store.engine.connect() as conn:
        rows = conn.execute(select(requester_outcomes.c.outcome, requester_outcomes.c.result,
                                   requester_outcomes.c.slack_user_id)
                            .where(requester_outcomes.c.idn == idn)).all()
    return [(r.outcome, r.result, r.slack_user_id) for r in rows]


def outcome_dms(stack: LocalStack, user: str, idn: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages_in(dm_channel(user))
            if idn in (m.get("text") or "") and (m.get("text") or "").startswith("Your request")]


def gets_of(stack: LocalStack, path: str) -> list[Any]:
    return [r for r in stack.precoro.requests if r.method == "GET" and r.path == path]


async def approve(stack: LocalStack, user: str, idn: str) -> None:
    message = await dm(stack, user, idn)
    await stack.driver.click(user, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=15)


async def reject(stack: LocalStack, user: str, idn: str, reason: str) -> dict[str, Any]:
    message = await dm(stack, user, idn)
    await stack.driver.click(user, message, messages.ACTION_REJECT)
    view = await opened_view(stack)
    await stack.driver.submit_view(user, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": reason}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=15)
    return message


async def test_requester_hears_the_final_approval_once_and_can_mute(told: LocalStack) -> None:
    stack = told
    for name in ("alice", "bob", "carol"):
        await stack.register(name)
    await approve(stack, ALICE, "PO-1001")  # step 1 of 2: nothing to tell yet
    await approve(stack, BOB, "PO-1001")  # the last step: Precoro says approved
    [note] = await stack.slack.wait_for(lambda: outcome_dms(stack, ADMIN, "PO-1001"), timeout=15)
    assert "was approved" in text_of(note) and f"<@{BOB}>" in text_of(note)
    await stack.slack.wait_for(lambda: ("approved", "sent", ADMIN) in outcomes_of(stack, "PO-1001"), timeout=10)
    assert not [o for o in outcomes_of(stack, "PO-1001") if o[0] != "approved"]
    # After Alice's approval (a later step waited) no look was spent; after Bob's, exactly one.
    assert len(gets_of(stack, "/purchaseorders/PO-1001")) == 1

    # The requester mutes them from the message itself; the next outcome is recorded, not sent.
    await stack.driver.click(ADMIN, note, outcome_messages.ACTION_MUTE_OUTCOMES)
    await stack.slack.wait_for(lambda: stack.runtime.outcomes is not None
                               and stack.runtime.outcomes.repo.muted("T0TEAM", ADMIN), timeout=10)
    await reject(stack, CAROL, "INV-1001", "Duplicate of INV-0999")
    await stack.slack.wait_for(lambda: ("rejected", "muted", ADMIN) in outcomes_of(stack, "INV-1001"), timeout=15)
    assert outcome_dms(stack, ADMIN, "INV-1001") == []
    assert len(outcome_dms(stack, ADMIN, "PO-1001")) == 1


async def test_requester_hears_a_rejection_with_its_reason_once(told: LocalStack) -> None:
    stack = told
    await stack.register("bob")
    await stack.register("carol")
    bobs = await dm(stack, BOB, "INV-1001")
    await reject(stack, CAROL, "INV-1001", "Wrong supplier <b>")
    [note] = await stack.slack.wait_for(lambda: outcome_dms(stack, ADMIN, "INV-1001"), timeout=15)
    assert "was rejected" in text_of(note) and "Wrong supplier &lt;b&gt;" in text_of(note)
    await stack.slack.wait_for(lambda: outcomes_of(stack, "INV-1001") == [("rejected", "sent", ADMIN)], timeout=10)
    # Bob's own poll then finds it gone: a second path to the same outcome; nothing is sent again,
    # and no look is spent on a document whose outcome is known.
    await stack.slack.wait_for(lambda: "no longer" in shown(stack, bobs).lower()
                               or "decided or changed" in shown(stack, bobs), timeout=20)
    await stack.slack.wait_for(lambda: stack.runtime.store.messages.get(int(_ref(bobs))).state == "gone",
                               timeout=10)
    assert len(outcome_dms(stack, ADMIN, "INV-1001")) == 1
    assert outcomes_of(stack, "INV-1001") == [("rejected", "sent", ADMIN)]
    assert gets_of(stack, "/invoices/INV-1001") == []
    # The muted command works as well, and unmute turns it back on.
    assert "Muted" in await stack.driver.ask(ADMIN, "mute-outcomes")
    assert stack.runtime.outcomes is not None and stack.runtime.outcomes.repo.muted("T0TEAM", ADMIN)
    await stack.driver.ask(ADMIN, "unmute-outcomes")
    assert not stack.runtime.outcomes.repo.muted("T0TEAM", ADMIN)


async def test_decided_in_precoro_a_poll_learns_it_with_one_look(told: LocalStack) -> None:
    stack = told
    alice = stack.users["alice"]
    stack.precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[alice.id]], sum="75.00",
                               idn="PO-3001")
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-3001")
    stack.precoro.approve_as(alice.id, "purchaseorders", "PO-3001")  # in Precoro's web app, not in Slack
    # Alice's next poll no longer lists it; the list does not say why, so the bot looks once.
    [note] = await stack.slack.wait_for(lambda: outcome_dms(stack, ADMIN, "PO-3001"), timeout=20)
    assert "was approved" in text_of(note) and "Alice Archer" in text_of(note)
    await stack.slack.wait_for(lambda: outcomes_of(stack, "PO-3001") == [("approved", "sent", ADMIN)], timeout=10)
    assert "decided or changed" in shown(stack, message)
    [look] = gets_of(stack, "/purchaseorders/PO-3001")
    assert look.token == stack.token_of("alice")


async def test_sent_back_in_precoro_the_requester_reads_why(told: LocalStack) -> None:
    stack = told
    alice = stack.users["alice"]
    stack.precoro.add_document("acme", "invoices", stack.users["admin"].id, [[alice.id]], sum="75.00",
                               idn="INV-3002")
    await stack.register("alice")
    await dm(stack, ALICE, "INV-3002")
    stack.precoro.send_back_as(alice.id, "invoices", "INV-3002", "Attach the delivery note, please")
    [note] = await stack.slack.wait_for(lambda: outcome_dms(stack, ADMIN, "INV-3002"), timeout=20)
    assert "was sent back for revision" in text_of(note) and "Attach the delivery note, please" in text_of(note)
    await stack.slack.wait_for(lambda: outcomes_of(stack, "INV-3002") == [("revision", "sent", ADMIN)], timeout=10)


async def test_discovery_learns_an_outcome_without_any_extra_request(database_url: str) -> None:
    stack = LocalStack.start(database_url, **{"precoro.notify_requesters": True, **NO_SAFETY_NET})
    try:
        await stack.register("bob")
        await discovery_on(stack)
        await stack.slack.wait_for(lambda: discovery_reads(stack), timeout=10)
        bob = stack.users["bob"]
        stack.precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[bob.id]], sum="60.00",
                                   idn="PO-5001")
        await dm(stack, BOB, "PO-5001")  # found by discovery (Bob's own polls are hourly here)
        stack.precoro.approve_as(bob.id, "purchaseorders", "PO-5001")  # in Precoro's web app
        [note] = await stack.slack.wait_for(lambda: outcome_dms(stack, ADMIN, "PO-5001"), timeout=20)
        assert "was approved" in text_of(note) and "Bob Baker" in text_of(note)
        await stack.slack.wait_for(lambda: outcomes_of(stack, "PO-5001") == [("approved", "sent", ADMIN)],
                                   timeout=10)
        assert gets_of(stack, "/purchaseorders/PO-5001") == []  # the discovery list said it all
    finally:
        stack.stop()


async def test_requester_not_in_slack_is_skipped_and_counted(told: LocalStack) -> None:
    stack = told
    erin = stack.precoro.add_user("acme", "Erin Outside", "erin@elsewhere.example")
    stack.precoro.add_document("acme", "purchaseorders", erin.id, [[stack.users["alice"].id]], sum="90.00",
                               idn="PO-2001")
    await stack.register("alice")
    await reject(stack, ALICE, "PO-2001", "No budget left")
    await stack.slack.wait_for(lambda: ("rejected", "not_in_slack", "") in outcomes_of(stack, "PO-2001"), timeout=15)
    assert not [m for m in stack.slack.messages.values() if "PO-2001" in (m.get("text") or "")
                and (m.get("text") or "").startswith("Your request")]
    status = await stack.driver.ask(ADMIN, "status")
    # the email is shown inert (no mailto: link from outside text)
    assert f"1 skipped (requester not in Slack): {messages.safe('erin@elsewhere.example', 100)}" in status


async def test_finance_channel_threads_per_document_above_the_threshold(told: LocalStack) -> None:
    stack = told
    for name in ("alice", "bob", "carol"):
        await stack.register(name)
    await dm(stack, ALICE, "PO-1001")
    await dm(stack, BOB, "INV-1001")
    await stack.slack.wait_for(lambda: all(m.posted for m in stack.runtime.store.messages.for_documents(
        "acme", [("purchaseorders", "PO-1001"), ("invoices", "INV-1001")])), timeout=10)  # the bot's records
    assert stack.runtime.finance is not None
    # A week later both still wait: only PO-1001 (1,250.00) reaches the 500 minimum.
    later = stack.runtime.clock.now() + 7 * 86400
    assert await stack.servers[-1].call(stack.runtime.finance.run_due(later)) == 1
    assert await stack.servers[-1].call(stack.runtime.finance.run_due(later + 60)) == 0  # once
    [parent] = stack.slack.messages_in(FINANCE)
    assert "PO-1001" in parent["text"] and "waiting over 2 working hours" in parent["text"]
    assert "thread_ts" not in parent

    # The final decision replies in that thread; the invoice (480.50) stays out of the channel.
    await approve(stack, ALICE, "PO-1001")
    await approve(stack, BOB, "PO-1001")
    await reject(stack, CAROL, "INV-1001", "Wrong supplier")
    await stack.slack.wait_for(lambda: len(stack.slack.messages_in(FINANCE)) == 2, timeout=15)
    await stack.slack.wait_for(lambda: ("rejected", "sent", ADMIN) in outcomes_of(stack, "INV-1001"), timeout=15)
    posts = stack.slack.messages_in(FINANCE)
    reply = next(m for m in posts if m["ts"] != parent["ts"])
    assert reply["thread_ts"] == parent["ts"]
    assert "PO-1001" in reply["text"] and "approved" in reply["text"] and "1,250.00 USD" in reply["text"]
    assert not [m for m in posts if "INV-1001" in m["text"]]


def _ref(message: dict[str, Any]) -> str:
    """The posted-message id carried by the message's Approve button."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == messages.ACTION_APPROVE:
                return str(element["value"])
    raise AssertionError("no Approve button")
