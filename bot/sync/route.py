"""Pure routing of company-wide documents to the approvers of their current step.

Discovery reads every pending (or recently changed) document with one token; this module
decides, without I/O, who each one waits for and what that means for the messages we posted:

- `waiting_emails`: the current step's approvers who have not approved yet (lower-cased
  emails); empty for a document that no longer waits; None when a pending document has no
  parseable step (its type then falls back to per-approver polls).
- `route`: each registered approver's waiting documents, and the unregistered approvers
  (an email that matches no registered approver exactly is never guessed).
- `plans`: one `SyncPlan` per approver from the usual `reconcile`, limited to the documents
  read, so a document found by discovery or by a poll is posted once per approver.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.precoro.models import ApprovalStep, Document, Person
from bot.sync.reconcile import Known, SyncPlan, reconcile


def current_step(doc: Document) -> ApprovalStep | None:
    """`approvalStep` when present, else the first step not done of `approvalSteps`."""
    if doc.current_step is not None and doc.current_step.approvers:
        return doc.current_step
    return next((s for s in doc.approval_steps if not s.done), None)


def waiting_people(doc: Document) -> tuple[Person, ...] | None:
    """Whom the document waits for now: () if it does not wait; None if it is pending but its
    current step cannot be read (no step, or a step without an approver's email)."""
    if not doc.is_pending:
        return ()
    step = current_step(doc)
    if step is None or not step.approvers or not all(p.email.strip() for p in step.approvers):
        return None
    done = {p.email.strip().lower() for p in step.approved_by}
    return tuple(p for p in step.approvers if p.email.strip().lower() not in done)


def waiting_emails(doc: Document) -> frozenset[str] | None:
    people = waiting_people(doc)
    return None if people is None else frozenset(p.email.strip().lower() for p in people)


def names(doc: Document, email: str) -> bool | None:
    """Whether the document waits for this approver now (its current step names the email and
    they have not approved it yet); None when its current step cannot be read."""
    emails = waiting_emails(doc)
    return None if emails is None else email.strip().lower() in emails


def key(doc: Document) -> str:
    return f"{doc.doc_type}/{doc.idn}"


@dataclass
class Routing:
    waiting: dict[int, list[Document]] = field(default_factory=dict)  # approver id -> documents waiting
    unregistered: dict[str, list[list[str]]] = field(default_factory=dict)  # "type/idn" -> [[email, name]]
    unreadable: list[Document] = field(default_factory=list)  # pending, without a parseable step


def route(docs: Iterable[Document], registered: Mapping[str, Sequence[int]]) -> Routing:
    """`registered`: lower-cased email -> ids of the active approvers with that Precoro email."""
    out = Routing()
    for doc in docs:
        people = waiting_people(doc)
        if people is None:
            out.unreadable.append(doc)
            continue
        missing = []
        for person in people:
            ids = registered.get(person.email.strip().lower(), ())
            for approver_id in ids:
                out.waiting.setdefault(approver_id, []).append(doc)
            if not ids:
                missing.append([person.email.strip().lower(), person.name])
        if missing:
            out.unregistered[key(doc)] = missing
    return out


def plans(known: Sequence[Known], known_owner: Mapping[int, int], routing: Routing, read: Sequence[Document],
          complete_types: Iterable[str], read_started_at: float) -> dict[int, SyncPlan]:
    """One plan per approver concerned: those the documents wait for, and those holding a
    message about one of them (to retire it when the step moved on). `known_owner` maps a
    message id to its approver id; `known` must hold only messages about documents in `read`."""
    read_keys = {(d.doc_type, d.idn) for d in read}
    complete = frozenset(complete_types)
    by_approver: dict[int, list[Known]] = {}
    for k in known:
        if (k.doc_type, k.idn) in read_keys:
            by_approver.setdefault(known_owner[k.message_id], []).append(k)
    out: dict[int, SyncPlan] = {}
    for approver_id in set(by_approver) | set(routing.waiting):
        plan = reconcile(by_approver.get(approver_id, []), routing.waiting.get(approver_id, []), complete,
                         read_started_at)
        if not plan.empty:
            out[approver_id] = plan
    return out


def merge_unregistered(before: Mapping[str, list[list[str]]], read: Iterable[Document],
                       found: Mapping[str, list[list[str]]], *, full: bool) -> dict[str, list[list[str]]]:
    """The unregistered approvers of waiting documents after a read: a full read replaces
    everything; an incremental one replaces the entries of the documents it read."""
    out = {} if full else {k: v for k, v in before.items()}
    for doc in read:
        out.pop(key(doc), None)
    out.update(found)
    return out


def unregistered_summary(unregistered: Mapping[str, list[list[str]]]) -> tuple[int, list[tuple[str, str]]]:
    """(documents waiting for someone unregistered, [(email, name)] sorted by email)."""
    people: dict[str, str] = {}
    for entries in unregistered.values():
        for entry in entries:
            email = entry[0] if entry else ""
            people.setdefault(email, entry[1] if len(entry) > 1 else "")
    return len(unregistered), sorted(people.items())
