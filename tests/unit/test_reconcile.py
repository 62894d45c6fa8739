"""The pure reconciliation of what Precoro says is waiting with the messages we posted."""

from __future__ import annotations

from typing import Any

import pytest

from bot.precoro.models import Document, parse_document
from bot.sync.reconcile import Known, SyncPlan, reconcile

READ_AT = 1_700_000_000.0
PO, INV = "purchaseorders", "invoices"


def doc(idn: str, doc_type: str = PO, **fields: Any) -> Document:
    raw = {"id": abs(hash(idn)) % 10_000, "idn": idn, "status": 1, "sum": "100.00", "currency": "USD",
           "supplier": {"name": "Acme Supplies"}, "updateDate": "2024-05-01T10:00:00Z", **fields}
    parsed = parse_document(doc_type, raw)
    assert parsed is not None
    return parsed


def known(message_id: int, document: Document, *, state: str = "waiting", posted: bool = True,
          fingerprint: str | None = None, updated_at: float = READ_AT - 60) -> Known:
    return Known(message_id=message_id, doc_type=document.doc_type, idn=document.idn, state=state,
                 fingerprint=document.fingerprint() if fingerprint is None else fingerprint, posted=posted,
                 updated_at=updated_at)


def plan(known_rows: list[Known], waiting: list[Document], complete: tuple[str, ...] = (PO, INV),
         read_started_at: float = READ_AT) -> SyncPlan:
    return reconcile(known_rows, waiting, complete, read_started_at)


def test_nothing_known_nothing_waiting_is_empty() -> None:
    result = plan([], [])
    assert result == SyncPlan()
    assert result.empty


def test_new_documents_are_posted() -> None:
    a, b = doc("PO-1"), doc("INV-1", INV)
    result = plan([], [a, b])
    assert result.new == (a, b)
    assert (result.changed, result.reopened, result.gone) == ((), (), ())
    assert not result.empty


def test_already_posted_unchanged_document_needs_nothing() -> None:
    a = doc("PO-1")
    assert plan([known(1, a)], [a]).empty


def test_unposted_known_row_is_posted_again() -> None:
    a = doc("PO-1")
    result = plan([known(1, a, posted=False)], [a])
    assert result.new == (a,)
    assert result.changed == ()


def test_unposted_row_missing_from_a_complete_read_is_not_retired() -> None:
    # There is no Slack message to retire.
    assert plan([known(1, doc("PO-1"), posted=False)], []).empty


def test_same_idn_of_another_type_is_a_different_document() -> None:
    po = doc("X-1", PO)
    inv = doc("X-1", INV)
    result = plan([known(1, po)], [po, inv])
    assert result.new == (inv,)
    assert result.gone == ()


@pytest.mark.parametrize(
    "change",
    [
        {"sum": "250.00"},
        {"currency": "EUR"},
        {"supplier": {"name": "Other Ltd"}},
        {"updateDate": "2024-05-02T09:00:00Z"},
    ],
)
@pytest.mark.parametrize("state", ["waiting", "failed"])
def test_changed_fingerprint_redraws_an_open_message(change: dict[str, Any], state: str) -> None:
    before = doc("PO-1")
    after = doc("PO-1", **change)
    assert after.fingerprint() != before.fingerprint()
    result = plan([known(7, before, state=state)], [after])
    assert result.changed == ((7, after),)
    assert (result.new, result.reopened, result.gone) == ((), (), ())


@pytest.mark.parametrize("state", ["waiting", "failed"])
def test_document_missing_from_a_complete_type_is_gone(state: str) -> None:
    stays, leaves = doc("PO-1"), doc("PO-2")
    result = plan([known(1, stays), known(2, leaves, state=state)], [stays])
    assert result.gone == (2,)
    assert (result.new, result.changed, result.reopened) == ((), (), ())


def test_document_missing_from_an_incomplete_type_is_kept() -> None:
    po, inv = doc("PO-1"), doc("INV-1", INV)
    # The invoices read hit the quota: its empty answer proves nothing.
    result = plan([known(1, po), known(2, inv)], [], complete=(PO,))
    assert result.gone == (1,)
    assert plan([known(1, po), known(2, inv)], [], complete=()).empty


@pytest.mark.parametrize("state", ["working", "queued"])
def test_busy_messages_are_untouched(state: str) -> None:
    a = doc("PO-1")
    # Still waiting with new details: no redraw while a decision is under way.
    changed = doc("PO-1", sum="999.00")
    assert plan([known(1, a, state=state)], [changed]).empty
    # No longer waiting (the decision itself may have done that): not retired here.
    assert plan([known(1, a, state=state)], []).empty
    # Read after the state change: still not reopened.
    assert plan([known(1, a, state=state, updated_at=READ_AT - 3600)], [a]).empty


@pytest.mark.parametrize("state", ["gone", "approved", "rejected"])
def test_retired_message_waiting_again_is_reopened_only_after_a_fresh_read(state: str) -> None:
    a = doc("PO-1")
    reopened = plan([known(1, a, state=state, updated_at=READ_AT - 1)], [a])
    assert reopened.reopened == ((1, a),)
    assert (reopened.new, reopened.changed, reopened.gone) == ((), (), ())

    # The message changed while the read was in flight (a click decided it): the read is stale.
    assert plan([known(1, a, state=state, updated_at=READ_AT)], [a]).empty
    assert plan([known(1, a, state=state, updated_at=READ_AT + 5)], [a]).empty


def test_retired_message_not_waiting_stays_retired() -> None:
    assert plan([known(1, doc("PO-1"), state="gone")], []).empty


def test_mixed_plan() -> None:
    fresh, same, edited, vanished, back, busy = (doc(f"PO-{i}") for i in range(1, 7))
    edited_now = doc("PO-3", sum="1.00")
    rows = [
        known(2, same),
        known(3, edited),
        known(4, vanished),
        known(5, back, state="gone", updated_at=READ_AT - 10),
        known(6, busy, state="working"),
    ]
    result = plan(rows, [fresh, same, edited_now, back])
    assert result.new == (fresh,)
    assert result.changed == ((3, edited_now),)
    assert result.reopened == ((5, back),)
    assert result.gone == (4,)
