"""The bot's share of Precoro's windows and what a 429 teaches about other integrations (pure)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config
from bot.quota.ledger import Lane, QuotaPolicy, Spend, earliest_slot
from bot.quota.share import OutsideUse, bot_policy, describe_share, learn_429, outside_now
from tests.support.config import minimal, with_

PRECORO = QuotaPolicy(share=0.8)  # 1/s, 1500/h (100 for clicks), 3000/day (200 for clicks)
T0 = 1_736_121_600.0


def _spends(n: int, start: float, step: float = 2.0, lane: Lane = Lane.POLL) -> list[Spend]:
    return [Spend(start + i * step, lane) for i in range(n)]


def test_share_divides_volume_windows_not_spacing_and_keeps_the_click_reserve() -> None:
    mine = bot_policy(PRECORO)
    assert [(w.seconds, w.limit, w.reserve) for w in mine.windows] == [(1, 1, 0), (3600, 1200, 100),
                                                                       (86400, 2400, 200)]
    assert mine.windows[1].lane_limit(Lane.POLL) == 1100 and mine.windows[1].lane_limit(Lane.INTERACTIVE) == 1200
    assert bot_policy(QuotaPolicy(share=1.0)).windows == QuotaPolicy().windows
    # A tiny share never eats the reserve: clicks keep theirs, polls get one.
    tiny = bot_policy(QuotaPolicy(share=0.01))
    assert tiny.windows[1].limit == 101 and tiny.windows[1].lane_limit(Lane.POLL) == 1


def test_polls_stop_at_the_share_and_clicks_still_get_their_reserve() -> None:
    mine = bot_policy(PRECORO)
    now = T0 + 3000.0
    spends = _spends(1100, now - 2990.0, step=2.5)  # 1100 polls in the last hour
    assert earliest_slot(spends, mine, Lane.POLL, now) > now + 1.0  # polls wait for the hour to roll
    assert earliest_slot(spends, mine, Lane.INTERACTIVE, now) <= now + 1.0  # clicks do not
    # Precoro's own windows would have let polls on: 400 more an hour are left to others.
    assert earliest_slot(spends, QuotaPolicy(), Lane.POLL, now) <= now + 1.0


def test_a_429_within_the_share_is_learned_as_outside_use() -> None:
    now = T0 + 3600.0
    spends = _spends(600, now - 3000.0, step=4.0)  # the bot: 600 this hour, well within 1200
    learned = learn_429(spends, PRECORO, "Limiter by hour", now, {}, now + 600.0)
    assert learned is not None
    assert learned[3600.0] == OutsideUse(3600.0, 900.0, now, now + 600.0)  # 1500 - 600 were someone else's
    # The bot keeps below what is left: 600 of 1500, not 1200.
    assert bot_policy(PRECORO, outside_now(learned, now)).windows[1].limit == 600


def test_the_bot_s_own_overspend_is_not_blamed_on_others() -> None:
    now = T0 + 3600.0
    spends = _spends(1300, now - 3500.0, step=2.6)  # beyond its 1200 (a ledger lost, a clock skewed)
    assert learn_429(spends, PRECORO, "Limiter by hour", now, {}, now + 60.0) is None
    # Spacing and duplicate 429s say nothing about others' volume.
    assert learn_429([], PRECORO, "Concurrency limiter by second", now, {}, now + 1.0) is None
    assert learn_429([], PRECORO, "Route based limiter by minute", now, {}, now + 60.0) is None


def test_an_untyped_429_is_put_on_the_fullest_window() -> None:
    now = T0 + 86400.0
    spends = _spends(2000, now - 80000.0, step=39.0)  # day: 2000 of 3000; hour: ~92 of 1500
    learned = learn_429(spends, PRECORO, "", now, {}, now + 3600.0)
    assert learned is not None and set(learned) == {86400.0}
    assert learned[86400.0].requests == 1000.0


def test_outside_use_holds_until_the_window_resets_and_a_new_429_teaches_again() -> None:
    """Precoro's windows are fixed: the other integration's requests all leave the window at the
    reset the 429 named, not one by one over a window length."""
    learned = {3600.0: OutsideUse(3600.0, 900.0, T0, T0 + 1800.0)}
    assert outside_now(learned, T0) == {3600.0: 900.0}
    assert outside_now(learned, T0 + 1799.9) == {3600.0: 900.0}
    assert outside_now(learned, T0 + 1800.0) == {}
    mine = [bot_policy(PRECORO, outside_now(learned, T0 + t)).windows[1].limit for t in (0, 1799, 1800, 3600)]
    assert mine == [600, 600, 1200, 1200]  # the whole share back at the reset, never beyond it
    # A second 429 while the first still holds keeps the larger estimate, until its own reset.
    again = learn_429(_spends(100, T0 + 1000.0, 5.0), PRECORO, "Limiter by hour", T0 + 1700.0, learned,
                      T0 + 1800.0)
    assert again is not None and again[3600.0] == OutsideUse(3600.0, 1400.0, T0 + 1700.0, T0 + 1800.0)
    # One in a later window starts from what that window shows; a reset already passed is forgotten.
    later = learn_429(_spends(100, T0 + 2000.0, 5.0), PRECORO, "Limiter by hour", T0 + 2600.0, learned,
                      T0 + 5400.0)
    assert later is not None and later[3600.0].requests == 1400.0 and later[3600.0].until == T0 + 5400.0


def test_the_issue_s_429_twenty_seconds_before_the_reset_gives_polls_their_share_back() -> None:
    """Issue 23, item 6: 20 of the bot's requests in the hour, a "Limiter by hour" 429 naming a
    retry 20 s ahead. Sliding windows left polls 1, 1, 18, 43, 166 slots at 0, 1, 4, 5, 10 min."""
    now = T0 + 3600.0
    spends = _spends(20, now - 1200.0, step=60.0)
    learned = learn_429(spends, PRECORO, "Limiter by hour", now, {}, now + 20.0)
    assert learned is not None and learned[3600.0].requests == 1480.0
    polls = [bot_policy(PRECORO, outside_now(learned, now + 60.0 * m)).windows[1].lane_limit(Lane.POLL)
             for m in (0, 1, 4, 5, 10)]
    assert polls == [1, 1100, 1100, 1100, 1100]
    # A named retry beyond the window's length is not believed past one window (plus the margin).
    far = learn_429(spends, PRECORO, "Limiter by hour", now, {}, now + 86400.0)
    assert far is not None and far[3600.0].until == now + 3600.0 + PRECORO.margin_seconds


def test_config_share_defaults_to_0_8_and_is_checked() -> None:
    config = parse_config(minimal(), {})
    assert config.companies[0].quota.share == 0.8
    assert describe_share(config.companies[0].quota) == (
        "quota share 80%: the bot uses at most 1200 of 1500 per hour (100 of them kept for clicks), "
        "2400 of 3000 per day (200 of them kept for clicks)")
    assert parse_config(with_("quota.share", 1), {}).companies[0].quota.share == 1.0
    assert parse_config(with_("precoro.quota", {"share": 0.5}), {}).companies[0].quota.share == 0.5
    for bad in (1.5, 0, "half"):
        with pytest.raises(ConfigError) as caught:
            parse_config(with_("quota.share", bad), {})
        assert "quota.share" in str(caught.value)
