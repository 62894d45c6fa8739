"""What the running bot learns by itself over real HTTP: a discovery token whose role does not see
every document, and a `waitingForApprove` filter Precoro does not honour."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from bot.precoro.models import parse_document
from bot.store.findings import FindingRepo
from bot.store.schema import approvers
from bot.sync import blind
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from tests.support.slack import text_of

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
pytestmark = pytest.mark.asyncio
BLIND_DM = "does not see every document of type purchaseorders"
FILTER_DM = "`waitingForApprove` filter listed documents that do not wait"


def dms(stack: LocalStack, user: str, idn: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages_in(dm_channel(user)) if idn in text_of(m)]


def admin_dms(stack: LocalStack, needle: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.messages_in(dm_channel(ADMIN)) if needle in (m.get("text") or "")]


def findings(stack: LocalStack) -> dict[str, str]:
    return {f.name: f.value for f in FindingRepo(stack.runtime.store.engine).all("acme")}


@pytest.fixture
def unfiltered_stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, emulator={"ignore_waiting_filter": True})
    yield running
    running.stop()


async def test_a_discovery_role_that_misses_documents_is_noticed_and_polls_take_over(stack: LocalStack) -> None:
    admin, alice, bob = (stack.users[n] for n in ("admin", "alice", "bob"))
    stack.precoro.restrict_role(admin.id)  # sees only what it created or approves
    await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", ADMIN))
    await stack.register("bob")
    registered = time.time() - 600.0  # Bob has been an approver for ten minutes
    with stack.runtime.store.engine.begin() as conn:
        conn.execute(update(approvers).where(approvers.c.slack_user_id == BOB)
                     .values(created_at=registered, updated_at=time.time()))
    assert "reads every pending document" in await stack.driver.ask(ADMIN, f"discovery <@{ADMIN}>")
    settings = await stack.slack.wait_for(
        lambda: (s := stack.runtime.store.discovery.get("acme")) is not None and s.cursor is not None and s,
        timeout=20)
    # A purchase order Alice asked for, waiting for Bob since before discovery's last complete
    # run: a role that saw it would have posted it then.
    hidden = stack.precoro.add_document("acme", "purchaseorders", alice.id, [[bob.id]], sum="64.00",
                                        supplier="Initech", created_at=settings.cursor - 45.0)
    assert hidden.created_at > registered
    # Bob's own (safety-net) poll finds it: it reaches him all the same.
    await stack.slack.wait_for(lambda: dms(stack, BOB, hidden.idn), timeout=20)
    told = await stack.slack.wait_for(lambda: admin_dms(stack, BLIND_DM), timeout=20)
    assert "*acme*" in told[0]["text"]
    assert findings(stack)["blind:purchaseorders"] == f"per-approver polls (discovery approver {settings.approver_id})"
    assert "purchaseorders" in await stack.slack.wait_for(
        lambda: stack.runtime.store.discovery.get("acme").fallback_types, timeout=10)
    # The confirmation was one read of that document with the discovery token, and it was refused.
    checks = [r for r in stack.precoro.requests if r.token == admin.token and r.path.endswith(hidden.idn)]
    assert [r.status for r in checks] == [404]
    # From now on Bob's polls bring him the purchase orders discovery cannot see, and the admins
    # are not told again.
    later = stack.precoro.add_document("acme", "purchaseorders", alice.id, [[bob.id]], sum="65.00",
                                       supplier="Initech")
    await stack.slack.wait_for(lambda: dms(stack, BOB, later.idn), timeout=20)
    assert "does not see every document of type purchaseorders" in await stack.driver.ask(ADMIN, "status")
    assert len(admin_dms(stack, BLIND_DM)) == 1
    assert [r for r in stack.precoro.requests if r.token == admin.token and r.path.endswith(later.idn)] == []
    # The admin gives the discovery user a role that sees the whole company and sets discovery
    # again: it reads purchase orders again, and the status no longer says otherwise.
    stack.precoro.restrict_role(admin.id, sees_all=True)
    assert "reads every pending document" in await stack.driver.ask(ADMIN, f"discovery <@{ADMIN}>")
    assert "does not see every document" not in await stack.driver.ask(ADMIN, "status")


async def test_a_discovery_role_that_sees_everything_raises_nothing(stack: LocalStack) -> None:
    admin, alice, bob = (stack.users[n] for n in ("admin", "alice", "bob"))
    await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", ADMIN))
    await stack.register("bob")
    assert "reads every pending document" in await stack.driver.ask(ADMIN, f"discovery <@{ADMIN}>")
    await stack.slack.wait_for(
        lambda: (s := stack.runtime.store.discovery.get("acme")) is not None and s.cursor is not None, timeout=20)
    doc = stack.precoro.add_document("acme", "purchaseorders", alice.id, [[bob.id]], sum="64.00")
    await stack.slack.wait_for(lambda: dms(stack, BOB, doc.idn), timeout=20)
    first_cursor = stack.runtime.store.discovery.get("acme").cursor
    await stack.slack.wait_for(lambda: stack.runtime.store.discovery.get("acme").cursor > first_cursor + 1,
                               timeout=20)  # more runs and polls went by
    assert not any(n.startswith("blind:") for n in findings(stack))
    assert stack.runtime.store.discovery.get("acme").fallback_types == frozenset()
    assert admin_dms(stack, "does not see every document") == []


async def test_an_ignored_waiting_filter_falls_back_to_pending_lists_read_by_step(unfiltered_stack: LocalStack) -> None:
    stack = unfiltered_stack
    users = stack.users
    admin = users["admin"]
    await stack.driver.slash_command(ADMIN, f"register <@{ADMIN}> {admin.email} {admin.token}")
    for name in ("alice", "bob", "carol"):
        await stack.register(name)
    # The seeded documents: PO-1001 waits for Alice (then Bob), INV-1001 for Bob or Carol (then Alice).
    await stack.slack.wait_for(lambda: dms(stack, ALICE, "PO-1001") and dms(stack, BOB, "INV-1001")
                               and dms(stack, CAROL, "INV-1001"), timeout=20)
    told = await stack.slack.wait_for(lambda: admin_dms(stack, FILTER_DM), timeout=20)
    assert "*acme*" in told[0]["text"]
    assert findings(stack)["waiting_filter"] == "ignored"
    assert stack.runtime.clients["acme"].waiting_filter_ignored
    for_carol = stack.precoro.add_document("acme", "invoices", admin.id, [[users["carol"].id]], sum="9.00")
    await stack.slack.wait_for(lambda: dms(stack, CAROL, for_carol.idn), timeout=20)
    # Alice approves in Precoro's web UI: the purchase order moves on to Bob, and reaches him.
    stack.precoro.approve_as(users["alice"].id, "purchaseorders", "PO-1001")
    await stack.slack.wait_for(lambda: dms(stack, BOB, "PO-1001"), timeout=20)
    polls = [r for r in stack.precoro.requests if r.token == users["bob"].token and r.method == "GET"]
    assert any("status" in r.query for r in polls)  # pending lists, read by step
    # Nobody ever received a document that did not wait for them.
    assert dms(stack, ALICE, "INV-1001") == [] and dms(stack, ALICE, for_carol.idn) == []
    assert dms(stack, BOB, for_carol.idn) == [] and dms(stack, CAROL, "PO-1001") == []
    assert "filter listed documents that do not wait for the approver" in await stack.driver.ask(ADMIN, "status")
    assert len(admin_dms(stack, FILTER_DM)) == 1


async def test_suspects_are_documents_discovery_should_have_read() -> None:
    raw = {"id": 1, "idn": "PO-1", "status": 1, "updateDate": "2026-01-01T00:10:00+00:00"}
    doc = parse_document("purchaseorders", raw)
    assert doc is not None
    at = blind.changed_at(doc)
    assert at is not None
    assert blind.suspects([doc], registered_at=at - 1, cursor=at + 60, fallback=frozenset()) == [doc]
    assert blind.suspects([doc], registered_at=at - 1, cursor=at + 20, fallback=frozenset()) == []  # overlap
    assert blind.suspects([doc], registered_at=at + 1, cursor=at + 60, fallback=frozenset()) == []  # joined later
    assert blind.suspects([doc], registered_at=at - 1, cursor=None, fallback=frozenset()) == []  # no full run yet
    assert blind.suspects([doc], registered_at=at - 1, cursor=at + 60,
                          fallback=frozenset({"purchaseorders"})) == []  # already left to polls
