"""Operational endpoints are not public, and floods on the unsigned endpoints are bounded.

Over real HTTP against the running bot: `/metrics` is refused on the public port (served on the
internal port, or with the bearer token), the public `/readyz` says only ready or not; thousands
of webhook hints and 50 MB bodies leave the process's memory, the hint table and Precoro's request
count bounded (measured and printed).
"""

from __future__ import annotations

import asyncio
import json
import resource
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.housekeeping import HINT_MAX_AGE, purge
from precoro_devkit.emulator.process import free_port
from precoro_devkit.emulator.stack import LocalStack

pytestmark = pytest.mark.asyncio

SECRET = "acme-webhook-secret-0123456789"
METRICS_TOKEN = "metrics-bearer-token-0123456789abcdef"
PER_MINUTE = 40


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    stack = LocalStack.start(database_url, **{
        "precoro.webhook_secret": SECRET, "precoro.webhook_hints_per_minute": PER_MINUTE,
        "server.metrics_port": free_port(), "server.metrics_token": METRICS_TOKEN, "server.host": "127.0.0.1"})
    try:
        yield stack
    finally:
        stack.stop()


def peak_rss_mb() -> float:
    """The process's peak resident memory (the bot is served in this process, in a thread)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_metrics_and_readiness_detail_are_not_public(stack: LocalStack) -> None:
    internal = f"http://127.0.0.1:{stack.runtime.config.metrics_port}"
    async with httpx.AsyncClient(base_url=stack.bot_url) as public:
        assert (await public.get("/metrics")).status_code == 404
        assert (await public.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 404
        ready = await public.get("/readyz")
        assert ready.json() == {"ready": True}, "no replica name, no checks"
        assert (await public.get("/healthz")).json() == {"status": "ok"}
        scraped = await public.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert scraped.status_code == 200 and "precoro_quota_used" in scraped.text
        detail = await public.get("/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert "replica" in detail.json()
    async with httpx.AsyncClient(base_url=internal) as ops:
        assert "precoro_quota_used" in (await ops.get("/metrics")).text
        assert (await ops.get("/readyz")).json()["database"] is True


async def test_a_scrape_is_cached_and_rendered_off_the_loop(stack: LocalStack) -> None:
    from bot.ops import CachedRender

    calls = []
    cache = CachedRender(lambda: calls.append(1) or b"x", ttl=60.0)
    assert await asyncio.gather(*(cache.get() for _ in range(50))) == [b"x"] * 50
    assert len(calls) == 1, "fifty scrapes, one render"
    internal = f"http://127.0.0.1:{stack.runtime.config.metrics_port}"
    async with httpx.AsyncClient(base_url=internal) as ops:
        first = (await ops.get("/metrics")).text
        for _ in range(20):
            assert (await ops.get("/metrics")).text == first  # served from the cache


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"{" + b" " * (size - 1)
        sent += size


async def test_floods_of_hints_and_big_bodies_are_bounded(stack: LocalStack) -> None:
    store = stack.runtime.store
    await stack.register("alice")
    await asyncio.sleep(1.0)
    precoro_before, rss_before = len(stack.precoro.requests), peak_rss_mb()
    url = f"/precoro/webhooks/acme/{SECRET}"
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=stack.bot_url, timeout=30) as web:
        # 50 MB bodies, streamed by the client (so the memory measured is the bot's): said by
        # Content-Length, and without one (chunked).
        fifty = 50 * 1024 * 1024
        for _ in range(3):
            said = await web.post(url, content=chunks(fifty), headers={"Content-Length": str(fifty)})
            assert said.status_code == 413
            assert (await web.post(url, content=chunks(fifty))).status_code == 413
        # 3,000 hints: 30 documents repeated, in parallel batches.
        for _ in range(30):
            answers = await asyncio.gather(*(
                web.post(url, json={"type": 2, "idn": f"PO-FLOOD-{i % 30}", "action": 1}) for i in range(100)))
            for answer in answers:
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    await asyncio.sleep(2.0)  # the scheduler takes the hints it got
    precoro_during = len(stack.precoro.requests) - precoro_before
    grown = peak_rss_mb() - rss_before
    print(f"\nflood: statuses {statuses}; hints stored now {store.hints.count()}; "
          f"Precoro requests during the flood {precoro_during}; peak RSS grew {grown:.1f} MB")
    assert statuses.get(202, 0) <= PER_MINUTE, "at most the per-minute cap is taken"
    assert statuses.get(429, 0) >= 3000 - PER_MINUTE
    assert store.hints.count() <= 30, "each document once while unprocessed"
    assert precoro_during <= PER_MINUTE + 20, "hints cost at most one read each, polls go on as before"
    assert grown < 25, "no 50 MB body was held in memory"


async def test_hints_are_deduplicated_and_old_ones_and_expired_states_purged(stack: LocalStack) -> None:
    store = stack.runtime.store
    now = stack.runtime.clock.now()
    # A company nobody polls (none takes its hints): only age bounds them.
    assert store.hints.add("ghost", "invoices", "INV-9", now - HINT_MAX_AGE - 10)
    assert not store.hints.add("ghost", "invoices", "INV-9", now), "the same document once while unprocessed"
    assert store.hints.add("ghost", "invoices", "INV-10", now)
    async with httpx.AsyncClient(base_url=stack.bot_url) as web:
        await web.get("/slack/install")  # not served without OAuth: nothing stored
    hints, _ = purge(store, now)
    assert hints == 1 and store.hints.count("ghost") == 1
    assert json.dumps(purge(store, now)) == "[0, 0]"
