"""Richer document messages end to end: what the approver reads in the DM, and thread replies
when a waiting document changes in Precoro."""

from __future__ import annotations

import pytest

from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, shown, text_of

ALICE, BOB = SLACK_USERS["alice"], SLACK_USERS["bob"]
pytestmark = pytest.mark.asyncio


async def test_the_message_shows_items_fields_attachments_chain_and_note(stack: LocalStack) -> None:
    u = stack.users
    items = [{"name": f"Laptop {i}", "quantity": "1", "price": "1000.00"} for i in range(1, 6)]
    doc = stack.precoro.add_document("acme", "purchaseorders", u["admin"].id, [[u["alice"].id], [u["bob"].id],
                                     [u["carol"].id]], sum="5000.00", supplier="Globex", items=items)
    stack.precoro.edit_document("purchaseorders", doc.idn, note="New hires in January",
                                custom_fields={"Colour": "Grey", "Project": "Apollo", "Department": "Finance",
                                               "Budget": "IT 2026"},
                                attachments=["quote.pdf", "specs.xlsx"])
    stack.precoro.approve_as(u["alice"].id, "purchaseorders", doc.idn)
    await stack.register("bob")
    message = await dm(stack, BOB, doc.idn)
    text = text_of(message)
    # line items: the first three, then a link for the rest
    assert "Laptop 1" in text and "Laptop 3" in text and "Laptop 4" not in text
    assert "|and 2 more in Precoro>" in text
    # the custom fields that matter, first
    assert "*Department*\nFinance" in text and "*Project*\nApollo" in text and "*Budget*\nIT 2026" in text
    # attachments with their links
    # (their names inert: `quote.pdf` would be auto-linked as a host name)
    assert f"<https://files.precoro.test/{doc.id}/1|{messages.safe('quote.pdf', 99)}>" in text
    assert messages.safe("specs.xlsx", 99) in text
    # the chain: who approved, who now, who next
    assert "approved by Alice Archer" in text and "*now*: Bob Baker" in text and "next: Carol Chen" in text
    # the requester's note
    assert "*Dana Admin wrote*\nNew hires in January" in text


async def test_a_changed_amount_and_a_new_comment_come_as_thread_replies(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.edit_document("purchaseorders", "PO-1001", sum="1400.00")

    def replies() -> list[dict]:
        return [m for m in stack.slack.messages_in(dm_channel(ALICE)) if m.get("thread_ts") == message["ts"]]

    [reply] = await stack.slack.wait_for(replies, timeout=10)
    assert "Amount changed: 1,250.00 USD → *1,400.00 USD*" in reply["text"]
    await stack.slack.wait_for(lambda: "1,400.00 USD" in shown(stack, message), timeout=5)

    stack.precoro.edit_document("purchaseorders", "PO-1001", comment_by=stack.users["admin"].id,
                                comment="Shipping included")
    second = await stack.slack.wait_for(lambda: len(replies()) == 2 and replies()[1], timeout=10)
    assert "New comment from Dana Admin: Shipping included" in second["text"]
    top_level = [m for m in stack.slack.messages_in(dm_channel(ALICE)) if "thread_ts" not in m]
    assert len([m for m in top_level if "PO-1001" in m["text"]]) == 1, "no second message"
