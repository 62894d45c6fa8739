"""Several Slack workspaces: Bolt's SQLAlchemy installation and OAuth state stores, tokens encrypted.

Bolt's stores are synchronous and share our engine (and so our migrations and database); the
adapters here give them the async face AsyncApp needs, and seal every Slack token with the vault,
bound to its workspace, before it reaches the database.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, TypeVar

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import Connection, Engine, MetaData

from bot.vault import Vault

log = logging.getLogger(__name__)

_TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
_Record = TypeVar("_Record", Installation, Bot)


def create_oauth_tables(conn: Connection) -> None:
    """Migration: the tables Bolt's SQLAlchemy stores use, in our database."""
    metadata = MetaData()
    store, states = SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore
    store.build_installations_table(metadata, store.default_installations_table_name)
    store.build_bots_table(metadata, store.default_bots_table_name)
    states.build_oauth_states_table(metadata, states.default_table_name)
    metadata.create_all(conn)


def _binding(enterprise_id: str | None, team_id: str | None) -> bytes:
    return f"slack-install|{enterprise_id or ''}|{team_id or ''}".encode()


class EncryptedInstallationStore(AsyncInstallationStore):
    def __init__(self, client_id: str, engine: Engine, vault: Vault) -> None:
        self.inner = SQLAlchemyInstallationStore(client_id=client_id, engine=engine)
        self.vault = vault

    @property
    def logger(self) -> logging.Logger:
        return log

    def _seal(self, record: _Record) -> _Record:
        sealed = copy.copy(record)
        binding = _binding(record.enterprise_id, record.team_id)
        for name in _TOKEN_FIELDS:
            value = getattr(record, name, None)
            if value:
                setattr(sealed, name, self.vault.encrypt(value, binding=binding))
        return sealed

    def _open(self, record: _Record | None) -> _Record | None:
        if record is None:
            return None
        opened = copy.copy(record)
        binding = _binding(record.enterprise_id, record.team_id)
        for name in _TOKEN_FIELDS:
            value = getattr(record, name, None)
            if value:
                setattr(opened, name, self.vault.decrypt(value, binding=binding))
        return opened

    async def async_save(self, installation: Installation) -> None:
        self.inner.save(self._seal(installation))

    async def async_save_bot(self, bot: Bot) -> None:
        self.inner.save_bot(self._seal(bot))

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        return self._open(self.inner.find_bot(enterprise_id=enterprise_id, team_id=team_id,
                                              is_enterprise_install=is_enterprise_install))

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        return self._open(self.inner.find_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id,
                                                       is_enterprise_install=is_enterprise_install))

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        self.inner.delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self.inner.delete_all(enterprise_id=enterprise_id, team_id=team_id)


class DatabaseStateStore(AsyncOAuthStateStore):
    """OAuth `state` values in the database, so the install flow works across replicas."""

    def __init__(self, engine: Engine, expiration_seconds: int = 600) -> None:
        self.inner = SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return self.inner.issue(*args, **kwargs)

    async def async_consume(self, state: str) -> bool:
        return self.inner.consume(state)


class SlackClients:
    """The Web API client for a workspace: the one bot token, or the installation's token."""

    def __init__(self, base_url: str, *, bot_token: str | None = None,
                 installations: EncryptedInstallationStore | None = None, **client_options: Any) -> None:
        self.base_url = base_url
        self.installations = installations
        self.client_options = client_options
        self.default = AsyncWebClient(token=bot_token, base_url=base_url, **client_options) if bot_token else None
        self._by_token: dict[str, AsyncWebClient] = {}

    async def for_team(self, team_id: str) -> AsyncWebClient:
        if self.installations is None:
            assert self.default is not None
            return self.default
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None:
            raise LookupError(f"the app is not installed in workspace {team_id}")
        if bot.bot_token not in self._by_token:
            self._by_token[bot.bot_token] = AsyncWebClient(token=bot.bot_token, base_url=self.base_url,
                                                            **self.client_options)
        return self._by_token[bot.bot_token]
