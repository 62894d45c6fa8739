"""Pure routing of company-wide documents to the approvers of their current step."""

from __future__ import annotations

from typing import Any

from bot.precoro import api
from bot.precoro.models import Document, parse_document
from bot.sync import discovery, route
from bot.sync.reconcile import Known


def person(name: str) -> dict[str, str]:
    return {"fullName": name.title(), "email": f"{name}@example.com"}


def raw(idn: str, steps: list[list[str]], *, current: int | None = 0, status: int = api.STATUS_PENDING,
        approved: int = 0, list_step: bool = True) -> dict[str, Any]:
    rendered = [{"name": f"Step {i + 1}", "approved": i < approved, "approvers": [person(p) for p in people]}
                for i, people in enumerate(steps)]
    out: dict[str, Any] = {"id": 1, "idn": idn, "status": status, "approvalSteps": rendered,
                           "updateDate": "2025-01-06T10:00:00+00:00"}
    if list_step and current is not None and status == api.STATUS_PENDING:
        out["approvalStep"] = rendered[current]
    return out


def doc(*args: Any, **kwargs: Any) -> Document:
    parsed = parse_document("invoices", raw(*args, **kwargs))
    assert parsed is not None
    return parsed


def test_waiting_emails_from_the_current_step() -> None:
    assert route.waiting_emails(doc("INV-1", [["alice", "bob"], ["carol"]])) == {"alice@example.com",
                                                                                 "bob@example.com"}
    # Without `approvalStep`, the first step not done of `approvalSteps` is the current one.
    assert route.waiting_emails(doc("INV-1", [["alice"], ["carol"]], approved=1, list_step=False)) == {
        "carol@example.com"}


def test_a_document_that_left_pending_waits_for_nobody() -> None:
    assert route.waiting_emails(doc("INV-1", [["alice"]], status=api.STATUS_APPROVED)) == frozenset()


def test_pending_without_steps_is_unreadable() -> None:
    bare = parse_document("invoices", {"idn": "INV-9", "status": 1})
    assert bare is not None and route.waiting_emails(bare) is None
    nameless = parse_document("invoices", {"idn": "INV-9", "status": 1, "approvalStep": {
        "name": "Step 1", "approvers": [{"fullName": "No Mail"}]}})
    assert nameless is not None and route.waiting_emails(nameless) is None
    routing = route.route([bare], {})
    assert routing.unreadable == [bare] and not routing.waiting


def test_route_matches_emails_exactly_and_lists_the_unregistered() -> None:
    d1, d2 = doc("INV-1", [["alice", "dave"]]), doc("INV-2", [["erin"]])
    routing = route.route([d1, d2], {"alice@example.com": [7], "bob@example.com": [8]})
    assert routing.waiting == {7: [d1]}
    assert routing.unregistered == {"invoices/INV-1": [["dave@example.com", "Dave"]],
                                    "invoices/INV-2": [["erin@example.com", "Erin"]]}
    # A near miss is never guessed.
    assert route.route([doc("INV-3", [["alice"]])], {"alice@example.org": [7]}).waiting == {}
    assert route.unregistered_summary(routing.unregistered) == (2, [("dave@example.com", "Dave"),
                                                                    ("erin@example.com", "Erin")])


def test_plans_post_to_the_next_step_and_retire_the_earlier_one() -> None:
    moved = doc("INV-1", [["alice"], ["bob"]], current=1, approved=1)
    routing = route.route([moved], {"alice@example.com": [1], "bob@example.com": [2]})
    alice_msg = Known(10, "invoices", "INV-1", "waiting", "x", True, 0.0)
    plans = route.plans([alice_msg], {10: 1}, routing, [moved], {"invoices"}, 100.0)
    assert plans[1].gone == (10,) and not plans[1].new
    assert plans[2].new == (moved,)


def test_plans_post_once_whoever_found_it_first() -> None:
    d = doc("INV-1", [["bob"]])
    routing = route.route([d], {"bob@example.com": [2]})
    posted = Known(11, "invoices", "INV-1", "waiting", d.fingerprint(), True, 0.0)
    assert route.plans([posted], {11: 2}, routing, [d], {"invoices"}, 100.0) == {}


def test_plans_leave_documents_that_were_not_read_alone() -> None:
    other = Known(12, "invoices", "INV-77", "waiting", "x", True, 0.0)
    assert route.plans([other], {12: 2}, route.Routing(), [doc("INV-1", [["bob"]])], {"invoices"}, 1.0) == {}


def test_merge_unregistered() -> None:
    d = doc("INV-1", [["alice"]])
    before = {"invoices/INV-1": [["x@example.com", "X"]], "invoices/INV-2": [["y@example.com", "Y"]]}
    assert route.merge_unregistered(before, [d], {}, full=False) == {"invoices/INV-2": [["y@example.com", "Y"]]}
    assert route.merge_unregistered(before, [d], {}, full=True) == {}


def test_interval_takes_a_share_of_the_budget() -> None:
    # Two types, 2,400 requests a day: every 103 s with others to cover, every 72 s alone.
    assert round(discovery.interval(2400, 2, others=True, min_interval=5)) == 103
    assert round(discovery.interval(2400, 2, others=False, min_interval=5)) == 72
    assert discovery.interval(1e9, 2, others=True, min_interval=5) == 5
    assert discovery.interval(0, 2, others=True, min_interval=5) == float("inf")


def test_unregistered_line() -> None:
    from bot.features.admin.messages import unregistered_line

    text = unregistered_line(3, [("dave@example.com", "Dave <D>"), ("erin@example.com", "")])
    assert text == ("3 documents wait for 2 unregistered approvers: Dave &lt;D&gt; (dave\uff20example\u2024com), "
                    "erin\uff20example\u2024com.")
    assert "registered" in unregistered_line(0, [])
