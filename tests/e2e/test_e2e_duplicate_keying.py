"""Smoke over real HTTP in each reading of "identical GET" (issue 15): the emulator keys
duplicates by token + URL, company + URL, or route (path, any query), the config names the same
reading, and registration, discovery, posting and a click all go through without one 429."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, text_of
from tests.support.stack import NO_SAFETY_NET, discovery_on

BOB, CAROL = SLACK_USERS["bob"], SLACK_USERS["carol"]

pytestmark = pytest.mark.asyncio


@pytest.fixture(params=["token", "company", "route"])
def keyed_stack(request: pytest.FixtureRequest, database_url: str) -> Iterator[LocalStack]:
    keying = request.param
    running = LocalStack.start(database_url, emulator={"duplicate_keying": keying},
                               **{**NO_SAFETY_NET, "quota.duplicate_keying": keying})
    yield running
    running.stop()


async def test_register_discover_post_and_click_without_a_429(keyed_stack: LocalStack) -> None:
    stack = keyed_stack
    assert stack.runtime.clients["acme"].route_keyed == (stack.precoro.duplicate_keying == "route")
    await stack.register("bob")
    await stack.register("carol")
    await discovery_on(stack)
    bob, carol, alice = stack.users["bob"].id, stack.users["carol"].id, stack.users["alice"].id
    first = stack.precoro.add_document("acme", "purchaseorders", alice, [[bob], [carol]])
    second = stack.precoro.add_document("acme", "invoices", alice, [[carol]])
    message = await dm(stack, BOB, first.idn, timeout=30)
    await dm(stack, CAROL, second.idn, timeout=30)

    await stack.driver.click(BOB, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "Approved by" in text_of(stack.slack.messages[(message["channel"], message["ts"])]), timeout=30)
    await dm(stack, CAROL, first.idn, timeout=30)  # the next step, found by discovery
    third = stack.precoro.add_document("acme", "purchaseorders", alice, [[bob]])
    await dm(stack, BOB, third.idn, timeout=30)

    assert stack.precoro.too_many() == 0
    [post] = [r for r in stack.precoro.requests if r.method == "POST" and r.path.endswith(f"/{first.idn}/approve")]
    assert post.token == stack.token_of("bob") and post.status == 200
