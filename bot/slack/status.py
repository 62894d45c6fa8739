"""`/precoro status`: an approver's own registration; for admins, each company's quota and polling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.slack.discovery_status import discovery_lines
from bot.slack.messages import format_time, mention, safe

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
        lines += discovery_lines(rt, company.id)
        approvers, intervals, allowance = rt.scheduler.plan(company)
        lines.append(f"{len(approvers)} active approvers; polls allowed now: {allowance}")
        for a in approvers[:20]:
            interval = intervals.get(str(a.id), 0.0)
            next_at = (a.last_polled_at or now) + interval if a.last_polled_at else now
            lines.append(f"• {mention(a.slack_user_id)} every {_duration(interval)}, next {_when(next_at)}")
        if len(approvers) > 20:
            lines.append(f"and {len(approvers) - 20} more")
    return "\n".join(lines)[:3000]
