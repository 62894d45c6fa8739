"""Room for the hint reads webhooks predict (bot/quota/hint_room.py), by hand, on a fixed clock."""

from __future__ import annotations

import pytest

from bot.config import CompanyConfig
from bot.quota import hint_room, planner
from bot.quota.ledger import Lane, QuotaPolicy, Spend, Window
from bot.store.approvers import Approver
from bot.sync.planning import CompanyState, make_plan

DAY, HOUR = 86400.0, 3600.0
NOW = 1_736_121_600.0 + 16 * HOUR  # a Monday, 16:00 UTC
# One day window only (no margin): 1,000 requests, 100 of them kept for clicks.
DAY_ONLY = QuotaPolicy(windows=(Window(1, 1), Window(86400, 1000, 100)), margin_seconds=0.0)


def test_the_recent_rate_predicts_the_next_hour_and_yesterday_the_rest() -> None:
    recent = [NOW - 3600 + 60 * i for i in range(1, 61)]  # 60 hints in the last hour: one a minute
    yesterday = [NOW - DAY + 2 * HOUR + 10 * i for i in range(30)]  # 30 at 18:00 yesterday
    hints = sorted(recent + yesterday)
    assert hint_room.expected_hint_reads(hints, NOW, 600) == pytest.approx(10)  # 10 min at one a minute
    assert hint_room.expected_hint_reads(hints, NOW, HOUR) == pytest.approx(60)
    # 3 h: the next hour at the recent rate, then yesterday's 17:00-19:00 (its 30 at 18:00)
    assert hint_room.expected_hint_reads(hints, NOW, 3 * HOUR) == pytest.approx(90)
    assert hint_room.expected_hint_reads(hints, NOW, 3 * HOUR, reads_per_hint=2) == pytest.approx(180)
    assert hint_room.expected_hint_reads(hints, NOW, 3 * HOUR, cap=50) == pytest.approx(50)
    assert hint_room.expected_hint_reads([], NOW, HOUR) == 0.0


def test_no_hints_keep_no_room() -> None:
    assert hint_room.allowance([NOW - 10.0] * 500, DAY_ONLY, NOW, []) is None


def test_polls_leave_the_day_window_room_for_the_hints_expected() -> None:
    # 800 requests in the last 12 h (none leave the day window within 12 h), 900 the poll lane's limit:
    # without hints 100 may go; with one hint a minute over the last hour (60 expected in the next
    # hour, and yesterday's hours after it were quiet) only 40.
    spends = sorted(NOW - 12 * HOUR + 54 * i for i in range(800))
    hints = [NOW - 3600 + 60 * i for i in range(1, 61)]
    assert planner.poll_allowance([Spend(t, Lane.POLL) for t in spends], DAY_ONLY, 10_000, NOW,
                                  tokens=1e9, sorted_times=spends) == 100
    assert hint_room.allowance(spends, DAY_ONLY, NOW, hints) == 100 - 60


def test_room_that_frees_later_is_not_polls_to_take_now() -> None:
    # The same 800 requests, but sent about 23.95 h ago: they leave the day window within minutes.
    # Counting only the horizons, polls could take 900 - 199 - 5 = 696 (at 5 min: 199 still inside,
    # 5 hints expected), but they would then take each slot as it frees before the hints come:
    # the standing room keeps the next hour's 60 hints free now, 900 - 800 - 60 = 40.
    spends = sorted(NOW - 86220 + 0.2 * i for i in range(800))
    hints = [NOW - 3600 + 60 * i for i in range(1, 61)]
    assert hint_room.allowance(spends, DAY_ONLY, NOW, hints) == 900 - 800 - 60
    # ten minutes on, those requests have left; the least room is then a day ahead: the recent
    # hour's 50 hints (one a minute) for the next hour, and the last day's 60 for the rest
    later = NOW + 600
    assert hint_room.allowance(spends, DAY_ONLY, later, hints) == 900 - 0 - (50 + 60)


def test_the_room_kept_is_capped_at_half_the_lane() -> None:
    hints = [NOW - 3600 + 0.5 * i for i in range(1, 7000)]  # 7,000 hints an hour: far past any share
    room = hint_room.allowance([], DAY_ONLY, NOW, hints)
    assert room == 900 - hint_room.SHARE_CAP * 900


def test_the_plan_keeps_the_room_only_while_hints_come() -> None:
    company = CompanyConfig(id="acme", base_url="", web_url="", document_types=("purchaseorders",),
                            quota=QuotaPolicy())
    approvers = [Approver(id=i, company="acme", team_id="T1", slack_user_id=f"U{i}", email=f"a{i}@x.test",
                          token_ciphertext="x", status="active", registered_by="U0", created_at=NOW - 7 * DAY,
                          updated_at=NOW - 7 * DAY, last_polled_at=None, docs_seen=0)
                 for i in range(3)]
    # 2,200 requests spread over the last day: 600 places left of the 2,800 the poll lane allows
    spends = [Spend(NOW - DAY + 39 * i, Lane.POLL) for i in range(1, 2201)]
    quota = QuotaPolicy()
    hints = [NOW - 3600 + i for i in range(1, 3601)]  # one a second over the last hour
    plain = make_plan(company, CompanyState(approvers=approvers), spends, NOW, min_interval=60, quota=quota)
    kept = make_plan(company, CompanyState(approvers=approvers), spends, NOW, min_interval=60, quota=quota,
                     hint_times=hints)
    assert plain.allowance > 0
    assert kept.allowance == 0  # within 15 min: 900 hints expected, only ~23 old requests leave
