"""A tick's companies and their leases (virtual time, one SQLite file, the emulated Precoro): a slow
company does not cost the replica its other leases, a lost lease stops the very next Precoro step,
the companies polled at once leave database workers for clicks, and a poll's cancellation is not
swallowed."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.runtime import Runtime
from bot.store.boundary import Boundary
from bot.sync.leases import pool_share, side_by_side
from precoro_devkit.sim.run import Simulation
from precoro_devkit.sim.scenario import Scenario


def simulation(tmp_path: Path, companies: int) -> Simulation:
    return Simulation(Scenario("leases", 3, docs_per_day=0.0, warmup_days=0.0, days=0.0, tail_days=0.0),
                      tmp_path, companies)


def recording(sim: Simulation, rt: Runtime, name: str, polls: list[tuple[str, str, float]],
              slow: dict[str, float] | None = None) -> None:
    """Record every poll `rt` sends as (replica, company, when); a company in `slow` hangs that
    long in its first poll (a request waiting for its timeout)."""
    poll, slow = rt.poller.poll, slow if slow is not None else {}

    async def recorded(approver: Any) -> Any:
        polls.append((name, approver.company, sim.clock.now()))
        if (hang := slow.pop(approver.company, None)) is not None:
            await sim.clock.sleep(hang)
        return await poll(approver)

    rt.poller.poll = recorded  # type: ignore[method-assign]


def test_a_slow_company_does_not_cost_the_replica_its_leases(tmp_path: Path) -> None:
    """Replica "a" holds four companies; one poll of one of them hangs for more than a lease (the
    tick lasts that long). "b", ticking all along, polls none of them: "a" renewed while it waited."""
    sim = simulation(tmp_path, 4)
    clock, lease = sim.clock, sim.config.lease_seconds
    polls: list[tuple[str, str, float]] = []

    async def main() -> None:
        a = sim.rt = sim._build()
        sim._seed()
        b = sim._build()
        recording(sim, a, "a", polls, slow={sim.tenants[0].id: 1.5 * lease})
        recording(sim, b, "b", polls)
        started = clock.now()
        slow_tick = asyncio.create_task(a.scheduler.tick())
        await clock.sleep(1.0)
        while not slow_tick.done():
            await b.scheduler.tick()
            await clock.sleep(sim.config.tick_seconds)
        await slow_tick
        assert clock.now() - started >= 1.5 * lease  # the tick did hang
        assert {name for name, _, _ in polls} == {"a"}
        assert a.scheduler.ticks == 1 and all(a.scheduler.leases.holds(t.id) for t in sim.tenants)
        for rt in (a, b):
            await rt.aclose()

    clock.run(main())


def test_a_lost_lease_stops_the_first_poll(tmp_path: Path) -> None:
    """"a" claimed its companies; by its renewal, another replica holds them (a's tick ran long,
    its leases ran out). Its next step, even the first poll of a company, sends no request."""
    sim = simulation(tmp_path, 2)
    clock, lease = sim.clock, sim.config.lease_seconds
    polls: list[tuple[str, str, float]] = []

    async def main() -> None:
        a = sim.rt = sim._build()
        sim._seed()
        recording(sim, a, "a", polls)
        ids = [t.id for t in sim.tenants]
        await a.scheduler.leases.claim()
        assert all(a.scheduler.leases.holds(c) for c in ids)
        await clock.sleep(lease / 3 + 1.0)  # a's renewal is due; its cache still trusts the lease
        a.store.leases.release_all(ids, a.scheduler.replica)  # as if run out
        assert a.store.leases.claim(ids, "b", clock.now(), lease) == set(ids)
        for company in sim.config.companies:
            assert await a.scheduler.poll_company(company) == 0
        assert polls == []
        await a.aclose()

    clock.run(main())


def test_companies_side_by_side_leave_database_workers_for_clicks() -> None:
    """Ten companies at once, each stuck in a database call (a slow query): they hold half the
    workers (the pool's own count), and a click's call made meanwhile is answered at once."""
    boundary = Boundary(workers=8, timeout=10.0)
    store = SimpleNamespace(boundary=boundary)
    release, lock = threading.Event(), threading.Lock()
    busy = [0, 0]  # now, most

    def slow_query() -> None:
        with lock:
            busy[0] += 1
            busy[1] = max(busy)
        release.wait(10.0)
        with lock:
            busy[0] -= 1

    async def poll(company: int) -> None:
        await boundary.run(slow_query)

    async def main() -> None:
        companies = asyncio.create_task(side_by_side(list(range(10)), poll, limit=pool_share(store),  # type: ignore[arg-type]
                                                     stopping=lambda: False))
        while busy[0] < 4:  # the companies took their share
            await asyncio.sleep(0.01)
        assert await boundary.run(lambda: "booked") == "booked"  # a click finds a worker
        release.set()
        await companies

    try:
        asyncio.run(main())
    finally:
        release.set()
        boundary.close()
    assert busy[1] == 4 == boundary.workers // 2


def test_a_cancelled_poll_is_not_swallowed(tmp_path: Path) -> None:
    """A poll cancelled while the replica is not stopping cancels the tick, instead of passing
    silently for a poll that merely did not happen."""
    sim = simulation(tmp_path, 2)

    async def main() -> None:
        a = sim.rt = sim._build()
        sim._seed()

        async def cancelled(approver: Any) -> Any:
            raise asyncio.CancelledError

        a.poller.poll = cancelled  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await a.scheduler.tick()
        await a.aclose()

    sim.clock.run(main())
