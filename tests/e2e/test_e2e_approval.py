"""The whole approval path over real HTTP: signed Slack requests in, Precoro emulator behind."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, METRICS_TOKEN, SLACK_USERS, LocalStack
from tests.support.slack import buttons, dm, opened_view, shown, text_of
from tests.support.stack import posts_to

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


async def test_register_poll_approve(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    assert "Purchase order" in message["text"] and "1,250.00 USD" in text_of(message)
    assert {messages.ACTION_APPROVE, messages.ACTION_REJECT} <= buttons(message)

    response = await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    assert response.status_code == 200

    async def approved() -> dict[str, Any]:
        return await stack.slack.wait_for(
            lambda: (m := stack.slack.messages[(message["channel"], message["ts"])])
            and "Approved by" in text_of(m) and m, timeout=10)

    updated = await approved()
    assert f"<@{ALICE}>" in text_of(updated)
    assert messages.ACTION_APPROVE not in buttons(updated)
    [post] = posts_to(stack, "/purchaseorders/PO-1001/approve")
    assert post.token == stack.token_of("alice") and post.status == 200
    # The chain moved on in Precoro: step 2 (Bob) now holds it.
    assert stack.precoro.document("purchaseorders", "PO-1001").current_step.approver_ids == [stack.users["bob"].id]


async def test_reject_asks_for_a_reason_and_sends_it(stack: LocalStack) -> None:
    await stack.register("bob")
    message = await dm(stack, BOB, "INV-1001")
    await stack.driver.click(BOB, message, messages.ACTION_REJECT)
    view = await opened_view(stack)
    assert view["callback_id"] == messages.REJECT_CALLBACK
    assert not posts_to(stack, "/reject"), "nothing is sent before the reason is given"

    blank = await stack.driver.submit_view(BOB, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "   "}}})
    assert blank.json()["response_action"] == "errors"

    await stack.driver.submit_view(BOB, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Wrong supplier"}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=10)
    [post] = posts_to(stack, "/invoices/INV-1001/reject")
    assert post.token == stack.token_of("bob") and post.form == {"comment": "Wrong supplier"}
    assert "Wrong supplier" in shown(stack, message)


async def test_double_click_sends_one_post(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    first = await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    second = await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    assert first.status_code == second.status_code == 200
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    await stack.slack.wait_for(lambda: stack.slack.ephemerals_for(ALICE), timeout=5)
    assert len(posts_to(stack, "/approve")) == 1


async def test_click_by_another_user_is_refused(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(CAROL, message, messages.ACTION_APPROVE)
    [notice] = await stack.slack.wait_for(lambda: stack.slack.ephemerals_for(CAROL), timeout=5)
    assert f"<@{ALICE}>" in notice["text"] and "only they can decide" in notice["text"]
    assert not posts_to(stack, "/approve")
    assert buttons(stack.slack.messages[(message["channel"], message["ts"])]) >= {messages.ACTION_APPROVE}
    audit = stack.runtime.store.audit.recent("acme")
    assert any(e.actor == CAROL and e.outcome.startswith("refused") for e in audit)


async def test_forged_or_stale_signature_is_refused(stack: LocalStack) -> None:
    body = b"command=%2Fprecoro&text=list&user_id=U0ADMIN&team_id=T0TEAM"
    forged = await stack.driver.send(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert forged.status_code == 401
    stale = await stack.driver.send(body, "application/x-www-form-urlencoded", timestamp=1_600_000_000)
    assert stale.status_code == 401
    assert not stack.slack.calls_to("chat.postMessage")


async def test_non_admin_cannot_register(stack: LocalStack) -> None:
    user = stack.users["alice"]
    response = await stack.driver.slash_command(BOB, f"register <@{ALICE}> {user.email} {user.token}")
    assert "Only Precoro bot admins" in response.text
    assert stack.runtime.store.approvers.list() == []
    assert not [r for r in stack.precoro.requests if r.token == user.token]


async def test_wrong_token_is_refused_and_nothing_is_stored(stack: LocalStack) -> None:
    await stack.driver.slash_command(ADMIN, f"register <@{ALICE}> alice@example.com not-alices-token-123")
    [reply] = await stack.slack.wait_for(lambda: stack.slack.responses, timeout=5)
    assert "did not accept that token" in reply.body["text"]
    assert "not-alices-token-123" not in reply.body["text"]
    assert stack.runtime.store.approvers.list() == []


async def test_register_with_the_form(stack: LocalStack) -> None:
    response = await stack.driver.slash_command(ADMIN, f"register <@{ALICE}>")
    assert response.status_code == 200
    view = await opened_view(stack)
    email_input = next(b for b in view["blocks"] if b.get("block_id") == messages.EMAIL_BLOCK)
    assert email_input["element"].get("initial_value") == "alice@example.com"  # from her Slack profile
    answer = await stack.driver.submit_view(ADMIN, view, {
        messages.EMAIL_BLOCK: {messages.EMAIL_ACTION: {"type": "plain_text_input", "value": "alice@example.com"}},
        messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": stack.token_of("alice")}},
    })
    assert answer.json()["response_action"] == "update"
    await stack.slack.wait_for(lambda: any("is registered" in text_of(v) for v in stack.slack.views.values()),
                               timeout=5)
    [approver] = stack.runtime.store.approvers.list()
    assert approver.slack_user_id == ALICE and stack.token_of("alice") not in approver.token_ciphertext
    await dm(stack, ALICE, "PO-1001")


async def test_list_and_remove(stack: LocalStack) -> None:
    await stack.register("alice")
    listing = await stack.driver.ask(ADMIN, "list")
    assert f"<@{ALICE}>" in listing and stack.token_of("alice") not in listing
    await stack.driver.slash_command(ADMIN, f"remove <@{ALICE}>")
    await stack.slack.wait_for(lambda: any("is removed" in r.body.get("text", "") for r in stack.slack.responses))
    assert stack.runtime.store.approvers.list() == []


async def test_help_for_unknown_or_malformed_commands(stack: LocalStack) -> None:
    for text in ("", "frobnicate", "register alice"):
        response = await stack.driver.slash_command(ADMIN, text)
        assert "/precoro" in response.text, text
    usage = await stack.driver.slash_command(ADMIN, "register <@U0ALICE> only-an-email")
    assert "Usage" in usage.text


async def test_document_decided_elsewhere_retires_the_buttons(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.approve_as(stack.users["alice"].id, "purchaseorders", "PO-1001")  # in Precoro's web app
    await stack.slack.wait_for(
        lambda: messages.ACTION_APPROVE not in buttons(stack.slack.messages[(message["channel"], message["ts"])]),
        timeout=10)
    assert "No longer waiting" in shown(stack, message)


async def test_click_on_a_document_already_decided_in_precoro(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    # Shutting down cancels a running tick: let the post of this message be recorded first.
    await stack.slack.wait_for(lambda: all(m.posted for m in stack.runtime.store.messages.for_approver(1)))
    stack.runtime.scheduler.shutdown()  # no poll corrects the message before the click
    stack.precoro.approve_as(stack.users["alice"].id, "purchaseorders", "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "no longer waits" in shown(stack, message), timeout=10)
    assert [r.status for r in posts_to(stack, "/approve")] == [403]  # step 2 now: not hers


async def test_revoked_token_on_click_tells_the_approver_and_admins(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.disable_token(stack.users["alice"].id)
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    # In the message when the click met the refusal; in the answer to the click when a poll met it
    # first (the click is then refused before anything is sent).
    await stack.slack.wait_for(
        lambda: "refused your API token" in shown(stack, message)
        or any("refused your API token" in (r.body.get("text") or "") for r in stack.slack.responses),
        timeout=10)
    assert not [r for r in stack.precoro.requests if r.method == "POST" and r.applied]
    await stack.slack.wait_for(lambda: any(f"<@{ALICE}>" in (m.get("text") or "")
                                           for m in stack.slack.messages_in(dm_channel(ADMIN))), timeout=5)
    [approver] = stack.runtime.store.approvers.list()
    assert approver.status == "revoked"


async def test_precoro_outage_queues_the_click_and_retries(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject("500", count=1, path_contains="/approve")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(
        lambda: "queued" in shown(stack, message), timeout=10)
    await stack.slack.wait_for(
        lambda: "Approved by" in shown(stack, message), timeout=20)
    assert [r.status for r in posts_to(stack, "/approve")] == [500, 200]
    assert {r.token for r in posts_to(stack, "/approve")} == {stack.token_of("alice")}


async def test_health_readiness_and_metrics(stack: LocalStack) -> None:
    import httpx

    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).json() == {"ready": True}
        assert (await http.get("/metrics")).status_code == 404, "not public"
        ops = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        ready = await http.get("/readyz", headers=ops)
        assert ready.status_code == 200 and ready.json()["database"] is True
        metrics = (await http.get("/metrics", headers=ops)).text
    assert 'precoro_quota_limit{company="acme",window_seconds="86400"} 3e+06' in metrics
    assert 'precoro_decisions_total{action="approve",company="acme",outcome="approved"} 1.0' in metrics
    assert "precoro_detection_delay_seconds_count" in metrics
    assert stack.token_of("alice") not in metrics


async def test_status_shows_admins_the_quota_the_pace_and_a_pause(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.slack.wait_for(lambda: "PO-1001" in str(stack.slack.messages_in(dm_channel(ALICE))))
    mine = await stack.driver.ask(ALICE, "status")
    assert "You are registered for *acme*" in mine and "window" not in mine, "approvers see only their own"

    spent = stack.precoro.quota_used("acme", 3600)
    report = await stack.driver.ask(ADMIN, "status")
    used = int(re.search(r"Precoro requests used .*\b([\d,]+) of 150,000 per hour \(100 kept for clicks\)",
                         report)[1].replace(",", ""))
    assert used >= spent > 0, "every request Precoro counted is in the ledger"
    assert re.search(rf"next check of <@{ALICE}> (now|in )", report)
    verbose = await stack.driver.ask(ADMIN, "status verbose")
    assert re.search(rf"{ALICE} alice@example.com: every [\d.]+ (s|min|h), .* next ", verbose)

    stack.runtime.store.quota.block("acme", stack.runtime.clock.now() + 600, "Route based limiter by minute")
    paused = await stack.driver.ask(ADMIN, "status")
    assert "Precoro asked the bot to wait (Route based limiter by minute)" in paused and "<!date^" in paused
