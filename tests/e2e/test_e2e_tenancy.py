"""Many customers on one service: two Slack workspaces, two Precoro companies, over signed HTTP.

Workspace T0TEAM uses company `acme` (admin Dana, approver Alice); workspace T0OTHER uses
company `globex` (admin Olga, approver Zed). Everything Olga's workspace can send (every command,
the registration form, Home tab, clicks, events, webhooks) is tried against acme: her answers
must be the ones she gets for a company that does not exist, and acme's database rows, audit log
and Precoro requests must stay as they were.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from bot.slack import messages
from precoro_devkit.emulator.slack import SlackDriver, dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack
from tests.support.stack import install

pytestmark = pytest.mark.asyncio

ALICE = SLACK_USERS["alice"]
SOON = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()  # a day `/precoro away until` takes
OTHER_TEAM, OTHER_ADMIN, ZED = "T0OTHER", "U0ADMIN2", "U0ZED"
STRANGER_TEAM, STRANGER = "T0STRANGE", "U0STRANGE"
ACME_SECRET, GLOBEX_SECRET = "acme-webhook-secret-0123456789", "globex-webhook-secret-0123456789"


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    stack = LocalStack.start(database_url, **{
        "slack.bot_token": "", "slack.admins": [],
        "slack.oauth": {"client_id": "1111.2222", "client_secret": "standin-client-secret",
                        "authorize_url": "https://slack.test/oauth/v2/authorize"},
        "precoro.companies": [
            {"id": "acme", "slack_teams": [TEAM], "admins": [ADMIN], "webhook_secret": ACME_SECRET,
             "document_types": ["purchaseorders", "invoices"]},
            {"id": "globex", "slack_teams": [OTHER_TEAM], "admins": [OTHER_ADMIN], "webhook_secret": GLOBEX_SECRET,
             "document_types": ["purchaseorders", "invoices"], "webhook_hints_per_minute": 50}],
    })
    stack.slack.add_user(OTHER_ADMIN, "Olga Admin", "olga@other.example", team_id=OTHER_TEAM)
    stack.slack.add_user(ZED, "Zed Zee", "zed@globex.example", team_id=OTHER_TEAM)
    stack.slack.add_user(STRANGER, "Sam Stranger", "sam@strange.example", team_id=STRANGER_TEAM)
    zed = stack.precoro.add_user("globex", "Zed Zee", "zed@globex.example", "globex-zed-token")
    boss = stack.precoro.add_user("globex", "Gia Boss", "gia@globex.example", "globex-boss-token", is_admin=True)
    stack.precoro.add_document("globex", "invoices", boss.id, [[zed.id]], sum="77.00", idn="GINV-1",
                               supplier="Globex Parts")
    try:
        yield stack
    finally:
        stack.stop()


async def two_customers(stack: LocalStack) -> SlackDriver:
    """Both workspaces installed; Alice registered in acme, Zed in globex, each with their DM."""
    assert (await install(stack, TEAM)).status_code == 200
    assert (await install(stack, OTHER_TEAM)).status_code == 200
    other = SlackDriver(stack.bot_url, stack.signing_secret, stack.slack, team_id=OTHER_TEAM)
    await stack.register("alice")
    await other.slash_command(OTHER_ADMIN, f"register <@{ZED}> zed@globex.example globex-zed-token")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("globex", OTHER_TEAM, ZED))
    await stack.slack.wait_for(lambda: document_dms(stack, ALICE) and document_dms(stack, ZED))
    return other


async def said(driver: SlackDriver, user: str, command: str) -> str:
    """What the user sees for a command: the acknowledgement and, after "Checking the token…", the
    answer posted to the response URL."""
    before = len(driver.standin.responses)
    first = await driver.ask(user, command)
    if not first.startswith("Checking the token"):
        return first
    reply = await driver.standin.wait_for(lambda: next(
        (r for r in driver.standin.responses[before:] if r.body.get("text")), None))
    return first + "\n" + str(reply.body["text"])


def document_dms(stack: LocalStack, user: str) -> list[dict]:
    return [m for m in stack.slack.messages_in(dm_channel(user)) if m.get("blocks")]


def acme_state(stack: LocalStack) -> tuple[object, ...]:
    """Everything about acme that another customer must not be able to change."""
    store = stack.runtime.store
    approvers = [(a.team_id, a.slack_user_id, a.email, a.status, a.token_ciphertext)
                 for a in store.approvers.list("acme")]
    audit = [(e.actor, e.action, e.subject, e.outcome) for e in store.audit.recent("acme", limit=500)]
    discovery = store.discovery.get("acme")
    away = [(a.slack_user_id, a.until_day, a.cover_user) for a in store.away.all() if a.team_id == TEAM]
    return approvers, audit, discovery and (discovery.approver_id, discovery.note), store.hints.count("acme"), away


def leaks(answer: str, typed: str = "") -> list[str]:
    """Whatever of acme shows in an answer meant for the other workspace (a mention the caller
    typed may be echoed: it tells them nothing they did not say)."""
    for mention in re.findall(r"<@[A-Z0-9]+>", typed):
        answer = answer.replace(mention, "")
    return [word for word in ("acme", ALICE, "alice@", "Alice Archer", f"<@{ADMIN}>", "PO-1001", "INV-1001")
            if word.lower() in answer.lower()]


async def test_another_workspace_learns_nothing_of_acme_and_changes_nothing(stack: LocalStack) -> None:
    other = await two_customers(stack)
    before = acme_state(stack)

    # Every command, by the other workspace's admin, against acme and against a company that does not exist.
    for command in ("help", "status", "list", "audit 50", "audit", "discovery off",
                    "discovery {c} off", f"discovery {{c}} <@{ALICE}>", f"discovery <@{ALICE}>",
                    f"register <@{ALICE}> {{c}}", f"register <@{ALICE}> {{c}} alice@example.com acme-alice-token",
                    f"register <@{ZED}> {{c}} zed@globex.example acme-alice-token",
                    f"register <@{ALICE}> alice@example.com acme-alice-token override", f"remove <@{ALICE}>",
                    "away", f"away until {SOON} cover <@{ALICE}>", "back"):
        for_acme = await said(other, OTHER_ADMIN, command.format(c="acme"))
        for_nobody = await said(other, OTHER_ADMIN, command.format(c="nosuchco"))
        assert leaks(for_acme, command) == [], (command, for_acme)
        if "{c}" in command:
            assert for_acme == for_nobody, command
        # The same, by acme's admin id spoken from the other workspace: not an admin there.
        as_dana = await said(other, ADMIN, command.format(c="acme"))
        assert leaks(as_dana.replace(f"<@{ADMIN}>", ""), command) == [], (command, as_dana)
        if command.split()[0] in ("list", "audit", "register", "remove", "discovery"):
            assert as_dana == messages.not_admin_text(), (command, as_dana)

    # The registration form, submitted with acme forged into its metadata.
    await other.slash_command(OTHER_ADMIN, f"register <@{ZED}>")
    form = await stack.slack.wait_for(lambda: next((v for v in stack.slack.views.values()
                                                    if v.get("callback_id") == messages.REGISTER_CALLBACK), None))
    forged = {**form, "private_metadata": json.dumps({"user": ALICE, "company": "acme"})}
    answer = await other.submit_view(OTHER_ADMIN, forged, {
        messages.EMAIL_BLOCK: {messages.EMAIL_ACTION: {"type": "plain_text_input", "value": "alice@example.com"}},
        messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": "acme-alice-token"}}})
    assert answer.json()["response_action"] == "errors"

    # Home tab: the other admin's admin section lists globex and Zed only.
    await other.open_home(OTHER_ADMIN)
    home = await stack.slack.wait_for(lambda: stack.slack.home_of(OTHER_ADMIN))
    shown = json.dumps(home)
    assert "globex" in shown and ZED in shown and leaks(shown) == []

    # A click on Alice's document by someone of the other workspace.
    [alice_doc, *_] = document_dms(stack, ALICE)
    await other.click(OTHER_ADMIN, alice_doc, messages.ACTION_APPROVE)
    await other.click(ZED, alice_doc, messages.ACTION_APPROVE)

    # Events of the other workspace naming Alice.
    await other.event({"type": "app_home_opened", "user": ALICE, "channel": dm_channel(ALICE), "tab": "home"})

    # globex's webhook secret does not open acme's webhook, and acme's hint path needs acme's secret.
    async with httpx.AsyncClient(base_url=stack.bot_url) as web:
        body = {"type": 2, "idn": "PO-1001", "action": 1}
        assert (await web.post(f"/precoro/webhooks/acme/{GLOBEX_SECRET}", json=body)).status_code == 404

    await asyncio.sleep(1.0)  # anything the bot does in the background after answering
    assert acme_state(stack) == before, "nothing of acme changed"
    assert not [r for r in stack.precoro.requests if r.path.endswith("/approve")], "no decision was sent"
    assert not [r for r in stack.precoro.requests if r.token == stack.token_of("alice") and r.company != "acme"]
    assert stack.runtime.store.approvers.list("globex") == [a for a in stack.runtime.store.approvers.list("globex")
                                                            if a.slack_user_id == ZED], "no one else got in"
    # Nothing about acme was ever shown in the other workspace (users.info of an id typed there is not shown).
    for call in stack.slack.calls:
        if stack.slack.team_of_token(call.token) == OTHER_TEAM and call.method.startswith(("chat.", "views.")):
            shown_there = {k: call.args.get(k) for k in ("text", "blocks", "view", "attachments")}
            assert leaks(json.dumps(shown_there)) == [], (call.method, call.args)

    # acme's own admin still sees and steers acme (the scoping is not a blanket refusal).
    assert "Alice" in (await stack.driver.ask(ADMIN, "list")) or ALICE in (await stack.driver.ask(ADMIN, "list"))
    assert "globex" not in (await stack.driver.ask(ADMIN, "audit 50"))


async def test_an_install_from_a_workspace_no_company_names_gets_nothing(stack: LocalStack) -> None:
    answer = await install(stack, STRANGER_TEAM)
    assert answer.status_code == 403 and "not connected" in answer.text
    with stack.runtime.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_bots")).scalar() == 0
    stranger = SlackDriver(stack.bot_url, stack.signing_secret, stack.slack, team_id=STRANGER_TEAM)
    said = await stranger.ask(STRANGER, "status")
    assert leaks(said) == [] and "globex" not in said


async def test_registration_checks_the_email_against_the_slack_profile(stack: LocalStack) -> None:
    await two_customers(stack)
    bob = stack.users["bob"]
    stack.slack.add_user(SLACK_USERS["bob"], "Bob Baker", "robert@elsewhere.example")  # Slack says otherwise
    refused = await said(stack.driver, ADMIN, f"register <@{SLACK_USERS['bob']}> {bob.email} {bob.token}")
    assert "not" in refused and "override" in refused
    assert stack.runtime.store.approvers.find("acme", TEAM, SLACK_USERS["bob"]) is None
    reads = [r for r in stack.precoro.requests if r.token == bob.token]
    assert reads == [], "a refused registration does not even try the token"

    await said(stack.driver, ADMIN, f"register <@{SLACK_USERS['bob']}> {bob.email} {bob.token} override")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", TEAM, SLACK_USERS["bob"]))
    actions = [(e.action, e.outcome) for e in stack.runtime.store.audit.recent("acme", limit=10)]
    assert ("token.register.override", "email differs from the Slack profile's") in actions
    assert ("token.register", "refused: email is not the Slack profile's") in actions


async def test_uninstall_stops_every_request_for_that_workspaces_approvers(stack: LocalStack) -> None:
    other = await two_customers(stack)
    zed_token, alice_token = "globex-zed-token", stack.token_of("alice")
    await stack.slack.wait_for(lambda: sum(r.token == zed_token for r in stack.precoro.requests) >= 2)
    away_until = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    assert "away" in (await other.ask(ZED, f"away until {away_until}")).lower()
    assert stack.runtime.store.away.get(OTHER_TEAM, ZED) is not None

    assert (await other.event({"type": "app_uninstalled"})).status_code == 200
    await stack.slack.wait_for(lambda: not stack.runtime.store.approvers.list("globex"))
    await asyncio.sleep(0.5)  # a poll already sent when the event arrived
    zed_before = sum(r.token == zed_token for r in stack.precoro.requests)
    alice_before = sum(r.token == alice_token for r in stack.precoro.requests)
    await asyncio.sleep(3.0)  # many poll intervals (0.5 s) of the fast stack
    assert sum(r.token == zed_token for r in stack.precoro.requests) == zed_before, "nothing more with Zed's token"
    assert sum(r.token == alice_token for r in stack.precoro.requests) > alice_before, "acme goes on"

    with stack.runtime.store.engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM approvers WHERE team_id = :t"), {"t": OTHER_TEAM}).scalar()
    assert left == 0, "the sealed tokens are deleted with their approvers"
    assert stack.runtime.store.away.get(OTHER_TEAM, ZED) is None, "and what else names its people"
    audit = stack.runtime.store.audit.recent("globex", limit=10)
    assert any(e.action == "workspace.left" and e.subject == OTHER_TEAM and "1 approver" in e.outcome for e in audit)
    assert any(e.action == "token.remove" and e.subject == f"<@{ZED}>" for e in audit)


async def test_a_revoked_bot_token_is_leaving_too(stack: LocalStack) -> None:
    other = await two_customers(stack)
    await other.event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOT"]}})
    await stack.slack.wait_for(lambda: not stack.runtime.store.approvers.list("globex"))
    assert stack.runtime.store.approvers.list("acme"), "the other workspace's approvers stay"
    with stack.runtime.store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_bots WHERE team_id = :t"),
                            {"t": OTHER_TEAM}).scalar() == 0

