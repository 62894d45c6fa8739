"""Repositories over SQLite and PostgreSQL (the `store` fixture runs every test on both)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from bot.quota.ledger import Lane, Spend
from bot.store import Store
from bot.store.approvers import ACTIVE, REVOKED, Approver
from bot.store.db import MIGRATIONS, make_engine, migrate
from bot.store.decisions import DONE, FAILED, PENDING, SENDING, Decision
from bot.store.messages import PostedMessage

T = TypeVar("T")
NOW = 1_700_000_000.0
DOC = {"id": 7, "idn": "PO-7", "status": 1, "sum": "12.50"}


def add_approver(store: Store, user: str = "U0ALICE", *, company: str = "acme",
                 ciphertext: str = "v1.k1.AAAA", now: float = NOW) -> Approver:
    approver, _ = store.approvers.upsert(
        company=company, team_id="T0001", slack_user_id=user, email=f"{user.lower()}@example.com",
        token_ciphertext=ciphertext, registered_by="U0ADMIN", now=now,
    )
    return approver


def claim(store: Store, approver: Approver, idn: str = "PO-7", *, now: float = NOW,
          claim_seconds: float = 30.0, doc_type: str = "purchaseorders",
          document: dict[str, Any] | None = None, fingerprint: str = "fp1") -> PostedMessage | None:
    return store.messages.claim_post(
        approver_id=approver.id, company=approver.company, doc_type=doc_type, idn=idn,
        document=document or {**DOC, "idn": idn}, fingerprint=fingerprint, now=now,
        claim_seconds=claim_seconds,
    )


def posted_message(store: Store, approver: Approver, idn: str = "PO-7") -> PostedMessage:
    message = claim(store, approver, idn)
    assert message is not None
    store.messages.mark_posted(message.id, "D0CHAN", "1700000000.000100", NOW + 1)
    posted = store.messages.get(message.id)
    assert posted is not None
    return posted


def open_decision(store: Store, message: PostedMessage, *, action: str = "approve", comment: str = "",
                  clicked_by: str = "U0ALICE", now: float = NOW) -> tuple[Decision, bool]:
    return store.decisions.open(
        message_id=message.id, approver_id=message.approver_id, company=message.company,
        doc_type=message.doc_type, idn=message.idn, action=action, comment=comment, clicked_by=clicked_by,
        now=now,
    )


def run_together(count: int, work: Callable[[], T]) -> list[T]:
    """Run `work` in `count` threads released at the same instant; re-raise any failure."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def runner() -> None:
        try:
            barrier.wait(timeout=10)
            result = work()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=runner) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


# --- approvers ----------------------------------------------------------------------------------


def test_approver_upsert_creates_then_rotates(store: Store) -> None:
    first, created = store.approvers.upsert(
        company="acme", team_id="T0001", slack_user_id="U0ALICE", email="alice@example.com",
        token_ciphertext="v1.k1.first", registered_by="U0ADMIN", now=NOW,
    )
    assert created is True
    assert (first.status, first.token_ciphertext, first.docs_seen) == (ACTIVE, "v1.k1.first", 0)
    assert first.active
    assert store.approvers.mark_revoked(first.id, NOW + 5)
    assert not store.approvers.get(first.id).active  # type: ignore[union-attr]

    second, created = store.approvers.upsert(
        company="acme", team_id="T0001", slack_user_id="U0ALICE", email="alice@new.example.com",
        token_ciphertext="v1.k1.second", registered_by="U0ADMIN2", now=NOW + 10,
    )
    assert created is False
    assert second.id == first.id
    assert second.token_ciphertext == "v1.k1.second"
    assert second.email == "alice@new.example.com"
    assert second.status == ACTIVE
    assert second.registered_by == "U0ADMIN2"
    assert (second.created_at, second.updated_at) == (NOW, NOW + 10)
    assert [a.id for a in store.approvers.list()] == [first.id]


def test_approvers_are_per_company_team_and_user(store: Store) -> None:
    alice = add_approver(store, "U0ALICE")
    bob = add_approver(store, "U0BOB")
    alice_globex = add_approver(store, "U0ALICE", company="globex")
    assert len({alice.id, bob.id, alice_globex.id}) == 3
    assert store.approvers.find("acme", "T0001", "U0BOB") == bob
    assert store.approvers.find("acme", "T0002", "U0BOB") is None
    assert [a.company for a in store.approvers.for_slack_user("T0001", "U0ALICE")] == ["acme", "globex"]
    assert [a.slack_user_id for a in store.approvers.list("acme")] == ["U0ALICE", "U0BOB"]
    store.approvers.mark_revoked(bob.id, NOW)
    assert [a.id for a in store.approvers.list("acme", active_only=True)] == [alice.id]


def test_approver_repr_hides_the_ciphertext(store: Store) -> None:
    approver = add_approver(store, ciphertext="v1.k1.SECRETCIPHERTEXT")
    assert "SECRETCIPHERTEXT" not in repr(approver)


def test_mark_revoked_is_true_only_once(store: Store) -> None:
    approver = add_approver(store)
    assert store.approvers.mark_revoked(approver.id, NOW + 1) is True
    assert store.approvers.mark_revoked(approver.id, NOW + 2) is False
    revoked = store.approvers.get(approver.id)
    assert revoked is not None
    assert (revoked.status, revoked.updated_at) == (REVOKED, NOW + 1)
    assert store.approvers.mark_revoked(999_999, NOW) is False


def test_remove_approver_cascades_to_messages_and_decisions(store: Store) -> None:
    alice = add_approver(store, "U0ALICE")
    bob = add_approver(store, "U0BOB")
    alice_message = posted_message(store, alice, "PO-1")
    bob_message = posted_message(store, bob, "PO-1")
    open_decision(store, alice_message)

    assert store.approvers.remove(alice.id) is True
    assert store.approvers.get(alice.id) is None
    assert store.messages.get(alice_message.id) is None
    assert store.decisions.for_message(alice_message.id) is None
    assert store.messages.get(bob_message.id) is not None  # others untouched
    assert store.approvers.remove(alice.id) is False


def test_mark_polled_and_replace_ciphertext(store: Store) -> None:
    approver = add_approver(store, ciphertext="v1.old.AAAA")
    store.approvers.mark_polled(approver.id, NOW + 60, 2)
    store.approvers.mark_polled(approver.id, NOW + 120, 3)
    polled = store.approvers.get(approver.id)
    assert polled is not None
    assert (polled.last_polled_at, polled.docs_seen) == (NOW + 120, 5)

    assert store.approvers.replace_ciphertext(approver.id, "v1.old.AAAA", "v1.new.BBBB") is True
    # A rotation that read the old value loses to the token written meanwhile.
    assert store.approvers.replace_ciphertext(approver.id, "v1.old.AAAA", "v1.new.CCCC") is False
    assert store.approvers.get(approver.id).token_ciphertext == "v1.new.BBBB"  # type: ignore[union-attr]


# --- messages -----------------------------------------------------------------------------------


def test_claim_post_once_for_a_new_document(store: Store) -> None:
    approver = add_approver(store)
    message = claim(store, approver)
    assert message is not None
    assert (message.doc_type, message.idn, message.state) == ("purchaseorders", "PO-7", "waiting")
    assert message.raw_document == DOC
    assert message.fingerprint == "fp1"
    assert not message.posted
    assert message.post_claimed_until == NOW + 30

    assert claim(store, approver, now=NOW + 1) is None  # the first claim still holds
    assert claim(store, approver, now=NOW + 30) is None  # ... up to its very end


def test_claim_post_is_per_approver(store: Store) -> None:
    alice, bob = add_approver(store, "U0ALICE"), add_approver(store, "U0BOB")
    assert claim(store, alice) is not None
    assert claim(store, bob) is not None
    assert claim(store, alice, doc_type="invoices") is not None  # same IDN, another type


def test_expired_unposted_claim_can_be_reclaimed(store: Store) -> None:
    approver = add_approver(store)
    first = claim(store, approver)
    assert first is not None

    again = claim(store, approver, now=NOW + 31, document={**DOC, "sum": "99"}, fingerprint="fp2")
    assert again is not None
    assert again.id == first.id
    assert again.post_claimed_until == NOW + 61
    assert again.raw_document["sum"] == "99"
    assert again.fingerprint == "fp2"
    assert claim(store, approver, now=NOW + 32) is None  # the new claim holds
    assert [m.id for m in store.messages.unposted("acme", NOW + 62)] == [first.id]
    assert store.messages.unposted("acme", NOW + 32) == []


def test_release_claim_allows_an_immediate_retry(store: Store) -> None:
    approver = add_approver(store)
    first = claim(store, approver)
    assert first is not None
    store.messages.release_claim(first.id)
    assert [m.id for m in store.messages.unposted("acme", NOW + 1)] == [first.id]
    assert claim(store, approver, now=NOW + 1) is not None


def test_posted_message_is_never_claimed_again(store: Store) -> None:
    approver = add_approver(store)
    message = claim(store, approver)
    assert message is not None
    store.messages.mark_posted(message.id, "D0CHAN", "123.456", NOW + 2)

    posted = store.messages.get(message.id)
    assert posted is not None
    assert (posted.channel, posted.ts, posted.post_claimed_until) == ("D0CHAN", "123.456", None)
    assert posted.posted
    for later in (NOW + 31, NOW + 86_400, NOW + 10 * 86_400):
        assert claim(store, approver, now=later) is None
    assert store.messages.unposted("acme", NOW + 10 * 86_400) == []
    assert [m.id for m in store.messages.for_approver(approver.id)] == [message.id]
    assert store.messages.for_approver(approver.id, ["invoices"]) == []


def test_set_state_only_from_is_conditional(store: Store) -> None:
    approver = add_approver(store)
    message = posted_message(store, approver)

    assert store.messages.set_state(message.id, "working", NOW + 5, only_from=["waiting", "failed"]) is True
    # A second click sees "working" and must not take it over.
    assert store.messages.set_state(message.id, "working", NOW + 6, only_from=["waiting", "failed"]) is False
    assert store.messages.set_state(message.id, "gone", NOW + 7, only_from=["waiting"]) is False
    current = store.messages.get(message.id)
    assert current is not None
    assert (current.state, current.updated_at) == ("working", NOW + 5)

    assert store.messages.set_state(message.id, "approved", NOW + 8, document={"idn": "PO-7", "status": 2},
                                    fingerprint="fp9") is True
    current = store.messages.get(message.id)
    assert current is not None
    assert (current.state, current.fingerprint, current.raw_document["status"]) == ("approved", "fp9", 2)
    assert store.messages.set_state(999_999, "gone", NOW) is False


# --- decisions ----------------------------------------------------------------------------------


def test_decision_opens_once_per_message(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    first, created = open_decision(store, message, action="approve")
    assert created is True
    assert (first.state, first.action, first.attempts, first.next_attempt_at) == (PENDING, "approve", 0, NOW)

    second, created = open_decision(store, message, action="reject", comment="no", now=NOW + 1)
    assert created is False
    assert second.id == first.id
    assert (second.action, second.comment) == ("approve", "")  # the first click stands
    assert store.decisions.for_message(message.id) == first


def test_done_decision_is_not_reopened(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    decision, _ = open_decision(store, message)
    store.decisions.finish(decision.id, DONE, "approved", NOW + 1)
    again, created = open_decision(store, message, action="reject", now=NOW + 2)
    assert created is False
    assert (again.state, again.action, again.outcome) == (DONE, "approve", "approved")


def test_failed_decision_can_be_reopened_by_a_new_click(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    decision, _ = open_decision(store, message)
    claimed = store.decisions.claim(decision.id, NOW, 30)
    assert claimed is not None
    store.decisions.finish(decision.id, FAILED, "forbidden", NOW + 1)

    reopened, created = open_decision(store, message, action="reject", comment="too dear",
                                      clicked_by="U0ALICE", now=NOW + 100)
    assert created is True
    assert reopened.id == decision.id
    assert (reopened.state, reopened.action, reopened.comment) == (PENDING, "reject", "too dear")
    assert (reopened.attempts, reopened.outcome, reopened.claimed_until) == (0, "", None)
    assert reopened.next_attempt_at == NOW + 100

    _, created = open_decision(store, message, now=NOW + 101)
    assert created is False  # reopened once, not twice


def test_claim_is_exclusive_and_an_expired_claim_can_be_taken_over(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    decision, _ = open_decision(store, message)

    claimed = store.decisions.claim(decision.id, NOW, lease_seconds=30)
    assert claimed is not None
    assert (claimed.state, claimed.attempts, claimed.claimed_until) == (SENDING, 1, NOW + 30)
    assert store.decisions.claim(decision.id, NOW + 1, lease_seconds=30) is None
    assert store.decisions.claim(decision.id, NOW + 30, lease_seconds=30) is None  # lease not yet over

    taken_over = store.decisions.claim(decision.id, NOW + 31, lease_seconds=30)
    assert taken_over is not None
    assert (taken_over.state, taken_over.attempts, taken_over.claimed_until) == (SENDING, 2, NOW + 61)

    store.decisions.finish(decision.id, DONE, "approved", NOW + 40)
    assert store.decisions.claim(decision.id, NOW + 1000, lease_seconds=30) is None
    assert store.decisions.claim(999_999, NOW, lease_seconds=30) is None


def test_due_lists_pending_by_time_and_abandoned_ones(store: Store) -> None:
    approver = add_approver(store)
    messages = [posted_message(store, approver, f"PO-{i}") for i in range(5)]
    now_pending, _ = open_decision(store, messages[0], now=NOW)
    later, _ = open_decision(store, messages[1], now=NOW)
    abandoned, _ = open_decision(store, messages[2], now=NOW - 10)
    in_flight, _ = open_decision(store, messages[3], now=NOW)
    done, _ = open_decision(store, messages[4], now=NOW - 20)

    store.decisions.retry_later(later.id, NOW + 60, "rate limited", NOW)
    assert store.decisions.claim(abandoned.id, NOW - 100, lease_seconds=30) is not None  # lease ended NOW-70
    assert store.decisions.claim(in_flight.id, NOW, lease_seconds=30) is not None
    store.decisions.finish(done.id, DONE, "approved", NOW)

    assert {d.id for d in store.decisions.due(NOW + 1)} == {now_pending.id, abandoned.id}
    assert [d.id for d in store.decisions.due(NOW + 1, limit=1)] == [abandoned.id]  # oldest first
    everything_due = {now_pending.id, abandoned.id, later.id, in_flight.id}
    assert {d.id for d in store.decisions.due(NOW + 61)} == everything_due

    retried = store.decisions.for_message(messages[1].id)
    assert retried is not None
    assert (retried.state, retried.outcome, retried.next_attempt_at) == (PENDING, "rate limited", NOW + 60)


# --- quota --------------------------------------------------------------------------------------


def test_quota_book_add_and_spends_since(store: Store) -> None:
    with store.quota.locked("acme") as book:
        assert book.spends_since(0) == []
        assert book.blocked_until() == 0.0
        first = book.add(NOW, "poll", "/purchaseorders?page=1")
        second = book.add(NOW + 1, "interactive", None)
    with store.quota.locked("globex") as book:
        book.add(NOW + 2, "poll", None)

    with store.quota.locked("acme") as book:
        spends = book.spends_since(NOW)
        assert [(s.id, s.at, s.lane, s.get_key) for s in spends] == [
            (first, NOW, "poll", "/purchaseorders?page=1"),
            (second, NOW + 1, "interactive", None),
        ]
        assert [s.id for s in book.spends_since(NOW + 0.5)] == [second]

    store.quota.finish(first, NOW + 0.3, 200)
    with store.quota.locked("acme") as book:
        finished = book.spends_since(NOW)[0]
    assert (finished.finished_at, finished.status) == (NOW + 0.3, 200)


def test_quota_spend_is_rolled_back_with_its_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.quota.locked("acme") as book:
        book.add(NOW, "poll", None)
        raise RuntimeError("boom")
    assert store.quota.counts("acme", 0) == {}


def test_block_never_shortens_a_longer_block(store: Store) -> None:
    assert store.quota.gate("acme") == (0.0, "")
    store.quota.block("acme", NOW + 3600, "429 hour")
    store.quota.block("acme", NOW + 60, "429 second")
    assert store.quota.gate("acme") == (NOW + 3600, "429 hour")
    store.quota.block("acme", NOW + 7200, "x" * 200)
    assert store.quota.gate("acme") == (NOW + 7200, "x" * 80)
    with store.quota.locked("acme") as book:
        assert book.blocked_until() == NOW + 7200
    assert store.quota.gate("globex") == (0.0, "")


def test_recent_spends_counts_and_prune(store: Store) -> None:
    with store.quota.locked("acme") as book:
        book.add(NOW - 7200, "poll", "/old")
        book.add(NOW - 10, "poll", "/a")
        book.add(NOW - 5, "poll", None)
        book.add(NOW - 1, "interactive", None)
    with store.quota.locked("globex") as book:
        book.add(NOW - 2, "poll", "/g")

    recent = sorted(store.quota.recent_spends("acme", NOW - 60), key=lambda s: s.at)
    assert recent == [
        Spend(at=NOW - 10, lane=Lane.POLL, get_key="/a"),
        Spend(at=NOW - 5, lane=Lane.POLL, get_key=None),
        Spend(at=NOW - 1, lane=Lane.INTERACTIVE, get_key=None),
    ]
    assert all(isinstance(s.lane, Lane) for s in recent)
    assert store.quota.counts("acme", NOW - 60) == {"poll": 2, "interactive": 1}
    assert store.quota.counts("acme", 0) == {"poll": 3, "interactive": 1}
    assert store.quota.counts("nobody", 0) == {}

    assert store.quota.prune(NOW - 3600) == 1
    assert store.quota.counts("acme", 0) == {"poll": 2, "interactive": 1}
    assert store.quota.counts("globex", 0) == {"poll": 1}
    assert store.quota.prune(NOW - 3600) == 0


# --- audit --------------------------------------------------------------------------------------


def test_audit_record_and_recent_newest_first(store: Store) -> None:
    store.audit.record(at=NOW, company="acme", actor="U0ADMIN", action="register", subject="U0ALICE",
                       outcome="ok")
    store.audit.record(at=NOW + 2, company="acme", actor="U0ALICE", action="approve", subject="PO-7",
                       outcome="approved")
    store.audit.record(at=NOW + 2, company="acme", actor="U0ALICE", action="reject", subject="PO-8")
    store.audit.record(at=NOW + 1, company="globex", actor="U0BOB", action="approve", subject="INV-1")

    entries = store.audit.recent()
    assert [(e.at, e.action, e.subject) for e in entries] == [
        (NOW + 2, "reject", "PO-8"),  # same time: the later record first
        (NOW + 2, "approve", "PO-7"),
        (NOW + 1, "approve", "INV-1"),
        (NOW, "register", "U0ALICE"),
    ]
    assert [e.subject for e in store.audit.recent("acme", limit=2)] == ["PO-8", "PO-7"]
    assert [e.company for e in store.audit.recent("globex")] == ["globex"]
    assert entries[1].outcome == "approved"
    assert entries[0].outcome == ""


def test_audit_truncates_long_fields(store: Store) -> None:
    store.audit.record(at=NOW, company="acme", actor="U0X", action="reject", subject="s" * 500,
                       outcome="o" * 500)
    (entry,) = store.audit.recent()
    assert (entry.subject, entry.outcome) == ("s" * 120, "o" * 64)


# --- concurrency --------------------------------------------------------------------------------


def test_concurrent_decision_opens_create_exactly_one(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    results = run_together(8, lambda: open_decision(store, message))
    assert len(results) == 8
    assert sum(created for _, created in results) == 1
    assert len({decision.id for decision, _ in results}) == 1


def test_concurrent_post_claims_return_exactly_one_row(store: Store) -> None:
    approver = add_approver(store)
    results = run_together(8, lambda: claim(store, approver))
    assert len(results) == 8
    rows = [r for r in results if r is not None]
    assert len(rows) == 1
    assert [m.id for m in store.messages.for_approver(approver.id)] == [rows[0].id]


def test_concurrent_decision_claims_are_exclusive(store: Store) -> None:
    message = posted_message(store, add_approver(store))
    decision, _ = open_decision(store, message)
    results = run_together(8, lambda: store.decisions.claim(decision.id, NOW, 30))
    assert len([r for r in results if r is not None]) == 1
    assert store.decisions.for_message(message.id).attempts == 1  # type: ignore[union-attr]


# --- migrations ---------------------------------------------------------------------------------

ALL_VERSIONS = [version for version, _ in MIGRATIONS]


def test_migrate_twice_applies_nothing_the_second_time(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert migrate(engine) == ALL_VERSIONS
        assert migrate(engine) == []
    finally:
        engine.dispose()
    store = Store.open(database_url)  # opening migrates again: still nothing, data usable
    try:
        assert migrate(store.engine) == []
        add_approver(store)
        assert len(store.approvers.list()) == 1
    finally:
        store.close()


def test_concurrent_migrations_apply_once(database_url: str) -> None:
    engines = [make_engine(database_url) for _ in range(4)]
    try:
        it = iter(engines)
        lock = threading.Lock()

        def run() -> list[int]:
            with lock:
                engine = next(it)
            return migrate(engine)

        results = run_together(4, run)
    finally:
        for engine in engines:
            engine.dispose()
    assert sorted(results) == [[], [], [], ALL_VERSIONS]


def test_company_lease_is_held_by_one_replica_and_taken_over_when_it_expires(store: Store) -> None:
    assert "acme" in store.leases.claim(["acme"], "replica-a", now=100.0, seconds=30)
    assert "acme" not in store.leases.claim(["acme"], "replica-b", now=110.0, seconds=30)
    assert "acme" in store.leases.claim(["acme"], "replica-a", now=120.0, seconds=30)  # renewal
    assert store.leases.holder("acme", now=140.0) == "replica-a"
    assert "acme" in store.leases.claim(["acme"], "replica-b", now=151.0, seconds=30)  # a's lease ran out at 150
    assert store.leases.holder("acme", now=151.0) == "replica-b"
    store.leases.release_all(["acme"], "replica-b")
    assert "acme" in store.leases.claim(["acme"], "replica-a", now=152.0, seconds=30)
