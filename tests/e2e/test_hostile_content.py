"""Hostile content end to end: absurd amounts from Precoro and unsendable emails from an admin.

An amount of `1e10000000` once rendered ten million digits (a 13 MB message); an email with a
non-ASCII or control character crashed registration inside httpx. Each now gets a bounded message
or a clear refusal, before any request to Precoro.
"""

from __future__ import annotations

import json

import pytest

from bot.features.admin import messages as admin_messages
from bot.precoro.errors import TokenRejected
from bot.slack import messages
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import dm, opened_view, text_of

ALICE = SLACK_USERS["alice"]
pytestmark = pytest.mark.asyncio
SLACK_MESSAGE_MAX = 40_000  # Slack truncates a message's text past 40,000 characters; ours stay far below

ABSURD = ["1e10000000", "9" * 5000, "NaN", "Infinity", "-Infinity", "-1e-10000000", "0x10", "1_000"]


async def test_absurd_amounts_render_bounded_messages(stack: LocalStack) -> None:
    u = stack.users
    docs = []
    for sum_ in ABSURD:
        items = [{"name": "Widget", "quantity": sum_, "price": sum_}]
        docs.append(stack.precoro.add_document("acme", "invoices", u["admin"].id, [[u["alice"].id]], sum=sum_,
                                               items=items))
    negative_zero = stack.precoro.add_document("acme", "invoices", u["admin"].id, [[u["alice"].id]], sum="-0")
    await stack.register("alice")
    for doc, sum_ in zip(docs, ABSURD, strict=True):
        message = await dm(stack, ALICE, doc.idn)
        size = len(json.dumps(message))
        assert size < SLACK_MESSAGE_MAX, (sum_[:20], size)
        text = text_of(message)
        if sum_ not in ("-1e-10000000",):  # a vanishing amount rounds to zero, which is readable
            assert messages.AMOUNT_UNREADABLE in text, (sum_[:20], text[:500])
        assert "9" * 100 not in text and "0" * 100 not in text
    assert "0.00 USD" in text_of(await dm(stack, ALICE, negative_zero.idn))
    assert "-0.00" not in text_of(await dm(stack, ALICE, negative_zero.idn))
    await stack.driver.open_home(ALICE)
    home = await stack.slack.wait_for(lambda: stack.slack.home_of(ALICE))
    assert len(json.dumps(home)) < 100_000


BAD_EMAILS = ["alic\u00e9@example.com", "alice@exampl\u00e9.com", "ali\x01ce@example.com", "alice@exa\x7fmple.com",
              "ali\u200bce@example.com"]


@pytest.mark.parametrize("email", BAD_EMAILS)
async def test_registration_refuses_an_email_a_header_cannot_carry(stack: LocalStack, email: str) -> None:
    token = stack.users["alice"].token
    before = len(stack.precoro.requests)
    # the one-line command
    answer = await stack.driver.ask(ADMIN, f"register <@{ALICE}> {email} {token}")
    assert answer == admin_messages.invalid_email_text()
    # the form
    await stack.driver.slash_command(ADMIN, f"register <@{ALICE}>")
    view = await opened_view(stack)
    response = await stack.driver.submit_view(ADMIN, view, {
        messages.EMAIL_BLOCK: {messages.EMAIL_ACTION: {"type": "plain_text_input", "value": email}},
        messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": token}}})
    assert response.status_code == 200
    assert response.json() == {"response_action": "errors",
                               "errors": {messages.EMAIL_BLOCK: admin_messages.invalid_email_text()}}
    assert len(stack.precoro.requests) == before, "nothing was sent to Precoro"
    assert stack.runtime.store.approvers.find("acme", stack.driver.team_id, ALICE) is None


async def test_the_client_refuses_credentials_a_header_cannot_carry(stack: LocalStack) -> None:
    """Credentials stored before the check (or typed around it) are refused by the client itself,
    as a wrong token, before the quota gate and without a request."""
    before = len(stack.precoro.requests)
    for email, token in (("alic\u00e9@example.com", stack.users["alice"].token),
                         ("alice@example.com", "tok\n-injected-1234")):
        with pytest.raises(TokenRejected) as refused:
            await stack.servers[-1].call(stack.runtime.tokens.register(
                company="acme", team_id=stack.driver.team_id, user_id=ALICE, email=email, token=token,
                registered_by=ADMIN))
        assert token not in str(refused.value)
    assert len(stack.precoro.requests) == before
