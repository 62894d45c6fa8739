"""Fault injection: nothing lost, nothing doubled, nobody let in.

1. Many clicks by several approvers while Precoro fails at random (500, 429, timeouts, dropped
   connections, and approvals whose answer is lost).
2. The bot process killed with SIGKILL while its POSTs are in flight, then restarted.
3. The database unavailable for a moment while clicks arrive.

After each: every click ends in exactly one successful POST or a clear message to its approver,
no POST was made with a token other than the clicker's, and the audit log accounts for every click.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from bot.slack import messages
from bot.store import Store
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.slack import SlackStandIn, dm_channel
from precoro_devkit.emulator.stack import ADMIN, FAST_EMULATOR, SLACK_USERS, LocalStack, ProcessStack
from tests.support.slack import approve_ref, open_messages, shown, text_of, told

ALICE, BOB, CAROL = SLACK_USERS["alice"], SLACK_USERS["bob"], SLACK_USERS["carol"]
FINAL = ("approved", "rejected", "gone", "failed")
pytestmark = pytest.mark.asyncio


@dataclass(frozen=True)
class Click:
    user: str  # Slack user id
    ref: str  # the posted message's id (the button value)
    doc_type: str
    idn: str
    action: str  # approve | reject


def doc_of(store: Store, ref: str) -> tuple[str, str]:
    message = store.messages.get(int(ref))
    assert message is not None
    return message.doc_type, message.idn


IN_FLIGHT_SIGNS = (":hourglass_flowing_sand:", ":clock3:")  # how a message says "working", "queued"


async def shown_settled(clicks: list[Click], store: Store, slack: SlackStandIn, timeout: float = 10.0) -> None:
    """Wait for Slack to show what the database says: a decision is recorded done before its
    message's last update reaches Slack."""
    def settled() -> bool:
        for ref in {c.ref for c in clicks}:
            message = store.messages.get(int(ref))
            shown = slack.messages.get((message.channel or "", message.ts or "")) if message else None
            if message is None or message.state not in FINAL or shown is None:
                return False
            if any(sign in text_of(shown) for sign in IN_FLIGHT_SIGNS):
                return False
        return True

    await slack.wait_for(settled, timeout=timeout)


def account_for(clicks: list[Click], store: Store, precoro: PrecoroEmulator, slack: SlackStandIn,
                tokens: dict[str, str]) -> Counter[str]:
    """The three promises, checked for every click; returns how the clicked messages ended."""
    writes = [r for r in precoro.requests if r.method == "POST"]
    user_of_token = {token: user for user, token in tokens.items()}
    owners = {c.ref: owner_of(store, c.ref) for c in clicks}
    # No POST with a token other than the clicker's, nor for a document they did not click.
    decided = {(c.user, c.doc_type, c.idn) for c in clicks if c.user == owners[c.ref]}
    for post in writes:
        doc_type, idn = post.path.strip("/").split("/")[:2]
        assert (user_of_token.get(post.token or ""), doc_type, idn) in decided, post
    # The audit log has one entry for every click (accepted, ignored or refused).
    audit = Counter((e.actor, e.subject, e.action) for e in store.audit.recent(limit=100_000))
    for key, n in Counter((c.user, f"{c.doc_type}/{c.idn}", f"decision.{c.action}") for c in clicks).items():
        assert audit[key] == n, (key, audit[key], n)
    endings: Counter[str] = Counter()
    for ref in sorted({c.ref for c in clicks}, key=int):
        message = store.messages.get(int(ref))
        assert message is not None and message.state in FINAL, message
        owner = owners[ref]
        action = next((c.action for c in clicks if c.ref == ref and c.user == owner), None)
        seen = text_of(slack.messages[(message.channel or "", message.ts or "")])
        for stranger in {c.user for c in clicks if c.ref == ref and c.user != owner}:
            assert not [p for p in writes if p.token == tokens[stranger] and message.idn in p.path]
        if action is None:
            continue
        applied = [p for p in writes if p.applied and p.token == tokens[owner]
                   and p.path == f"/{message.doc_type}/{message.idn}/{action}"]
        if message.state in ("approved", "rejected"):
            assert len(applied) == 1, (owner, message.idn, applied)  # exactly one successful POST
            assert f"{'Approved' if action == 'approve' else 'Rejected'} by <@{owner}>" in seen
        else:  # nothing was done, and the approver reads why
            assert applied == [], (owner, message.idn, applied)
            assert "No longer waiting for you" in seen or "Could not" in seen, seen
        endings[message.state] += 1
    return endings


def owner_of(store: Store, ref: str) -> str:
    message = store.messages.get(int(ref))
    approver = store.approvers.get(message.approver_id) if message else None
    assert approver is not None
    return approver.slack_user_id


# --- 1. Precoro failing at random ---------------------------------------------------------------

@pytest.fixture
def chaos_stack(database_url: str) -> Iterator[LocalStack]:
    running = LocalStack.start(database_url, **{"precoro.request_timeout_seconds": 0.5,
                                                "quota.interactive_wait_seconds": 2})
    running.runtime.decisions.retry_base_seconds = 0.3
    yield running
    running.stop()


async def register(stack: LocalStack, name: str) -> None:
    """The admin registers an approver; asks again if the token check found Precoro busy."""
    for _ in range(3):
        with contextlib.suppress(TimeoutError):
            await stack.register(name)
            return
    raise TimeoutError(f"{name} could not be registered")


async def click(stack: LocalStack, user: str, message: dict[str, Any], decision: Click) -> Click:
    response = await stack.driver.click(user, message, messages.ACTION_APPROVE)
    assert response.status_code == 200
    return decision


async def reject_with_reason(stack: LocalStack, user: str, message: dict[str, Any], decision: Click) -> Click | None:
    """Reject opens the reason form; submitting it is the decision. None if no form opened (the
    message was decided or retired meanwhile, and the approver was told so)."""
    before = set(stack.slack.views)
    assert (await stack.driver.click(user, message, messages.ACTION_REJECT)).status_code == 200
    try:
        view = await stack.slack.wait_for(lambda: next(
            (v for k, v in stack.slack.views.items() if k not in before and v.get("private_metadata") == decision.ref),
            None), timeout=5)
    except TimeoutError:
        return None
    response = await stack.driver.submit_view(user, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Fault test: not needed"}}})
    assert response.status_code == 200
    return decision


async def test_clicks_while_precoro_fails_at_random(chaos_stack: LocalStack) -> None:
    stack, store, precoro = chaos_stack, chaos_stack.runtime.store, chaos_stack.precoro
    users = stack.users
    for name, doc_type in (("alice", "purchaseorders"), ("bob", "invoices"), ("carol", "purchaseorders")):
        for n in range(2):
            precoro.add_document("acme", doc_type, users["admin"].id, [[users[name].id]], sum=f"{n + 1}00.00")
    for name in ("alice", "bob", "carol"):
        await register(stack, name)
    for user, count in ((ALICE, 3), (BOB, 3), (CAROL, 3)):
        await stack.slack.wait_for(lambda user=user, count=count: len(open_messages(stack.slack, user)) >= count,
                                   timeout=15)
    precoro.chaos(0.3, seed=20240601)

    clicks: list[Click] = []
    handled: set[str] = set()
    stranger_done = False
    deadline = time.monotonic() + 75
    turn = 0
    while time.monotonic() < deadline:
        jobs = []
        for user in (ALICE, BOB, CAROL):
            for message in open_messages(stack.slack, user):
                ref = approve_ref(message)
                if ref in handled:
                    continue
                handled.add(ref)
                doc_type, idn = doc_of(store, ref)
                turn += 1
                if not stranger_done and user == ALICE:  # Carol tries Alice's button first: refused
                    stranger_done = True
                    jobs.append(click(stack, CAROL, message, Click(CAROL, ref, doc_type, idn, "approve")))
                if turn % 4 == 0:
                    jobs.append(reject_with_reason(stack, user, message, Click(user, ref, doc_type, idn, "reject")))
                else:
                    repeats = 2 if turn % 3 == 0 else 1  # some impatient double clicks
                    jobs += [click(stack, user, message, Click(user, ref, doc_type, idn, "approve"))
                             for _ in range(repeats)]
        clicks += [made for made in await asyncio.gather(*jobs) if made is not None]
        pending = [d for d in precoro.documents if d.status == 1]
        unsettled = [c for c in clicks if (m := store.messages.get(int(c.ref))) is None or m.state not in FINAL]
        if not pending and not unsettled and clicks:
            break
        await asyncio.sleep(0.3)
    precoro.chaos(0.0)
    assert not [d.idn for d in precoro.documents if d.status == 1], "every document was decided in Precoro"
    tokens = {SLACK_USERS[n]: users[n].token for n in ("alice", "bob", "carol")}
    await shown_settled(clicks, store, stack.slack)
    endings = account_for(clicks, store, precoro, stack.slack, tokens)
    fired = dict(precoro.faults_fired)
    posts = [r for r in precoro.requests if r.method == "POST"]
    print(f"\nchaos: {len(clicks)} clicks on {len({c.ref for c in clicks})} messages; faults {fired}; "
          f"{len(posts)} POSTs ({sum(p.applied for p in posts)} carried out); endings {dict(endings)}")
    assert sum(fired.values()) >= 5, "the run did meet faults"
    assert endings["approved"] + endings["rejected"] >= 8


# --- 2. The bot killed with SIGKILL mid-run, then restarted ---------------------------------------

async def test_bot_killed_mid_run_resumes_and_finishes_each_decision_once(database_url: str,
                                                                          tmp_path: Path) -> None:
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    users = seed_demo(precoro)
    for name, doc_type in (("alice", "purchaseorders"), ("alice", "purchaseorders"), ("bob", "invoices")):
        precoro.add_document("acme", doc_type, users["admin"].id, [[users[name].id]])
    world = ProcessStack.start(precoro, users, database_url, tmp_path,
                               **{"precoro.request_timeout_seconds": 2, "quota.interactive_wait_seconds": 1})
    slack = world.slack
    bot, driver = world.spawn()
    store = None
    try:
        await bot.ready()
        for name in ("alice", "bob"):
            user = users[name]
            await driver.slash_command(ADMIN, f"register <@{SLACK_USERS[name]}> {user.email} {user.token}")
        await slack.wait_for(lambda: len(open_messages(slack, ALICE)) == 3 and len(open_messages(slack, BOB)) == 2,
                             timeout=20)
        store = Store.open(database_url)
        targets = [(user, m) for user in (ALICE, BOB) for m in open_messages(slack, user)]
        clicks = [Click(user, approve_ref(m), *doc_of(store, approve_ref(m)), "approve") for user, m in targets]

        precoro.latency = 1.0  # each request now stays in flight for a second
        answers = await asyncio.gather(*(driver.click(user, m, messages.ACTION_APPROVE) for user, m in targets))
        assert {a.status_code for a in answers} == {200}
        in_flight = await slack.wait_for(lambda: [r for r in precoro.requests
                                                  if r.method == "POST" and r.status is None], timeout=10)
        await slack.wait_for(lambda: all(store.decisions.for_message(int(c.ref)) for c in clicks), timeout=0.5)
        bot.kill()
        unfinished = {d.idn for c in clicks if (d := store.decisions.for_message(int(c.ref))) and d.state != "done"}
        await asyncio.sleep(precoro.latency + 0.3)  # Precoro carries out the POST the bot never hears back from
        lost = in_flight[0].path.rsplit("/", 1)[0]
        assert in_flight[0].applied and lost.rsplit("/", 1)[1] in unfinished
        precoro.latency = 0.1

        bot, _ = world.spawn(port=bot.port)
        await bot.ready()
        await slack.wait_for(lambda: all((d := store.decisions.for_message(int(c.ref))) and d.state == "done"
                                         for c in clicks), timeout=40)
        tokens = {SLACK_USERS[n]: users[n].token for n in ("alice", "bob", "carol")}
        await shown_settled(clicks, store, slack)
        endings = account_for(clicks, store, precoro, slack, tokens)
        assert endings == Counter(approved=len(clicks))
        assert [r.status for r in precoro.requests if r.method == "GET" and r.path == lost] == [200], \
            "the decision whose answer died with the process was resolved by reading, not by a second POST"
        print(f"\nSIGKILL: {len(clicks)} clicks; {len(unfinished)} unfinished at the kill "
              f"({len(in_flight)} POST in flight); after restart all done, "
              f"{sum(r.applied for r in precoro.requests if r.method == 'POST')} POSTs carried out")
    finally:
        bot.stop()
        if store is not None:
            store.close()
        world.stop()


async def test_sigterm_lets_the_clicks_in_flight_finish_before_exiting(database_url: str, tmp_path: Path) -> None:
    """A deploy stops the bot (SIGTERM) while Precoro is slow to answer two clicks: the process
    waits for both answers and shows them in Slack before it exits; nothing is left in the outbox."""
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    users = seed_demo(precoro)
    precoro.add_document("acme", "invoices", users["admin"].id, [[users["alice"].id]])
    # The production wait for a click's slot (10 s), not the stack's 3 s: with Precoro taking 1.5 s
    # per answer and a poll possibly on the wire, the second click may wait ~3 s for its turn.
    world = ProcessStack.start(precoro, users, database_url, tmp_path, **{"quota.interactive_wait_seconds": 10})
    bot, driver = world.spawn()
    store = Store.open(database_url)
    try:
        await bot.ready()
        user = users["alice"]
        await driver.slash_command(ADMIN, f"register <@{ALICE}> {user.email} {user.token}")
        targets = await world.slack.wait_for(lambda: (m := open_messages(world.slack, ALICE)) and len(m) == 2 and m,
                                             timeout=20)
        precoro.latency = 1.5
        await asyncio.gather(*(driver.click(ALICE, m, messages.ACTION_APPROVE) for m in targets))
        await world.slack.wait_for(lambda: [r for r in precoro.requests if r.method == "POST"], timeout=10)
        stopping = time.monotonic()
        await asyncio.to_thread(bot.stop)
        took = time.monotonic() - stopping
        # A clean stop exits 0 (a supervisor reads -15 as a crash); SIGKILL would mean the stop timed out.
        assert bot.proc.returncode == 0, bot.log.read_text()[-2000:]
        for m in targets:
            decision = store.decisions.for_message(int(approve_ref(m)))
            assert decision is not None and (decision.state, decision.outcome) == ("done", "approved")
        shown = [m for m in world.slack.messages_in(dm_channel(ALICE)) if "Approved by" in str(m.get("blocks"))]
        assert len(shown) == 2
        assert sum(r.applied for r in precoro.requests if r.method == "POST") == 2
        print(f"\nSIGTERM with 2 clicks in flight: exited after {took:.1f} s, both approved and shown")
    finally:
        bot.stop()
        store.close()
        world.stop()


# --- 3. The database unavailable for a moment ------------------------------------------------------

@pytest.fixture
def outage(database_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    """(the URL the bot uses, a context manager that makes its database unavailable for a moment).

    PostgreSQL: the bot logs in as a role of its own; the outage forbids that role to log in and
    terminates its connections. SQLite: another process holds the exclusive lock for 2 s."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")

        @contextlib.contextmanager
        def locked() -> Iterator[None]:
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("BEGIN EXCLUSIVE")
            release = threading.Timer(2.0, lambda: (conn.execute("COMMIT"), conn.close()))
            release.start()
            try:
                yield
            finally:
                release.join()

        yield database_url, locked
        return
    role = f"bot_{uuid.uuid4().hex[:10]}"
    url = make_url(database_url)
    schema = url.query["options"].split("=", 1)[1]
    admin = create_engine(url.set(drivername="postgresql+psycopg"))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"'))

    @contextlib.contextmanager
    def down() -> Iterator[None]:
        with admin.begin() as conn:
            conn.execute(text(f'ALTER ROLE "{role}" NOLOGIN'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"),
                         {"r": role})
        try:
            yield
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'ALTER ROLE "{role}" LOGIN'))

    yield url.set(username=role, password=None).render_as_string(hide_password=False), down
    with admin.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    admin.dispose()


async def test_clicks_while_the_database_is_unavailable(outage: tuple[str, Any], database_url: str) -> None:
    bot_url, unavailable = outage
    postgres = not database_url.startswith("sqlite")
    stack = LocalStack.start(bot_url)
    try:
        stack.runtime.decisions.lease_seconds = 5.0  # one attempt here lasts about a second
        store, precoro = stack.runtime.store, stack.precoro
        for _ in range(2):
            precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[stack.users["alice"].id]])
        await register(stack, "alice")
        await stack.slack.wait_for(lambda: len(open_messages(stack.slack, ALICE)) == 3, timeout=10)
        first, second, third = sorted(open_messages(stack.slack, ALICE), key=lambda m: m["text"])
        decision = {id(m): Click(ALICE, approve_ref(m), *doc_of(store, approve_ref(m)), "approve")
                    for m in (first, second)}

        precoro.latency = 1.0
        assert (await stack.driver.click(ALICE, first, messages.ACTION_APPROVE)).status_code == 200
        await stack.slack.wait_for(lambda: [r for r in precoro.requests if r.method == "POST"], timeout=5)
        with unavailable():  # the first click's POST is in flight when the database goes away
            during = [await stack.driver.click(ALICE, second, messages.ACTION_APPROVE),
                      await stack.driver.click(ALICE, third, messages.ACTION_REJECT)]
            assert [r.status_code for r in during] == [200, 200]  # acked, never a 500
            if postgres:
                await stack.slack.wait_for(lambda: told(stack, ALICE, "could not be recorded") >= 2, timeout=5)
                # The first click is told its decision is saved (or, had it been queued behind a poll and
                # sent by the worker, its message already says "queued"): either way it is not lost.
                await stack.slack.wait_for(lambda: told(stack, ALICE, "Your decision is saved")
                                           or "queued" in shown(stack, first), timeout=5)
                assert len([r for r in precoro.requests if r.method == "POST"]) == 1, "nothing sent unrecorded"
        precoro.latency = 0.0
        clicks = [decision[id(first)], decision[id(second)]]
        if postgres:  # the click that could not be recorded left no trace; Alice clicks again, as asked
            assert (await stack.driver.click(ALICE, second, messages.ACTION_APPROVE)).status_code == 200
        for message in (first, second):  # the interrupted attempt: after its lease, and the outbox's next pass
            await stack.slack.wait_for(lambda m=message: "Approved by" in shown(stack, m), timeout=60)
        stack.runtime.scheduler.shutdown()
        tokens = {SLACK_USERS[n]: stack.users[n].token for n in ("alice", "bob", "carol")}
        await shown_settled(clicks, store, stack.slack)
        assert account_for(clicks, store, precoro, stack.slack, tokens) == Counter(approved=2)
        if postgres:  # the decision whose POST outlived the database was resolved by reading, not resent
            lost = f"/{clicks[0].doc_type}/{clicks[0].idn}"
            assert [r.status for r in precoro.requests if r.method == "GET" and r.path == lost] == [200]
    finally:
        stack.stop()
