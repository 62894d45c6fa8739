"""The store's boundary: database calls off the event loop, within a timeout, undone when late."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.store.boundary import Boundary, DatabaseTimeout

pytestmark = pytest.mark.asyncio


async def test_a_call_runs_off_the_event_loop_and_returns_its_result() -> None:
    boundary = Boundary(timeout=2.0)
    loop_thread = threading.get_ident()
    try:
        ran_in = await boundary.run(threading.get_ident)
    finally:
        boundary.close()
    assert ran_in != loop_thread


async def test_a_call_that_hangs_times_out_while_the_loop_goes_on() -> None:
    boundary = Boundary(workers=1, timeout=0.2)
    release = threading.Event()
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(ticking())
    started = time.monotonic()
    with pytest.raises(DatabaseTimeout):
        await boundary.run(release.wait, 5.0)
    assert time.monotonic() - started < 1.0
    assert ticks > 5, "the event loop kept running while the call hung"
    # The one worker is still stuck: a queued call gives up in time too, and never runs later.
    ran: list[int] = []
    with pytest.raises(DatabaseTimeout):
        await boundary.run(ran.append, 1)
    release.set()
    await ticker
    await asyncio.sleep(0.1)
    assert ran == [], "a call its caller gave up on before it started must not run"
    boundary.close()


async def test_a_late_result_is_undone_once_it_arrives() -> None:
    boundary = Boundary(timeout=0.1)
    undone: list[str] = []

    def slow_booking() -> str:
        time.sleep(0.3)
        return "ticket-7"

    with pytest.raises(DatabaseTimeout):
        await boundary.run_undoable(undone.append, slow_booking)
    assert undone == []
    await asyncio.sleep(0.5)
    assert undone == ["ticket-7"]
    boundary.close()


async def test_inline_runs_on_the_loop_for_the_simulation() -> None:
    boundary = Boundary(inline=True)
    assert await boundary.run(threading.get_ident) == threading.get_ident()
