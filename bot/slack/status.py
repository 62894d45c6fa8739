"""`/precoro status`: an approver's own registration; for admins, each company's quota and polling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.slack.messages import discovery_status_line, format_time, mention, safe, unregistered_line
from bot.sync.route import unregistered_summary

if TYPE_CHECKING:
    from bot.runtime import Runtime


def _when(at: float | None) -> str:
    return format_time(datetime.fromtimestamp(at, tz=UTC), "UTC") if at else "never"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _discovery_lines(rt: Runtime, company: str, types: tuple[str, ...]) -> list[str]:
    settings = rt.store.discovery.get(company)
    chosen = next((c for c in rt.config.companies if c.id == company), None)
    approver = None
    if settings is not None and settings.approver_id is not None:
        approver = rt.store.approvers.get(settings.approver_id)
    elif settings is None and chosen is not None and chosen.discovery_user:
        approver = next((a for a in rt.store.approvers.list(company, active_only=True)
                         if a.slack_user_id == chosen.discovery_user), None)
    user = approver.slack_user_id if approver is not None and approver.active else None
    cursor = datetime.fromtimestamp(settings.cursor, tz=UTC) if settings and settings.cursor else None
    fallback = sorted(t for t in settings.fallback_types if t in types) if settings else []
    lines = [discovery_status_line(user, cursor, fallback, settings.note if settings else "")]
    if settings is not None:
        documents, people = unregistered_summary(settings.unregistered)
        lines.append(unregistered_line(documents, people))
    return lines


def status_text(rt: Runtime, *, team: str, user: str, is_admin: bool) -> str:
    lines = []
    mine = rt.store.approvers.for_slack_user(team, user)
    if mine:
        for a in mine:
            lines.append(f"You are registered for *{safe(a.company, 40)}* as {safe(a.email, 100)} "
                         f"({a.status}); Precoro last checked {_when(a.last_polled_at)}.")
    else:
        lines.append("You are not registered as an approver.")
    if not is_admin:
        return "\n".join(lines)
    now = rt.clock.now()
    for company in rt.config.companies:
        counts = [
            (w, sum(rt.store.quota.counts(company.id, now - w.seconds).values())) for w in company.quota.windows
        ]
        used = ", ".join(f"{n}/{w.limit} per {_duration(w.seconds)} (reserve {w.reserve})" for w, n in counts)
        blocked_until, reason = rt.store.quota.gate(company.id)
        lines.append(f"\n*{safe(company.id, 40)}* quota: {used}")
        if blocked_until > now:
            lines.append(f"Paused by Precoro ({safe(reason, 80)}) until {_when(blocked_until)}")
        lines += _discovery_lines(rt, company.id, company.document_types)
        approvers, intervals, allowance = rt.scheduler.plan(company)
        lines.append(f"{len(approvers)} active approvers; polls allowed now: {allowance}")
        for a in approvers[:20]:
            interval = intervals.get(str(a.id), 0.0)
            next_at = (a.last_polled_at or now) + interval if a.last_polled_at else now
            lines.append(f"• {mention(a.slack_user_id)} every {_duration(interval)}, next {_when(next_at)}")
        if len(approvers) > 20:
            lines.append(f"and {len(approvers) - 20} more")
    return "\n".join(lines)[:3000]
