"""A database black hole: PostgreSQL goes silent for 30 s behind a relay that drops everything.

While it lasts, `/healthz` answers, `/readyz` says not ready, and every Slack request (clicks,
slash commands, the Home tab) is acknowledged within Slack's 3 s, each click then told honestly
whether its decision was saved. When the path heals, every decision is carried out exactly once
(counted at the Precoro emulator), clicks told "click again" are clicked again, as a person would.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from sqlalchemy import make_url

from bot.slack import messages
from precoro_devkit.emulator.blackhole import BlackHoleRelay
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import open_messages, text_of, told

ALICE = SLACK_USERS["alice"]
FREEZE_SECONDS = float(os.environ.get("BOT_BLACKHOLE_SECONDS", "30"))
DOCUMENTS = 8
pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]


@pytest.fixture
def relay(postgres_schema_url: str) -> Iterator[tuple[BlackHoleRelay, str]]:
    url = make_url(postgres_schema_url)
    running = BlackHoleRelay(url.host or "127.0.0.1", url.port or 5432).start()
    yield running, url.set(port=running.port).render_as_string(hide_password=False)
    running.stop()


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> tuple[float, int]:
    started = time.monotonic()
    try:
        response = await call()
    except httpx.TimeoutException:
        return time.monotonic() - started, 0
    return time.monotonic() - started, response.status_code


async def test_black_hole_keeps_acks_fast_and_loses_nothing(relay: tuple[BlackHoleRelay, str]) -> None:
    hole, bot_database = relay
    stack = LocalStack.start(bot_database)
    try:
        stack.driver.timeout = 10.0  # measure past Slack's 3 s instead of giving up at it
        precoro = stack.precoro
        alice = stack.users["alice"].id
        for _ in range(DOCUMENTS):
            precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[alice]])
        # Hers: these and the demo stack's own purchase order, whose first step is hers too.
        hers = {d.idn for d in precoro.documents if d.current_step and alice in d.current_step.approver_ids}
        await stack.register("alice")
        await stack.slack.wait_for(lambda: len(open_messages(stack.slack, ALICE)) >= len(hers), timeout=20)
        pending = sorted(open_messages(stack.slack, ALICE), key=lambda m: m["text"])
        health = httpx.AsyncClient(base_url=stack.bot_url, timeout=10.0)

        hole.freeze()
        frozen_at = time.monotonic()
        acks: dict[str, list[float]] = {"healthz": [], "click": [], "command": [], "home": []}
        statuses: list[int] = []
        readiness: list[int] = []
        clicked: list[dict] = []
        while time.monotonic() - frozen_at < FREEZE_SECONDS:
            for kind, call in (
                ("healthz", lambda: health.get("/healthz")),
                ("command", lambda: stack.driver.slash_command(ADMIN, "list")),
                ("home", lambda: stack.driver.open_home(ALICE)),
            ):
                seconds, status = await timed(call)
                acks[kind].append(seconds)
                statuses.append(status)
            if pending and len(acks["healthz"]) % 3 == 1:
                message = pending.pop()
                seconds, status = await timed(lambda m=message: stack.driver.click(ALICE, m, messages.ACTION_APPROVE))
                acks["click"].append(seconds)
                statuses.append(status)
                clicked.append(message)
            if time.monotonic() - frozen_at > 4:
                readiness.append((await health.get("/readyz")).status_code)
            await asyncio.sleep(0.5)
        hole.thaw()

        everything = sorted(s for kind in acks.values() for s in kind)
        p99 = everything[min(len(everything) - 1, int(0.99 * len(everything)))]
        print(f"\nblack hole {FREEZE_SECONDS:.0f} s: {len(everything)} requests acknowledged, "
              f"p50 {statistics.median(everything) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
              f"max {everything[-1] * 1000:.0f} ms; clicks {len(clicked)}")
        for kind, seconds in acks.items():
            print(f"  {kind}: n={len(seconds)} max {max(seconds, default=0) * 1000:.0f} ms")
        assert set(statuses) == {200}, statuses
        assert everything[-1] < 3.0, "an acknowledgement missed Slack's 3 s"
        assert readiness and set(readiness) == {503}, "readyz said ready while the database was gone"
        assert clicked, "no click was tried during the black hole"

        # Each click was told something honest: saved (it goes on by itself) or "click again".
        await stack.slack.wait_for(lambda: told(stack, ALICE, "could not be recorded")
                                   + told(stack, ALICE, "Your decision is saved")
                                   + sum("queued" in _shown(stack, m) or "Approved by" in _shown(stack, m)
                                         for m in clicked) >= len(clicked), timeout=30)
        # Alice clicks again whatever still shows its buttons, as she was asked to; the rest too.
        for _ in range(3):
            for message in open_messages(stack.slack, ALICE):
                await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
            try:
                await stack.slack.wait_for(lambda: all("Approved by" in _shown(stack, m) for m in clicked + pending),
                                           timeout=40)
                break
            except TimeoutError:
                continue
        assert all("Approved by" in _shown(stack, m) for m in clicked + pending)
        posts = [r for r in precoro.requests if r.method == "POST" and r.applied]
        per_document = {r.path for r in posts}
        assert len(posts) == len(per_document), "a decision was sent twice"
        assert per_document == {f"/purchaseorders/{idn}/approve" for idn in hers}, "a decision was lost"
        assert {r.token for r in posts} == {stack.token_of("alice")}
        await health.aclose()
    finally:
        stack.stop()


def _shown(stack: LocalStack, message: dict) -> str:
    shown = stack.slack.messages.get((message["channel"], message["ts"]))
    return text_of(shown) if shown else ""
