"""Fifty registrations in a minute: every token check waits for its turn and succeeds, and polls
keep going out between them (issue 14: checks used to fail "try again" and stop polls)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from precoro_devkit.emulator.stack import ADMIN, TEAM, LocalStack

pytestmark = pytest.mark.asyncio
HOW_MANY = 50
POLL_PAGE_SIZES = {"200", "100", "50"}  # what polls ask for; token checks read small pages


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    stack = LocalStack.start(database_url)
    try:
        yield stack
    finally:
        stack.stop()


def _per_page(query: str) -> str:
    return (parse_qs(query).get("per_page") or [""])[0]


async def test_fifty_quick_registrations_all_succeed_and_polls_go_out_between_them(stack: LocalStack) -> None:
    await stack.register("alice")  # an approver whose waiting list the bot polls meanwhile
    stack.precoro.add_document("acme", "invoices", stack.users["admin"].id, [[stack.users["alice"].id]])
    people = []
    for i in range(HOW_MANY):
        user_id, email = f"U0LOAD{i:03d}", f"load{i}@example.com"
        em = stack.precoro.add_user("acme", f"Load Tester {i}", email, f"acme-load-token-{i:03d}")
        stack.slack.add_user(user_id, f"Load Tester {i}", email)
        people.append((user_id, email, em.token))

    async def register(user_id: str, email: str, token: str) -> str:
        return await stack.driver.ask(ADMIN, f"register <@{user_id}> {email} {token}")

    started = len(stack.precoro.requests)
    acks = await asyncio.gather(*(register(*p) for p in people))
    assert all("Checking the token" in a for a in acks), acks[:3]  # progress at once, the result follows

    def registered() -> int:
        return sum(1 for user_id, _, _ in people if stack.runtime.store.approvers.find("acme", TEAM, user_id))

    await stack.slack.wait_for(lambda: registered() == HOW_MANY, timeout=180)
    await stack.slack.wait_for(lambda: sum(1 for r in stack.slack.responses
                                           if "is registered with Precoro account" in r.body.get("text", ""))
                               >= HOW_MANY, timeout=30)
    replies = [r.body.get("text", "") for r in stack.slack.responses]
    assert not [t for t in replies if "could not be asked" in t], "no registration was told to try again"

    sent = [r for r in stack.precoro.requests[started:] if r.method == "GET" and r.path.count("/") == 1]
    tokens = {token for _, _, token in people}
    checks = [r for r in sent if r.token in tokens and _per_page(r.query) not in POLL_PAGE_SIZES]
    assert len({r.token for r in checks}) == HOW_MANY  # each new token checked (its polls follow later)
    first, last = min(r.at for r in checks), max(r.at for r in checks)
    polls = [r for r in sent if _per_page(r.query) in POLL_PAGE_SIZES and first < r.at < last]
    assert polls, "no poll went out while the registrations were checked"
    # Polls are spread through the registrations, not only before or after a long silence.
    middle = (first + last) / 2
    assert any(r.at < middle for r in polls) and any(r.at > middle for r in polls)
    assert stack.precoro.too_many() == 0


async def test_a_429_within_the_share_is_reported_as_another_integration_s_use(stack: LocalStack) -> None:
    await stack.register("alice")
    retry = "2000-01-01T00:00:00+00:00"  # already past: the pause is the minimum, polls go on
    stack.precoro.inject_answer(429, {"error": "Too many requests", "RateLimit-Type": "Limiter by hour",
                                      "RateLimit-Retry-After": retry}, path_contains="/invoices")
    client = stack.runtime.clients["acme"]
    await stack.slack.wait_for(lambda: client.gate.outside_use("acme") is not None, timeout=30)
    answer = await stack.driver.ask(ADMIN, "status", timeout=30)
    assert "The bot uses at most 80% of Precoro's limits" in answer
    assert "Another integration used about" in answer and "requests this hour" in answer
    # The bot now keeps below what the other integration left of the hour, its reserve for clicks kept.
    hour = next(w for w in client.gate.policy("acme").windows if w.seconds == 3600)
    assert hour.limit < 150_000 * 0.8 and hour.limit >= hour.reserve + 1
