"""A discovery run cut short by a click must not stall the company (issue 15, "No stalls").

The real bot, the Precoro emulator and virtual time (`precoro_devkit.sim`): one full discovery run, then a
run whose second list read steps aside for a click. The next run must not ask for a URL Precoro
saw within its minute (the gate would refuse it and the company would wait a minute): a
document that arrives right after the click is posted within a few ticks.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from precoro_devkit.sim.run import COMPANY, TEAM, Simulation
from precoro_devkit.sim.scenario import Scenario

TYPES = ("purchaseorders", "invoices")


def _scenario(keying: str) -> Scenario:
    return Scenario(f"stall {keying}", 3, docs_per_day=0.0, warmup_days=0.0, days=0.0, tail_days=0.0,
                    source="discovery", document_types=TYPES, duplicate_keying=keying)


async def _run(sim: Simulation) -> dict[str, Any]:
    sim.rt = sim._build()
    sim._seed()
    rt, clock = sim.rt, sim.clock
    tick = sim.config.tick_seconds

    async def ticks_until(done: Any, limit: float) -> float:
        start = clock.now()
        while not done():
            if clock.now() - start > limit:
                return float("inf")
            await rt.scheduler.tick()
            await clock.sleep(tick)
        return clock.now() - start

    def posted(idn: str) -> bool:
        return any(p.idn == idn for p in sim.sink.posts)

    # A document for approver 1, found by the first (full) discovery run.
    first = sim.emulator.add_document(COMPANY, TYPES[0], sim.requester.id, [[sim.users[1].id]],
                                      created_at=clock.now())
    assert await ticks_until(lambda: posted(first.idn), 120.0) < 120.0
    post = next(p for p in sim.sink.posts if p.idn == first.idn)
    await clock.sleep(400.0)  # the next timed run is due

    # The next run is cut short: approver 1 clicks right after its first list read.
    client = rt.clients[COMPANY]
    original = client.list_documents
    clicks: list[asyncio.Task[Any]] = []

    async def list_then_click(*args: Any, **kwargs: Any) -> Any:
        answer = await original(*args, **kwargs)
        if not clicks:
            clicks.append(asyncio.get_running_loop().create_task(
                rt.decisions.click(team_id=TEAM, user_id=post.user_id, ref=post.ref, action="approve")))
        return answer

    client.list_documents = list_then_click  # type: ignore[method-assign]
    await ticks_until(lambda: bool(clicks) and clicks[0].done(), 60.0)
    client.list_documents = original  # type: ignore[method-assign]
    assert clicks and clicks[0].done() and clicks[0].exception() is None

    # A new document for approver 2 right after the click: found by the next runs at once.
    second = sim.emulator.add_document(COMPANY, TYPES[1], sim.requester.id, [[sim.users[2].id]],
                                       created_at=clock.now())
    found_after = await ticks_until(lambda: posted(second.idn), 300.0)
    return {"found_after": found_after, "too_many": sim.emulator.too_many()}


@pytest.mark.parametrize("keying", ["token", "company", "route"])
def test_a_run_cut_short_by_a_click_does_not_stall_the_company(keying: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Simulation(_scenario(keying), Path(tmp))
        out = sim.clock.run(_run(sim))
        assert sim.rt is not None
        sim.rt.store.close()
    assert out["too_many"] == 0
    # Before the fix: the retried run asked for the very same modifiedSince URL, the gate held it
    # back for Precoro's minute and the company waited about 60 s.
    assert out["found_after"] <= 20.0, out
