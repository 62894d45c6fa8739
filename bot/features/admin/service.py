"""`/precoro status`: an approver's own registration; for admins, each company's quota and polling."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.slack.discovery_status import discovery_lines
from bot.slack.messages import (
    clip,
    escape,
    findings_status_line,
    quota_status_text,
    resume_text,
    safe,
    share_status_text,
    slack_time,
)
from bot.sync.status import describe

if TYPE_CHECKING:
    from bot.runtime import Runtime


def _when(at: float | None) -> str:
    return slack_time(datetime.fromtimestamp(at, tz=UTC)) if at else "never"


APPROVERS_SHOWN = 12  # with the windows and budget lines, well within STATUS_MAX
STATUS_MAX = 3000  # an ephemeral answer stays readable; `precoro-bot status --all` lists everyone


def resume(rt: Runtime, company: str, by: str) -> str:
    """An admin clears the company's 429 pause (`/precoro resume`, `precoro-bot resume`): the
    pause is capped already, but an admin who knows Precoro is fine again need not wait for it.
    Blocking (database): async code runs it through `store.run`."""
    client = rt.clients.get(company)
    cleared = client.gate.unblock(company) if client is not None else False
    if cleared:
        rt.store.audit.record(at=rt.clock.now(), company=company, actor=by, action="quota.resume",
                              subject=company, outcome="pause cleared")
    return resume_text(company, cleared)


async def status_text(rt: Runtime, *, team: str, user: str, companies: list[str], verbose: bool = False) -> str:
    """The caller's own registrations (in this workspace); then, for each company in `companies`
    (those the caller administers, never another customer's), its discovery, quota and polling in
    plain words; `verbose` (`/precoro status verbose`) adds the planner's report as
    `precoro-bot status --verbose` prints it."""
    lines = []
    mine = await rt.store.run(rt.store.approvers.for_slack_user, team, user)
    if mine:
        for a in mine:
            lines.append(f"You are registered for *{safe(a.company, 40)}* as {safe(a.email, 100)} "
                         f"({a.status}); Precoro last checked {_when(a.last_polled_at)}.")
    else:
        lines.append("You are not registered as an approver.")
    if not companies:
        return "\n".join(lines)
    for company in rt.config.companies:
        if company.id not in companies:
            continue
        # The same report as `precoro-bot status`, shortened to what a Slack message holds.
        # discovery first: the clip below may cut the report's tail
        lines += await rt.store.run(discovery_lines, rt, company.id)
        if rt.outcomes is not None and (told := await rt.store.run(rt.outcomes.status_line, company.id)):
            lines.append(told)
        if rt.adapt is not None and (learned := findings_status_line(
                await rt.store.run(rt.adapt.status_sentences, company.id))):
            lines.append(learned)
        snap = await rt.scheduler.snapshot(company)
        lines.append(quota_status_text(
            company.id, windows=[(w.seconds, used, w.limit, w.reserve) for w, used in snap.windows],
            paused_until=datetime.fromtimestamp(snap.paused[0], tz=UTC) if snap.paused else None,
            paused_reason=snap.paused[1] if snap.paused else "",
            next_checks=[(r.approver.slack_user_id, r.next_poll - snap.at) for r in snap.approvers]))
        lines.append(share_status_text(
            snap.share, snap.bot_limits,
            (snap.outside.seconds, snap.outside.requests, datetime.fromtimestamp(snap.outside.at, tz=UTC))
            if snap.outside is not None else None))
        if verbose:
            report = "\n".join(describe(snap, limit=APPROVERS_SHOWN, verbose=True))
            lines.append(f"```{escape(report).replace('`', chr(0x2CB))}```")  # nothing in it is markup
    return clip("\n".join(lines), STATUS_MAX)
