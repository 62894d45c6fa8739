"""Virtual time for a whole simulated day in seconds of wall time.

`VirtualTimeLoop` is an ordinary asyncio selector loop whose `time()` is virtual: when every
task is waiting for a timer, the loop jumps straight to the earliest one instead of blocking.
So the bot's real code (the quota gate's `clock.sleep`, `asyncio.sleep`, locks, concurrent
clicks and ticks) runs unchanged, concurrency included; only waiting costs nothing. Real I/O
readiness (the loop's self-pipe) is still polled, without blocking, before each jump.

`VirtualClock` is the `Clock` of `bot.quota.gate` on top of it: `now()` is epoch seconds
(`start` plus the loop's virtual seconds) and `sleep()` advances virtual time. Both must be
used inside a `VirtualTimeLoop` built with the same clock (`VirtualClock.run`).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# With no timer left, only a real event (a thread's call_soon_threadsafe) can wake the loop.
STALL_SECONDS = 5.0


class SimulationStalled(RuntimeError):
    """Every task waits for something that no timer or real event will ever bring."""


class VirtualClock:
    def __init__(self, start: float) -> None:
        self.start = start
        self.elapsed = 0.0  # virtual seconds since start: the loop's time()

    def now(self) -> float:
        return self.start + self.elapsed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - self.now()))

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.elapsed += seconds

    def run(self, main: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on a fresh virtual-time loop."""
        with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(self)) as runner:
            return runner.run(main)


class _VirtualSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:
            ready = super().select(STALL_SECONDS)
            if not ready:
                raise SimulationStalled("no timer and no event: the simulation would wait forever")
            return ready
        self.clock.advance(timeout)  # the loop then runs the timer that is now due
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: VirtualClock) -> None:
        self.virtual_clock = clock
        super().__init__(selector=_VirtualSelector(clock))

    def time(self) -> float:
        return self.virtual_clock.elapsed
