"""Precoro's windows are fixed (issue 23, item 6): what a volume 429 teaches about another
integration ends at the reset the 429 names, and the bot's polls get their share back then."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.precoro import api
from bot.precoro.client import Credentials, PrecoroClient
from bot.precoro.errors import RateLimited
from bot.quota.gate import BLOCK_TRUST_SECONDS, QuotaGate
from bot.quota.ledger import Lane, QuotaPolicy
from bot.store import Store
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo

BASE = "http://precoro.test"
T0 = 1_736_157_600.0  # Monday 2025-01-06 10:00:00 UTC
PRECORO = QuotaPolicy(share=0.8)  # 1500/h (100 for clicks): polls may use 1100 of the bot's 1200
MINUTES = (0, 1, 4, 5, 10)


class Clock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


def hour_429(retry_at: float) -> dict[str, object]:
    return {"error": api.RATE_LIMIT_ERROR, api.RATE_LIMIT_TYPE: api.RATE_LIMIT_TYPE_HOUR,
            api.RATE_LIMIT_RETRY_AFTER: api.format_retry_after(retry_at), api.RATE_LIMIT_LIMIT: 1500}


@pytest.mark.asyncio
async def test_after_another_integration_s_hour_429_polls_get_their_share_back_at_the_named_reset(
        tmp_path: Path) -> None:
    """The issue's scenario, through the real client and gate: 20 of the bot's own requests in the
    hour, then a "Limiter by hour" 429 naming a retry 20 s ahead. Sliding windows left polls 1
    slot for minutes (43 at 5 min, 166 at 10 min); fixed windows give them all 1100 at the reset."""
    clock = Clock(T0)
    precoro = PrecoroEmulator(clock.now)
    alice = seed_demo(precoro)["alice"]
    cred = Credentials(alice.email, alice.token)
    store = Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    gate = QuotaGate(store.quota, {"acme": PRECORO}, clock, in_flight_timeout=35.0)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=precoro.app)) as http:
            client = PrecoroClient("acme", BASE, gate, http)
            for _ in range(19):  # the bot's own polls this hour (a minute apart: no duplicate GET)
                await client.waiting_page(cred, "purchaseorders")
                clock.t += 61.0
            precoro.inject_answer(429, hour_429(clock.now() + 20.0), path_contains="/purchaseorders")
            with pytest.raises(RateLimited) as caught:
                await client.waiting_page(cred, "purchaseorders")  # the 20th: refused, and counted
            learned_at, reset = clock.now(), caught.value.retry_at
            assert reset == pytest.approx(learned_at + 20.0 + PRECORO.margin_seconds, abs=1.0)
            outside = gate.outside_use("acme")
            assert outside is not None and outside[0].requests == 1480  # 1500 less the bot's own 20

            def poll_slots(minutes: float) -> int:
                clock.t = learned_at + 60.0 * minutes
                return gate.policy("acme").windows[1].lane_limit(Lane.POLL)

            # Before the reset Precoro refuses everyone anyway (the gate is closed until then).
            assert poll_slots(0) == 1
            clock.t = reset - 0.01
            assert gate.policy("acme").windows[1].lane_limit(Lane.POLL) == 1
            # From the reset on: the whole share, at once (main gave 1, 1, 18, 43, 166 here).
            assert [poll_slots(m) for m in MINUTES[1:]] == [1100, 1100, 1100, 1100]
            clock.t = reset
            assert gate.outside_use("acme") is None
            assert outside[0].until == reset  # believed exactly until the window resets
            # And a poll really goes out right after the reset.
            page, _ = await client.waiting_page(cred, "invoices")
            assert page is not None and precoro.requests[-1].status == 200
            assert precoro.requests[-1].at < reset + 1.5
    finally:
        store.close()


@pytest.mark.asyncio
async def test_an_admins_resume_in_another_process_gives_polls_their_share_back(tmp_path: Path) -> None:
    """`precoro-bot resume` runs in its own process: the bot that learned the outside use from
    the 429 forgets it when its next booking reads the pause as ended before its time."""
    clock = Clock(T0)
    precoro = PrecoroEmulator(clock.now)
    alice = seed_demo(precoro)["alice"]
    cred = Credentials(alice.email, alice.token)
    store = Store.open(f"sqlite:///{tmp_path / 'bot.db'}")
    bot = QuotaGate(store.quota, {"acme": PRECORO}, clock, in_flight_timeout=35.0)
    cli = QuotaGate(store.quota, {"acme": PRECORO}, clock, in_flight_timeout=35.0)  # the resume's process
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=precoro.app)) as http:
            client = PrecoroClient("acme", BASE, bot, http)
            await client.waiting_page(cred, "purchaseorders")
            clock.t += 61.0
            precoro.inject_answer(429, hour_429(clock.now() + 1800.0), path_contains="/purchaseorders")
            with pytest.raises(RateLimited):
                await client.waiting_page(cred, "purchaseorders")
            assert bot.outside_use("acme") is not None
            assert bot.policy("acme").windows[1].lane_limit(Lane.POLL) == 1
            assert cli.unblock("acme")  # the admin's resume, elsewhere
            assert bot.outside_use("acme") is not None  # not seen yet: nothing read since
            clock.t += BLOCK_TRUST_SECONDS + 1.0  # the bot trusts its cached pause that long
            page, _ = await client.waiting_page(cred, "invoices")  # the next booking reads the pause
            assert page is not None and precoro.requests[-1].status == 200
            assert bot.outside_use("acme") is None
            assert bot.policy("acme").windows[1].lane_limit(Lane.POLL) == 1100
    finally:
        store.close()


# --- the emulator's fixed windows -------------------------------------------------------------------

async def _get(precoro: PrecoroEmulator, clock: Clock, at: float, page: int) -> httpx.Response:
    clock.t = at
    user = precoro.users[2]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=precoro.app), base_url=BASE) as http:
        return await http.get("/invoices", params={api.PAGE_PARAM: page + 1},
                              headers={api.TOKEN_HEADER: user.token, api.EMAIL_HEADER: user.email})


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["fixed", "anchored"])
async def test_the_emulator_s_fixed_windows_refuse_until_the_reset_and_then_count_from_zero(mode: str) -> None:
    """Three requests an hour (10:00 on the clock): the fourth is refused until the window's end,
    which the 429 names; at that end everyone starts from zero (the spacing window still slides)."""
    clock = Clock(T0 + 600.0)  # 10:10 UTC
    precoro = PrecoroEmulator(clock.now, windows=((1.0, 1), (3600.0, 3)), window_mode=mode)
    seed_demo(precoro)
    for i in range(3):
        assert (await _get(precoro, clock, T0 + 600.0 + 100 * i, i)).status_code == 200
    end = T0 + 3600.0 if mode == "fixed" else T0 + 600.0 + 3600.0  # 11:00, or an hour after the first
    assert precoro.window_end("acme", 3600) == end
    refused = await _get(precoro, clock, T0 + 1200.0, 9)
    assert refused.status_code == 429
    body = refused.json()
    assert body[api.RATE_LIMIT_TYPE] == api.RATE_LIMIT_TYPE_HOUR
    assert api.parse_retry_after(body[api.RATE_LIMIT_RETRY_AFTER]) == end
    assert (await _get(precoro, clock, end - 1.0, 10)).status_code == 429  # nothing gets in before the end
    # From the end on: a new window (sliding, the first three would still be counted until 11:10).
    assert [(await _get(precoro, clock, end + 2.0 * i, 20 + i)).status_code for i in range(4)] == [200, 200, 200, 429]
    with pytest.raises(ValueError):
        PrecoroEmulator(clock.now, window_mode="rolling")


@pytest.mark.asyncio
async def test_the_emulator_s_sliding_windows_are_unchanged() -> None:
    clock = Clock(T0 + 600.0)
    precoro = PrecoroEmulator(clock.now, windows=((1.0, 1), (3600.0, 3)))
    seed_demo(precoro)
    for i in range(3):
        assert (await _get(precoro, clock, T0 + 600.0 + 100 * i, i)).status_code == 200
    refused = await _get(precoro, clock, T0 + 3700.0, 9)  # 11:01: the fixed hour would have reset
    assert refused.status_code == 429 and precoro.window_end("acme", 3600) is None
    # Free when only two remain counted, this one included: the second request leaves at 11:11:40.
    assert api.parse_retry_after(refused.json()[api.RATE_LIMIT_RETRY_AFTER]) == T0 + 700.0 + 3600.0
