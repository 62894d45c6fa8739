"""A few simulated hours against an emulated Precoro whose windows are fixed, as Precoro describes
them, with and without another integration filling the hour (issue 23, item 6)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from bot.precoro import api
from precoro_devkit.sim.run import Result, Simulation
from precoro_devkit.sim.scenario import HOUR, START, Scenario

# Three simulated hours from midnight, people at their desks, deciding within minutes.
FIXED = Scenario("fixed", 10, docs_per_day=600, work_hours=(0.0, 24.0), reaction_minutes=3.0, warmup_days=0.0,
                 days=3 / 24, tail_days=0.25, share=0.8, window_mode="fixed")
# An ERP sync's burst from 00:23: 1,450 requests 1.5 s apart, more than the hour leaves the bot; it
# fills the hour a few minutes before 01:00 (the case: a 429 shortly before the reset). Off
# the bot's 5 s ticks by 0.37 s: on virtual time two requests at the very same instant are "in flight
# at once", a concurrency 429 that says nothing about windows.
BURST = dataclasses.replace(FIXED, name="fixed + burst", outside_burst=1450, outside_burst_every_hours=24.0,
                            outside_burst_at_hours=(23 * 60 + 0.37) / HOUR)


def run(scenario: Scenario, tmp_path: Path) -> tuple[Simulation, Result]:
    sim = Simulation(scenario, tmp_path)
    started = time.perf_counter()
    sim.clock.run(sim.main())
    result = sim.result(time.perf_counter() - started, [])
    assert sim.rt is not None
    sim.rt.store.close()
    return sim, result


def assert_all_posted_once(result: Result, outside: int = 0) -> None:
    assert result.arrivals > 50
    assert result.unposted == 0 and result.duplicate_posts == 0
    assert result.ledger_missing == outside  # every request of the bot's is in its ledger


@pytest.mark.parametrize("mode", ["fixed", "anchored"])
def test_alone_on_fixed_windows_the_bot_meets_no_429(mode: str, tmp_path: Path) -> None:
    _, result = run(dataclasses.replace(FIXED, window_mode=mode), tmp_path)
    assert result.too_many == 0
    assert_all_posted_once(result)


def test_another_integration_s_burst_costs_one_429_and_polls_resume_at_the_hour_s_reset(tmp_path: Path) -> None:
    sim, result = run(BURST, tmp_path)
    bot = [r for r in sim.emulator.requests if r.token != sim.outside_token]
    refused = [r for r in bot if r.status == 429]
    # Precoro's one request a second is the company's: a request of the ERP sync's under a second
    # before the bot's takes that second (a concurrency 429, nobody can plan around it; the doctor
    # meets the same). Every such 429 of the bot's has one of the burst's just before it.
    outside = sorted(r.at for r in sim.emulator.requests if r.token == sim.outside_token)
    spacing = [r for r in refused if r.limit_type == api.RATE_LIMIT_TYPE_CONCURRENCY]
    assert all(any(0 <= r.at - t < 1.0 for t in outside) for r in spacing)
    # Of the volume windows, the one 429 the burst forces on the bot: the hour full of someone
    # else's requests, learned as such; none of the bot's own doing (no duplicate or day 429, no
    # second hour 429 after the reset).
    assert [r.limit_type for r in refused if r not in spacing] == [api.RATE_LIMIT_TYPE_HOUR]
    refused = [r for r in refused if r not in spacing]
    assert sim.outside_learned == 1
    assert result.outside_too_many > 0  # the burst itself ran into the full hour
    reset = START + HOUR  # the clock hour the burst filled ends at 01:00 UTC
    assert reset - 600.0 < refused[0].at < reset
    # Nothing of the bot's is sent before the reset; the first poll goes out at the bot's usual
    # pace from it (2 requests at ~2,800 a day: one poll a minute; the pacing bucket did not fill
    # while nothing could be sent)...
    after = [r.at for r in bot if r.at > refused[0].at]
    assert reset <= after[0] < reset + 60.0
    # ...and the bot polls at its usual pace from then on, not a trickle while a sliding estimate
    # of the burst fades (which held polls to a few dozen for the first ten minutes).
    def sent(lo: float, hi: float) -> int:
        return sum(1 for t in after if lo <= t < hi)

    assert sent(reset, reset + 600.0) >= 0.7 * sent(reset + HOUR, reset + HOUR + 600.0)
    assert_all_posted_once(result, outside=len(outside))
