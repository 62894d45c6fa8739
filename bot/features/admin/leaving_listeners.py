"""Leaving means leaving: an uninstalled workspace (or its revoked bot token) keeps no approver.

Bolt's own revocation listeners only delete the stored Slack tokens; the workspace's approvers
would stay active and the bot would go on polling Precoro with their tokens for a customer who
left. Bolt runs the first listener that matches an event, so these listeners replace Bolt's: they
delete the Slack tokens as Bolt would (OAuth mode), then remove every approver of that workspace
(their sealed Precoro tokens are deleted with the row, so the scheduler has nothing left to poll
with) and record it in the audit log of each company concerned (`AdminService.leave`).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.features.admin.service import AdminService


def register(app: AsyncApp, service: AdminService) -> None:
    installations = service.installations

    @app.event("app_uninstalled")
    async def uninstalled(context: AsyncBoltContext, body: dict[str, Any]) -> None:
        team = context.team_id or str(body.get("team_id") or "")
        if installations is not None:
            await installations.async_delete_all(enterprise_id=context.enterprise_id, team_id=context.team_id)
        if team:
            await service.leave_async(team, "app uninstalled")

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
                await service.leave_async(team, "bot token revoked")
