"""Company discovery over real HTTP: the admin's wide token finds documents for every approver."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import as_shown, buttons, dm, dms, text_of
from tests.support.stack import NO_SAFETY_NET, discovery_on, discovery_reads, register_admin

BOB, CAROL = SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio
# NO_SAFETY_NET: per-approver polls at most hourly; after the first poll of each approver (at
# registration), only discovery can find a new document within a test.


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **NO_SAFETY_NET)
    yield running
    running.stop()


@pytest.fixture
def polling_stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url)
    yield running
    running.stop()


def bob_polls_since(stack: LocalStack, since: float) -> list[Any]:
    bob = stack.token_of("bob")
    return [r for r in stack.precoro.requests if r.token == bob and r.method == "GET" and r.at >= since]


async def status(stack: LocalStack) -> str:
    return await stack.driver.ask(ADMIN, "status")


async def test_a_document_for_bob_reaches_him_through_discovery_and_he_approves_with_his_token(
        stack: LocalStack) -> None:
    await stack.register("bob")
    await dm(stack, BOB, "INV-1001")  # bob's first poll
    await discovery_on(stack)
    await stack.slack.wait_for(lambda: discovery_reads(stack), timeout=10)
    created = time.time()
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]],
                                     sum="75.00", supplier="Globex")
    message = await dm(stack, BOB, doc.idn)
    found_after = time.time() - created
    assert not bob_polls_since(stack, created), "found by discovery, not by bob's own poll"
    # Within one discovery interval (here a tick: the test quota is huge) plus the message's own work.
    assert found_after < 5.0
    assert {messages.ACTION_APPROVE, messages.ACTION_REJECT} <= buttons(message)

    await stack.driver.click(BOB, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "Approved by" in text_of(stack.slack.messages[(message["channel"], message["ts"])]), timeout=10)
    [post] = [r for r in stack.precoro.requests if r.method == "POST" and r.path.endswith(f"/{doc.idn}/approve")]
    assert post.token == stack.token_of("bob") and post.status == 200
    assert not [r for r in stack.precoro.requests if r.method == "POST" and r.token == stack.token_of("admin")]


async def test_when_the_step_moves_on_the_next_approver_is_told_and_the_earlier_message_updated(
        stack: LocalStack) -> None:
    await stack.register("bob")
    await stack.register("carol")
    await discovery_on(stack)
    bob, carol = stack.users["bob"].id, stack.users["carol"].id
    doc = stack.precoro.add_document("acme", "invoices", stack.users["alice"].id, [[bob], [carol]])
    first = await dm(stack, BOB, doc.idn)
    assert not dms(stack, CAROL, doc.idn)
    stack.precoro.approve_as(bob, "invoices", doc.idn)  # in Precoro's own UI
    await dm(stack, CAROL, doc.idn)
    await stack.slack.wait_for(
        lambda: messages.ACTION_APPROVE not in buttons(stack.slack.messages[(first["channel"], first["ts"])]),
        timeout=10)


async def test_a_revoked_discovery_token_falls_back_to_polling_and_tells_the_admins(
        polling_stack: LocalStack) -> None:
    stack = polling_stack
    await stack.register("bob")
    await discovery_on(stack)
    await stack.slack.wait_for(lambda: discovery_reads(stack), timeout=10)
    stack.precoro.disable_token(stack.users["admin"].id)
    notice = await stack.slack.wait_for(lambda: next(
        (m for m in stack.slack.messages_in(dm_channel(ADMIN)) if "discovery token" in (m.get("text") or "")),
        None), timeout=10)
    assert "per-approver" not in notice["text"] and "polled again" in notice["text"]
    settings = stack.runtime.store.discovery.get("acme")
    assert settings is not None and settings.approver_id is None
    assert "Discovery: off" in await status(stack)
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await dm(stack, BOB, doc.idn)  # bob's own polls go on


async def test_a_type_without_approval_steps_falls_back_once(stack: LocalStack,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    stack.precoro.stepless_types.add("invoices")
    await stack.register("bob")
    with caplog.at_level(logging.WARNING, logger="bot.sync.discovery"):
        await discovery_on(stack)
        # Timed runs are a duplicate window apart (3 s on the test stack): three runs take ~10 s.
        await stack.slack.wait_for(lambda: len(discovery_reads(stack)) >= 6, timeout=25)
    settings = stack.runtime.store.discovery.get("acme")
    assert settings is not None and settings.fallback_types == {"invoices"}
    warnings = [r for r in caplog.records if "no readable approval steps" in r.getMessage()]
    assert len(warnings) == 1, "logged once, not per run"
    assert not [r for r in discovery_reads(stack, since=warnings[0].created + 1.0) if "invoices" in r.path]
    assert "invoices" in await status(stack)
    # Purchase orders are still discovered.
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await dm(stack, BOB, doc.idn)


async def test_status_lists_the_unregistered_approvers(stack: LocalStack) -> None:
    await stack.register("bob")
    await discovery_on(stack)
    await stack.slack.wait_for(lambda: (s := stack.runtime.store.discovery.get("acme")) and s.unregistered,
                               timeout=10)
    text = await status(stack)
    # PO-1001 waits for alice, INV-1001 for bob and carol: alice and carol have no token.
    [line] = [line for line in text.splitlines() if "unregistered approvers" in line]
    assert "2 documents wait for 2 unregistered approvers" in line
    assert all(as_shown(f"{name}@example.com") in line for name in ("alice", "carol"))
    assert "bob" not in line


async def test_a_document_found_by_both_paths_is_posted_once(polling_stack: LocalStack) -> None:
    stack = polling_stack
    await stack.register("bob")
    await discovery_on(stack)
    created = time.time()
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await dm(stack, BOB, doc.idn)
    # Both sources read it since: bob's own poll and a discovery list.
    await stack.slack.wait_for(lambda: len(bob_polls_since(stack, created)) >= 4
                               and len(discovery_reads(stack, created)) >= 4, timeout=15)
    assert len(dms(stack, BOB, doc.idn)) == 1


async def test_only_admins_set_discovery_and_only_to_a_registered_approver(stack: LocalStack) -> None:
    assert "Only Precoro bot admins" in await stack.driver.ask(BOB, f"discovery <@{BOB}>")
    assert "not a registered" in await stack.driver.ask(ADMIN, f"discovery <@{CAROL}>")
    assert "Usage" in await stack.driver.ask(ADMIN, "discovery")
    await discovery_on(stack)
    assert "is off" in await stack.driver.ask(ADMIN, "discovery off")
    settings = stack.runtime.store.discovery.get("acme")
    assert settings is not None and settings.approver_id is None


@pytest.fixture
def configured_stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **{**NO_SAFETY_NET, "precoro.discovery_user": ADMIN})
    yield running
    running.stop()


async def test_the_config_names_the_default_discovery_user(configured_stack: LocalStack) -> None:
    stack = configured_stack
    await stack.register("bob")
    await dm(stack, BOB, "INV-1001")
    await register_admin(stack)
    await stack.slack.wait_for(lambda: discovery_reads(stack), timeout=10)
    settings = stack.runtime.store.discovery.get("acme")
    assert settings is not None and settings.set_by == "config"
    created = time.time()
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await dm(stack, BOB, doc.idn)
    assert not bob_polls_since(stack, created)


async def test_a_document_withdrawn_in_precoro_retires_the_message(stack: LocalStack) -> None:
    await stack.register("bob")
    await discovery_on(stack)
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    message = await dm(stack, BOB, doc.idn)
    stack.precoro.withdraw("purchaseorders", doc.idn)  # canceled: it left "pending"
    await stack.slack.wait_for(
        lambda: messages.ACTION_APPROVE not in buttons(stack.slack.messages[(message["channel"], message["ts"])]),
        timeout=10)


async def test_removing_the_discovery_approver_turns_discovery_off_and_tells_the_admins(
        polling_stack: LocalStack) -> None:
    stack = polling_stack
    await stack.register("bob")
    await discovery_on(stack)
    await stack.slack.wait_for(lambda: discovery_reads(stack), timeout=10)
    await stack.driver.slash_command(ADMIN, f"remove <@{ADMIN}>")
    await stack.slack.wait_for(lambda: next(
        (m for m in stack.slack.messages_in(dm_channel(ADMIN)) if "is off" in (m.get("text") or "")), None),
        timeout=10)
    settings = stack.runtime.store.discovery.get("acme")
    assert settings is not None and settings.approver_id is None
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]])
    await dm(stack, BOB, doc.idn)  # bob's own polls go on
