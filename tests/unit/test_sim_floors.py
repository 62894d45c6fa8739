"""The floors of devkit/precoro_devkit/sim/floors.py against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from precoro_devkit.sim import floors

DAY = 86400.0


def test_equal_rates_give_the_equal_interval_bound() -> None:
    # N = 50 approvers, c = 2 requests a poll, 2,400 requests a day for polls:
    # B = 1,200 polls a day, so the mean is N / (2B) = 50 / 2,400 day = 1,800 s = N·c/(2P).
    b = floors.polls_per_second(2400, 2)
    assert floors.per_approver_floor([3.0] * 50, b) == pytest.approx(50 * DAY / 2400)
    assert floors.equal_interval_bound(50, 2, 2400) == pytest.approx(50 * 2 / (2 * 2400) * DAY)


def test_skewed_rates_go_strictly_below_the_equal_rate_bound() -> None:
    rates = [1.0 / k for k in range(1, 51)]  # Zipf
    b = floors.polls_per_second(2400, 2)
    skewed = floors.per_approver_floor(rates, b)
    assert skewed < floors.equal_interval_bound(50, 2, 2400)
    # by hand: (Σ√λ)² / (2BΛ)
    expected = sum(math.sqrt(x) for x in rates) ** 2 / (2 * b * sum(rates))
    assert skewed == pytest.approx(expected)


def test_per_approver_floor_scales_with_the_profile_and_the_budget() -> None:
    b = floors.polls_per_second(1000, 2)
    assert floors.per_approver_floor([1, 4], b, profile=0.5) == pytest.approx(
        0.5 * floors.per_approver_floor([1, 4], b))
    assert floors.per_approver_floor([1, 4], 2 * b) == pytest.approx(floors.per_approver_floor([1, 4], b) / 2)
    assert floors.per_approver_floor([1, 4], 0.0) == math.inf


def test_the_issues_day_profile_gives_about_28000_over_r() -> None:
    profile = floors.day_profile(0.9, (9.0, 17.0))
    assert sum(profile) == pytest.approx(1.0)
    assert profile[9] == pytest.approx(0.9 / 8) and profile[3] == pytest.approx(0.1 / 16)
    r = 1000.0
    floor = floors.discovery_floor(profile, r)
    by_hand = 1800 * (8 * math.sqrt(0.9 / 8) + 16 * math.sqrt(0.1 / 16)) ** 2 / r
    assert floor == pytest.approx(by_hand)
    assert 27_500 / r < floor < 28_500 / r


def test_sqrt_allocation_beats_the_uniform_one() -> None:
    profile = floors.day_profile(0.9)
    r = 500.0
    even = floors.allocation_mean(profile, [r / 24] * 24)
    assert even == pytest.approx(floors.uniform_discovery_mean(r))
    assert floors.discovery_floor(profile, r) < even
    # and beats any other split of the same runs, e.g. runs ∝ the rate itself
    assert floors.discovery_floor(profile, r) < floors.allocation_mean(profile, [r * p for p in profile])
    # a flat day: nothing to gain
    flat = floors.day_profile(None)
    assert floors.discovery_floor(flat, r) == pytest.approx(floors.uniform_discovery_mean(r))
    assert floors.profile_factor(flat) == pytest.approx(1.0)


def test_allocation_is_proportional_to_the_root_and_spends_every_run() -> None:
    alloc = floors.sqrt_allocation([1.0, 4.0, 0.0, 9.0], 60.0)
    assert sum(alloc) == pytest.approx(60.0)
    assert alloc == pytest.approx([10.0, 20.0, 0.0, 30.0])


def test_a_cap_per_hour_raises_the_floor_and_is_kept() -> None:
    profile = floors.day_profile(0.9)
    r = 1000.0  # uncapped, the working hours would take ~85 runs an hour
    free = floors.sqrt_allocation(profile, r)
    assert max(free) > 60
    capped = floors.sqrt_allocation(profile, r, max_runs_per_hour=60)
    assert max(capped) == pytest.approx(60) and sum(capped) == pytest.approx(r)
    assert floors.discovery_floor(profile, r, 60) > floors.discovery_floor(profile, r)
    # more runs than the cap allows: every hour at the cap
    assert floors.sqrt_allocation(profile, 24 * 60 + 5, 60) == [60.0] * 24


def test_runs_beyond_what_the_capped_busy_hours_can_take_buy_nothing() -> None:
    """One busy hour at the cap, no documents in the others: the rest of the runs go nowhere."""
    rates = [1.0] + [0.0] * 23
    assert floors.sqrt_allocation(rates, 100, max_runs_per_hour=60) == [60.0] + [0.0] * 23


def test_profile_factor_matches_the_oracles_closed_form() -> None:
    work, share = 8 / 24, 0.9
    closed = (work * math.sqrt(share / work) + (1 - work) * math.sqrt((1 - share) / (1 - work))) ** 2
    assert floors.profile_factor(floors.day_profile(share)) == pytest.approx(closed)


def test_webhook_floor_is_the_reads_at_one_per_second() -> None:
    assert floors.webhook_floor() == 1.0
    assert floors.webhook_floor(2, 1.0) == 2.0
    assert floors.discovery_floor(floors.day_profile(0.9), 0) == math.inf
