"""Short simulated runs of company discovery: the real bot, the emulator, virtual time."""

from __future__ import annotations

import dataclasses
import statistics

import pytest

from bot.sync import discovery
from precoro_devkit.sim import floors
from precoro_devkit.sim.discovery_report import table
from precoro_devkit.sim.report import discovery_runs, spent_floor
from precoro_devkit.sim.run import simulate
from precoro_devkit.sim.scenario import DAY, Scenario
from tests.support.sim import assert_clean

# Two simulated hours from midnight with 50 approvers, two-step chains, Precoro's strict reading
# of duplicate GETs (any token's identical URL counts).
SHORT = Scenario("discovery short", 50, docs_per_day=600, work_hours=(0.0, 24.0), reaction_minutes=3.0,
                 warmup_days=0.0, days=2 / 24, tail_days=0.25, steps=2, source="discovery", strict_duplicates=True)


def test_discovery_finds_documents_for_everyone_within_its_interval_without_a_429() -> None:
    result = simulate(SHORT)
    assert_clean(result)
    every = discovery.interval(2800 - 100, 2, others=True, min_interval=5)  # about 90 s
    assert statistics.fmean(result.delays) < every
    assert max(result.delays) < 3 * every
    per_approver_floor = 50 * 2 / (2 * 2800) * DAY  # 26 min
    assert statistics.fmean(result.delays) < per_approver_floor / 10
    assert "discovery short" in table([result])
    # the floor for what it spent: its runs by the square-root law, under its measured mean
    assert result.discovery_reads_day > 0
    assert sum(result.discovery_reads_by_hour) / SHORT.days == pytest.approx(result.discovery_reads_day, abs=1)
    floor = spent_floor(result)
    assert 0 < floor < statistics.fmean(result.delays)
    assert floor == pytest.approx(floors.uniform_discovery_mean(discovery_runs(result)))  # a flat day


def test_a_restart_keeps_the_cursor_and_posts_nothing_twice() -> None:
    result = simulate(dataclasses.replace(SHORT, name="discovery restart", restart_at_hours=(0.75,)))
    assert result.restarts == 1
    assert_clean(result)


@pytest.mark.parametrize("keying", ["token", "company", "route"])
def test_no_429_in_any_reading_of_identical_get(keying: str) -> None:
    """Issue 15: the emulator keys duplicate GETs by token + URL, company + URL or route (path,
    any query), the bot's config names the same reading; webhooks ask for runs at any moment."""
    result = simulate(dataclasses.replace(SHORT, name=f"discovery {keying}", duplicate_keying=keying,
                                          webhooks=True))
    assert_clean(result)
    every = discovery.interval(2800 - 100, 2, others=True, min_interval=5)
    assert statistics.fmean(result.delays) < every
