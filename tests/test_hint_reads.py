"""The hint reads' share of the day's poll budget: a fallback discovery run may draw ahead of the
pacing bucket only within `HINT_SHARE` over a sliding day, and the share comes back a day later."""

from __future__ import annotations

from bot.quota.ledger import QuotaPolicy
from bot.sync.hint_reads import HINT_SHARE, HintReader
from bot.sync.planning import DAY, Plan


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def plan(at: float, budget: float) -> Plan:
    return Plan(at=at, approvers=[], loads=[], budget_per_day=budget, hour_budget_per_day=budget, profile=(1.0,) * 24,
                interactive_per_day=0.0, intervals={}, bucket=0.0, allowance=0, list_room=0)


def test_draws_ahead_of_the_bucket_stop_at_the_share_and_come_back_after_a_day() -> None:
    clock = Clock()
    reader = HintReader(store=None, poller=None, discoverer=None, clock=clock)  # type: ignore[arg-type]
    budget, quota = 40.0, QuotaPolicy()
    granted = 0
    for _ in range(100):
        clock.t += 60.0  # a minute apart: Precoro's shorter windows never bind
        granted += 2 * reader.draw("acme", plan(clock.t, budget), quota, 2)
    assert granted == HINT_SHARE * budget
    assert reader.reads_today("acme") == granted
    clock.t += DAY
    assert reader.draw("acme", plan(clock.t, budget), quota, 2)
