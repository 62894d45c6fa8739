"""Registration token checks take turns, leave a slot between them, and wait instead of failing."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.check_turns import CheckTurns
from bot.precoro.errors import QuotaDeferred

pytestmark = pytest.mark.asyncio


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


async def test_checks_go_one_at_a_time_with_a_slot_between_them() -> None:
    clock = FakeClock()
    turns = CheckTurns(clock, lambda company: 1.2)
    started: list[float] = []
    running = 0

    async def check() -> None:
        nonlocal running
        running += 1
        assert running == 1, "two checks of one company at once"
        started.append(clock.now())
        await clock.sleep(0.3)  # Precoro answers
        running -= 1

    await asyncio.gather(*(turns.run("acme", check) for _ in range(5)))
    assert len(started) == 5
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(g >= 2.4 - 1e-9 for g in gaps), gaps  # two spacing windows: one is left to polls


async def test_a_deferred_check_waits_for_its_slot_instead_of_failing() -> None:
    clock = FakeClock()
    turns = CheckTurns(clock, lambda company: 1.2, max_wait=60.0)
    attempts: list[float] = []

    async def check() -> None:
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise QuotaDeferred("no slot", retry_at=clock.now() + 10.0)

    await turns.run("acme", check)
    assert len(attempts) == 3 and attempts[-1] >= attempts[0] + 20.0


async def test_a_check_gives_up_only_after_max_wait() -> None:
    clock = FakeClock()
    turns = CheckTurns(clock, lambda company: 1.2, max_wait=30.0)

    async def never() -> None:
        raise QuotaDeferred("paused by a 429", retry_at=clock.now() + 3600.0)

    with pytest.raises(QuotaDeferred):
        await turns.run("acme", never)
    assert clock.now() < 1000.0 + 30.0  # it did not sit out the hour first
