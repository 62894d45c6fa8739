"""The pure parts of decisions: what a button refers to, whether a document still waits for an
approver, whether it shows their decision, how long an attempt may hold a decision."""

from __future__ import annotations

import pytest

from bot.features.approvals.service import APPROVE, REJECT, attempt_lease, backoff, shows_decision, waits_for
from bot.precoro import api
from bot.precoro.models import ApprovalStep, Document, Person
from bot.slack.payload import message_id

ALICE = Person("Alice", "alice@example.com")
BOB = Person("Bob", "bob@example.com")
CAROL = Person("Carol", "carol@example.com")


def doc(status: int | None = api.STATUS_PENDING, *, steps: tuple[ApprovalStep, ...] = (),
        current: ApprovalStep | None = None, last: Person | None = None) -> Document:
    return Document("purchaseorders", 1, "PO-1", status=status, approval_steps=steps, current_step=current,
                    last_approver=last)


@pytest.mark.parametrize(("ref", "expected"), [
    ("12", 12), ("0", 0), ("", None), ("-1", None), ("1.5", None), ("²", None), ("١٢", None),
    ("9" * 18, int("9" * 18)), ("9" * 19, None), (" 7", None)])
def test_message_id_accepts_only_sane_numbers(ref: str, expected: int | None) -> None:
    assert message_id(ref) == expected


def test_waits_for_reads_status_and_the_current_step() -> None:
    step = ApprovalStep("Step 1", (ALICE, BOB))
    assert waits_for(doc(current=step), "Alice@Example.com ") is True
    assert waits_for(doc(current=ApprovalStep("Step 2", (CAROL,))), ALICE.email) is False
    assert waits_for(doc(api.STATUS_APPROVED, current=step), ALICE.email) is False
    assert waits_for(doc(api.STATUS_CANCELED), ALICE.email) is False
    assert waits_for(doc(), ALICE.email) is None  # pending, but no step shown: cannot tell
    assert waits_for(doc(current=ApprovalStep("Step 1", (Person("Someone", ""),))), ALICE.email) is None


def test_shows_decision_needs_evidence_that_it_was_this_approver() -> None:
    alone_done = ApprovalStep("Step 1", (ALICE,), done=True)
    shared_done = ApprovalStep("Step 1", (ALICE, BOB), done=True)
    assert shows_decision(doc(last=ALICE), APPROVE, ALICE.email)
    assert shows_decision(doc(steps=(alone_done, ApprovalStep("Step 2", (CAROL,))), last=CAROL), APPROVE, ALICE.email)
    assert not shows_decision(doc(steps=(shared_done,), last=BOB), APPROVE, ALICE.email)  # Bob's, maybe
    assert not shows_decision(doc(api.STATUS_APPROVED), APPROVE, ALICE.email)  # no evidence either way
    assert shows_decision(doc(api.STATUS_DENIED), REJECT, ALICE.email)
    assert not shows_decision(doc(), REJECT, ALICE.email)


def test_shows_decision_reads_who_approved_each_step() -> None:
    # Carol's lost answer, then Alice approved the next step: the shared step still says it was Carol.
    by_carol = ApprovalStep("Step 1", (BOB, CAROL), done=True, approved_by=(CAROL,))
    later = ApprovalStep("Step 2", (ALICE,), done=True, approved_by=(ALICE,))
    assert shows_decision(doc(api.STATUS_APPROVED, steps=(by_carol, later), last=ALICE), APPROVE, CAROL.email)
    assert not shows_decision(doc(api.STATUS_APPROVED, steps=(by_carol, later), last=ALICE), APPROVE, BOB.email)


def test_backoff_and_lease() -> None:
    assert [backoff(n) for n in (1, 2, 3, 10)] == [5.0, 10.0, 20.0, 300.0]
    assert backoff(2, base=0.5) == 1.0
    assert attempt_lease(10, 20) == 65.0  # two requests' wait and timeout, plus slack
