"""The admin feature's I/O: `/precoro status` (an approver's own registration; for admins, each
company's discovery, quota and polling), `resume`, `list`, `register`, `remove`, `discovery`,
`audit`, and a workspace that leaves. Built by `bot/runtime.py`; the listeners
(`listeners.py`, `leaving_listeners.py`) call these methods and never the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.config import Config
from bot.features.admin import messages
from bot.features.admin.discovery_status import discovery_lines
from bot.features.outcomes.service import OutcomeService
from bot.precoro.client import PrecoroClient
from bot.precoro.errors import PrecoroError, TokenRejected
from bot.quota.gate import Clock
from bot.slack.installations import EncryptedInstallationStore, SlackClients
from bot.slack.messages import (
    clip,
    escape,
    not_registered_text,
    safe,
    share_status_text,
    slack_time,
)
from bot.slack.notifier import Notifier
from bot.store import Store
from bot.sync.adapt import Adaptations
from bot.sync.scheduler import PollScheduler
from bot.sync.status import describe
from bot.tenancy import Tenancy
from bot.tokens import TokenService

log = logging.getLogger(__name__)

ACTOR = "slack"  # the audit log's actor when Slack told us a workspace left


def _when(at: float | None) -> str:
    return slack_time(datetime.fromtimestamp(at, tz=UTC)) if at else "never"


APPROVERS_SHOWN = 12  # with the windows and budget lines, well within STATUS_MAX
STATUS_MAX = 3000  # an ephemeral answer stays readable; `precoro-bot status --all` lists everyone


class AdminService:
    def __init__(self, config: Config, store: Store, tokens: TokenService, clients: dict[str, PrecoroClient],
                 notifier: Notifier, clock: Clock, tenancy: Tenancy, scheduler: PollScheduler, slack: SlackClients,
                 *, outcomes: OutcomeService | None = None, adapt: Adaptations | None = None) -> None:
        self.config = config
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.notifier = notifier
        self.clock = clock
        self.tenancy = tenancy
        self.scheduler = scheduler
        self.slack = slack
        self.outcomes = outcomes
        self.adapt = adapt

    @property
    def installations(self) -> EncryptedInstallationStore | None:
        """OAuth mode: the workspaces' Slack tokens (a workspace that leaves has them deleted)."""
        return self.slack.installations

    # --- status and the quota pause -----------------------------------------------------------

    def resume(self, company: str, by: str) -> str:
        """An admin clears the company's 429 pause (`/precoro resume`, `precoro-bot resume`): the
        pause is capped already, but an admin who knows Precoro is fine again need not wait for it.
        Blocking (database): async code runs it through `store.run` (see `resume_async`)."""
        client = self.clients.get(company)
        cleared = client.gate.unblock(company) if client is not None else False
        if cleared:
            self.store.audit.record(at=self.clock.now(), company=company, actor=by, action="quota.resume",
                                    subject=company, outcome="pause cleared")
        return messages.resume_text(company, cleared)

    async def resume_async(self, company: str, by: str) -> str:
        return await self.store.run(self.resume, company, by)

    async def status_text(self, *, team: str, user: str, companies: list[str], verbose: bool = False) -> str:
        """The caller's own registrations (in this workspace); then, for each company in `companies`
        (those the caller administers, never another customer's), its discovery, quota and polling in
        plain words; `verbose` (`/precoro status verbose`) adds the planner's report as
        `precoro-bot status --verbose` prints it."""
        lines = []
        mine = await self.store.run(self.store.approvers.for_slack_user, team, user)
        if mine:
            for a in mine:
                lines.append(f"You are registered for *{safe(a.company, 40)}* as {safe(a.email, 100)} "
                             f"({a.status}); Precoro last checked {_when(a.last_polled_at)}.")
        else:
            lines.append("You are not registered as an approver.")
        if not companies:
            return "\n".join(lines)
        for company in self.config.companies:
            if company.id not in companies:
                continue
            # The same report as `precoro-bot status`, shortened to what a Slack message holds.
            # discovery first: the clip below may cut the report's tail
            lines += await self.store.run(discovery_lines, self.store, self.config, company.id)
            if self.outcomes is not None and (told := await self.store.run(self.outcomes.status_line, company.id)):
                lines.append(told)
            if self.adapt is not None and (learned := messages.findings_status_line(
                    await self.store.run(self.adapt.status_sentences, company.id))):
                lines.append(learned)
            snap = await self.scheduler.snapshot(company)
            lines.append(messages.quota_status_text(
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

    # --- the audit log and the approver list --------------------------------------------------

    async def audit_text(self, team: str, user: str, companies: list[str], limit: int) -> str:
        """`/precoro audit [N]`: the last entries of `companies` (those the caller administers)."""
        entries = await self.store.run(self.store.audit.recent, companies, limit=limit)
        rows = [(_dt(e.at) or datetime.now(UTC), e.company, e.actor, e.action, e.subject, e.outcome)
                for e in entries]
        tz = await self.notifier.tz(team, user)
        return messages.audit_log_text(rows, tz, show_company=len(companies) > 1)

    async def registration_list(self, team: str, user: str, companies: Sequence[str]) -> str:
        """`/precoro list`: this workspace's approvers of `companies`."""
        rows = [(a.slack_user_id, a.email, a.status, _dt(a.last_polled_at))
                for a in await self.store.run(self.store.approvers.list)
                if a.team_id == team and a.company in companies]
        return messages.registration_list(rows, await self.notifier.tz(team, user))

    # --- company discovery ----------------------------------------------------------------------

    async def set_discovery(self, company: str, team: str, by: str, target: str | None) -> str:
        return await self.store.run(self._set_discovery, company, team, by, target)

    def _set_discovery(self, company: str, team: str, by: str, target: str | None) -> str:
        """Turn company discovery on with a registered, active approver's token, or off (target None).
        Blocking (database): run through `store.run`."""
        now = self.clock.now()
        if target is None:
            self.store.discovery.set_approver(company, None, by=by, now=now, note="turned off by an admin")
            self.store.audit.record(at=now, company=company, actor=by, action="discovery.off", subject="",
                                    outcome="ok")
            return messages.discovery_off_text(company)
        approver = self.store.approvers.find(company, team, target)
        if approver is None or not approver.active:
            return messages.discovery_not_approver_text(target)
        self.store.discovery.set_approver(company, approver.id, by=by, now=now)
        self.store.audit.record(at=now, company=company, actor=by, action="discovery.on", subject=f"<@{target}>",
                                outcome="ok")
        return messages.discovery_on_text(target, company)

    # --- registering and removing approvers -------------------------------------------------------

    async def profile(self, team: str, user: str) -> dict[str, Any]:
        return await self.notifier.profile(team, user)

    async def register(self, company: str, team: str, target: str, email: str, token: str, by: str, *,
                       override: bool = False) -> str:
        """Register `target`'s token for `company`. The Precoro email must be the Slack user's profile
        email (users:read.email): Precoro cannot tell which company a token belongs to, so this is the
        check that the token is the person's. An admin may `override` a mismatch; it is audited."""
        async def audit(action: str, outcome: str) -> None:
            await self.store.run(self.store.audit.record, at=self.clock.now(), company=company, actor=by,
                                 action=action, subject=f"<@{target}>", outcome=outcome)

        profile = await self.notifier.profile(team, target)
        if not profile:  # not a user of this workspace (or Slack cannot tell now): never another's user
            await audit("token.register", "refused: not a user of this workspace")
            return messages.not_workspace_user_text(target)
        slack_email = str(profile.get("email") or "")
        matches = bool(slack_email) and slack_email.strip().lower() == email.strip().lower()
        if not matches and not override:
            await audit("token.register", "refused: email is not the Slack profile's")
            return messages.email_mismatch_text(target, slack_email)
        try:
            await self.tokens.register(company=company, team_id=team, user_id=target, email=email, token=token,
                                       registered_by=by)
        except TokenRejected:
            await audit("token.register", "refused by Precoro")
            return messages.token_rejected_text("the token or the email is wrong, or the token is disabled")
        except PrecoroError as exc:
            log.info("registration check for %s failed: %s", target, type(exc).__name__)
            return messages.token_check_failed_text()
        if not matches:
            await audit("token.register.override", "email differs from the Slack profile's")
        return messages.registered_text(target, email)

    async def remove(self, team: str, by: str, target: str, companies: list[str]) -> str:
        """`/precoro remove @user`: their registrations for `companies` (the caller's); the reply text."""
        removed = False
        for approver in await self.store.run(self.store.approvers.for_slack_user, team, target):
            if approver.company not in companies:
                continue
            await self.store.run(self.tokens.remove, approver, by)
            removed = True
        return messages.removed_text(target) if removed else not_registered_text(target)

    # --- a workspace that leaves ----------------------------------------------------------------

    async def leave_async(self, team: str, why: str) -> int:
        return await self.store.run(self.leave, team, why)

    def leave(self, team: str, why: str) -> int:
        """Remove every approver of workspace `team`; returns how many. Idempotent (Slack retries).
        Blocking (database): the listeners run it through `store.run` (`leave_async`)."""
        gone = [a for a in self.store.approvers.list() if a.team_id == team]
        for approver in gone:
            self.tokens.remove(approver, ACTOR)
        # What else names the workspace's people: away periods, invitations, outcome mutes.
        self.store.away.forget_team(team)
        self.store.invitations.forget_team(team)
        if self.outcomes is not None:
            self.outcomes.repo.forget_team(team)
        for company in sorted({a.company for a in gone}):
            self.store.audit.record(at=self.clock.now(), company=company, actor=ACTOR, action="workspace.left",
                                    subject=team, outcome=f"{why}: {sum(a.company == company for a in gone)} "
                                    "approver(s) removed, their tokens deleted")
        if gone:
            log.warning("workspace %s left (%s): %d approver(s) removed", team, why, len(gone))
        return len(gone)


def _dt(at: float | None) -> datetime | None:
    return datetime.fromtimestamp(at, tz=UTC) if at else None
