"""Approve with an optional comment (kept Slack-side), and the reject reason's limits, end to end."""

from __future__ import annotations

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, opened_view, shown
from tests.support.stack import posts_to

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


def comment(text: str) -> dict:
    return {messages.COMMENT_BLOCK: {messages.COMMENT_ACTION: {"type": "plain_text_input", "value": text}}}


def reason(text: str) -> dict:
    return {messages.REASON_BLOCK: {messages.REASON_ACTION: {"type": "plain_text_input", "value": text}}}


async def test_approve_with_a_comment(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE_COMMENT)
    view = await opened_view(stack)
    assert view["callback_id"] == messages.APPROVE_CALLBACK
    assert "does not appear in Precoro" in view["blocks"][1]["hint"]["text"]
    assert not posts_to(stack, "/approve"), "nothing is sent before the form is submitted"

    too_long = await stack.driver.submit_view(ALICE, view, comment("x" * (messages.APPROVE_COMMENT_MAX + 1)))
    assert too_long.json()["response_action"] == "errors"
    await stack.driver.submit_view(ALICE, view, comment("Within the Q4 budget"))
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert f"<@{ALICE}>" in shown(stack, message) and ": Within the Q4 budget" in shown(stack, message)
    [post] = posts_to(stack, "/purchaseorders/PO-1001/approve")
    assert post.token == stack.token_of("alice") and post.form == {}, "Precoro's approve takes no comment"


async def test_approve_with_an_empty_comment_is_a_plain_approval(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE_COMMENT)
    await stack.driver.submit_view(ALICE, await opened_view(stack), comment(""))
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert len(posts_to(stack, "/approve")) == 1


async def test_the_comment_form_is_only_for_the_approver(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(CAROL, message, messages.ACTION_APPROVE_COMMENT)
    [notice] = await stack.slack.wait_for(lambda: stack.slack.ephemerals_for(CAROL), timeout=5)
    assert "only they can decide" in notice["text"]
    assert not stack.slack.calls_to("views.open")


async def test_a_reject_reason_longer_than_precoro_accepts_is_refused_in_the_form(stack: LocalStack) -> None:
    await stack.register("bob")
    message = await dm(stack, BOB, "INV-1001")
    await stack.driver.click(BOB, message, messages.ACTION_REJECT)
    view = await opened_view(stack)
    answer = await stack.driver.submit_view(BOB, view, reason("y" * 801))
    assert answer.json()["response_action"] == "errors"
    assert not posts_to(stack, "/reject")
    assert "Rejected" not in shown(stack, message)
