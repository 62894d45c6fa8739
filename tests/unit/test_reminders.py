"""When reminders and digests are due (pure, clock injected), and their config."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.config import ConfigError, ReminderConfig, parse_config
from bot.features.home import messages as home_messages
from bot.features.reminders.rules import ReminderState, digest_day, reminder_due
from bot.slack import messages
from bot.workdays import is_working, next_working, working_seconds
from tests.support.config import minimal, with_

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
POLICY = ReminderConfig(after_working_hours=4, repeat_working_hours=8, digest=True)
H = 3600.0


def at(text: str, tz: str = BERLIN) -> float:
    """`2026-11-30 10:00` (a Monday) in the zone `tz`, as epoch seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_working_time_skips_nights_and_weekends() -> None:
    assert working_seconds(at("2026-11-30 17:00"), at("2026-12-01 10:00"), BERLIN, POLICY) == 2 * H
    assert working_seconds(at("2026-12-04 17:00"), at("2026-12-07 10:00"), BERLIN, POLICY) == 2 * H  # Fri -> Mon
    assert working_seconds(at("2026-12-05 08:00"), at("2026-12-06 20:00"), BERLIN, POLICY) == 0  # a weekend
    assert working_seconds(at("2026-03-30 00:00"), at("2026-03-31 00:00"), BERLIN, POLICY) == 9 * H  # after DST


def test_the_same_instant_is_working_time_in_one_zone_and_night_in_another() -> None:
    moment = at("2026-11-30 10:00")  # 04:00 in New York
    assert is_working(moment, BERLIN, POLICY) and not is_working(moment, NEW_YORK, POLICY)
    assert next_working(moment, NEW_YORK, POLICY) == at("2026-11-30 09:00", NEW_YORK)
    assert next_working(at("2026-12-04 19:00"), BERLIN, POLICY) == at("2026-12-07 09:00")  # Fri night -> Mon


def test_first_reminder_after_n_working_hours_never_at_night() -> None:
    state = ReminderState(since=at("2026-11-30 16:00"))
    assert not reminder_due(state, at("2026-11-30 17:59"), BERLIN, POLICY)  # 2 working hours
    assert not reminder_due(state, at("2026-12-01 03:00"), BERLIN, POLICY)  # night
    assert not reminder_due(state, at("2026-12-01 10:59"), BERLIN, POLICY)  # 3 h 59
    assert reminder_due(state, at("2026-12-01 11:00"), BERLIN, POLICY)
    assert not reminder_due(state, at("2026-12-05 11:00"), BERLIN, POLICY)  # Saturday


def test_repeats_after_the_repeat_interval_or_never() -> None:
    state = ReminderState(since=at("2026-11-30 09:00"), reminded_at=at("2026-11-30 13:00"))
    assert not reminder_due(state, at("2026-11-30 17:59"), BERLIN, POLICY)
    assert reminder_due(state, at("2026-12-01 13:00"), BERLIN, POLICY)  # 5 h + 4 h
    once = ReminderConfig(after_working_hours=4, repeat_working_hours=0)
    assert not reminder_due(state, at("2026-12-10 13:00"), BERLIN, once)


def test_a_snooze_rings_at_its_time_or_the_next_working_moment() -> None:
    state = ReminderState(since=at("2026-11-30 09:00"), reminded_at=at("2026-11-30 13:00"),
                          snoozed_until=at("2026-11-30 15:00"))
    assert not reminder_due(state, at("2026-11-30 14:59"), BERLIN, POLICY)
    assert reminder_due(state, at("2026-11-30 15:00"), BERLIN, POLICY)
    late = ReminderState(since=at("2026-11-30 09:00"), reminded_at=at("2026-11-30 17:00"),
                         snoozed_until=at("2026-11-30 19:00"))
    assert not reminder_due(late, at("2026-11-30 19:00"), BERLIN, POLICY)  # evening: waits
    assert reminder_due(late, at("2026-12-01 09:00"), BERLIN, POLICY)
    # once it rang, the normal schedule is back
    after = ReminderState(since=at("2026-11-30 09:00"), reminded_at=at("2026-12-01 09:00"),
                          snoozed_until=at("2026-11-30 19:00"))
    assert not reminder_due(after, at("2026-12-01 12:00"), BERLIN, POLICY)


def test_digest_once_each_working_morning() -> None:
    assert digest_day(at("2026-11-30 08:59"), BERLIN, POLICY, None) is None
    assert digest_day(at("2026-11-30 09:30"), BERLIN, POLICY, None) == "2026-11-30"
    assert digest_day(at("2026-11-30 09:30"), BERLIN, POLICY, "2026-11-30") is None
    assert digest_day(at("2026-12-05 09:30"), BERLIN, POLICY, None) is None  # Saturday
    assert digest_day(at("2026-11-30 18:30"), BERLIN, POLICY, None) is None  # after the workday
    assert digest_day(at("2026-11-30 09:30"), BERLIN, ReminderConfig(), None) is None  # off by default


def test_reminder_config_defaults_and_yaml_times() -> None:
    config = parse_config(minimal(), {})
    assert config.reminders == ReminderConfig()
    raw = with_("reminders", yaml.safe_load(
        "{workday: {start: '08:30', end: 18:00}, working_days: [sun, mon, tue, wed, thu], snooze_hours: [1, 24],"
        " digest: {enabled: true, at: '08:45'}, after_working_hours: 2}"))
    policy = parse_config(raw, {}).reminders
    assert (policy.workday_start.strftime("%H:%M"), policy.workday_end.strftime("%H:%M")) == ("08:30", "18:00")
    assert policy.working_days == (0, 1, 2, 3, 6) and policy.snooze_hours == (1.0, 24.0)
    assert policy.digest and policy.digest_at.strftime("%H:%M") == "08:45" and policy.after_working_hours == 2


@pytest.mark.parametrize(("value", "key"), [
    ({"workday": {"start": "18:00", "end": "09:00"}}, "reminders.workday.end"),
    ({"workday": {"start": "9am"}}, "reminders.workday.start"),
    ({"working_days": ["monday", "funday"]}, "reminders.working_days[1]"),
    ({"working_days": []}, "reminders.working_days"),
    ({"snooze_hours": [2, -1]}, "reminders.snooze_hours[1]"),
    ({"snooze_hours": [1, 2, 3, 4]}, "reminders.snooze_hours"),
    ({"digest": {"enabled": "yes"}}, "reminders.digest.enabled"),
    ({"digest": {"at": "25:00"}}, "reminders.digest.at"),
    ({"after_working_hours": "four"}, "reminders.after_working_hours"),
    ({"enabled": 1}, "reminders.enabled"),
])
def test_bad_reminder_config_names_the_key(value: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_("reminders", value), {})
    assert info.value.key == key, str(info.value)


def test_an_approvers_own_choices_override_the_defaults() -> None:
    from bot.features.reminders.rules import personal

    base = ReminderConfig(enabled=False, after_working_hours=4, digest=False)
    assert personal(base, None, None) == base
    mine = personal(base, 2.0, True)
    assert mine.enabled and mine.after_working_hours == 2 and mine.digest
    assert not personal(ReminderConfig(), 0.0, None).enabled
    assert home_messages.parse_reminder_choice("default") == (True, None)
    assert home_messages.parse_reminder_choice("off") == (True, 0.0)
    assert home_messages.parse_reminder_choice("8") == (True, 8.0)
    assert home_messages.parse_reminder_choice("3") is None and home_messages.parse_reminder_choice("x") is None


def test_each_snooze_button_has_its_own_action_id_and_the_listener_matches_all() -> None:
    """Slack refuses two buttons with one action_id in a block; a reminder posted before keeps
    the first button's id, which the listener still matches."""
    ids = [messages.snooze_action_id(i) for i in range(3)]
    assert ids == [messages.ACTION_SNOOZE, "precoro_snooze_2", "precoro_snooze_3"]
    assert all(re.match(messages.SNOOZE_ACTIONS, i) for i in ids)
    assert not any(re.match(messages.SNOOZE_ACTIONS, i) for i in ("precoro_snoozed", "x_precoro_snooze"))
