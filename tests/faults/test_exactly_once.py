"""Every click sent exactly once: the fenced outbox, counted at the Precoro emulator.

1. A replica frozen (SIGSTOP, like a frozen VM) after claiming two decisions, while it waits for a
   quota slot, past its lease: a second replica takes both over and sends them; the frozen one,
   thawed, sends nothing and changes nothing. One approve on a two-step chain whose both steps
   name the same approver (a second POST would approve step 2 too), and one reject (a second POST
   would get 400 and overwrite the decision as "not waiting").
2. The same Precoro user registered for two Slack users: one decision and one POST, whoever clicks.
3. A poll's redraw planned before a click decided the message does not put it back to waiting.
4. A failed decision whose POST may have gone through stays unsure when clicked again: the next
   attempt looks before sending (and sends nothing when Precoro already shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from bot.precoro import api
from bot.precoro.models import parse_document
from bot.slack import messages
from bot.store import Store
from bot.store.decisions import DONE, SENDING, UNSURE
from bot.sync.reconcile import SyncPlan
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.stack import ADMIN, FAST_EMULATOR, SLACK_USERS, TEAM, LocalStack, ProcessStack
from tests.support.slack import approve_ref, buttons, open_messages, shown

ALICE, BOB = SLACK_USERS["alice"], SLACK_USERS["bob"]
pytestmark = pytest.mark.asyncio


def headed(slack_messages: list[dict], idn: str) -> dict:
    return next(m for m in slack_messages if any(b.get("type") == "header" and b["text"]["text"].endswith(f" {idn}")
                                                 for b in m.get("blocks") or []))


def posts(precoro: PrecoroEmulator, doc_type: str, idn: str) -> list:
    prefix = api.document_path(doc_type, idn) + "/"
    return [r for r in precoro.requests if r.method == "POST" and r.path.startswith(prefix)]


# --- 1. a stalled attempt past its lease -------------------------------------------------------------

async def test_a_frozen_attempt_past_its_lease_sends_nothing_and_changes_nothing(database_url: str,
                                                                                 tmp_path: Path) -> None:
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    users = seed_demo(precoro)
    alice, admin = users["alice"].id, users["admin"].id
    chain = precoro.add_document("acme", "purchaseorders", admin, [[alice], [alice]], idn="PO-CHAIN")
    refused = precoro.add_document("acme", "invoices", admin, [[alice]], idn="INV-REJ")
    world = ProcessStack.start(precoro, users, database_url, tmp_path, **{
        "precoro.request_timeout_seconds": 1, "quota.interactive_wait_seconds": 3, "scheduler.tick_seconds": 0.5})
    frozen, driver = world.spawn("frozen")
    replica, _ = world.spawn("replica")
    store = Store.open(database_url)
    stopped = False
    try:
        await frozen.ready()
        await replica.ready()
        user = users["alice"]
        await driver.slash_command(ADMIN, f"register <@{ALICE}> {user.email} {user.token}")
        await world.slack.wait_for(lambda: len(open_messages(world.slack, ALICE)) == 3, timeout=20)
        shown_now = open_messages(world.slack, ALICE)
        approve_msg, reject_msg = headed(shown_now, chain.idn), headed(shown_now, refused.idn)
        refs = [int(approve_ref(approve_msg)), int(approve_ref(reject_msg))]

        # The reason form first (no Precoro request), then close the company's gate for 2.5 s: both
        # attempts claim their decision and then wait for a quota slot, where the process freezes.
        before = set(world.slack.views)
        assert (await driver.click(ALICE, reject_msg, messages.ACTION_REJECT)).status_code == 200
        view = await world.slack.wait_for(lambda: next(
            (v for k, v in world.slack.views.items() if k not in before), None), timeout=10)
        store.quota.block("acme", time.time() + 2.5, "test: slow quota")
        await asyncio.gather(
            driver.click(ALICE, approve_msg, messages.ACTION_APPROVE),
            driver.submit_view(ALICE, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
                "type": "plain_text_input", "value": "Not in budget"}}}))
        await world.slack.wait_for(lambda: all((d := store.decisions.for_message(r)) and d.state == SENDING
                                               for r in refs), timeout=2)
        os.kill(frozen.proc.pid, signal.SIGSTOP)  # a frozen VM: no POST, no lease renewal
        stopped = True
        assert not [r for r in precoro.requests if r.method == "POST"], "frozen before any POST left"

        # The replica takes both over once the lease lapses, looks (the attempts are unsure) and sends.
        await world.slack.wait_for(lambda: all((d := store.decisions.for_message(r)) and d.state == DONE
                                               for r in refs), timeout=40)
        taken_over = [store.decisions.for_message(r) for r in refs]
        await asyncio.sleep(3)  # the quota's spacing frees up: the thawed attempts get a slot at once
        os.kill(frozen.proc.pid, signal.SIGCONT)
        stopped = False
        # Thawed, the attempts find a slot (or, deferred, requeue the decision and retry it): before
        # the fix both sent a second POST within this time; with it they send nothing.
        with contextlib.suppress(TimeoutError):
            await world.slack.wait_for(lambda: len(posts(precoro, "purchaseorders", chain.idn)) > 1
                                       and len(posts(precoro, "invoices", refused.idn)) > 1, timeout=15)

        approve_posts, reject_posts = posts(precoro, "purchaseorders", chain.idn), posts(precoro, "invoices",
                                                                                       refused.idn)
        print(f"\nfrozen past lease: approve POSTs {len(approve_posts)}, reject POSTs {len(reject_posts)}; "
              f"chain steps approved {[len(s.approved_by) for s in chain.steps]}, invoice status {refused.status}")
        assert len(approve_posts) == 1 and len(reject_posts) == 1, "exactly one POST per click"
        assert [s.approved_by for s in chain.steps] == [[alice], []], "step 2 was not approved by the stale attempt"
        assert refused.status == api.STATUS_DENIED
        final = [store.decisions.for_message(r) for r in refs]
        assert [(d.state, d.outcome) for d in final] == [(DONE, "approved"), (DONE, "rejected")]
        assert [(d.updated_at, d.attempts) for d in final] == [(d.updated_at, d.attempts) for d in taken_over], \
            "the stale attempts changed nothing"
        assert store.messages.get(refs[1]).state == "rejected"
        assert "Rejected by" in shown(world, reject_msg)  # type: ignore[arg-type]
        # The thawed attempt finds its claim taken, or (a database call that started before the
        # freeze has outlived its timeout meanwhile) stops there: either way it sent nothing.
        log_text = frozen.log.read_text()
        assert "lost its claim" in log_text or "its attempt interrupted: database unavailable" in log_text
    finally:
        if stopped:
            os.kill(frozen.proc.pid, signal.SIGCONT)
        frozen.stop()
        replica.stop()
        store.close()
        world.stop()


# --- 2. the same Precoro user registered twice --------------------------------------------------------

async def test_the_same_precoro_user_registered_twice_decides_once(stack: LocalStack) -> None:
    """Bob's Slack account is registered with Alice's Precoro email and token as well (an admin's
    audited override of the email check): both get the document; both click; Precoro sees one POST."""
    precoro, store = stack.precoro, stack.runtime.store
    user = stack.users["alice"]
    doc = precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[user.id]], idn="PO-TWICE")
    await stack.register("alice")
    await stack.driver.slash_command(ADMIN, f"register <@{BOB}> {user.email} {user.token} override")
    await stack.slack.wait_for(lambda: store.approvers.find("acme", TEAM, BOB), timeout=10)
    mine = await stack.slack.wait_for(lambda: (m := [x for x in open_messages(stack.slack, ALICE)
                                                     if x["text"] and doc.idn in x["text"]]) and m[0], timeout=15)
    theirs = await stack.slack.wait_for(lambda: (m := [x for x in open_messages(stack.slack, BOB)
                                                       if x["text"] and doc.idn in x["text"]]) and m[0], timeout=15)
    answers = await asyncio.gather(stack.driver.click(ALICE, mine, messages.ACTION_APPROVE),
                                   stack.driver.click(BOB, theirs, messages.ACTION_APPROVE))
    assert {a.status_code for a in answers} == {200}
    await stack.slack.wait_for(lambda: doc.status == api.STATUS_APPROVED, timeout=10)
    await asyncio.sleep(1.0)
    decided = [d for r in (approve_ref(mine), approve_ref(theirs)) if (d := store.decisions.for_message(int(r)))]
    print(f"\nsame Precoro user twice: {len(posts(precoro, 'purchaseorders', doc.idn))} POST, "
          f"{len(decided)} decision row(s)")
    assert len(posts(precoro, "purchaseorders", doc.idn)) == 1
    assert len(decided) == 1 and decided[0].state == DONE


# --- 3. a redraw planned before a click --------------------------------------------------------------

async def test_a_poll_redraw_never_puts_a_decided_message_back_to_waiting(stack: LocalStack) -> None:
    precoro, store = stack.precoro, stack.runtime.store
    await stack.register("alice")
    message = await stack.slack.wait_for(lambda: (m := open_messages(stack.slack, ALICE)) and m[0], timeout=10)
    ref = int(approve_ref(message))
    row = store.messages.get(ref)
    approver = store.approvers.find("acme", TEAM, ALICE)
    # The poll read the document (edited meanwhile) while it still waited...
    edited = precoro.edit_document(row.doc_type, row.idn, sum="999.00")
    raw = precoro._render(edited)  # what that poll read
    doc = parse_document(row.doc_type, raw)
    plan = SyncPlan(changed=((ref, doc),))
    # ... and the click decided it before the poll applied its plan.
    assert (await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)).status_code == 200
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=10)
    await stack.servers[-1].call(stack.runtime.poller.apply(approver, plan, {(row.doc_type, row.idn): raw}))
    assert store.messages.get(ref).state == "approved"
    assert messages.ACTION_APPROVE not in buttons(stack.slack.messages[(message["channel"], message["ts"])])
    assert "Approved by" in shown(stack, message)


# --- 4. a reopened failed-but-unsure decision looks first ----------------------------------------------

async def test_a_reopened_unsure_decision_looks_before_sending(stack: LocalStack) -> None:
    """Alice's POST is carried out but its answer is lost, every try until the decision fails;
    her next click must look (Precoro shows it approved) instead of sending a second POST."""
    precoro, store = stack.precoro, stack.runtime.store
    user = stack.users["alice"]
    doc = precoro.add_document("acme", "purchaseorders", stack.users["admin"].id, [[user.id], [user.id]],
                               idn="PO-UNSURE")
    await stack.register("alice")
    message = await stack.slack.wait_for(lambda: (m := [x for x in open_messages(stack.slack, ALICE)
                                                        if doc.idn in (x.get("text") or "")]) and m[0], timeout=15)
    ref = int(approve_ref(message))
    decision, created = store.decisions.open(
        message_id=ref, approver_id=store.messages.get(ref).approver_id, company="acme", doc_type=doc.doc_type,
        idn=doc.idn, action="approve", comment="", clicked_by=ALICE, now=time.time())
    assert created
    claimed = store.decisions.claim(decision.id, time.time(), 30)
    precoro.approve_as(user.id, doc.doc_type, doc.idn)  # that POST went through; its answer never came
    assert store.decisions.retry_later(claimed.id, time.time(), f"{UNSURE}:Unavailable", time.time(),
                                       claim=claimed.claim)
    again = store.decisions.claim(decision.id, time.time(), 30)
    assert store.decisions.finish(again.id, "failed", f"{UNSURE}:Unavailable", time.time(), claim=again.claim)
    store.messages.set_state(ref, "failed", time.time())

    assert (await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)).status_code == 200
    await stack.slack.wait_for(lambda: (d := store.decisions.for_message(ref)) and d.state == DONE, timeout=10)
    gets = [r for r in precoro.requests if r.method == "GET" and r.path == api.document_path(doc.doc_type, doc.idn)]
    print(f"\nreopened unsure: {len(posts(precoro, doc.doc_type, doc.idn))} POST, {len(gets)} look")
    assert posts(precoro, doc.doc_type, doc.idn) == [], "no second POST: step 2 stays for Alice to decide"
    assert len(gets) == 1
    assert [s.approved_by for s in doc.steps] == [[user.id], []]
