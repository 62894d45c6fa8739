"""Document numbers are data: every IDN in a Precoro URL (and in "Open in Precoro") is one
percent-encoded path segment, so a click reaches its own document and no other.

The emulator routes like Precoro: it splits the path as sent, then decodes each segment, so an
unencoded `PO/2024/17` is a 404 and an unencoded `PO-7/../../invoices/INV-1002` (httpx collapses
the `..`) lands on the invoice; these tests fail without the encoding."""

from __future__ import annotations

import httpx
import pytest

from bot.precoro import api
from bot.slack import messages
from precoro_devkit.emulator.precoro import segments
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import buttons, shown

ALICE = SLACK_USERS["alice"]
PATHOLOGICAL = ("PO/2024/17", "PO-7/../../invoices/INV-1002", "..", ".", "PO 12 élan ✓", "a%2Fb?c#d")


async def headed(stack: LocalStack, header: str) -> dict:
    """Alice's message whose header is exactly `header` (IDNs like ".." are in many texts)."""
    def find() -> dict | None:
        return next((m for m in stack.slack.messages_in(dm_channel(ALICE))
                     if any(b.get("type") == "header" and b["text"]["text"] == header for b in m.get("blocks") or [])),
                    None)
    return await stack.slack.wait_for(find, timeout=10)


@pytest.mark.parametrize("idn", PATHOLOGICAL)
def test_each_idn_is_one_segment_that_httpx_sends_as_built_and_the_emulator_decodes_back(idn: str) -> None:
    built = api.approve_path("purchaseorders", idn)
    sent = httpx.Request("POST", httpx.URL("http://precoro.test" + built)).url.raw_path.decode()
    assert sent == built  # httpx neither re-normalises `%2E%2E` nor decodes anything
    assert segments(sent) == ["purchaseorders", idn, "approve"]


def test_dot_segments_and_slashes_are_encoded() -> None:
    assert api.document_path("purchaseorders", "..") == "/purchaseorders/%2E%2E"
    assert api.document_path("purchaseorders", ".") == "/purchaseorders/%2E"
    assert api.reject_path("invoices", "PO/2024/17") == "/invoices/PO%2F2024%2F17/reject"
    assert api.document_path("invoices", "INV-1002") == "/invoices/INV-1002"  # ordinary IDNs unchanged
    assert api.web_link("https://app.precoro.test/", "purchaseorders", "PO/2024/17") == \
        "https://app.precoro.test/purchase/order/PO%2F2024%2F17"
    with pytest.raises(ValueError):
        api.document_path("invoices", "")


@pytest.mark.asyncio
async def test_approve_on_pathological_idns_reaches_only_its_own_document(stack: LocalStack) -> None:
    precoro, users = stack.precoro, stack.users
    alice, admin = users["alice"].id, users["admin"].id
    # The document a traversal would reach instead: it waits for Alice too.
    target = precoro.add_document("acme", "invoices", admin, [[alice]], idn="INV-1002")
    docs = [precoro.add_document("acme", "purchaseorders", admin, [[alice]], idn=idn, sum=f"{n + 1}1.00")
            for n, idn in enumerate(PATHOLOGICAL)]
    await stack.register("alice")
    shown_messages = {idn: await headed(stack, f"Purchase order {idn}") for idn in PATHOLOGICAL}
    for idn, message in shown_messages.items():
        link = api.web_link("https://app.precoro.test", "purchaseorders", idn)
        assert link in str(message["blocks"]), f"'Open in Precoro' for {idn!r} is encoded"
        assert (await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)).status_code == 200
    for message in shown_messages.values():
        await stack.slack.wait_for(lambda m=message: "Approved by" in shown(stack, m), timeout=10)
        assert messages.ACTION_APPROVE not in buttons(stack.slack.messages[(message["channel"], message["ts"])])

    posts = [r for r in precoro.requests if r.method == "POST"]
    reached = sorted(tuple(segments(r.path)[:2]) for r in posts)
    print(f"\nIDN paths: {len(posts)} POSTs for {len(PATHOLOGICAL)} clicks; reached {reached}")
    assert reached == sorted(("purchaseorders", idn) for idn in PATHOLOGICAL)
    assert all(r.status == 200 and r.applied for r in posts)
    assert [d.status for d in docs] == [api.STATUS_APPROVED] * len(docs)
    assert target.status == api.STATUS_PENDING and not target.steps[0].approved_by, "the invoice was not touched"
