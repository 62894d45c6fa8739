"""Which document is held back by its company's amount rule (see `amount_listeners.py`).

Its own module: `DecisionService.held` (the click listeners) and the Home's service (through
`bot.features.approvals.service`) both ask it; it never imports the runtime (the services may not).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import amounts
from bot.precoro.models import Document, parse_document
from bot.slack import messages
from bot.slack.payload import message_id
from bot.store import Store


@dataclass(frozen=True)
class Held:
    """A document above its amount rule: approving it needs the typed confirmation."""

    ref: str
    doc: Document
    limit: str  # `10,000 EUR`


def held(store: Store, rules: dict[str, amounts.Rules], ref: str) -> Held | None:
    """The document `ref` names, if it is above its company's rule. Blocking (database)."""
    found = message_id(ref)
    message = store.messages.get(found) if found is not None else None
    if message is None or not rules.get(message.company):
        return None
    doc = parse_document(message.doc_type, message.raw_document)
    limit = amounts.confirm_limit(rules[message.company], doc) if doc is not None else None
    return Held(ref, doc, messages.limit_text(limit, doc.currency)) if doc is not None and limit is not None \
        else None
