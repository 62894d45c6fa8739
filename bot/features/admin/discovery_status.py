"""The company discovery lines of `/precoro status` (admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Config
from bot.features.admin.messages import discovery_status_line, unregistered_line
from bot.store import Store
from bot.sync.route import unregistered_summary


def discovery_lines(store: Store, config: Config, company: str) -> list[str]:
    """Whether discovery is on (and with whose token), its fallbacks, and the unregistered approvers.
    Blocking (database)."""
    settings = store.discovery.get(company)
    chosen = next((c for c in config.companies if c.id == company), None)
    types = chosen.document_types if chosen is not None else ()
    approver = None
    if settings is not None and settings.approver_id is not None:
        approver = store.approvers.get(settings.approver_id)
    elif settings is None and chosen is not None and chosen.discovery_user:
        approver = next((a for a in store.approvers.list(company, active_only=True)
                         if a.slack_user_id == chosen.discovery_user), None)
    user = approver.slack_user_id if approver is not None and approver.active else None
    cursor = datetime.fromtimestamp(settings.cursor, tz=UTC) if settings and settings.cursor else None
    fallback = sorted(t for t in settings.fallback_types if t in types) if settings else []
    lines = [discovery_status_line(user, cursor, fallback, settings.note if settings else "")]
    if settings is not None:
        documents, people = unregistered_summary(settings.unregistered)
        lines.append(unregistered_line(documents, people))
    return lines
