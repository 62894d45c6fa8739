"""Driving the real bot of a `LocalStack`: Precoro's side, the store's view, discovery, reminders,
installs, and bringing a stack to rest."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx

from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack

BERLIN = ZoneInfo("Europe/Berlin")
DAY = 86400.0
NO_SAFETY_NET = {"scheduler.min_poll_interval_seconds": 3600}  # polls wait an hour: discovery alone finds


def posts_to(stack: LocalStack, suffix: str) -> list[Any]:
    """The POSTs Precoro received on paths ending in `suffix` (approve, reject, comments...)."""
    return [r for r in stack.precoro.requests if r.method == "POST" and r.path.endswith(suffix)]


def add_po(stack: LocalStack, approver: str, amount: str, supplier: str) -> str:
    users = stack.users
    doc = stack.precoro.add_document("acme", "purchaseorders", users["admin"].id, [[users[approver].id]],
                                     sum=amount, supplier=supplier)
    return doc.idn


def stored_ref(stack: LocalStack, idn: str) -> str:
    """The stored message reference of document `idn` (what Home's buttons carry)."""
    [row] = [m for a in stack.runtime.store.approvers.list() for m in stack.runtime.store.messages.for_approver(a.id)
             if m.idn == idn]
    return str(row.id)


def alice_id(stack: LocalStack) -> int:
    approver = stack.runtime.store.approvers.find("acme", TEAM, SLACK_USERS["alice"])
    assert approver is not None
    return approver.id


async def quiet(stack: LocalStack) -> None:
    """Every document posted, then no more polls: what follows costs Precoro nothing on its own."""
    await stack.slack.wait_for(lambda: all(m.posted for a in stack.runtime.store.approvers.list()
                                           for m in stack.runtime.store.messages.for_approver(a.id)))
    stack.runtime.scheduler.shutdown()


async def stop_polling(stack: LocalStack) -> None:
    """No poll corrects a message from now on (a tick already running is let finish)."""
    store = stack.runtime.store
    # Shutting down cancels a running tick: let the post of the message we saw be recorded first.
    await stack.slack.wait_for(lambda: all(m.posted for a in store.approvers.list()
                                           for m in store.messages.for_approver(a.id)), timeout=5)
    stack.runtime.scheduler.shutdown()
    await asyncio.sleep(0.5)


# --- company discovery ----------------------------------------------------------------------------

async def register_admin(stack: LocalStack) -> None:
    admin = stack.users["admin"]
    await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", ADMIN))


async def discovery_on(stack: LocalStack) -> None:
    await register_admin(stack)
    assert "reads every pending document" in await stack.driver.ask(ADMIN, f"discovery <@{ADMIN}>")


def discovery_reads(stack: LocalStack, since: float = 0.0) -> list[Any]:
    admin = stack.token_of("admin")
    return [r for r in stack.precoro.requests
            if r.token == admin and r.method == "GET" and "waitingForApprove" not in r.query and r.at >= since]


# --- reminders at chosen instants ---------------------------------------------------------------

def start(database_url: str, **overrides: Any) -> LocalStack:
    """A stack whose reminder job does not run by itself: the tests run it at chosen instants."""
    running = LocalStack.start(database_url, **overrides)
    running.runtime.reminders.shutdown()  # the tests run it at chosen instants
    return running


def monday(hour: int, minute: int = 0) -> float:
    """A Monday one to two weeks from now, at this time in Berlin: anything posted now is overdue."""
    day = datetime.now(UTC).astimezone(BERLIN).date() + timedelta(weeks=2)
    day -= timedelta(days=day.weekday())
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).timestamp()


# --- workspaces -----------------------------------------------------------------------------------

async def install(stack: LocalStack, team: str, *, state: str | None = None) -> httpx.Response:
    """Someone clicks "Add to Slack", approves in Slack, and Slack sends their browser back."""
    async with httpx.AsyncClient(base_url=stack.bot_url) as browser:
        start = await browser.get("/slack/install")
        assert start.status_code == 302
        location = urlparse(start.headers["location"])
        query = parse_qs(location.query)
        assert location.netloc == "slack.test" and query["client_id"] == ["1111.2222"]
        assert "chat:write" in query["scope"][0] and "commands" in query["scope"][0]
        assert "Secure" in start.headers["set-cookie"] and "HttpOnly" in start.headers["set-cookie"]
        code = stack.slack.issue_oauth_code(team)
        # The state cookie is Secure, so a browser sends it back over https only: say it by hand here.
        cookie = start.headers["set-cookie"].split(";", 1)[0]
        return await browser.get("/slack/oauth_redirect", params={"code": code, "state": state or query["state"][0]},
                                 headers={"Cookie": cookie})


class FixedClock:
    """A clock a test moves by hand (`clock.at = …`)."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at
