"""Approvers connect their own Precoro key, over signed Slack requests (issue 14).

`connect_policy` decides: `admin` (only an admin registers), `self` (the approver's own connect is
immediate) or `self-with-approval` (checked and sealed, but unused until an admin of that company
approves; the admin never sees the key). Invitations DM the unconnected approvers that discovery
found, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.features.connect import messages as connect_messages
from bot.slack import messages
from bot.store.approvers import ACTIVE, PENDING
from precoro_devkit.emulator.slack import SlackDriver, dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack
from tests.support.slack import as_shown, text_of
from tests.support.stack import install

pytestmark = pytest.mark.asyncio

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]


def started(database_url: str, policy: str) -> LocalStack:
    return LocalStack.start(database_url, **{"precoro.connect_policy": policy})


@pytest.fixture
def self_stack(database_url: str) -> Iterator[LocalStack]:
    stack = started(database_url, "self")
    yield stack
    stack.stop()


@pytest.fixture
def approval_stack(database_url: str) -> Iterator[LocalStack]:
    stack = started(database_url, "self-with-approval")
    yield stack
    stack.stop()


@pytest.fixture
def admin_stack(database_url: str) -> Iterator[LocalStack]:
    stack = started(database_url, "admin")
    yield stack
    stack.stop()


def connect_forms(stack: LocalStack) -> list[dict[str, Any]]:
    return [v for v in stack.slack.views.values() if v.get("callback_id") == messages.CONNECT_CALLBACK]


async def open_connect_form(stack: LocalStack, user: str, driver: SlackDriver | None = None) -> dict[str, Any]:
    """The approver types `/precoro connect`; the bot opens its form (the newest one)."""
    before = len(connect_forms(stack))
    await (driver or stack.driver).slash_command(user, "connect")
    await stack.slack.wait_for(lambda: len(connect_forms(stack)) > before, timeout=10)
    return connect_forms(stack)[-1]


async def submit_key(stack: LocalStack, user: str, form: dict[str, Any], key: str) -> str:
    """Paste the key and submit; returns what the form finally says (after the Precoro check)."""
    answer = await stack.driver.submit_view(user, form, {
        messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": key}}})
    assert answer.status_code == 200 and answer.json()["response_action"] == "update"
    shown = await stack.slack.wait_for(
        lambda: (t := text_of(stack.slack.views[form["id"]])) and "Checking" not in t and t, timeout=15)
    return str(shown)


def dm_texts(stack: LocalStack, user: str) -> list[str]:
    return [text_of(m) for m in stack.slack.messages_in(dm_channel(user))]


async def document_dm(stack: LocalStack, user: str, idn: str, timeout: float = 15) -> None:
    await stack.slack.wait_for(lambda: any(idn in t for t in dm_texts(stack, user)), timeout=timeout)


def gets_with(stack: LocalStack, token: str, since: float = 0.0) -> list[Any]:
    return [r for r in stack.precoro.requests if r.token == token and r.method == "GET" and r.at >= since]


def request_for(stack: LocalStack, admin: str, user: str) -> dict[str, Any] | None:
    return next((m for m in stack.slack.messages_in(dm_channel(admin))
                 if f"<@{user}> asks to connect" in (m.get("text") or "")), None)


async def test_an_approver_connects_without_an_admin(self_stack: LocalStack) -> None:
    stack = self_stack
    form = await open_connect_form(stack, ALICE)
    assert as_shown("alice@example.com") in text_of(form)  # her Slack profile's email, not typed
    assert "Generate API Key" in text_of(form)
    said = await submit_key(stack, ALICE, form, stack.token_of("alice"))
    assert f"Connected as *{as_shown('alice@example.com')}*" in said
    approver = stack.runtime.store.approvers.find("acme", TEAM, ALICE)
    assert approver is not None and approver.status == ACTIVE and approver.registered_by == ALICE
    assert stack.token_of("alice") not in approver.token_ciphertext
    await document_dm(stack, ALICE, "PO-1001")  # polled with her own key
    # The key reached no one else: not the admin, no reply, no message, no log of Slack calls.
    assert not any(stack.token_of("alice") in str(c.args) for c in stack.slack.calls)
    [entry] = [e for e in stack.runtime.store.audit.recent("acme", limit=20) if e.action == "token.register"]
    assert entry.actor == ALICE


async def test_the_home_tab_offers_connect_to_someone_not_connected(self_stack: LocalStack) -> None:
    stack = self_stack
    await stack.driver.open_home(CAROL)
    home = await stack.slack.wait_for(lambda: stack.slack.home_of(CAROL), timeout=10)
    before = len(connect_forms(stack))
    await stack.driver.click_in_view(CAROL, home, messages.ACTION_CONNECT)
    await stack.slack.wait_for(lambda: len(connect_forms(stack)) > before, timeout=10)
    said = await submit_key(stack, CAROL, connect_forms(stack)[-1], stack.token_of("carol"))
    assert f"Connected as *{as_shown('carol@example.com')}*" in said
    await document_dm(stack, CAROL, "INV-1001")


async def test_policy_admin_refuses_connect(admin_stack: LocalStack) -> None:
    stack = admin_stack
    answer = await stack.driver.ask(ALICE, "connect")
    assert "a Precoro bot admin registers approvers" in answer
    assert connect_forms(stack) == [] and stack.runtime.store.approvers.list() == []
    # No Connect button on her Home either: she is told whom to ask.
    await stack.driver.open_home(ALICE)
    home = await stack.slack.wait_for(lambda: stack.slack.home_of(ALICE), timeout=10)
    assert "register @you" in text_of(home)
    assert messages.ACTION_CONNECT not in str(home["blocks"])


async def test_a_key_that_precoro_refuses_with_the_slack_email_stores_nothing(self_stack: LocalStack) -> None:
    stack = self_stack
    form = await open_connect_form(stack, ALICE)
    # Bob's key: a real Precoro key, but not Alice's (her Slack email is alice@example.com).
    said = await submit_key(stack, ALICE, form, stack.token_of("bob"))
    assert f"did not accept this key with your email *{as_shown('alice@example.com')}*" in said
    assert "Nothing was stored" in said
    assert stack.token_of("bob") not in said
    assert stack.runtime.store.approvers.list() == []
    refused = [e for e in stack.runtime.store.audit.recent("acme", limit=20) if e.action == "token.connect"]
    assert [e.outcome for e in refused] == ["refused by Precoro"]


async def test_self_with_approval_approved(approval_stack: LocalStack) -> None:
    stack = approval_stack
    said = await submit_key(stack, ALICE, await open_connect_form(stack, ALICE), stack.token_of("alice"))
    assert "must approve" in said
    approver = stack.runtime.store.approvers.find("acme", TEAM, ALICE)
    assert approver is not None and approver.status == PENDING
    request = await stack.slack.wait_for(lambda: request_for(stack, ADMIN, ALICE), timeout=10)
    assert as_shown("alice@example.com") in text_of(request) and stack.token_of("alice") not in str(request)
    # Pending: the key was checked once, but nothing is polled with it.
    checked = len(gets_with(stack, stack.token_of("alice")))
    await asyncio.sleep(1.5)
    assert len(gets_with(stack, stack.token_of("alice"))) == checked
    assert not any("PO-1001" in t for t in dm_texts(stack, ALICE))
    # Alice cannot approve her own request (she is no admin).
    await stack.driver.click(ALICE, request, messages.ACTION_CONNECT_APPROVE)
    await stack.slack.wait_for(lambda: any("already decided" in (r.body.get("text") or "")
                                           for r in stack.slack.responses), timeout=10)
    assert stack.runtime.store.approvers.find("acme", TEAM, ALICE).status == PENDING  # type: ignore[union-attr]

    await stack.driver.click(ADMIN, request, messages.ACTION_CONNECT_APPROVE)
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", TEAM, ALICE).status == ACTIVE,
                               timeout=10)
    await stack.slack.wait_for(lambda: any("approved your connection" in t for t in dm_texts(stack, ALICE)))
    await document_dm(stack, ALICE, "PO-1001")  # approval starts polling
    decided = await stack.slack.wait_for(lambda: (m := stack.slack.messages.get((request["channel"], request["ts"])))
                                         and "approved by" in text_of(m) and m, timeout=10)
    assert messages.ACTION_CONNECT_APPROVE not in str(decided.get("blocks"))  # the buttons are gone

    # Replacing her own key later needs no new approval (same person, same email).
    said = await submit_key(stack, ALICE, await open_connect_form(stack, ALICE), stack.token_of("alice"))
    assert f"Connected as *{as_shown('alice@example.com')}*" in said
    assert stack.runtime.store.approvers.find("acme", TEAM, ALICE).status == ACTIVE  # type: ignore[union-attr]


async def test_self_with_approval_denied(approval_stack: LocalStack) -> None:
    stack = approval_stack
    await submit_key(stack, ALICE, await open_connect_form(stack, ALICE), stack.token_of("alice"))
    request = await stack.slack.wait_for(lambda: request_for(stack, ADMIN, ALICE), timeout=10)
    await stack.driver.click(ADMIN, request, messages.ACTION_CONNECT_DENY)
    await stack.slack.wait_for(lambda: any("denied your connection" in t for t in dm_texts(stack, ALICE)),
                               timeout=10)
    assert stack.runtime.store.approvers.list() == []  # the sealed key is deleted
    # A second click on the old request changes nothing.
    await stack.driver.click(ADMIN, request, messages.ACTION_CONNECT_APPROVE)
    await stack.slack.wait_for(lambda: any("already decided" in (r.body.get("text") or "")
                                           for r in stack.slack.responses), timeout=10)
    assert stack.runtime.store.approvers.list() == []
    assert [e.action for e in stack.runtime.store.audit.recent("acme", limit=20)
            if e.action.startswith("token.connect")] == ["token.connect.deny"]


async def test_disconnect_stops_polling(self_stack: LocalStack) -> None:
    stack = self_stack
    await submit_key(stack, ALICE, await open_connect_form(stack, ALICE), stack.token_of("alice"))
    await document_dm(stack, ALICE, "PO-1001")
    answer = await stack.driver.ask(ALICE, "disconnect")
    assert "Disconnected" in answer and "deleted" in answer
    assert stack.runtime.store.approvers.list() == []
    # A request that had left already may still answer; nothing new is sent after that.
    await asyncio.sleep(1.0)
    after = time.time()
    await asyncio.sleep(2.5)  # five poll intervals of the stack's fast scheduler
    assert gets_with(stack, stack.token_of("alice"), since=after) == []
    assert "no key of yours" in await stack.driver.ask(ALICE, "disconnect")


async def discovery_on(stack: LocalStack, people: int = 2) -> None:
    """The admin connects with a company-wide token and turns discovery on; wait until it listed
    `people` approvers without a token (alice and carol: PO-1001 and INV-1001 wait for them)."""
    admin = stack.users["admin"]
    await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", TEAM, ADMIN), timeout=10)
    assert "reads every pending document" in await stack.driver.ask(ADMIN, f"discovery <@{ADMIN}>")
    await stack.slack.wait_for(lambda: (s := stack.runtime.store.discovery.get("acme")) and len(
        {p[0] for named in s.unregistered.values() for p in named}) >= people, timeout=15)


def invitations_to(stack: LocalStack, user: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages_in(dm_channel(user)) if "invites you" in (m.get("text") or "")]


async def test_invitations_are_sent_once_then_not_again(self_stack: LocalStack) -> None:
    stack = self_stack
    # Erin approves in Precoro but has no Slack account in this workspace.
    erin = stack.precoro.add_user("acme", "Erin Early", "erin@example.com", "acme-erin-token")
    stack.precoro.add_document("acme", "invoices", stack.users["admin"].id, [[erin.id]], idn="INV-ERIN")
    await stack.register("bob")
    await discovery_on(stack, people=3)  # alice, carol and erin
    assert "Only Precoro bot admins" in await stack.driver.ask(ALICE, "invite")

    summary = await stack.driver.ask(ADMIN, "invite", timeout=15)
    assert "Invited 2, not in Slack 1, already invited 0" in summary and as_shown("erin@example.com") in summary
    [alice_invite] = invitations_to(stack, ALICE)
    [_] = invitations_to(stack, CAROL)
    assert invitations_to(stack, BOB) == []  # connected already
    assert "Generate API Key" in text_of(alice_invite)
    assert {r.email for r in stack.runtime.store.invitations.invited("acme").values()} == \
        {"alice@example.com", "carol@example.com"}

    summary = await stack.driver.ask(ADMIN, "invite", timeout=15)
    assert "Invited 0, not in Slack 1, already invited 2" in summary
    assert len(invitations_to(stack, ALICE)) == 1 and len(invitations_to(stack, CAROL)) == 1

    # The invitation's Connect button opens Alice's own form; once connected she is not invited again.
    before = len(connect_forms(stack))
    await stack.driver.click(ALICE, alice_invite, messages.ACTION_CONNECT)
    await stack.slack.wait_for(lambda: len(connect_forms(stack)) > before, timeout=10)
    assert "Connected" in await submit_key(stack, ALICE, connect_forms(stack)[-1], stack.token_of("alice"))
    summary = await stack.driver.ask(ADMIN, "invite again", timeout=15)
    assert "Invited 1, not in Slack 1, already invited 0" in summary
    assert len(invitations_to(stack, ALICE)) == 1 and len(invitations_to(stack, CAROL)) == 2


async def test_policy_admin_invites_nobody(admin_stack: LocalStack) -> None:
    stack = admin_stack
    await discovery_on(stack)
    summary = await stack.driver.ask(ADMIN, "invite", timeout=15)
    assert "Invited 0" in summary and "connect_policy is admin" in summary
    assert invitations_to(stack, ALICE) == [] and invitations_to(stack, CAROL) == []


OTHER_TEAM, OTHER_ADMIN = "T0OTHER", "U0ADMIN2"


@pytest.fixture
def two_workspaces(database_url: str) -> Iterator[LocalStack]:
    """acme (workspace T0TEAM, self-with-approval) and globex (T0OTHER, admin Olga), both installed."""
    stack = LocalStack.start(database_url, **{
        "slack.bot_token": "", "slack.admins": [],
        "slack.oauth": {"client_id": "1111.2222", "client_secret": "standin-client-secret",
                        "authorize_url": "https://slack.test/oauth/v2/authorize"},
        "precoro.companies": [
            {"id": "acme", "slack_teams": [TEAM], "admins": [ADMIN], "connect_policy": "self-with-approval",
             "document_types": ["purchaseorders", "invoices"]},
            {"id": "globex", "slack_teams": [OTHER_TEAM], "admins": [OTHER_ADMIN], "connect_policy": "self",
             "document_types": ["purchaseorders", "invoices"]}],
    })
    stack.slack.add_user(OTHER_ADMIN, "Olga Admin", "olga@other.example", team_id=OTHER_TEAM)
    try:
        yield stack
    finally:
        stack.stop()


async def test_an_admin_of_another_workspace_cannot_approve_a_connection(two_workspaces: LocalStack) -> None:
    stack = two_workspaces
    assert (await install(stack, TEAM)).status_code == 200
    assert (await install(stack, OTHER_TEAM)).status_code == 200
    other = SlackDriver(stack.bot_url, stack.signing_secret, stack.slack, team_id=OTHER_TEAM)
    said = await submit_key(stack, ALICE, await open_connect_form(stack, ALICE), stack.token_of("alice"))
    assert "must approve" in said
    request = await stack.slack.wait_for(lambda: request_for(stack, ADMIN, ALICE), timeout=10)
    assert request_for(stack, OTHER_ADMIN, ALICE) is None  # globex's admin is not even asked

    # Olga, admin of globex in her own workspace, replays acme's Approve button.
    await other.click(OTHER_ADMIN, request, messages.ACTION_CONNECT_APPROVE)
    refusal = await stack.slack.wait_for(lambda: next(
        (r for r in stack.slack.responses if r.body.get("text") and "connection" in r.body["text"]), None), timeout=10)
    assert refusal.body["text"] == connect_messages.connect_request_gone_text()  # nothing of acme or Alice in it
    assert stack.runtime.store.approvers.find("acme", TEAM, ALICE).status == PENDING  # type: ignore[union-attr]
    await asyncio.sleep(1.0)
    assert not any("approved your connection" in t for t in dm_texts(stack, ALICE))
    assert not [e for e in stack.runtime.store.audit.recent("acme", limit=50) if e.action.startswith("token.connect")]

    # acme's own admin can.
    await stack.driver.click(ADMIN, request, messages.ACTION_CONNECT_APPROVE)
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", TEAM, ALICE).status == ACTIVE,
                               timeout=10)


async def test_admins_invite_from_the_home_tab(self_stack: LocalStack) -> None:
    stack = self_stack
    await stack.register("bob")
    await discovery_on(stack)
    await stack.driver.open_home(ADMIN)
    home = await stack.slack.wait_for(lambda: (h := stack.slack.home_of(ADMIN)) and messages.ACTION_INVITE in
                                      str(h["blocks"]) and h, timeout=10)
    await stack.driver.click_in_view(ADMIN, home, messages.ACTION_INVITE)
    summary = await stack.slack.wait_for(lambda: next((t for t in dm_texts(stack, ADMIN) if "Invited" in t), None),
                                         timeout=15)
    assert "Invited 2, not in Slack 0, already invited 0" in summary
    assert len(invitations_to(stack, ALICE)) == 1 and len(invitations_to(stack, CAROL)) == 1
    # A non-admin's Home has no invite button, and a forged click invites nobody.
    await stack.driver.open_home(BOB)
    bob_home = await stack.slack.wait_for(lambda: stack.slack.home_of(BOB), timeout=10)
    assert messages.ACTION_INVITE not in str(bob_home["blocks"])
    await stack.driver.click_in_view(BOB, home, messages.ACTION_INVITE)
    await stack.slack.wait_for(lambda: any("Only Precoro bot admins" in t for t in dm_texts(stack, BOB)), timeout=10)
    assert len(invitations_to(stack, ALICE)) == 1
