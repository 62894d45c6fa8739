"""The Home's parts beyond the queue: away mode and "Decided by me", gathered from the database
(no Precoro request) for `HomeService.view`. Each filter choice is kept per user in this process,
like the queue's page; a new process starts from no filter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from bot import away as away_mode
from bot.precoro import api
from bot.precoro.models import parse_document
from bot.slack import messages
from bot.slack.messages import HistoryEntry, HistoryFilter
from bot.store import Store

DAY = 86400.0


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

    def history_filter(self, team: str, user: str) -> HistoryFilter:
        return self._filters.get((team, user), HistoryFilter())

    def filter_by(self, team: str, user: str, **changes: Any) -> None:
        """Change the user's history filter (any change goes back to its first page)."""
        current = self.history_filter(team, user)
        self._filters[(team, user)] = replace(current, **{"page": 0, **changes})

    def blocks(self, team: str, user: str, now: float, tz: str) -> list[dict[str, Any]]:
        """Away mode and "Decided by me" for a registered approver. Blocking (database)."""
        away = self.store.away.get(team, user)
        until = cover = None
        if away is not None and away_mode.is_away(away, now, tz):
            until, cover = date.fromisoformat(away.until_day), away.cover_user
        entries = history_entries(self.store, self.web_urls, team, user, now)
        return (messages.away_home_blocks(until, cover, away_mode.local_day(now, tz))
                + messages.history_blocks(entries, self.history_filter(team, user)))
