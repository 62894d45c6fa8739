"""Several Slack workspaces: where each workspace's bot token comes from.

With one bot token configured, every workspace call uses it. With `slack.oauth`, each workspace
installs the app through Slack's OAuth flow; Bolt's SQLAlchemy installation and state stores
keep the installations in our database (tables made by migration, so replicas share them), and
every Slack token is sealed with the vault, bound to its workspace, before it is written.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Engine, MetaData, Table, select, update

from bot import redact
from bot.store.boundary import Boundary
from bot.vault import Vault, VaultError

log = logging.getLogger(__name__)

_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
_Record = TypeVar("_Record", Installation, Bot)


class NotInstalled(LookupError):
    """The app has no installation (so no token) in this workspace."""


def _binding(enterprise_id: str | None, team_id: str | None) -> bytes:
    return f"slack-install|{enterprise_id or ''}|{team_id or ''}".encode()


class EncryptedInstallationStore(AsyncInstallationStore):
    """Bolt's SQLAlchemy installation store with every token sealed by the vault."""

    def __init__(self, client_id: str, engine: Engine, vault: Vault,
                 allowed: Callable[[str | None, str | None], bool] = lambda enterprise, team: True,
                 boundary: Boundary | None = None) -> None:
        self.inner = SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log)
        self.vault = vault
        self.run = (boundary or Boundary(inline=True)).run  # the database, off the event loop
        # (enterprise id, team id) -> whether some company names this workspace: an install from
        # anyone else is not stored, so it gets nothing (the install page says so).
        self.allowed = allowed

    @property
    def logger(self) -> logging.Logger:
        return log

    def _convert(self, record: _Record, convert: Any) -> _Record:
        out = copy.copy(record)
        binding = _binding(record.enterprise_id, record.team_id)
        for name in _TOKEN_FIELDS:
            if value := getattr(record, name, None):
                setattr(out, name, convert(value, binding=binding))
        return out

    async def async_save(self, installation: Installation) -> None:
        if not self.allowed(installation.enterprise_id, installation.team_id):
            log.warning("install from workspace %s refused: no company names it", installation.team_id)
            return
        await self.run(self.inner.save, self._convert(installation, self.vault.encrypt))  # its bot too, sealed

    async def async_save_bot(self, bot: Bot) -> None:
        if not self.allowed(bot.enterprise_id, bot.team_id):
            return
        await self.run(self.inner.save_bot, self._convert(bot, self.vault.encrypt))

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        bot = await self.run(self.inner.find_bot, enterprise_id=enterprise_id, team_id=team_id,
                             is_enterprise_install=is_enterprise_install)
        return self._convert(bot, self.vault.decrypt) if bot else None

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        found = await self.run(self.inner.find_installation, enterprise_id=enterprise_id, team_id=team_id,
                               user_id=user_id, is_enterprise_install=is_enterprise_install)
        return self._convert(found, self.vault.decrypt) if found else None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.run(self.inner.delete_bot, enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        await self.run(self.inner.delete_installation, enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)


class DatabaseStateStore(AsyncOAuthStateStore):
    """OAuth `state` values in the database, so an install may start and end on different replicas."""

    def __init__(self, engine: Engine, expiration_seconds: int = 600, boundary: Boundary | None = None) -> None:
        self.inner = SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine, logger=log)
        self.run = (boundary or Boundary(inline=True)).run

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await self.run(self.inner.issue, *args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        return await self.run(self.inner.consume, state)


class SlackClients:
    """The Web API client for a workspace: the configured bot token's, or its installation's."""

    def __init__(self, base_url: str, *, bot_token: str | None = None,
                 installations: EncryptedInstallationStore | None = None, **options: Any) -> None:
        self.base_url = base_url
        self.installations = installations
        self.options = options  # timeout, retry handlers, ... for every client
        self.default = AsyncWebClient(token=bot_token, base_url=base_url, **options)
        self._by_token: dict[str, AsyncWebClient] = {}

    def share_session(self, session: Any) -> None:
        """One kept-alive HTTP session for every workspace's calls (made in the serving loop)."""
        self.options["session"] = session
        for client in (self.default, *self._by_token.values()):
            client.session = session

    async def for_team(self, team_id: str) -> AsyncWebClient:
        if self.installations is None:
            return self.default
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise NotInstalled(f"the app is not installed in workspace {team_id}")
        redact.remember(bot.bot_token)
        if bot.bot_token not in self._by_token:
            self._by_token[bot.bot_token] = AsyncWebClient(token=bot.bot_token, base_url=self.base_url,
                                                            **self.options)
        return self._by_token[bot.bot_token]


def _token_tables(engine: Engine) -> list[Table]:
    tables = MetaData()
    tables.reflect(engine, only=[SQLAlchemyInstallationStore.default_bots_table_name,
                                 SQLAlchemyInstallationStore.default_installations_table_name])
    return list(tables.tables.values())


def rotate_slack_tokens(engine: Engine, vault: Vault) -> tuple[int, int]:
    """Re-seal every stored Slack token under the vault's current key (`precoro-bot rotate-keys`),
    each with compare-and-set so a new install meanwhile is left as it is. Returns (re-sealed,
    unreadable)."""
    rotated = unreadable = 0
    tables = _token_tables(engine)
    with engine.begin() as conn:
        for table in tables:
            for row in conn.execute(select(table)).mappings():
                binding = _binding(row["enterprise_id"], row["team_id"])
                for name in _TOKEN_FIELDS:
                    sealed = row.get(name)
                    if not sealed or not vault.needs_rotation(sealed):
                        continue
                    try:
                        fresh = vault.rotate(sealed, binding=binding)
                    except VaultError:
                        unreadable += 1
                        continue
                    column = table.c[name]
                    rotated += conn.execute(update(table).where((table.c.id == row["id"]) & (column == sealed))
                                            .values({name: fresh})).rowcount
    return rotated, unreadable


def unreadable_slack_tokens(engine: Engine, vault: Vault) -> list[str]:
    """The workspaces whose stored Slack token the configured keys cannot open."""
    teams = []
    tables = _token_tables(engine)
    with engine.connect() as conn:
        for table in tables:
            for row in conn.execute(select(table)).mappings():
                for name in _TOKEN_FIELDS:
                    if sealed := row.get(name):
                        try:
                            vault.decrypt(sealed, binding=_binding(row["enterprise_id"], row["team_id"]))
                        except VaultError:
                            teams.append(str(row["team_id"]))
                            break
    return sorted(set(teams))
