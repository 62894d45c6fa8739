"""Reminders, snooze and the morning digest end to end: the reminder run at chosen instants (clock
injected), signed snooze clicks, and the DMs as the approver sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, dms, home, shown, text_of
from tests.support.stack import DAY, FixedClock, monday, posts_to, quiet, start

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = start(database_url)
    yield running
    running.stop()


@pytest.fixture
def digest_stack(database_url: str) -> Iterator[LocalStack]:
    running = start(database_url, **{"reminders.digest": {"enabled": True, "at": "09:00"}})
    yield running
    running.stop()


async def snooze(stack: LocalStack, user: str, reminder: dict[str, Any], at: float, value: str | None = None
                 ) -> str:
    """Click "Remind me in 2 h" (or a forged `value`) at `at`; returns the answer the user sees."""
    stack.runtime.reminders.clock = FixedClock(at)
    if value is not None:
        reminder = {**reminder, "blocks": [{"type": "actions", "block_id": "x", "elements": [
            {"type": "button", "action_id": messages.ACTION_SNOOZE, "value": value,
             "text": {"type": "plain_text", "text": "Remind me"}}]}]}
    before = len(stack.slack.ephemerals_for(user))
    await stack.driver.click(user, reminder, messages.ACTION_SNOOZE)
    found = await stack.slack.wait_for(lambda: stack.slack.ephemerals_for(user)[before:], timeout=5)
    return str(found[0]["text"])


async def test_reminders_in_working_hours_and_snooze(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    run = stack.run_reminders
    assert await run(monday(3)) == 0, "never at night"
    assert await run(monday(10)) == 1
    [reminder] = dms(stack, ALICE, "still waiting")
    text = text_of(reminder)
    assert "PO-1001" in text and "1,250.00 USD" in text and "Dana Admin" in text and "of working time" in text
    assert await run(monday(10, 30)) == 0, "once, then again after 8 working hours"

    answer = await snooze(stack, ALICE, reminder, monday(10, 5))
    # Berlin 12:05, as a Slack date token (each reader sees their own zone)
    assert "Snoozed" in answer and f"<!date^{int(monday(12, 5))}^" in answer and "Purchase order PO-1001" in answer
    assert await run(monday(12)) == 0
    assert await run(monday(12, 10)) == 1
    second = dms(stack, ALICE, "still waiting")[-1]
    # Snoozed late in the day: it rings at the start of the next workday, not at night.
    answer = await snooze(stack, ALICE, second, monday(17, 30))
    assert f"<!date^{int(monday(9) + DAY)}^" in answer
    assert await run(monday(19, 30)) == 0
    assert await run(monday(9) + DAY) == 1
    assert len(dms(stack, ALICE, "still waiting")) == 3


async def test_snooze_refusals_and_no_reminder_once_decided(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    await stack.run_reminders(monday(10))
    [reminder] = dms(stack, ALICE, "still waiting")
    assert "only they can decide" in await snooze(stack, CAROL, reminder, monday(10, 5))
    ref = str(stack.runtime.store.messages.for_approver(1)[0].id)
    assert "not offered" in await snooze(stack, ALICE, reminder, monday(10, 5), value=f"{ref}:5")
    assert stack.runtime.store.home.reminders([int(ref)])[int(ref)].snoozed_until is None

    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    assert await stack.run_reminders(monday(9) + 2 * DAY) == 0
    assert len(posts_to(stack, "/approve")) == 1


async def test_each_approver_is_reminded_in_their_own_time_zone(stack: LocalStack) -> None:
    stack.slack.add_user(BOB, "Bob Baker", "bob@example.com", tz="America/New_York")
    await stack.register("alice")
    await stack.register("bob")
    await dm(stack, ALICE, "PO-1001")
    await dm(stack, BOB, "INV-1001")
    await quiet(stack)
    run = stack.run_reminders
    assert await run(monday(10)) == 1  # 10:00 in Berlin, 04:00 in New York
    assert dms(stack, ALICE, "still waiting") and not dms(stack, BOB, "still waiting")
    assert await run(monday(15, 30)) == 1  # 09:30 in New York
    assert "INV-1001" in text_of(dms(stack, BOB, "still waiting")[0])


async def test_morning_digest_once_a_working_day(digest_stack: LocalStack) -> None:
    stack = digest_stack
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    run = stack.run_reminders
    assert await run(monday(8, 30)) == 0  # before the workday
    assert await run(monday(9, 30)) == 1
    [digest] = dms(stack, ALICE, "Good morning")
    assert "1 document is waiting" in text_of(digest) and "<https://app.precoro.test/" in text_of(digest)
    assert dms(stack, ALICE, "still waiting") == [], "the digest covers the reminder"
    assert await run(monday(11)) == 0
    assert await run(monday(9, 30) + DAY) == 1
    assert await run(monday(9, 30) + 5 * DAY) == 0  # Saturday
    assert len(dms(stack, ALICE, "Good morning")) == 2 and dms(stack, ALICE, "still waiting") == []


def chosen(view: dict[str, Any], action_id: str) -> str:
    [select] = [b["accessory"] for b in view["blocks"] if b.get("accessory", {}).get("action_id") == action_id]
    return str(select["initial_option"]["value"])


async def choose(stack: LocalStack, user: str, action_id: str, value: str) -> dict[str, Any]:
    view = await home(stack, user, "Reminders")
    await stack.driver.click_in_view(user, view, action_id, choose=value)
    return await stack.slack.wait_for(
        lambda: (v := stack.slack.home_of(user)) and chosen(v, action_id) == value and v, timeout=5)


async def test_an_approver_sets_their_own_reminders_and_digest_on_the_home(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "Reminders")
    assert chosen(view, messages.ACTION_REMINDER_CHOICE) == "default"
    assert "09:00 to 18:00, Mon to Fri" in text_of({"blocks": view["blocks"]})

    await choose(stack, ALICE, messages.ACTION_REMINDER_CHOICE, "off")
    await choose(stack, ALICE, messages.ACTION_DIGEST_CHOICE, "on")  # off by default here
    assert await stack.run_reminders(monday(9, 30)) == 1
    assert dms(stack, ALICE, "Good morning") and not dms(stack, ALICE, "still waiting")
    assert await stack.run_reminders(monday(16)) == 0, "reminders are off for her"

    await choose(stack, ALICE, messages.ACTION_DIGEST_CHOICE, "default")
    await choose(stack, ALICE, messages.ACTION_REMINDER_CHOICE, "2")
    assert await stack.run_reminders(monday(11) + DAY) == 1
    assert len(dms(stack, ALICE, "still waiting")) == 1 and len(dms(stack, ALICE, "Good morning")) == 1
