"""Purge what strangers can make the service store: old webhook hints and expired OAuth states.

Webhook hints are taken by the company's polling replica; a company nobody polls (no approver,
no discovery) would keep them forever. Every `GET /slack/install` stores an OAuth state, which
Bolt only deletes when the install completes. Both are purged here at the reminder interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy import MetaData, Table, delete

from bot.quota.gate import Clock
from bot.store import DATABASE_UNAVAILABLE, Store

log = logging.getLogger(__name__)

HINT_MAX_AGE = 86400.0  # a day-old hint is no news: discovery and polls have long looked since
STATES_TABLE = "slack_oauth_states"


def purge(store: Store, now: float) -> tuple[int, int]:
    """Delete hints older than HINT_MAX_AGE and expired OAuth states; returns (hints, states)."""
    hints = store.hints.purge(now - HINT_MAX_AGE)
    states = 0
    with store.engine.begin() as conn:
        if conn.dialect.has_table(conn, STATES_TABLE):
            table = Table(STATES_TABLE, MetaData(), autoload_with=conn)
            expired = datetime.fromtimestamp(now, tz=UTC).replace(tzinfo=None)  # Bolt stores naive UTC
            states = int(conn.execute(delete(table).where(table.c.expire_at < expired)).rowcount or 0)
    if hints or states:
        log.info("purged %d old webhook hint(s) and %d expired OAuth state(s)", hints, states)
    return hints, states


class Housekeeping:
    def __init__(self, store: Store, clock: Clock, every: float) -> None:
        self.store = store
        self.clock = clock
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(*DATABASE_UNAVAILABLE):
                await self.store.run(purge, self.store, self.clock.now())
            await asyncio.sleep(self.every)
