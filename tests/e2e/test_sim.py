"""The simulation: virtual time, the planner's new parts, the gate's shortcut, and short simulated runs
of the real bot against the Precoro emulator (0 429s, each document posted once, restarts, clicks)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import CompanyConfig
from bot.quota import planner
from bot.quota.gate import _binding, _Book
from bot.quota.ledger import Lane, QuotaPolicy, Spend, Window, earliest_slot
from bot.store.approvers import Approver
from bot.store.quota import StoredSpend
from bot.sync import planning
from precoro_devkit.sim import clock as sim_clock
from precoro_devkit.sim.clock import SimulationStalled, VirtualClock
from precoro_devkit.sim.report import bound_seconds, oracle_seconds, row, spent_floor, table
from precoro_devkit.sim.run import simulate
from precoro_devkit.sim.scenario import DAY, START, Scenario, draw
from tests.support.sim import assert_clean

T0 = 1_700_000_000.0
POLICY = QuotaPolicy()


# --- virtual time ---------------------------------------------------------------------------------
def test_virtual_clock_runs_concurrent_sleepers_in_order_and_fast() -> None:
    clock = VirtualClock(T0)
    seen: list[tuple[float, str]] = []

    async def sleeper(name: str, step: float) -> None:
        for _ in range(3):
            await clock.sleep(step)
            seen.append((clock.now() - T0, name))

    async def main() -> None:
        lock = asyncio.Lock()
        async with lock:
            await asyncio.gather(sleeper("a", 1.5), sleeper("b", 1.0), clock.sleep(DAY))

    started = time.perf_counter()
    clock.run(main())
    assert time.perf_counter() - started < 1.0
    assert clock.now() == T0 + DAY
    assert seen == [(1.0, "b"), (1.5, "a"), (2.0, "b"), (3.0, "a"), (3.0, "b"), (4.5, "a")]


def test_a_simulation_waiting_for_nothing_stops_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sim_clock, "STALL_SECONDS", 0.05)
    clock = VirtualClock(T0)

    async def forever() -> None:
        await asyncio.Event().wait()

    with pytest.raises(SimulationStalled):
        clock.run(forever())


# --- the gate only looks at the spends that can still bind ------------------------------------------
SPENDS = st.lists(st.tuples(st.floats(-90_000, 5, allow_nan=False), st.sampled_from([Lane.POLL, Lane.INTERACTIVE]),
                            st.sampled_from([None, "a", "b"])), max_size=60)


@settings(max_examples=300, deadline=None)
@given(spends=SPENDS, lane=st.sampled_from([Lane.POLL, Lane.INTERACTIVE]), key=st.sampled_from([None, "a", "b"]),
       in_flight=st.integers(0, 2), small=st.booleans())
def test_binding_spends_give_the_same_slot_as_all_of_them(spends: list[tuple[float, Lane, str | None]], lane: Lane,
                                                          key: str | None, in_flight: int, small: bool) -> None:
    policy = QuotaPolicy(windows=(Window(1, 1), Window(3600, 6, 2), Window(86400, 12, 3))) if small else POLICY
    now = T0
    book = _Book()
    book.absorb(StoredSpend(i + 1, now + at, lane_.value, get_key, now + at, 200)
                for i, (at, lane_, get_key) in enumerate(spends))
    flying = [Spend(now, Lane.POLL, "a") for _ in range(in_flight)]
    everything = [*book.done, *flying]
    shortcut = _binding(book, flying, policy, lane, now)
    assert earliest_slot(shortcut, policy, lane, now, get_key=key) == earliest_slot(everything, policy, lane, now,
                                                                                    get_key=key)


# --- the planner's learning, clock and look-ahead -----------------------------------------------------
def test_equal_rates_are_not_chased_but_real_differences_are_kept() -> None:
    exposure = {f"u{i}": 7.0 for i in range(20)}
    noisy_equal = {f"u{i}": float(c) for i, c in enumerate([6, 9, 7, 8, 5, 7, 10, 6, 7, 8] * 2)}
    rates = planner.learned_rates(noisy_equal, exposure)
    assert len(set(rates.values())) == 1  # spread no larger than Poisson noise: everyone gets the mean
    skewed = {"u0": 400.0, "u1": 200.0, "u2": 100.0, **{f"u{i}": 1.0 for i in range(3, 20)}}
    rates = planner.learned_rates(skewed, exposure)
    assert rates["u0"] > rates["u1"] > rates["u2"] > rates["u3"] > 0
    assert rates["u0"] == pytest.approx(400 / 7, rel=0.05)
    newcomer = planner.learned_rates({"old": 70.0, "new": 0.0, "other": 7.0}, {"old": 7.0, "other": 7.0, "new": 0.0})
    assert newcomer["new"] == pytest.approx((70 + 7) / 14)  # no exposure yet: the company mean
    assert planner.learned_rates({}, {"a": 1.0}) == {"a": 0.0}


def test_day_profile_follows_working_hours_and_stays_flat_without_a_pattern() -> None:
    day0 = START
    flat = [day0 + d * DAY + h * 3600.0 + 600.0 * k for d in range(3) for h in range(24) for k in range(5)]
    assert planner.day_profile(flat, day0, day0 + 3 * DAY) == planner.FLAT
    working = [day0 + d * DAY + h * 3600.0 + 60.0 * k for d in range(3) for h in range(9, 17) for k in range(10)]
    profile = planner.day_profile(working, day0, day0 + 3 * DAY)
    assert sum(profile) == pytest.approx(24.0)
    assert min(profile[9:17]) > 1.5 * max(profile[:9] + profile[17:])
    assert min(profile) >= planner.PROFILE_FLOOR * 0.99
    assert planner.day_profile([], day0, day0 + DAY) == planner.FLAT


def test_with_company_discovery_the_busy_hours_take_the_pace_back_from_the_night() -> None:
    """Per-approver polling keeps 0.8 of the pace at night (no approver waits past its cap);
    with discovery one run finds everyone's documents, so the night may fall lower."""
    company = CompanyConfig(id="acme", base_url="", web_url="", document_types=("order",), quota=QuotaPolicy())
    approvers = [Approver(id=i, company="acme", team_id="T1", slack_user_id=f"U{i}", email=f"a{i}@x.test",
                          token_ciphertext="", status="active", registered_by="admin", created_at=START,
                          updated_at=START, last_polled_at=None, docs_seen=0) for i in range(1, 31)]
    working = [START + d * DAY + h * 3600.0 + 60.0 * k for d in range(3) for h in range(9, 17) for k in range(10)]
    profiles = {}
    for discovering in (False, True):
        state = planning.CompanyState(approvers=approvers, waiting_since=dict(enumerate(working)))
        arrivals = [(m, 1 + m % 30, at) for m, at in enumerate(working)]
        planning.learn(state, company, planner.ADAPTIVE, [], arrivals, START + 3 * DAY, min_interval=60.0,
                       discovering=discovering)
        profiles[discovering] = state.profile
        assert sum(state.profile) == pytest.approx(24.0)
    assert min(profiles[False]) == pytest.approx(planner.PROFILE_FLOOR)
    assert planner.DISCOVERY_PROFILE_FLOOR * 0.99 <= min(profiles[True]) < min(profiles[False]) - 0.2
    assert min(profiles[True][9:17]) > 1.2 * max(profiles[False][9:17])


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.floats(0.25, 4.0), min_size=24, max_size=24), start=st.floats(T0, T0 + 3 * DAY),
       amount=st.floats(0, 2 * DAY))
def test_profile_clock_and_its_inverse(weights: list[float], start: float, amount: float) -> None:
    profile = tuple(w * 24 / sum(weights) for w in weights)
    end = planner.after_weighted(profile, start, amount)
    assert planner.weighted_seconds(profile, start, end) == pytest.approx(amount, abs=1e-3)
    assert planner.weighted_seconds(profile, start, start + DAY) == pytest.approx(DAY, rel=1e-9)


def test_window_budget_spreads_a_shortfall_instead_of_filling_the_window() -> None:
    day_policy = QuotaPolicy(windows=(Window(86400, 3000, 200),), margin_seconds=0)
    polls = [T0 - DAY + i * 32.0 for i in range(2690)]  # a full day of polls, spread evenly...
    clicks = [T0 - DAY + 9 * 3600.0 + i * 288.0 for i in range(100)]  # ...and 100 clicks in working hours
    budget = 2690.0
    steady = planner.window_budget(polls, clicks, day_policy, budget, T0, interactive_per_day=100)
    assert steady == pytest.approx(budget, rel=0.01)
    more = sorted(clicks + [T0 - 600.0 + i for i in range(300)])  # 300 clicks more than planned, just now
    lowered = planner.window_budget(polls, more, day_policy, budget, T0, interactive_per_day=400)
    assert lowered < budget - 250
    assert planner.window_budget([], [], day_policy, budget, T0, interactive_per_day=100) == budget


def test_bucket_level_from_a_checkpoint_matches_a_full_replay() -> None:
    spends = [Spend(T0 - DAY + 40.0 * i, Lane.POLL) for i in range(2000)]
    full = planner.bucket_level(spends, 2600, T0)
    mark = T0 - 3600
    then = planner.bucket_level(spends, 2600, mark)
    assert planner.bucket_level([s for s in spends if s.at > mark], 2600, T0, since=mark, tokens_then=then) == \
        pytest.approx(full)


def test_round_robin_and_adaptive_are_policies_by_name() -> None:
    assert planner.PlanPolicy.named("round_robin") == planner.ROUND_ROBIN
    assert not planner.ROUND_ROBIN.learn_rates and not planner.ROUND_ROBIN.time_of_day
    with pytest.raises(ValueError, match="unknown planner policy"):
        planner.PlanPolicy.named("greedy")


# --- scenarios -----------------------------------------------------------------------------------------
def test_scenarios_replay_exactly_and_skew_as_asked() -> None:
    skewed = Scenario("s", 50, zipf=1.0, work_share=0.9, warmup_days=0, days=1, tail_days=0)
    first, second = draw(skewed), draw(skewed)
    assert first.arrivals == second.arrivals
    assert max(first.shares) > 10 * min(first.shares)
    in_hours = sum(1 for a in first.arrivals if skewed.in_work_hours(a.at))
    assert in_hours / len(first.arrivals) == pytest.approx(0.9, abs=0.06)
    equal = draw(Scenario("e", 50, warmup_days=0, days=1, tail_days=0))
    assert len(set(round(x, 12) for x in equal.shares)) == 1


# --- short runs of the real bot --------------------------------------------------------------------------
# Two simulated hours from midnight, people at their desks all day, deciding within minutes.
SHORT = Scenario("short", 10, docs_per_day=600, work_hours=(0.0, 24.0), reaction_minutes=3.0, warmup_days=0.0,
                 days=2 / 24, tail_days=0.25)


def test_a_short_simulated_run_posts_every_document_once_without_a_429() -> None:
    result = simulate(SHORT)
    assert_clean(result)
    interval = 10 * 2 / 2800 * DAY  # the equal-interval round at the whole day budget
    assert sum(result.delays) / len(result.delays) < 2.0 * interval
    assert max(result.delays) < 4.0 * interval
    # Clicks: none is overtaken by a poll, and each one's first request goes out within Precoro's
    # one-second spacing (plus the ledger's margin) of the click.
    assert len(result.click_waits) > 10
    assert result.overtaken_clicks == 0
    assert max(result.click_first_waits) <= 1.0 + POLICY.margin_seconds + 1e-6
    assert max(result.click_waits) <= 2 * (1.0 + POLICY.margin_seconds) + 1e-6
    assert result.requests_day > 0 and result.max_hour <= 1500
    assert "short" in table([row(result)])
    assert bound_seconds(result) > 0
    # equal rates, a flat day: the floor for what it spent is N·c/(2P) with P its poll requests
    assert spent_floor(result) == pytest.approx(10 * 2 / (2 * result.poll_day) * DAY)
    assert oracle_seconds(result) == pytest.approx(bound_seconds(result))


def test_a_restart_forgets_nothing_and_overspends_nothing() -> None:
    restarting = dataclasses.replace(SHORT, name="restart", restart_at_hours=(0.5, 1.25))
    result = simulate(restarting)
    assert result.restarts == 2
    assert_clean(result)
    assert result.overtaken_clicks == 0


def test_the_round_robin_baseline_runs_the_same_code_path() -> None:
    result = simulate(dataclasses.replace(SHORT, name="rr", days=1 / 24, policy="round_robin"))
    assert_clean(result)
    assert result.scenario.policy == "round_robin"
    assert math.isfinite(sum(result.delays))
