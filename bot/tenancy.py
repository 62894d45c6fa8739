"""Which Slack workspace may see and steer which Precoro company, and who administers it.

One service hosts several customers: each company names the Slack workspaces (team ids, or an
Enterprise Grid org id) allowed to use it (`slack_teams`) and its own admins (`admins`, optionally
also the workspace's Slack admins and owners). Every command, view and event asks this module
first, so a user of another workspace is answered as if company A did not exist. Host operators
(`slack.operators`) administer every company; they are listed by the host, never implied.

A single-workspace config (one bot token, one company, no `slack_teams`) is bound to the bot
token's own workspace: Slack only sends that app's requests from there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.config import CompanyConfig, Config

Profile = Callable[[str, str], Awaitable[Mapping[str, Any]]]  # (team, user) -> Slack profile


class Tenancy:
    def __init__(self, config: Config) -> None:
        self.companies = config.companies
        self.operators = frozenset(config.slack.operators)

    def allows(self, company: str, team: str | None, enterprise: str | None = None) -> bool:
        """Whether a user of workspace `team` (of org `enterprise`) may use company `company`."""
        chosen = next((c for c in self.companies if c.id == company), None)
        if chosen is None or not team:
            return False
        if not chosen.slack_teams:  # single-workspace mode: the bot token's one workspace
            return True
        return team in chosen.slack_teams or bool(enterprise and enterprise in chosen.slack_teams)

    def companies_for(self, team: str | None, enterprise: str | None = None) -> tuple[CompanyConfig, ...]:
        """The companies this workspace may use (none: the workspace is not a customer)."""
        return tuple(c for c in self.companies if self.allows(c.id, team, enterprise))

    def serves(self, team: str | None, enterprise: str | None = None) -> bool:
        return bool(self.companies_for(team, enterprise))

    def configured_admins(self, company: str) -> tuple[str, ...]:
        """The company's listed admins (who are told of revoked tokens and discovery trouble)."""
        chosen = next((c for c in self.companies if c.id == company), None)
        return chosen.admins if chosen is not None else ()

    async def admin_companies(self, team: str | None, user: str | None, profile: Profile | None = None,
                              enterprise: str | None = None) -> list[str]:
        """The companies `user`, calling from `team`, administers: listed admins of a company of
        that workspace, its Slack admins/owners where the company allows it, or host operators."""
        if not user or not team:
            return []
        mine = self.companies_for(team, enterprise)
        if user in self.operators:
            return [c.id for c in self.companies] if mine else []
        found = [c.id for c in mine if user in c.admins]
        if profile is not None and any(c.workspace_admins and c.id not in found for c in mine):
            who = await profile(team, user)
            if who.get("is_admin") or who.get("is_owner"):
                found += [c.id for c in mine if c.workspace_admins and c.id not in found]
        return [c.id for c in self.companies if c.id in found]
