"""A long queue on the Home tab, a page at a time.

Before paging, the Home listed the 40 oldest documents and said "and N more": the rest could not
be reached from Slack. Now it shows HOME_PAGE_SIZE documents a page with Previous / Next. The
queue here spans three pages, so the middle page carries both buttons, and every click on the
Home goes through the Slack driver, which refuses (like Slack and our server) a payload over
256 KB: the suppliers' names are long on purpose.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from bot.features.home import messages as home_messages
from bot.slack import messages
from bot.slack.notifier import SlackUnavailable
from precoro_devkit.emulator.stack import SLACK_USERS, TEAM, LocalStack
from tests.support.slack import home, home_text, refs_on
from tests.support.stack import posts_to, quiet

ALICE = SLACK_USERS["alice"]
pytestmark = pytest.mark.asyncio
ADDED = 45
QUEUE = ADDED + 1  # the stack's own PO-1001 waits for Alice too
PAGE = home_messages.HOME_PAGE_SIZE


def idn_of(view: dict[str, Any], ref: str) -> str:
    """The document number the user reads next to the checkbox of `ref`."""
    [block] = [b for b in view["blocks"] if b.get("block_id") == messages.HOME_DOC_BLOCK + ref]
    found = re.search(r"Purchase order (PO-\d+)", block["text"]["text"])
    assert found, block["text"]["text"]
    return found.group(1)


def approve_posts(stack: LocalStack) -> list[tuple[str, str]]:
    return [(r.path, r.token) for r in posts_to(stack, "/approve") if r.status == 200]


async def test_a_long_home_pages_and_its_clicks_decide_documents(stack: LocalStack) -> None:
    users = stack.users
    for i in range(ADDED):
        stack.precoro.add_document("acme", "purchaseorders", users["admin"].id, [[users["alice"].id]],
                                   sum=f"{i + 1}.00", supplier=f"Supplier {i} " + "with a very long name " * 12)
    await stack.register("alice")
    await stack.slack.wait_for(lambda: len(stack.runtime.store.messages.queue(
        [a.id for a in stack.runtime.store.approvers.list()])) >= QUEUE, timeout=60)
    await quiet(stack)
    alice = stack.token_of("alice")

    await stack.driver.open_home(ALICE)
    first = await home(stack, ALICE, f"Waiting for your approval ({QUEUE})")
    assert len(first["blocks"]) <= home_messages.VIEW_BLOCKS_MAX
    assert f"Showing 1–{PAGE} of {QUEUE}" in home_text(first)  # noqa: RUF001
    assert len(refs_on(first, messages.ACTION_APPROVE)) == PAGE

    # Next: the middle page, with Previous and Next.
    response = await stack.driver.click_in_view(ALICE, first, messages.ACTION_HOME_PAGE, value="1")
    assert response.status_code == 200
    second = await home(stack, ALICE, f"Showing {PAGE + 1}–{2 * PAGE} of {QUEUE}")  # noqa: RUF001
    assert {"Previous", "Next"} <= set(home_text(second).splitlines())
    on_second = refs_on(second, messages.ACTION_APPROVE)
    assert len(on_second) == PAGE and not set(on_second) & set(refs_on(first, messages.ACTION_APPROVE))

    # Approve one document of page 2.
    target = on_second[0]
    idn = idn_of(second, target)
    response = await stack.driver.click_in_view(ALICE, second, messages.ACTION_APPROVE, value=target)
    assert response.status_code == 200
    page = await home(stack, ALICE, f"Waiting for your approval ({QUEUE - 1})")
    assert approve_posts(stack) == [(f"/purchaseorders/{idn}/approve", alice)]
    assert f"Showing {PAGE + 1}–{2 * PAGE} of {QUEUE - 1}" in home_text(page), "still on page 2"  # noqa: RUF001
    assert target not in refs_on(page, messages.ACTION_APPROVE), "out of the queue"
    assert f"Approved *<https://app.precoro.test/purchase/order/{idn}|Purchase order {idn}>*" in home_text(page), \
        "and in Decided by me"

    # Tick two documents of the page shown and approve them together.
    ticked = refs_on(page, messages.ACTION_APPROVE)[:2]
    ticked_idns = [idn_of(page, ref) for ref in ticked]
    values = {messages.HOME_DOC_BLOCK + ref: {messages.ACTION_SELECT: {
        "type": "checkboxes", "selected_options": [{"value": ref, "text": {"type": "plain_text", "text": "Select"}}]}}
        for ref in ticked}
    response = await stack.driver.click_in_view(ALICE, page, messages.ACTION_BULK_APPROVE, values=values)
    assert response.status_code == 200
    after = await home(stack, ALICE, "2 of 2 approved")
    text = home_text(after)
    assert f"Waiting for your approval ({QUEUE - 3})" in text
    assert not set(ticked) & set(refs_on(after, messages.ACTION_APPROVE))
    assert approve_posts(stack)[1:] == [(f"/purchaseorders/{i}/approve", alice) for i in ticked_idns]

    # Previous: back to the oldest documents.
    response = await stack.driver.click_in_view(ALICE, after, messages.ACTION_HOME_PAGE_BACK, value="0")
    assert response.status_code == 200
    back = await home(stack, ALICE, f"Showing 1–{PAGE} of {QUEUE - 3}")  # noqa: RUF001
    assert refs_on(back, messages.ACTION_APPROVE) == refs_on(first, messages.ACTION_APPROVE)


async def test_a_view_slack_refuses_is_logged_with_slacks_reason(stack: LocalStack,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A Home Slack refuses leaves the user on the Home they had; the log says why, not just
    "invalid_arguments" (that bare word hid the Previous / Next buttons sharing one action id)."""
    twice = [{"type": "button", "action_id": "same", "text": {"type": "plain_text", "text": t}} for t in "ab"]
    view = {"type": "home", "blocks": [{"type": "actions", "block_id": "b", "elements": twice}]}
    with caplog.at_level(logging.WARNING, logger="bot.slack.notifier"), pytest.raises(SlackUnavailable):
        await stack.servers[-1].call(stack.runtime.notifier.publish_home(TEAM, ALICE, view))
    assert ("views.publish failed: invalid_arguments ([ERROR] duplicate action_id 'same' in block 0 "
            "[json-pointer:/view/blocks/0/elements/1/action_id])") in caplog.text
    assert stack.slack.home_of(ALICE) is None
