"""What `precoro-bot status` and `/precoro status` show of a company's quota and polling (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import CompanyConfig
from bot.quota.ledger import QuotaPolicy, Window, spent
from bot.quota.share import SHARED_WINDOW_MIN_SECONDS, OutsideUse, bot_policy
from bot.store.approvers import Approver
from bot.sync.planning import Plan


@dataclass(frozen=True)
class ApproverStatus:
    approver: Approver
    interval: float
    rate_per_day: float
    last_polled: float | None
    next_poll: float


@dataclass(frozen=True)
class CompanyStatus:
    company: str
    at: float
    windows: list[tuple[Window, int]]  # each window and the requests in it now
    plan: Plan
    approvers: list[ApproverStatus]  # soonest next poll first
    policy: str
    paused: tuple[float, str] | None = None  # a 429's retry time and what Precoro said, while it holds
    share: float = 1.0  # `quota.share`
    bot_limits: list[tuple[float, int, int]] = field(default_factory=list)  # seconds, bot's limit, Precoro's
    outside: OutsideUse | None = None  # another integration's use, learned from a 429 and still believed


def company_status(company: CompanyConfig, p: Plan, *, policy: str, paused: tuple[float, str] | None,
                   quota: QuotaPolicy | None = None, outside: OutsideUse | None = None) -> CompanyStatus:
    """The status of one company from its plan at `p.at` and the gate's pause (retry time, reason);
    `quota`: the windows the bot books within now (its share, less learned outside use), `outside`:
    that outside use."""
    mine = (quota or bot_policy(company.quota)).windows
    bot_limits = [(w.seconds, m.limit, w.limit) for w, m in zip(company.quota.windows, mine, strict=True)
                  if w.seconds >= SHARED_WINDOW_MIN_SECONDS]
    next_due = p.next_due(0.0)
    windows = [
        (w, spent(p.spends, Window(w.seconds, w.limit, w.reserve), p.at)) for w in company.quota.windows
    ]
    rows = [
        ApproverStatus(approver=a, interval=p.intervals.get(str(a.id), math.inf),
                       rate_per_day=load.docs_per_day, last_polled=load.last_polled,
                       next_poll=next_due.get(str(a.id), math.inf))
        for a, load in zip(p.approvers, p.loads, strict=True)
    ]
    rows.sort(key=lambda r: (r.next_poll, r.approver.id))
    return CompanyStatus(company=company.id, at=p.at, windows=windows, plan=p, approvers=rows, policy=policy,
                         paused=paused if paused is not None and paused[0] > p.at else None,
                         share=company.quota.share, bot_limits=bot_limits, outside=outside)


def describe(status: CompanyStatus, *, limit: int | None = 50, verbose: bool = False) -> list[str]:
    """`precoro-bot status` lines for one company (pure: everything comes from the snapshot).
    `verbose` adds the planner's own terms (its pace this hour, its token bucket, what may start
    now): for whoever tunes the planner, not for an admin asking whether the bot keeps up."""
    p = status.plan
    lines = [f"company {status.company} (planner: {status.policy}) at {_utc(status.at)}"]
    for window, used in status.windows:
        lines.append(f"  window {_span(window.seconds)}: {used} of {window.limit} requests used, "
                     f"{window.reserve} kept for clicks")
    if status.bot_limits:
        lines.append(f"  the bot's share {status.share:.0%}: at most "
                     + ", ".join(f"{mine} of {theirs} per {_span(sec)}" for sec, mine, theirs in status.bot_limits))
    if status.outside is not None:
        o = status.outside
        lines.append(f"  another integration used about {o.requests:.0f} requests of the {_span(o.seconds)} window "
                     f"(a 429 at {_utc(o.at)} while the bot was within its share), until that window resets at "
                     f"{_utc(o.until)}")
    if status.paused:
        lines.append(f"  paused by Precoro until {_utc(status.paused[0])}: {status.paused[1]}")
    polls = (f"  polls: {p.budget_per_day:.0f} requests/day (interactive use set aside: "
             f"{p.interactive_per_day:.0f}/day)")
    if verbose:
        pace = p.hour_budget_per_day / p.budget_per_day if p.budget_per_day > 0 else 0.0
        polls += f"; this hour at x{pace:.2f} pace; bucket {p.bucket:.1f}; may start now: {p.allowance} request(s)"
    lines.append(polls)
    rows = status.approvers if limit is None else status.approvers[:limit]
    lines.append(f"  {len(status.approvers)} active approver(s), next poll first:")
    for r in rows:
        lines.append(f"    {r.approver.slack_user_id} {r.approver.email}: every {_span(r.interval)}, "
                     f"~{r.rate_per_day:.1f} documents/day, last {_utc(r.last_polled)}, next {_utc(r.next_poll)}")
    if len(rows) < len(status.approvers):
        lines.append(f"    ... and {len(status.approvers) - len(rows)} more (--all shows them)")
    return lines


def _utc(at: float | None) -> str:
    if at is None or not math.isfinite(at):
        return "never" if at is None else "-"
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "never"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.2g} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
