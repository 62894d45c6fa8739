"""Precoro's answers believed only as far as they are sane (issue 13), counted at the emulator.

- 429s: a far-future `RateLimit-Retry-After`, a huge `Retry-After`, a proxy's bare HTML 429 end
  in pauses capped by the window named (never beyond the day window's reset); bare 429s in a row
  back off exponentially and short; status shows a pause and an admin clears it.
- 401s: one refusal followed by success revokes nothing; two a little apart revoke, and then no
  request with the token until its re-check, which restores it (the approver told) once Precoro
  accepts it again.
- a 403 on one document read says that document is not visible, not that the token is revoked;
- a `/precoro remove` while that approver's poll waits for its quota slot: nothing more is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from bot.precoro import api
from bot.quota.ledger import QuotaPolicy, Window, day_window_reset, retry_at_from_429
from bot.slack import messages
from bot.sync.status import describe
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack
from tests.support.slack import dm, shown
from tests.support.stack import alice_id, posts_to, stop_polling

ALICE = SLACK_USERS["alice"]
NOW = 1_750_000_000.0
POLICY = QuotaPolicy()


# --- the pure rule -----------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "headers", "most"), [
    ({api.RATE_LIMIT_RETRY_AFTER: "9999-12-31 23:59:59 UTC", api.RATE_LIMIT_TYPE: "Limiter by hour"}, {}, 3600),
    ({api.RATE_LIMIT_RETRY_AFTER: "9999-12-31 23:59:59 UTC", api.RATE_LIMIT_TYPE: "Limiter by minute"}, {}, 60),
    ({api.RATE_LIMIT_RETRY_AFTER: "9999-12-31 23:59:59 UTC"}, {}, 86400),
    ({}, {"Retry-After": "31536000"}, 86400),
    ({}, {}, 2),  # a bare 429: a short back-off
])
def test_a_429_pause_is_capped_by_its_window_and_the_day(body: dict, headers: dict, most: float) -> None:
    at = retry_at_from_429(body, headers, NOW, POLICY)
    assert NOW + 1 <= at <= NOW + most + POLICY.margin_seconds


def test_a_sane_429_is_believed() -> None:
    body = {api.RATE_LIMIT_RETRY_AFTER: api.format_retry_after(NOW + 30), api.RATE_LIMIT_TYPE: "Limiter by hour"}
    assert retry_at_from_429(body, {}, NOW, POLICY) == NOW + 30 + POLICY.margin_seconds


def test_the_day_cap_is_the_oldest_counted_spend_leaving_the_rolling_day() -> None:
    from bot.quota.ledger import Lane, Spend
    spends = [Spend(NOW - 80000, Lane.POLL), Spend(NOW - 10, Lane.POLL), Spend(NOW - 90000, Lane.POLL)]
    reset = day_window_reset(spends, POLICY, NOW)
    assert reset == NOW - 80000 + 86400 + POLICY.margin_seconds
    body = {api.RATE_LIMIT_RETRY_AFTER: "9999-12-31 23:59:59 UTC", api.RATE_LIMIT_TYPE: "Limiter by day"}
    assert retry_at_from_429(body, {}, NOW, POLICY, day_reset_at=reset) == reset


def test_bare_429s_in_a_row_back_off_exponentially_up_to_minutes() -> None:
    waits = [retry_at_from_429({}, {}, NOW, POLICY, bare_streak=n) - NOW for n in range(1, 12)]
    assert waits[:4] == [2, 4, 8, 16] and max(waits) == 300
    assert Window(1, 1)  # the policy's windows are untouched by a bare 429


# --- over real HTTP ---------------------------------------------------------------------------

@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url)
    running.runtime.tokens.confirm_after = 0.6  # "a little later", on the stack's fast clock
    yield running
    running.stop()


def with_token(stack: LocalStack, name: str) -> list:
    return [r for r in stack.precoro.requests if r.token == stack.token_of(name)]


async def status_report(stack: LocalStack) -> str:
    """What `precoro-bot status` prints for the company (asked in the bot's own event loop)."""
    company = stack.runtime.config.companies[0]
    return "\n".join(describe(await stack.servers[-1].call(stack.runtime.scheduler.snapshot(company))))


HTML_429 = "<html><body><h1>429 Too Many Requests</h1>nginx</body></html>"


@pytest.mark.asyncio
@pytest.mark.parametrize(("case", "status_body", "headers", "most"), [
    ("far-future RateLimit-Retry-After",
     {"error": api.RATE_LIMIT_ERROR, api.RATE_LIMIT_TYPE: api.RATE_LIMIT_TYPE_HOUR,
      api.RATE_LIMIT_RETRY_AFTER: "9999-12-31 23:59:59 UTC"}, {}, 3600),
    ("huge Retry-After", {"message": "slow down"}, {"Retry-After": "31536000"}, 86400),
    ("bare HTML 429", HTML_429, {}, 2),
])
async def test_429_pause_is_capped_shown_and_cleared_by_an_admin(stack: LocalStack, case: str, status_body: object,
                                                                 headers: dict, most: float) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject_answer(429, status_body, headers=headers, count=1, token=stack.token_of("alice"))
    await stack.slack.wait_for(lambda: stack.precoro.too_many("acme") == 1, timeout=10)
    at = time.time()
    paused_until, _ = await stack.slack.wait_for(
        lambda: g if (g := stack.runtime.store.quota.gate("acme"))[0] > 0 else None, timeout=5)
    assert at <= paused_until <= at + most + 1, (case, paused_until - at)
    if most > 60:
        assert "paused by Precoro until" in await status_report(stack)
        before = len(with_token(stack, "alice"))
        await asyncio.sleep(1.0)
        assert len(with_token(stack, "alice")) == before, "nothing is sent while paused"
        assert "Only Precoro bot admins" in await stack.driver.ask(ALICE, "resume")
        answer = await stack.driver.ask(ADMIN, "resume")
        assert "pause of *acme* is cleared" in answer
        assert "paused by Precoro" not in await status_report(stack)
    await stack.slack.wait_for(lambda: [r for r in with_token(stack, "alice") if r.status == 200 and r.at > at],
                               timeout=10)


@pytest.mark.asyncio
async def test_bare_429s_in_a_row_back_off_exponentially_and_short(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject_answer(429, HTML_429, count=3, token=stack.token_of("alice"))
    def refused() -> list[float]:
        return [r.at for r in with_token(stack, "alice") if r.status == 429]

    ok = await stack.slack.wait_for(lambda: len(refused()) == 3 and next(
        (r for r in with_token(stack, "alice") if r.status == 200 and r.at > refused()[2]), None), timeout=30)
    at = refused()
    gaps = [at[1] - at[0], at[2] - at[1], ok.at - at[2]]
    for gap, wait in zip(gaps, (2, 4, 8), strict=True):
        assert wait <= gap <= wait + 2, gaps


@pytest.mark.asyncio
async def test_one_401_followed_by_success_revokes_nothing(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    stack.precoro.inject_answer(401, {"message": "Invalid credentials"}, count=1, token=stack.token_of("alice"))
    await stack.slack.wait_for(lambda: any(r.status == 401 for r in with_token(stack, "alice")), timeout=10)
    store = stack.runtime.store
    await stack.slack.wait_for(lambda: any(e.action == "token.confirmed" for e in store.audit.recent("acme")),
                               timeout=10)
    assert store.approvers.get(alice_id(stack)).status == "active"
    assert not any(e.action == "token.revoked" for e in store.audit.recent("acme"))
    said = " ".join(str(m) for m in stack.slack.messages_in(dm_channel(ALICE)))
    assert "refused your API token" not in said
    statuses = [r.status for r in with_token(stack, "alice")]
    i = statuses.index(401)
    assert statuses[i + 1] == 200  # the one confirming request, accepted
    await stack.slack.wait_for(lambda: len(with_token(stack, "alice")) > i + 2, timeout=10)  # polls go on


@pytest.mark.asyncio
async def test_two_401s_revoke_then_silence_until_the_recheck_restores_it(stack: LocalStack) -> None:
    stack.runtime.tokens.recheck_after = 3.0
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    alice = stack.users["alice"]
    stack.precoro.disable_token(alice.id)
    store = stack.runtime.store
    await stack.slack.wait_for(lambda: store.approvers.get(alice_id(stack)).status == "revoked", timeout=10)
    refused = [r for r in with_token(stack, "alice") if r.status == 401]
    assert len(refused) == 2 and refused[1].at - refused[0].at >= 0.5, [r.at for r in refused]
    await asyncio.sleep(1.5)
    assert [r for r in with_token(stack, "alice") if r.at > refused[0].at] == [refused[1]], \
        "exactly one request (the confirmation) after the first refusal, none after the second"
    await stack.slack.wait_for(lambda: any("refused your API token" in str(m)
                                           for m in stack.slack.messages_in(dm_channel(ALICE))), timeout=5)

    alice.active = True  # Precoro accepts the token again
    await stack.slack.wait_for(lambda: store.approvers.get(alice_id(stack)).status == "active", timeout=15)
    checks = [r for r in with_token(stack, "alice") if r.at > refused[1].at]
    assert checks[0].status == 200 and checks[0].at - refused[1].at >= 2.5  # the re-check, when due
    await stack.slack.wait_for(lambda: any("accepts your API token again" in str(m)
                                           for m in stack.slack.messages_in(dm_channel(ALICE))), timeout=5)
    assert any(e.action == "token.restored" for e in store.audit.recent("acme"))


@pytest.mark.asyncio
async def test_a_403_on_one_document_read_does_not_revoke_the_token(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stop_polling(stack)
    stack.runtime.store.approvers.mark_polled(alice_id(stack), stack.runtime.clock.now() - 3600, 0)
    stack.precoro.inject_answer(403, {"message": "Access denied"}, count=1, path_contains="/purchaseorders/PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "No longer waiting for you" in shown(stack, message), timeout=10)
    assert stack.runtime.store.approvers.get(alice_id(stack)).status == "active"
    assert not posts_to(stack, "/approve")
    assert not any(e.action in ("token.revoked",) for e in stack.runtime.store.audit.recent("acme"))


@pytest.mark.asyncio
async def test_remove_while_the_poll_waits_for_its_slot_sends_nothing_more(database_url: str) -> None:
    running = LocalStack.start(database_url)
    try:
        stack = running
        await stack.register("alice")
        await dm(stack, ALICE, "PO-1001")
        store = stack.runtime.store
        store.quota.block("acme", stack.runtime.clock.now() + 1.8, "test: a slot 1.8 s away")  # < the poll wait
        await asyncio.sleep(1.0)  # the next poll is now waiting for the slot
        answer = await stack.driver.slash_command(ADMIN, f"remove <@{ALICE}>")
        assert answer.status_code == 200
        await stack.slack.wait_for(lambda: store.approvers.find("acme", TEAM, ALICE) is None, timeout=5)
        removed = time.time()
        await asyncio.sleep(2.5)  # past the slot
        late = [r for r in with_token(stack, "alice") if r.at >= removed]
        assert late == [], late
    finally:
        running.stop()
