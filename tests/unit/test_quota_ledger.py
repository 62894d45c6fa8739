"""The quota ledger: sliding windows, lanes, duplicate GETs, 429 retry times."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.precoro import api
from bot.quota.ledger import (
    Lane,
    QuotaPolicy,
    Spend,
    Window,
    earliest_slot,
    retry_at_from_429,
    spent,
)

T0 = 1_700_000_000.0
POLICY = QuotaPolicy(margin_seconds=0.5)  # the arithmetic below is written for this margin
EXACT = QuotaPolicy(margin_seconds=0.0)
POLL, CLICK = Lane.POLL, Lane.INTERACTIVE


# --- unit tests ----------------------------------------------------------------------------------
def test_empty_ledger_sends_now() -> None:
    assert earliest_slot([], POLICY, POLL, T0) == T0
    assert earliest_slot([], POLICY, CLICK, T0, get_key="/invoices") == T0


def test_one_request_per_second_widened_by_margin() -> None:
    spends = [Spend(T0, POLL)]
    assert earliest_slot(spends, POLICY, POLL, T0) == T0 + 1.5
    assert earliest_slot(spends, POLICY, CLICK, T0 + 0.2) == T0 + 1.5
    assert earliest_slot(spends, EXACT, POLL, T0) == T0 + 1.0
    assert earliest_slot(spends, POLICY, POLL, T0 + 5) == T0 + 5


def test_in_flight_request_at_now_blocks_the_second() -> None:
    assert earliest_slot([Spend(T0, CLICK)], POLICY, CLICK, T0) == T0 + 1.5


def _hour_of_polls(count: int, end: float) -> list[Spend]:
    return [Spend(end - 2.0 * (count - i), POLL, f"/p{i}") for i in range(count)]


def test_interactive_gets_the_reserve_when_polls_are_exhausted() -> None:
    spends = _hour_of_polls(1400, T0)  # hour window: 1500 - 100 reserved; oldest at T0 - 2800
    assert earliest_slot(spends, POLICY, POLL, T0) == spends[0].at + 3600.5
    assert earliest_slot(spends, POLICY, CLICK, T0) == T0
    full = [*spends, *(Spend(T0 + 2.0 * i, CLICK) for i in range(100))]
    now = full[-1].at + 2
    assert earliest_slot(full, POLICY, CLICK, now) == spends[0].at + 3600.5
    assert earliest_slot(full, POLICY, POLL, now) == spends[100].at + 3600.5


def test_day_window_reserve() -> None:
    spends = [Spend(T0 - 86000 + 30.0 * i, POLL) for i in range(2800)]
    assert earliest_slot(spends, POLICY, POLL, T0) == spends[0].at + 86400.5
    assert earliest_slot(spends, POLICY, CLICK, T0) == T0


def test_blocked_until_is_honored() -> None:
    assert earliest_slot([], POLICY, POLL, T0, blocked_until=T0 + 30) == T0 + 30
    assert earliest_slot([], POLICY, CLICK, T0, blocked_until=T0 + 30) == T0 + 30
    assert earliest_slot([], POLICY, CLICK, T0, blocked_until=T0 - 30) == T0
    # the later of the block and the spacing
    assert earliest_slot([Spend(T0, POLL)], POLICY, POLL, T0, blocked_until=T0 + 1) == T0 + 1.5


def test_lane_that_can_never_send() -> None:
    policy = QuotaPolicy(windows=(Window(1, 1), Window(60, 5, 5)), margin_seconds=0.5)
    assert earliest_slot([], policy, POLL, T0) is None
    assert earliest_slot([], policy, CLICK, T0) == T0
    closed = QuotaPolicy(windows=(Window(60, 0),))
    assert earliest_slot([], closed, CLICK, T0) is None


def test_no_identical_get_within_a_minute() -> None:
    spends = [Spend(T0, POLL, "/invoices?page=1")]
    assert earliest_slot(spends, POLICY, POLL, T0 + 10, get_key="/invoices?page=1") == T0 + 60.5
    assert earliest_slot(spends, POLICY, CLICK, T0 + 10, get_key="/invoices?page=1") == T0 + 60.5
    assert earliest_slot(spends, POLICY, POLL, T0 + 10, get_key="/invoices?page=2") == T0 + 10
    assert earliest_slot(spends, POLICY, CLICK, T0 + 10) == T0 + 10  # writes are exempt
    assert earliest_slot(spends, EXACT, POLL, T0 + 10, get_key="/invoices?page=1") == T0 + 60


def test_unsorted_spends_give_the_same_slot() -> None:
    spends = [Spend(T0 - 3000 + 2.0 * i, POLL if i % 3 else CLICK, f"/k{i % 7}") for i in range(1450)]
    shuffled = spends[:]
    random.Random(4).shuffle(shuffled)
    for lane in Lane:
        for key in (None, "/k3"):
            assert earliest_slot(shuffled, POLICY, lane, T0, get_key=key) == earliest_slot(
                spends, POLICY, lane, T0, get_key=key)


def test_spend_ahead_of_now_is_kept_clear_on_both_sides() -> None:
    # another replica's clock runs ahead: its request is stamped after our now
    spends = [Spend(T0 + 0.7, CLICK)]
    slot = earliest_slot(spends, POLICY, POLL, T0)
    assert slot == T0 + 0.7 + 1.5
    ahead = [Spend(T0 + 30, POLL, "/x")]
    assert earliest_slot(ahead, POLICY, POLL, T0, get_key="/x") == T0 + 30 + 60.5


def test_fast_for_a_full_day_of_spends() -> None:
    rng = random.Random(1)
    spends = [Spend(T0 - rng.uniform(0, 86400), rng.choice(list(Lane)), f"/k{rng.randrange(50)}")
              for _ in range(3000)]
    started = time.perf_counter()
    for lane in Lane:
        earliest_slot(spends, POLICY, lane, T0, get_key="/k1")
    assert time.perf_counter() - started < 0.25


def test_spent_counts_both_lanes_in_the_window() -> None:
    spends = [Spend(T0 - 10, POLL), Spend(T0 - 5, CLICK), Spend(T0 - 3600, POLL), Spend(T0 + 1, POLL)]
    assert spent(spends, Window(3600, 1500), T0) == 2
    assert spent(spends, Window(3601, 1500), T0) == 3
    assert spent([], Window(1, 1), T0) == 0


# --- 429 retry times -----------------------------------------------------------------------------
RETRY_TEXT = "2025-12-16 09:00:49 UTC"
RETRY_AT = datetime(2025, 12, 16, 9, 0, 49, tzinfo=UTC).timestamp()


def test_retry_from_precoro_body() -> None:
    body = {"error": "Too many requests for this endpoint",
            api.RATE_LIMIT_TYPE: "Route based limiter by minute",
            api.RATE_LIMIT_RETRY_AFTER: RETRY_TEXT, api.RATE_LIMIT_LIMIT: 1}
    assert retry_at_from_429(body, {}, RETRY_AT - 30, POLICY) == RETRY_AT + 0.5
    assert retry_at_from_429(body, {}, RETRY_AT - 30, EXACT) == RETRY_AT


def test_retry_from_precoro_header_any_case() -> None:
    headers = {"ratelimit-retry-after": RETRY_TEXT}
    assert retry_at_from_429({}, headers, RETRY_AT - 30, EXACT) == RETRY_AT


def test_precoro_time_wins_over_standard_header() -> None:
    body = {api.RATE_LIMIT_RETRY_AFTER: RETRY_TEXT}
    assert retry_at_from_429(body, {"Retry-After": "5"}, RETRY_AT - 30, EXACT) == RETRY_AT


@pytest.mark.parametrize("value", ["120", " 120 ", "120.0"])
def test_retry_after_seconds(value: str) -> None:
    assert retry_at_from_429({}, {"Retry-After": value}, T0, POLICY) == T0 + 120.5


def test_retry_after_http_date() -> None:
    when = datetime(2025, 12, 16, 9, 0, 49, tzinfo=UTC)
    headers = {"retry-after": format_datetime(when, usegmt=True)}  # "Tue, 16 Dec 2025 09:00:49 GMT"
    assert retry_at_from_429({}, headers, RETRY_AT - 100, EXACT) == RETRY_AT


def test_retry_from_httpx_headers() -> None:
    httpx = pytest.importorskip("httpx")
    headers = httpx.Headers({"Retry-After": "30"})
    assert retry_at_from_429({}, headers, T0, EXACT) == T0 + 30


@pytest.mark.parametrize(
    ("limit_type", "wait"),
    [("Hour limit", 3600.5), ("daily limiter by day", 86400.5), ("Route based limiter by minute", 60.5),
     ("by second", 1.5), ("something new", 86400.5), ("", 2.0)],  # no field at all: a bare 429's short back-off
)
def test_retry_falls_back_to_the_named_window(limit_type: str, wait: float) -> None:
    body = {api.RATE_LIMIT_TYPE: limit_type} if limit_type else {}
    assert retry_at_from_429(body, {}, T0, POLICY) == T0 + wait


def test_unparsable_times_fall_back() -> None:
    body = {api.RATE_LIMIT_RETRY_AFTER: "soon", api.RATE_LIMIT_TYPE: "per hour"}
    assert retry_at_from_429(body, {"Retry-After": "later"}, T0, POLICY) == T0 + 3600.5
    assert retry_at_from_429({api.RATE_LIMIT_RETRY_AFTER: 5}, {}, T0, POLICY) == T0 + 2.0  # as a bare 429


@pytest.mark.parametrize("headers", [{"Retry-After": "0"}, {"Retry-After": "-5"},
                                     {"Retry-After": "Tue, 16 Dec 2003 09:00:49 GMT"}])
def test_retry_is_never_earlier_than_one_second(headers: dict[str, str]) -> None:
    assert retry_at_from_429({}, headers, T0, POLICY) == T0 + 1
    past = {api.RATE_LIMIT_RETRY_AFTER: api.format_retry_after(T0 - 60)}
    assert retry_at_from_429(past, {}, T0, POLICY) == T0 + 1


# --- properties ----------------------------------------------------------------------------------
@st.composite
def small_policies(draw: st.DrawFn) -> QuotaPolicy:
    """Windows small enough for a short random run to hit every limit."""
    windows = [Window(1, 1)]
    for seconds in (draw(st.integers(10, 120)), draw(st.integers(200, 900))):
        limit = draw(st.integers(2, 14))
        windows.append(Window(seconds, limit, draw(st.integers(0, limit - 1))))
    return QuotaPolicy(windows=tuple(windows), margin_seconds=draw(st.sampled_from([0.0, 0.5, 1.25])))


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("poll"), st.sampled_from(["/a", "/b", "/c"])),
        st.tuples(st.just("click"), st.none()),
        st.tuples(st.just("429"), st.floats(0, 200)),
        st.tuples(st.just("jump"), st.floats(0, 40)),
    ),
    max_size=120,
)


def _occupying(spends: list[Spend], index: int, seconds: float) -> int:
    """Brute force: spends (sorted by time) occupying a window of `seconds` at spends[index]."""
    at = spends[index].at
    return sum(1 for s in spends if s.at <= at < s.at + seconds)


@settings(max_examples=120, deadline=None)
@given(policy=small_policies(), actions=ACTIONS)
def test_requests_sent_at_their_slot_never_break_a_limit(policy: QuotaPolicy,
                                                         actions: list[tuple[str, object]]) -> None:
    now, blocked = T0, 0.0
    sent: list[Spend] = []
    for kind, arg in actions:
        if kind == "jump":
            now += float(arg)  # type: ignore[arg-type]
            continue
        lane = CLICK if kind == "click" else POLL
        key = arg if kind == "poll" else None
        ledger = sent[::-1] if len(sent) % 2 else sent  # order must not matter
        slot = earliest_slot(ledger, policy, lane, now, get_key=key, blocked_until=blocked)  # type: ignore[arg-type]
        assert slot is not None
        assert slot >= now and slot >= blocked
        now = slot
        sent.append(Spend(now, lane, key))  # type: ignore[arg-type]
        if kind == "429":  # failed requests count, and block everything until their retry time
            blocked = retry_at_from_429({}, {"Retry-After": str(arg)}, now, policy)
            assert blocked >= now + 1

    sent.sort(key=lambda s: s.at)
    for index, spend in enumerate(sent):
        for window in policy.windows:
            occupying = _occupying(sent, index, window.seconds)
            assert occupying <= window.limit
            if spend.lane is POLL:
                assert occupying <= window.limit - window.reserve
    by_key: dict[str, list[float]] = {}
    for spend in sent:
        if spend.get_key is not None:
            by_key.setdefault(spend.get_key, []).append(spend.at)
    for times in by_key.values():
        assert all(later >= earlier + policy.duplicate_get_seconds for earlier, later in pairwise(times))


def _oracle(spends: list[Spend], policy: QuotaPolicy, lane: Lane, now: float, key: str | None,
            blocked: float) -> float | None:
    """Try every time a constraint can start to hold and return the first that satisfies all."""
    widths = [(w.seconds + policy.margin_seconds, w.lane_limit(lane)) for w in policy.windows]
    dup = policy.duplicate_get_seconds + policy.margin_seconds
    if any(limit <= 0 for _, limit in widths):
        return None
    start = max(now, blocked)
    candidates = {start} | {s.at + width for s in spends for width, _ in widths}
    candidates |= {s.at + dup for s in spends if key is not None and s.get_key == key}

    def fits(t: float) -> bool:
        if any(sum(1 for s in spends if s.at + width > t) >= limit for width, limit in widths):
            return False
        return not any(s.get_key == key and s.at + dup > t for s in spends if key is not None)

    return min(t for t in candidates if t >= start and fits(t))


SPEND_TIMES = st.one_of(st.integers(0, 400).map(float), st.floats(0, 400))


@settings(max_examples=150, deadline=None)
@given(
    policy=small_policies(),
    raw=st.lists(st.tuples(SPEND_TIMES, st.sampled_from(list(Lane)), st.sampled_from([None, "/a", "/b"])),
                 max_size=40),
    lane=st.sampled_from(list(Lane)),
    key=st.sampled_from([None, "/a", "/b"]),
    blocked=st.floats(-50, 500),
)
def test_slot_is_the_exact_earliest(policy: QuotaPolicy, raw: list[tuple[float, Lane, str | None]],
                                    lane: Lane, key: str | None, blocked: float) -> None:
    now = T0 + 400
    spends = [Spend(T0 + at, spend_lane, spend_key) for at, spend_lane, spend_key in raw]
    expected = _oracle(spends, policy, lane, now, key, T0 + blocked)
    assert earliest_slot(spends, policy, lane, now, get_key=key, blocked_until=T0 + blocked) == expected
