"""Leaving means leaving: an uninstalled workspace (or its revoked bot token) keeps no approver.

Bolt's own revocation listeners only delete the stored Slack tokens; the workspace's approvers
would stay active and the bot would go on polling Precoro with their tokens for a customer who
left. Bolt runs the first listener that matches an event, so these listeners replace Bolt's: they
delete the Slack tokens as Bolt would (OAuth mode), then remove every approver of that workspace
(their sealed Precoro tokens are deleted with the row, so the scheduler has nothing left to poll
with) and record it in the audit log of each company concerned.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

ACTOR = "slack"  # the audit log's actor: Slack told us the workspace left


def leave(rt: Runtime, team: str, why: str) -> int:
    """Remove every approver of workspace `team`; returns how many. Idempotent (Slack retries).
    Blocking (database): the listeners run it through `store.run`."""
    gone = [a for a in rt.store.approvers.list() if a.team_id == team]
    for approver in gone:
        rt.tokens.remove(approver, ACTOR)
    # What else names the workspace's people: away periods, invitations, outcome mutes.
    rt.store.away.forget_team(team)
    rt.store.invitations.forget_team(team)
    if rt.outcomes is not None:
        rt.outcomes.repo.forget_team(team)
    for company in sorted({a.company for a in gone}):
        rt.store.audit.record(at=rt.clock.now(), company=company, actor=ACTOR, action="workspace.left",
                              subject=team, outcome=f"{why}: {sum(a.company == company for a in gone)} approver(s) "
                              "removed, their tokens deleted")
    if gone:
        log.warning("workspace %s left (%s): %d approver(s) removed", team, why, len(gone))
    return len(gone)


def register(app: AsyncApp, rt: Runtime) -> None:
    installations = rt.slack.installations

    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext, body: dict[str, Any]) -> None:
        team = context.team_id or str(body.get("team_id") or "")
        if installations is not None:
            await installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        if team:
            await rt.store.run(leave, rt, team, "app uninstalled")

    @app.event("tokens_revoked")
    async def revoked(event: dict[str, Any], context: AsyncBoltContext, body: dict[str, Any]) -> None:
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        team = context.team_id or str(body.get("team_id") or "")
        if installations is not None:
            for user in tokens.get("oauth") or []:
                await installations.async_delete_installation(enterprise_id=context.enterprise_id,
                                                              team_id=context.team_id, user_id=str(user))
        if tokens.get("bot"):  # the bot can no longer reach this workspace: it has left
            if installations is not None:
                await installations.async_delete_bot(enterprise_id=context.enterprise_id, team_id=context.team_id)
            if team:
                await rt.store.run(leave, rt, team, "bot token revoked")
