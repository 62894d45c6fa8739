"""The example config runs: the real bot started on `config.example.yaml` itself, as a new operator
would copy it, with its secrets from the environment and only its Slack and Precoro URLs pointed
at the local stand-ins. It then does what that file turns on: an approver's document arrives as
a DM, the reminder comes with the file's two snooze buttons (`snooze_hours: [2, 24]`) and real
Slack's rules (the stand-in applies `blockkit_rules`), and a click on "Remind me in 24 h" snoozes it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_config
from bot.runtime import Runtime
from bot.server import create_app
from bot.slack import messages
from bot.vault import generate_key
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.serve import serve_in_thread
from precoro_devkit.emulator.slack import SlackDriver, SlackStandIn, dm_channel
from precoro_devkit.emulator.stack import FAST_EMULATOR, SLACK_USERS, TEAM, LocalStack
from tests.support.paths import ROOT
from tests.support.stack import FixedClock

EXAMPLE = ROOT / "config.example.yaml"
EXAMPLE_ADMIN = "U012ABCDEF"  # the admin the example file names
ALICE = SLACK_USERS["alice"]
BERLIN = ZoneInfo("Europe/Berlin")  # Alice's Slack time zone in the stand-in
pytestmark = pytest.mark.asyncio


@pytest.fixture
def example(database_url: str) -> Iterator[LocalStack]:
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    users = seed_demo(precoro)
    slack = SlackStandIn(bot_token="xoxb-example", team_id=TEAM)
    slack.add_user(ALICE, users["alice"].name, users["alice"].email)
    slack.add_user(EXAMPLE_ADMIN, "Example Admin", "admin@example.com")
    servers = [serve_in_thread(precoro.app), serve_in_thread(slack.app)]
    slack.base_url = servers[1].url
    signing_secret, key = secrets.token_hex(16), generate_key()
    env = {  # what the example's ${...} name, and the two URLs a test points at its stand-ins
        "SLACK_SIGNING_SECRET": signing_secret, "SLACK_BOT_TOKEN": "xoxb-example", "PRECORO_BOT_KEY": key,
        "PRECORO_BOT_STORAGE_URL": database_url,
        "PRECORO_BOT__SLACK__API_URL": f"{servers[1].url}/api/",
        "PRECORO_BOT__PRECORO__BASE_URL": servers[0].url,
    }
    config = load_config(EXAMPLE, env)
    assert config.reminders.snooze_hours == (2.0, 24.0), "the example offers two snooze buttons"
    runtime = Runtime.build(config)
    servers.append(serve_in_thread(create_app(runtime)))
    driver = SlackDriver(servers[2].url, signing_secret, slack, team_id=TEAM)
    running = LocalStack(precoro, slack, driver, runtime, users, signing_secret, key, servers)
    running.runtime.reminders.shutdown()  # run at chosen instants below
    yield running
    running.stop()


def monday(hour: int, minute: int = 0) -> float:
    """A Monday two weeks from now at this time in Berlin: anything posted now is overdue by then."""
    day = datetime.now(UTC).astimezone(BERLIN).date() + timedelta(weeks=2)
    day -= timedelta(days=day.weekday())
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).timestamp()


def dms(stack: LocalStack, contains: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages_in(dm_channel(ALICE)) if contains in (m.get("text") or "")]


async def test_the_example_config_posts_reminds_and_snoozes(example: LocalStack) -> None:
    stack = example
    alice = stack.users["alice"]
    await stack.driver.slash_command(EXAMPLE_ADMIN, f"register <@{ALICE}> {alice.email} {alice.token}")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", TEAM, ALICE), timeout=15)
    # the example polls on its own schedule (5 s ticks, 1 request a second): the DM comes within it
    [document] = await stack.slack.wait_for(lambda: dms(stack, "PO-1001"), timeout=40)
    assert any(b.get("block_id") == messages.DECISION_BLOCK for b in document["blocks"])

    assert await stack.run_reminders(monday(10)) == 1, [(c.method, c.error) for c in stack.slack.calls if c.error]
    [reminder] = dms(stack, "still waiting")
    refused = [c for c in stack.slack.calls_to("chat.postMessage") if c.error]
    assert refused == [], "Slack's rules refused a message"
    snoozes = [e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["text"]["text"].startswith("Remind me in")]
    assert [e["text"]["text"] for e in snoozes] == ["Remind me in 2 h", "Remind me in 24 h"]
    assert len({e["action_id"] for e in snoozes}) == 2

    stack.runtime.reminders.clock = FixedClock(monday(10, 5))
    await stack.driver.click(ALICE, reminder, snoozes[1]["action_id"])
    [answer] = await stack.slack.wait_for(lambda: stack.slack.ephemerals_for(ALICE), timeout=10)
    assert "Snoozed" in answer["text"] and f"<!date^{int(monday(10, 5) + 86400)}^" in answer["text"]
    assert await stack.run_reminders(monday(12, 10)) == 0, "the 24 h snooze holds past the 2 h mark"
