"""Away mode end to end: `/precoro away until … [cover @colleague]` and `/precoro back` as signed
slash commands, the Home's date picker and "I'm back", and the reminder run at chosen instants
(in the approver's Berlin time zone): reminders paused while away, the colleague's FYI digest
without buttons, one return digest listing what arrived, then reminders again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.features.away import messages as away_messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.slack import dm, dms, home, home_text, text_of
from tests.support.stack import BERLIN, DAY, add_po, monday, quiet, start

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    running = start(database_url)
    yield running
    running.stop()


def day_of(at: float, days: int = 0) -> str:
    return (datetime.fromtimestamp(at, tz=BERLIN).date() + timedelta(days=days)).isoformat()


def interactive(message: dict[str, Any]) -> list[Any]:
    """Every button, select or other element a reader could click in a message."""
    found = []
    for block in message.get("blocks") or []:
        found += [e for e in block.get("elements") or [] if isinstance(e, dict) and "action_id" in e]
        if isinstance(block.get("accessory"), dict):
            found.append(block["accessory"])
    return found


async def test_reminders_pause_while_away_and_resume_with_the_return_digest(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")  # waiting before she goes away
    # Away until the Tuesday of the test week (Monday 10:00 Berlin is when reminders would ring).
    reply = await stack.driver.ask(ALICE, f"away until {day_of(monday(10), 1)}")
    assert "You are away until" in reply and "Reminders and digests pause" in reply
    assert stack.runtime.store.away.get("T0TEAM", ALICE) is not None
    arrived = add_po(stack, "alice", "640.00", "Globex")  # arrives while she is away
    await dm(stack, ALICE, arrived)
    await quiet(stack)

    assert await stack.run_reminders(monday(10)) == 0, "paused: PO-1001 is overdue, but she is away"
    assert await stack.run_reminders(monday(15) + DAY) == 0, "still away on her last day"
    assert not dms(stack, ALICE, "still waiting") and not dms(stack, ALICE, "Welcome back")
    assert "You are away until" in await stack.driver.ask(ALICE, "away")

    # Wednesday: her last day has passed in her zone. At night nothing yet, then one return digest.
    assert await stack.run_reminders(monday(3) + 2 * DAY) == 0
    assert await stack.run_reminders(monday(10) + 2 * DAY) == 1
    [welcome] = dms(stack, ALICE, "Welcome back")
    text = text_of(welcome)
    assert arrived in text and "PO-1001" not in text, "what arrived while away, not what waited before"
    assert "1 document arrived" in text and "2 in all" in text
    assert stack.runtime.store.away.get("T0TEAM", ALICE) is None
    assert await stack.run_reminders(monday(10, 30) + 2 * DAY) == 0, "the digest stood for the reminders due"

    # Reminders are back: 8 working hours after the return digest (Thursday 10:00).
    assert await stack.run_reminders(monday(10, 5) + 3 * DAY) == 1
    [reminder] = dms(stack, ALICE, "still waiting")
    assert "PO-1001" in text_of(reminder) and arrived in text_of(reminder)
    assert len(dms(stack, ALICE, "Welcome back")) == 1


async def test_a_colleague_covers_with_an_fyi_without_buttons_until_back(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    assert "cannot cover for yourself" in await stack.driver.ask(ALICE, f"away until {day_of(monday(10), 3)} "
                                                                        f"cover <@{ALICE}>")
    assert "not a user of this workspace" in await stack.driver.ask(
        ALICE, f"away until {day_of(monday(10), 3)} cover <@U0NOBODY1>")
    # Neither someone of another organisation (Slack Connect) nor a bot reads Alice's documents.
    stack.slack.add_user("U0STRANGER", "Sam Stranger", "sam@elsewhere.example", team_id="T0OTHERORG")
    stack.slack.add_user("U0SOMEBOT", "Some Bot", "bot@example.com", is_bot=True)
    for outsider in ("U0STRANGER", "U0SOMEBOT"):
        assert "not a user of this workspace" in await stack.driver.ask(
            ALICE, f"away until {day_of(monday(10), 3)} cover <@{outsider}>")
    assert "has passed" in await stack.driver.ask(ALICE, "away until 2020-01-01")
    assert "YYYY-MM-DD" in await stack.driver.ask(ALICE, "away until tomorrow")
    assert stack.runtime.store.away.get("T0TEAM", ALICE) is None, "refused: nothing set"
    assert "Only a registered Precoro approver" in await stack.driver.ask(BOB, f"away until {day_of(monday(10), 3)}")

    reply = await stack.driver.ask(ALICE, f"away until {day_of(monday(10), 3)} cover <@{CAROL}>")
    assert f"<@{CAROL}> gets a daily FYI digest" in reply
    assert await stack.run_reminders(monday(10)) == 1
    [fyi] = dms(stack, CAROL, "FYI")
    assert "PO-1001" in text_of(fyi) and f"<@{ALICE}> is away" in text_of(fyi)
    assert "Only" in text_of(fyi) and "can decide these" in text_of(fyi)
    assert interactive(fyi) == [], "no button: she cannot decide with Alice's key"
    assert not dms(stack, ALICE, "still waiting")
    assert await stack.run_reminders(monday(11)) == 0, "once a day"
    assert await stack.run_reminders(monday(10) + DAY) == 1
    assert len(dms(stack, CAROL, "FYI")) == 2

    assert "Welcome back" in await stack.driver.ask(ALICE, "back")
    assert await stack.run_reminders(monday(11) + DAY) == 1
    assert len(dms(stack, ALICE, "Welcome back")) == 1
    assert await stack.run_reminders(monday(10) + 2 * DAY) == 1, "Alice's own reminder again"
    assert len(dms(stack, CAROL, "FYI")) == 2, "the colleague hears nothing more"
    assert "You were not away" in await stack.driver.ask(ALICE, "back")
    actions = [(e.action, e.outcome) for e in stack.runtime.store.audit.recent(["acme"], limit=10)
               if e.action.startswith("away")]
    assert ("away.on", f"cover <@{CAROL}>") in actions and ("away.off", "back") in actions


async def test_away_from_the_home_date_picker_and_back(stack: LocalStack) -> None:
    await stack.register("alice")
    await dm(stack, ALICE, "PO-1001")
    await quiet(stack)
    await stack.driver.open_home(ALICE)
    view = await home(stack, ALICE, "Away?")
    today = datetime.now(UTC).astimezone(BERLIN).date()
    until = (today + timedelta(days=5)).isoformat()
    await stack.driver.click_in_view(ALICE, view, away_messages.ACTION_AWAY_DATE, date=until)
    view = await home(stack, ALICE, "reminders and digests are paused")
    assert stack.runtime.store.away.get("T0TEAM", ALICE).until_day == until
    picker = next(b["accessory"] for b in view["blocks"] if b.get("block_id") == away_messages.AWAY_BLOCK)
    assert picker["initial_date"] == until
    await stack.driver.click_in_view(ALICE, view, away_messages.ACTION_AWAY_COVER, user=CAROL)
    view = await home(stack, ALICE, f"<@{CAROL}> gets an FYI digest")
    assert stack.runtime.store.away.get("T0TEAM", ALICE).cover_user == CAROL

    await stack.driver.click_in_view(ALICE, view, away_messages.ACTION_AWAY_DATE, date="2020-01-01")
    await stack.slack.wait_for(lambda: dms(stack, ALICE, "has passed"), timeout=5)
    assert stack.runtime.store.away.get("T0TEAM", ALICE).until_day == until, "a past day changes nothing"

    await stack.driver.click_in_view(ALICE, view, away_messages.ACTION_AWAY_BACK)
    await home(stack, ALICE, "Away?")
    assert stack.runtime.store.away.get("T0TEAM", ALICE).ended_at is not None
    assert "Away?" in home_text(stack.slack.home_of(ALICE))
