"""Secrets never leak: a representative run with every logger at DEBUG, everything captured and
scanned for every Precoro token, the signing secret, the bot token and the encryption key."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot import redact
from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack
from tests.support.slack import dm, shown

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
WRONG_TOKEN = "not-carols-token-8c1f2e"
LOGGERS = ("", "bot", "slack_bolt", "slack_sdk", "httpx", "httpcore", "uvicorn", "uvicorn.error",
           "uvicorn.access", "apscheduler", "apscheduler.scheduler", "sqlalchemy", "asyncio")


@pytest.fixture
def stack(database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url)
    for name in LOGGERS:  # after start: uvicorn and the scheduler set their own levels then
        caplog.set_level(logging.DEBUG, logger=name)
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    yield running
    running.stop()


def scan_targets(stack: LocalStack, caplog: pytest.LogCaptureFixture, answers: list[str]) -> dict[str, str]:
    """Everything that left the bot or was written by anyone, as text, by where it was seen."""
    logs = [caplog.text]
    for record in caplog.records:
        logs += [record.getMessage(), record.exc_text or "", str(record.args or "")]
    slack = stack.slack
    calls = [json.dumps(c.args, default=str) for c in slack.calls]  # not c.token: that is the bot token's place
    shown_now = [json.dumps(m, default=str) for m in slack.messages.values()]
    shown_now += [json.dumps(v, default=str) for v in slack.views.values()]
    shown_now += [json.dumps(e, default=str) for u in (*SLACK_USERS.values(), ADMIN) for e in slack.ephemerals_for(u)]
    replies = [json.dumps(r.body, default=str) for r in slack.responses]
    # What went to Precoro besides the token header: a token in a URL or a form would leak.
    precoro = [f"{r.method} {r.path}?{r.query} {r.form}" for r in stack.precoro.requests]
    return {"logs": "\n".join(logs), "slack calls": "\n".join(calls), "slack state": "\n".join(shown_now),
            "slack replies": "\n".join(replies), "precoro requests": "\n".join(precoro),
            "http answers": "\n".join(answers)}


@pytest.mark.asyncio
async def test_no_secret_reaches_logs_slack_or_http_answers(stack: LocalStack,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    answers: list[str] = []
    driver, users = stack.driver, stack.users
    carol_doc = stack.precoro.add_document("acme", "invoices", users["admin"].id, [[users["carol"].id]],
                                           sum="99.00")

    # Register: typed (Alice), with the form (Bob), a wrong token (Carol), then Carol's right one.
    answers.append((await stack.driver.slash_command(
        ADMIN, f"register <@{ALICE}> {users['alice'].email} {users['alice'].token}")).text)
    answers.append((await driver.slash_command(ADMIN, f"register <@{BOB}>")).text)
    await stack.slack.wait_for(lambda: stack.slack.views, timeout=5)
    view = list(stack.slack.views.values())[-1]
    answers.append((await driver.submit_view(ADMIN, view, {
        messages.EMAIL_BLOCK: {messages.EMAIL_ACTION: {"type": "plain_text_input", "value": users["bob"].email}},
        messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": users["bob"].token}},
    })).text)
    wrong = f"register <@{CAROL}> {users['carol'].email} {WRONG_TOKEN}"
    answers.append((await driver.slash_command(ADMIN, wrong)).text)
    await stack.slack.wait_for(lambda: any("did not accept" in r.body.get("text", "") for r in stack.slack.responses))
    # A replayed (stale) typed registration: Bolt refuses it, and logs its raw body while doing so.
    body = (f"command=%2Fprecoro&team_id={TEAM}&user_id={ADMIN}&text=register+%3C%40{CAROL}%3E+"
            f"carol%40example.com+{users['carol'].token}").encode()
    stale = await driver.send(body, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 3600)
    assert stale.status_code == 401
    answers.append(stale.text)
    await stack.register("carol")
    for user in (ALICE, BOB, CAROL):
        await stack.slack.wait_for(lambda user=user: stack.runtime.store.approvers.find("acme", TEAM, user))

    # Poll, approve (Alice), reject with a reason (Bob), a revoked token (Carol).
    alice_po = await dm(stack, ALICE, "PO-1001")
    bob_inv = await dm(stack, BOB, "INV-1001")
    carol_inv = await dm(stack, CAROL, carol_doc.idn)
    answers.append((await driver.click(ALICE, alice_po, messages.ACTION_APPROVE)).text)
    answers.append((await driver.click(BOB, bob_inv, messages.ACTION_REJECT)).text)
    await stack.slack.wait_for(lambda: any(v.get("callback_id") == messages.REJECT_CALLBACK
                                           for v in stack.slack.views.values()), timeout=5)
    reject_view = next(v for v in stack.slack.views.values() if v.get("callback_id") == messages.REJECT_CALLBACK)
    answers.append((await driver.submit_view(BOB, reject_view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Wrong amount"}}})).text)
    stack.precoro.disable_token(users["carol"].id)
    answers.append((await driver.click(CAROL, carol_inv, messages.ACTION_APPROVE)).text)
    answers.append((await driver.click(ALICE, bob_inv, messages.ACTION_APPROVE)).text)  # not hers
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, alice_po), timeout=10)
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, bob_inv), timeout=10)
    await stack.slack.wait_for(lambda: "refused your API token" in shown(stack, carol_inv), timeout=10)
    await stack.slack.wait_for(lambda: any(f"<@{CAROL}>" in (m.get("text") or "")
                                           for m in stack.slack.messages_in(dm_channel(ADMIN))), timeout=5)

    # Admin views and the HTTP endpoints.
    for text in ("list", "status", "audit 50", "help"):
        answers.append(await driver.ask(ADMIN, text))
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        for path in ("/healthz", "/readyz", "/metrics"):
            answers.append((await http.get(path)).text)
    await stack.slack.wait_for(lambda: len(stack.slack.responses) >= 4, timeout=5)

    secrets = {f"token of {name}": user.token for name, user in users.items()}
    secrets |= {"signing secret": stack.signing_secret, "bot token": stack.runtime.config.slack.bot_token,
                "encryption key": stack.key, "wrong token typed by the admin": WRONG_TOKEN}
    targets = scan_targets(stack, caplog, answers)
    assert len(caplog.records) > 200, "logging at DEBUG captured the run"
    assert any(r.name.startswith("slack_sdk") for r in caplog.records)
    assert any("Invalid request signature" in r.getMessage() for r in caplog.records)
    leaks = [f"{what} in {where}" for what, value in secrets.items() for where, text in targets.items()
             if value in text]
    assert leaks == []
    # And the scan itself is not vacuous: the tokens did reach Precoro, in the header only.
    assert {r.token for r in stack.precoro.requests} >= {users[n].token for n in ("alice", "bob", "carol")}


def test_redaction_of_known_values_and_token_fields() -> None:
    redact.remember("s3cr3t-value-123")
    cases: dict[str, Any] = {
        "x s3cr3t-value-123 y": "x [redacted] y",
        "a=s3cr3t-value-123": "a=[redacted]",
        "body=token=abc&text=hello": "body=token=[redacted]&text=hello",
        "text=register+%3C%40U1%3E+a%40b.c+tok-123456789&x=1": "text=register+[redacted]&x=1",
        "register <@U0A|alice> alice@example.com tok-123456789": "register <@U0A|alice> alice@example.com [redacted]",
        "{'X-AUTH-TOKEN': 'tok-abc'}": "{'X-AUTH-TOKEN': '[redacted]'}",
        'Authorization: Bearer xoxb-1-2': "Authorization: Bearer [redacted]",
        "a xoxp-12-ab b": "a [redacted] b",
        '"token_input": {"type": "plain_text_input", "value": "tok-999"}':
            '"token_input": {"type": "plain_text_input", "value": "[redacted]"}',
        "Invalid request signature detected (signature: v0=1, timestamp: 1, body: text=anything)":
            "Invalid request signature detected (signature: v0=1, timestamp: 1, body: [redacted])",
        "nothing secret here: approve purchaseorders/PO-1": "nothing secret here: approve purchaseorders/PO-1",
    }
    for raw, expected in cases.items():
        assert redact.redact(raw) == expected, raw
