"""The real bot against a Precoro that answers in the other shapes public evidence shows
(`tests/contract/precoro/`): lists paged by `current_page`/`total_pages` only (older answers),
or with no pagination at all; documents with every collection wrapped in `{"data": [...]}`, or
supplier, creator, location and current step as bare strings; sums as JSON numbers.

Per-approver polls are slowed to one an hour: the new document reaches bob through discovery's
list, on its second page, so the page after the first must be read in that shape.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.precoro import api
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.stack import discovery_on, discovery_reads

pytestmark = pytest.mark.asyncio

BOB = SLACK_USERS["bob"]
FIRST_PAGE = 200  # discovery's first page size (`bot.sync.discovery_urls.PAGE_SIZES`)

SHAPES = [
    {"list_pagination": "pages", "document_shape": "wrapped", "sums": "number"},
    {"list_pagination": "none", "document_shape": "strings", "sums": "number"},
]


@pytest.fixture(params=SHAPES, ids=lambda s: "-".join(s.values()))
def stack(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[LocalStack]:
    running = LocalStack.start(f"sqlite:///{tmp_path / 'shapes.db'}", emulator=request.param,
                               **{"scheduler.min_poll_interval_seconds": 3600})
    yield running
    running.stop()


def fill_first_page(stack: LocalStack) -> None:
    """A first page of purchase orders that wait for carol (not registered: no DM for anyone)."""
    carol, admin = stack.users["carol"].id, stack.users["admin"].id
    for _ in range(FIRST_PAGE):
        stack.precoro.add_document("acme", "purchaseorders", admin, [[carol]])


async def test_a_document_on_the_second_page_reaches_bob_with_its_supplier_and_amount(stack: LocalStack) -> None:
    await stack.register("bob")
    await stack.slack.wait_for(lambda: any("INV-1001" in (m.get("text") or "")
                                           for m in stack.slack.messages_in(dm_channel(BOB))), timeout=10)
    await discovery_on(stack)
    settings = stack.runtime.store.discovery.get
    await stack.slack.wait_for(lambda: (s := settings("acme")) is not None and s.cursor is not None, timeout=20)
    since = time.time()
    fill_first_page(stack)  # changed since discovery's last run: its next list has them first
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["alice"].id, [[stack.users["bob"].id]],
                                     supplier="Globex Industrial", sum="1234.50")
    message = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages_in(dm_channel(BOB)) if doc.idn in str(m)), None), timeout=30)
    assert "Globex Industrial" in str(message) and "1,234.50" in str(message)
    second = [r for r in discovery_reads(stack, since) if r.path == "/purchaseorders"
              and f"{api.PAGE_PARAM}=2" in r.query]
    assert second, "the document was on the second page of discovery's list"
