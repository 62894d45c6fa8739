"""The poll planner: budget, intervals (fair and square-root law), due order, pacing."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.quota.ledger import Lane, QuotaPolicy, Spend, Window, earliest_slot
from bot.quota.planner import (
    DAY,
    DEFAULT_BURST,
    OFF_HOURS_DIVISOR,
    PRIOR_DOCS_PER_DAY,
    Approver,
    backlog_order,
    in_working_hours,
    intervals,
    longest_wait,
    poll_allowance,
    poll_budget_per_day,
)

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
NOON_UTC = 1_700_049_600.0  # 2023-11-15 12:00:00 UTC
POLICY = QuotaPolicy(margin_seconds=0.5)  # the arithmetic below is written for this margin


def daily_use(approvers: list[Approver], plan: dict[str, float]) -> float:
    return sum(a.cost * DAY / plan[a.key] for a in approvers)


def team(n: int, cost: int = 2, **kwargs: object) -> list[Approver]:
    return [Approver(f"u{i:02d}", cost, None, **kwargs) for i in range(n)]  # type: ignore[arg-type]


# --- budget -------------------------------------------------------------------------------------
def test_budget_is_the_tightest_window_after_reserve_and_clicks() -> None:
    assert poll_budget_per_day(POLICY, 0) == pytest.approx(2800 * DAY / 86400.5)
    assert poll_budget_per_day(POLICY, 100) == pytest.approx(2800 * DAY / 86400.5 - 100)
    hourly = QuotaPolicy(windows=(Window(1, 1), Window(3600, 50, 10)), margin_seconds=0)
    assert poll_budget_per_day(hourly, 60) == pytest.approx(40 * 24 - 60)
    assert poll_budget_per_day(POLICY, 10_000) == 0.0


# --- intervals ----------------------------------------------------------------------------------
def test_equal_approvers_get_equal_intervals_and_use_the_budget_exactly() -> None:
    approvers = team(20)
    plan = intervals(approvers, 2000, T0)
    assert set(plan) == {a.key for a in approvers}
    assert len(set(plan.values())) == 1
    assert plan["u00"] == pytest.approx(20 * 2 * DAY / 2000)  # sum(cost) * 86400 / B
    assert daily_use(approvers, plan) == pytest.approx(2000, rel=1e-9)
    assert daily_use(approvers, plan) <= 2000


def test_fair_default_ignores_cost_differences() -> None:
    approvers = [Approver("a", 1, None), Approver("b", 3, T0 - 10), Approver("c", 6, None)]
    plan = intervals(approvers, 2000, T0)
    assert plan["a"] == pytest.approx(plan["b"]) == pytest.approx(plan["c"]) == pytest.approx(10 * DAY / 2000)


def test_adding_or_removing_an_approver_recomputes() -> None:
    three = intervals(team(30)[:30], 2000, T0)["u00"]
    four = intervals(team(40), 2000, T0)["u00"]
    assert four == pytest.approx(three * 40 / 30)
    assert intervals(team(40)[:30], 2000, T0)["u00"] == pytest.approx(three)
    assert intervals([], 2000, T0) == {}


def test_busy_approver_is_polled_more_often_and_a_quiet_one_within_max_interval() -> None:
    approvers = [Approver("busy", 2, None, docs_per_day=80),
                 *(Approver(f"quiet{i}", 2, None) for i in range(40))]
    plan = intervals(approvers, 2000, T0, max_interval=3600)
    assert plan["busy"] < plan["quiet0"] <= 3600
    assert daily_use(approvers, plan) == pytest.approx(2000, rel=1e-9)
    # square-root law while both are unclamped: T ∝ sqrt(cost / (rate + prior))
    plan = intervals(approvers, 2000, T0, max_interval=1e9)
    expected = math.sqrt((80 + PRIOR_DOCS_PER_DAY) / PRIOR_DOCS_PER_DAY)
    assert plan["quiet0"] / plan["busy"] == pytest.approx(expected)


def test_cost_matters_with_learned_rates() -> None:
    approvers = [Approver("cheap", 1, None, docs_per_day=5), Approver("dear", 4, None, docs_per_day=5)]
    plan = intervals(approvers, 500, T0, max_interval=1e9)
    assert plan["dear"] / plan["cheap"] == pytest.approx(2.0)


def test_plenty_of_budget_stops_at_min_interval() -> None:
    plan = intervals(team(3), 1_000_000, T0, min_interval=60)
    assert set(plan.values()) == {60}


def test_too_small_a_budget_stretches_past_max_interval() -> None:
    approvers = team(100)
    plan = intervals(approvers, 500, T0, max_interval=3600)
    assert all(t > 3600 for t in plan.values())
    assert daily_use(approvers, plan) == pytest.approx(500, rel=1e-9)


def test_zero_budget_never_polls_again() -> None:
    assert intervals(team(2), 0, T0) == {"u00": math.inf, "u01": math.inf}


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="min_interval"):
        intervals(team(2), 100, T0, min_interval=0)
    with pytest.raises(ValueError, match="min_interval"):
        intervals(team(2), 100, T0, min_interval=600, max_interval=60)


def test_working_hours_with_offset_and_midnight_wrap() -> None:
    nine_to_five = Approver("a", 1, None, working_hours=(9, 17))
    assert in_working_hours(nine_to_five, NOON_UTC)
    assert not in_working_hours(nine_to_five, NOON_UTC + 6 * 3600)
    new_york = Approver("b", 1, None, working_hours=(9, 17), utc_offset_hours=-5)
    assert not in_working_hours(new_york, NOON_UTC)  # 07:00 there
    assert in_working_hours(new_york, NOON_UTC + 3 * 3600)
    night_shift = Approver("c", 1, None, working_hours=(22, 6))
    assert in_working_hours(night_shift, NOON_UTC - 12 * 3600 + 3600)  # 01:00
    assert not in_working_hours(night_shift, NOON_UTC)
    assert in_working_hours(Approver("d", 1, None), NOON_UTC)


def test_off_hours_approver_is_polled_less() -> None:
    approvers = [Approver("here", 2, None, working_hours=(9, 17)),
                 Approver("asleep", 2, None, working_hours=(9, 17), utc_offset_hours=-9)]  # 03:00
    plan = intervals(approvers, 1000, NOON_UTC, max_interval=1e9)
    assert plan["asleep"] / plan["here"] == pytest.approx(math.sqrt(OFF_HOURS_DIVISOR))
    assert daily_use(approvers, plan) == pytest.approx(1000, rel=1e-9)
    learned = [Approver(a.key, 2, None, docs_per_day=10, working_hours=a.working_hours,
                        utc_offset_hours=a.utc_offset_hours) for a in approvers]
    plan = intervals(learned, 1000, NOON_UTC, max_interval=1e9)
    assert plan["asleep"] / plan["here"] == pytest.approx(math.sqrt(OFF_HOURS_DIVISOR))


APPROVERS = st.lists(
    st.builds(
        Approver,
        key=st.text("abcdef", min_size=1, max_size=4),
        cost=st.integers(1, 6),
        last_polled=st.none(),
        docs_per_day=st.one_of(st.just(0.0), st.floats(0, 200)),
        working_hours=st.one_of(st.none(), st.tuples(st.integers(0, 23), st.integers(0, 23)).map(
            lambda h: (float(h[0]), float(h[1])))),
        utc_offset_hours=st.sampled_from([-8.0, 0.0, 5.5]),
    ),
    min_size=1, max_size=40, unique_by=lambda a: a.key,
)


@settings(max_examples=150, deadline=None)
@given(approvers=APPROVERS, budget=st.floats(10, 20_000), now=st.floats(T0, T0 + DAY),
       max_interval=st.sampled_from([600.0, 3600.0, 14400.0]))
def test_plans_always_respect_the_budget_and_bounds(approvers: list[Approver], budget: float, now: float,
                                                    max_interval: float) -> None:
    plan = intervals(approvers, budget, now, max_interval=max_interval)
    use = daily_use(approvers, plan)
    assert use <= budget * (1 + 1e-12)
    assert all(t >= 60 for t in plan.values())
    if sum(a.cost for a in approvers) * DAY / max_interval <= budget:
        assert all(t <= max_interval for t in plan.values())
    if any(60 < t < max_interval for t in plan.values()):  # someone unclamped: nothing is wasted
        assert use == pytest.approx(budget, rel=1e-9)


# --- who goes next: backlog_order -----------------------------------------------------------------
def test_never_polled_first_then_the_largest_backlog_per_request() -> None:
    approvers = [
        Approver("quiet", 2, T0 - 3600, docs_per_day=1.0),  # backlog 1 * 3600^2 / 2 per 2 requests
        Approver("busy", 2, T0 - 1800, docs_per_day=9.0),  # 9 * 1800^2 / 2: more than quiet's
        Approver("pricey", 8, T0 - 1800, docs_per_day=9.0),  # the same backlog, four times the cost
        Approver("new", 2, None),
    ]
    assert backlog_order(approvers, T0, max_requests=100) == ["new", "busy", "quiet", "pricey"]


def test_equal_rates_make_round_robin() -> None:
    approvers = [Approver(f"u{i}", 2, T0 - 60 * (i + 1), docs_per_day=3.0) for i in range(5)]
    assert backlog_order(approvers, T0, max_requests=100) == ["u4", "u3", "u2", "u1", "u0"]


def test_ties_go_by_the_id_as_a_number_so_where_a_company_s_ids_start_does_not_matter() -> None:
    def order(ids: range) -> list[int]:
        approvers = [Approver(str(i), 1, None) for i in reversed(ids)]
        return [int(k) - ids.start for k in backlog_order(approvers, T0, max_requests=100)]

    assert order(range(1, 31)) == list(range(30))
    assert order(range(31, 61)) == order(range(1, 31)) == order(range(991, 1021))


def test_order_stops_at_the_first_that_does_not_fit_and_keeps_min_interval() -> None:
    approvers = [Approver("a", 2, None), Approver("b", 5, T0 - 1000, docs_per_day=5.0),
                 Approver("c", 1, T0 - 500, docs_per_day=1.0), Approver("just", 1, T0 - 30, docs_per_day=50.0)]
    assert backlog_order(approvers, T0, max_requests=6, min_interval=60) == ["a"]  # b does not fit: c waits
    assert backlog_order(approvers, T0, max_requests=8, min_interval=60) == ["a", "b", "c"]
    assert backlog_order(approvers, T0, max_requests=0) == []


def test_the_backlog_follows_the_day_when_documents_arrive() -> None:
    """Two approvers of equal rate, last polled 6 h ago and 3 h ago: with arrivals only at night
    (UTC 0-6), the one whose last poll came before the night has the backlog, the other none."""
    night = tuple(4.0 if h < 6 else 0.0 for h in range(24))
    at_9 = NOON_UTC - 3 * 3600  # 09:00 UTC
    before, after = Approver("before", 1, at_9 - 9 * 3600, 2.0), Approver("after", 1, at_9 - 3 * 3600, 2.0)
    assert backlog_order([after, before], at_9, max_requests=1, arrivals=night) == ["before"]
    assert backlog_order([after, before], at_9, max_requests=10, arrivals=night)[0] == "before"


def test_a_quiet_approver_unpolled_past_the_longest_wait_goes_before_a_larger_backlog() -> None:
    """With a quiet night ahead, the backlog index alone would keep a quiet approver waiting
    behind a busy one all night; past `longest_wait` the quiet one goes first."""
    busy, quiet = Approver("busy", 2, T0 - 3600, docs_per_day=50.0), Approver("quiet", 2, T0 - 9 * 3600, 0.1)
    assert backlog_order([busy, quiet], T0, max_requests=2) == ["busy"]
    assert backlog_order([busy, quiet], T0, max_requests=2, max_wait=9 * 3600) == ["quiet"]
    older = Approver("older", 2, T0 - 10 * 3600, 0.1)
    assert backlog_order([busy, quiet, older], T0, max_requests=6, max_wait=9 * 3600) == ["older", "quiet", "busy"]


def test_longest_wait_is_a_multiple_of_the_round_robin_period() -> None:
    approvers = [Approver(f"u{i}", 2, None) for i in range(100)]  # 200 requests a round
    assert longest_wait(approvers, 2400.0, factor=2.0) == pytest.approx(2 * 200 * DAY / 2400)
    assert longest_wait(approvers, 0.0) == math.inf
    assert longest_wait([], 2400.0) == math.inf


# --- pacing -------------------------------------------------------------------------------------
def test_allowance_starts_at_the_burst_and_refills_at_the_budget_rate() -> None:
    assert poll_allowance([], POLICY, 2700, T0) == DEFAULT_BURST
    spends = [Spend(T0 + 1.5 * i, Lane.POLL) for i in range(10)]
    now = spends[-1].at
    assert poll_allowance(spends, POLICY, 2700, now) == 0
    per_token = DAY / 2700
    assert poll_allowance(spends, POLICY, 2700, now + 3 * per_token + 1) == 3
    clicks = [Spend(T0 + 1.5 * i, Lane.INTERACTIVE) for i in range(10)]
    assert poll_allowance(clicks, POLICY, 2700, now) == DEFAULT_BURST  # clicks come off the budget already


def test_allowance_is_capped_by_the_poll_lane_room() -> None:
    policy = QuotaPolicy(windows=(Window(1, 1), Window(3600, 20, 5)), margin_seconds=0.5)
    spends = [Spend(T0 + 2.0 * i, Lane.INTERACTIVE) for i in range(12)]
    assert poll_allowance(spends, policy, 100_000, T0 + 30) == 3


def test_pacing_spreads_the_day_budget() -> None:
    """A greedy poller that sends all it is allowed, every minute, for a day (fake clock)."""
    budget = poll_budget_per_day(POLICY, interactive_per_day=100)
    spends: list[Spend] = []
    by_hour = [0] * 24
    clock = T0
    for minute in range(24 * 60):
        clock = max(clock, T0 + 60.0 * minute)
        for _ in range(poll_allowance(spends, POLICY, budget, clock)):
            at = earliest_slot(spends[-2:], POLICY, Lane.POLL, clock)  # the last ones suffice for spacing
            assert at is not None
            clock = at
            spends.append(Spend(at, Lane.POLL))
            by_hour[minute // 60] += 1
    per_hour = budget / 24
    assert sum(by_hour[:12]) <= budget / 2 + DEFAULT_BURST + 1  # not burnt by noon
    assert sum(by_hour) >= budget - DEFAULT_BURST - 2  # but used by the end of the day
    assert sum(by_hour) <= budget + DEFAULT_BURST
    assert all(abs(n - per_hour) <= DEFAULT_BURST + 2 for n in by_hour)
    assert all(later.at - earlier.at >= 1.5 for earlier, later in pairwise(spends))
