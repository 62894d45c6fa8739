"""The Slack messages we posted, one per (approver, document), and their state."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.store.schema import posted_messages

# States whose message still shows Approve / Reject buttons.
OPEN_STATES = ("waiting", "failed")
# States still in the approver's queue (the App Home): open, or a decision on its way.
QUEUE_STATES = ("waiting", "failed", "working", "queued")


@dataclass(frozen=True)
class PostedMessage:
    id: int
    approver_id: int
    company: str
    doc_type: str
    idn: str
    channel: str | None
    ts: str | None
    state: str
    document: str
    fingerprint: str
    first_seen_at: float
    updated_at: float
    post_claimed_until: float | None
    read_at: float | None = None  # the document last read (discovery, a webhook's read) waiting for them

    @property
    def raw_document(self) -> dict[str, Any]:
        return json.loads(self.document)

    @property
    def posted(self) -> bool:
        return self.ts is not None


def _message(row: Row) -> PostedMessage:
    return PostedMessage(**row._mapping)


# Messages whose stored document mentions an id, read to find the one whose own id it is.
_ID_CANDIDATES = 50

# Built once: every click reads its message several times, and building the statement would
# cost more than running it.
_BY_ID = select(posted_messages).where(posted_messages.c.id == bindparam("id"))


class MessageRepo:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim_post(
        self, *, approver_id: int, company: str, doc_type: str, idn: str, document: dict[str, Any],
        fingerprint: str, now: float, claim_seconds: float = 30.0,
    ) -> PostedMessage | None:
        """Claim the right to post this document to this approver.

        Returns the row when the caller must post it: a new document, or one whose earlier post
        never completed (crash, Slack error) and whose claim has expired. None when it is posted
        already or another worker holds the claim, so a document is posted once, also across
        replicas and restarts.
        """
        body = json.dumps(document, separators=(",", ":"), default=str)
        with self.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(posted_messages).values(
                            approver_id=approver_id, company=company, doc_type=doc_type, idn=idn,
                            state="waiting", document=body, fingerprint=fingerprint, first_seen_at=now,
                            updated_at=now, post_claimed_until=now + claim_seconds,
                        )
                    )
            except IntegrityError:
                reclaimed = conn.execute(
                    update(posted_messages)
                    .where(
                        (posted_messages.c.approver_id == approver_id)
                        & (posted_messages.c.doc_type == doc_type)
                        & (posted_messages.c.idn == idn)
                        & posted_messages.c.ts.is_(None)
                        & (posted_messages.c.post_claimed_until < now)
                    )
                    .values(post_claimed_until=now + claim_seconds, document=body, fingerprint=fingerprint)
                ).rowcount
                if not reclaimed:
                    return None
            row = conn.execute(
                select(posted_messages).where(
                    (posted_messages.c.approver_id == approver_id)
                    & (posted_messages.c.doc_type == doc_type)
                    & (posted_messages.c.idn == idn)
                )
            ).one()
        return _message(row)

    def mark_posted(self, message_id: int, channel: str, ts: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(posted_messages)
                .where(posted_messages.c.id == message_id)
                .values(channel=channel, ts=ts, post_claimed_until=None, updated_at=now)
            )

    def release_claim(self, message_id: int) -> None:
        """A post failed: let the next poll try again at once."""
        with self.engine.begin() as conn:
            conn.execute(
                update(posted_messages).where(posted_messages.c.id == message_id).values(post_claimed_until=0.0)
            )

    def get(self, message_id: int) -> PostedMessage | None:
        with self.engine.connect() as conn:
            row = conn.execute(_BY_ID, {"id": message_id}).first()
        return _message(row) if row else None

    def for_approver(self, approver_id: int, doc_types: Iterable[str] | None = None) -> list[PostedMessage]:
        query = select(posted_messages).where(posted_messages.c.approver_id == approver_id)
        if doc_types is not None:
            query = query.where(posted_messages.c.doc_type.in_(list(doc_types)))
        with self.engine.connect() as conn:
            return [_message(r) for r in conn.execute(query.order_by(posted_messages.c.id)).all()]

    def for_documents(self, company: str, keys: Iterable[tuple[str, str]]) -> list[PostedMessage]:
        """Every approver's messages about these (type, idn) documents of the company."""
        by_type: dict[str, list[str]] = {}
        for doc_type, idn in keys:
            by_type.setdefault(doc_type, []).append(idn)
        out: list[PostedMessage] = []
        with self.engine.connect() as conn:
            for doc_type, idns in by_type.items():
                for i in range(0, len(idns), 500):
                    out += [_message(r) for r in conn.execute(select(posted_messages).where(
                        (posted_messages.c.company == company) & (posted_messages.c.doc_type == doc_type)
                        & posted_messages.c.idn.in_(idns[i:i + 500]))).all()]
        return sorted(out, key=lambda m: m.id)

    def idn_of(self, company: str, doc_type: str, precoro_id: int) -> str | None:
        """The IDN of the document whose Precoro internal `id` is this, if a message about it was
        stored (a webhook may name only the id). The stored document JSON is compact, so its id
        reads `"id":N`; candidates are confirmed by parsing (nested objects have ids too)."""
        needle = f'"id":{int(precoro_id)}'
        query = (select(posted_messages.c.idn, posted_messages.c.document)
                 .where((posted_messages.c.company == company) & (posted_messages.c.doc_type == doc_type)
                        & posted_messages.c.document.contains(needle, autoescape=True))
                 .order_by(posted_messages.c.id.desc()).limit(_ID_CANDIDATES))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for idn, document in rows:
            try:
                raw = json.loads(document)
            except ValueError:
                continue
            if isinstance(raw, dict) and raw.get("id") == precoro_id:
                return str(idn)
        return None

    def mark_read(self, company: str, keys: Iterable[tuple[int, str, str]], at: float) -> None:
        """The (approver id, type, idn) documents were read at `at` and wait for that approver:
        their messages are fresh (a later read time is never moved back)."""
        with self.engine.begin() as conn:
            for approver_id, doc_type, idn in keys:
                conn.execute(update(posted_messages).where(
                    (posted_messages.c.company == company) & (posted_messages.c.approver_id == approver_id)
                    & (posted_messages.c.doc_type == doc_type) & (posted_messages.c.idn == idn)
                    & or_(posted_messages.c.read_at.is_(None), posted_messages.c.read_at < at)).values(read_at=at))

    def unposted(self, company: str, now: float) -> list[PostedMessage]:
        """Messages whose post never completed and whose claim has expired."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posted_messages).where(
                    (posted_messages.c.company == company)
                    & posted_messages.c.ts.is_(None)
                    & or_(posted_messages.c.post_claimed_until.is_(None),
                          posted_messages.c.post_claimed_until < now)
                )
            ).all()
        return [_message(r) for r in rows]

    def set_state(
        self, message_id: int, state: str, now: float, *, only_from: Iterable[str] | None = None,
        document: dict[str, Any] | None = None, fingerprint: str | None = None,
    ) -> bool:
        """Change the state (conditionally, when `only_from` is given); True if it changed."""
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if document is not None:
            values["document"] = json.dumps(document, separators=(",", ":"), default=str)
        if fingerprint is not None:
            values["fingerprint"] = fingerprint
        query = update(posted_messages).where(posted_messages.c.id == message_id)
        if only_from is not None:
            query = query.where(posted_messages.c.state.in_(list(only_from)))
        with self.engine.begin() as conn:
            return bool(conn.execute(query.values(**values)).rowcount)

    def arrivals(self, company: str, since: float) -> list[tuple[int, int, float]]:
        """(message id, approver id, first seen) of the company's messages first seen since then."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posted_messages.c.id, posted_messages.c.approver_id, posted_messages.c.first_seen_at)
                .where((posted_messages.c.company == company) & (posted_messages.c.first_seen_at >= since))
            ).all()
        return [(int(i), int(a), float(seen)) for i, a, seen in rows]

    def documents(self, message_ids: list[int]) -> list[tuple[int, float, str]]:
        """(message id, first seen, raw document JSON) of these messages, read in chunks."""
        found: list[tuple[int, float, str]] = []
        with self.engine.connect() as conn:
            for i in range(0, len(message_ids), 500):
                found += [(int(m), float(seen), str(doc)) for m, seen, doc in conn.execute(
                    select(posted_messages.c.id, posted_messages.c.first_seen_at, posted_messages.c.document)
                    .where(posted_messages.c.id.in_(message_ids[i:i + 500]))
                )]
        return found

    def queue(self, approver_ids: Iterable[int]) -> list[PostedMessage]:
        """Posted messages still in an approver's queue (waiting, or a decision in flight or failed),
        oldest first: what the App Home shows, read from the database alone."""
        ids = list(approver_ids)
        if not ids:
            return []
        query = (
            select(posted_messages)
            .where(posted_messages.c.approver_id.in_(ids)
                   & posted_messages.c.state.in_(list(QUEUE_STATES))
                   & posted_messages.c.ts.is_not(None))
            .order_by(posted_messages.c.first_seen_at, posted_messages.c.id)
        )
        with self.engine.connect() as conn:
            return [_message(r) for r in conn.execute(query).all()]
