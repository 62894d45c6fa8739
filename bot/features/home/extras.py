"""The Home's parts beyond the queue: the features' parts (`parts`, away mode's is wired by
`bot/runtime.py`) and "Decided by me", gathered from the database (no Precoro request) for
`HomeService.view`. Each filter choice is kept per user in this process,
like the queue's page; a new process starts from no filter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.features.home import history_messages as messages
from bot.features.home.history_messages import HistoryEntry, HistoryFilter
from bot.precoro import api
from bot.precoro.models import parse_document
from bot.store import Store

DAY = 86400.0

# A feature's part of a registered approver's Home (team, user, now, tz): its blocks. Blocking (database).
HomePart = Callable[[str, str, float, str], list[dict[str, Any]]]


def history_entries(store: Store, web_urls: Mapping[str, str], team: str, user: str, now: float
                    ) -> list[HistoryEntry]:
    """The user's decisions of the last HISTORY_DAYS days, newest first. Blocking (database)."""
    mine = [a.id for a in store.approvers.for_slack_user(team, user)]
    found = []
    for row in store.history.decided(mine, user, now - messages.HISTORY_DAYS * DAY):
        doc = parse_document(row.doc_type, _json(row.document))
        if doc is None:
            continue
        link = api.web_link(web_urls[row.company], row.doc_type, row.idn) if row.company in web_urls else ""
        found.append(HistoryEntry(doc, row.action, datetime.fromtimestamp(row.decided_at, tz=UTC), link, row.comment))
    return found


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class HomeExtras:
    def __init__(self, store: Store, web_urls: Mapping[str, str]) -> None:
        self.store = store
        self.web_urls = web_urls
        self._filters: dict[tuple[str, str], HistoryFilter] = {}
        self.parts: list[HomePart] = []  # shown before "Decided by me", in order

    def history_filter(self, team: str, user: str) -> HistoryFilter:
        return self._filters.get((team, user), HistoryFilter())

    def filter_by(self, team: str, user: str, **changes: Any) -> None:
        """Change the user's history filter (any change goes back to its first page)."""
        current = self.history_filter(team, user)
        self._filters[(team, user)] = replace(current, **{"page": 0, **changes})

    def blocks(self, team: str, user: str, now: float, tz: str) -> list[dict[str, Any]]:
        """The features' parts and "Decided by me" for a registered approver. Blocking (database)."""
        blocks = [block for part in self.parts for block in part(team, user, now, tz)]
        entries = history_entries(self.store, self.web_urls, team, user, now)
        return blocks + messages.history_blocks(entries, self.history_filter(team, user))
