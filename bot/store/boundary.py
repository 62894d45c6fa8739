"""The one door between the event loop and the synchronous store.

The repositories are plain synchronous SQLAlchemy Core (simple to read, the same on SQLite and
PostgreSQL, tested directly). Async code never calls them on the event loop: it goes through
`Boundary.run`, which runs the call on a small, bounded thread pool and waits for it at most
`timeout` seconds. So a database that hangs (a lock held too long, a proxy that stopped
forwarding, a network black hole) stalls the calls that need it, never the loop: `/healthz`
answers, Slack is acknowledged, Precoro requests already booked finish.

A call that does not finish in time raises `DatabaseTimeout`, one of `DATABASE_UNAVAILABLE`, so
every caller that can say "try again" already handles it. The thread itself may still finish the
call later (a stuck socket cannot be interrupted); what it writes is then written, which is safe
because every write that matters is idempotent or unique-keyed (the outbox, posted messages). A
call still queued when its caller gave up is cancelled before it starts.

The simulation runs calls inline (`inline=True`): on its virtual-time loop a timer would fire
while a thread works, and its database is a private SQLite file that cannot hang.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_WORKERS = 8
DEFAULT_TIMEOUT_SECONDS = 8.0


class DatabaseTimeout(Exception):
    """The database did not answer within the boundary's timeout."""


class Boundary:
    def __init__(self, *, workers: int = DEFAULT_WORKERS, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 inline: bool = False) -> None:
        self.timeout = timeout
        self.inline = inline
        self._pool = None if inline else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` off the event loop, within the timeout (log context carried over)."""
        if self._pool is None:
            return fn(*args, **kwargs)
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        future = asyncio.get_running_loop().run_in_executor(self._pool, call)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            name = getattr(fn, "__qualname__", "call")
            raise DatabaseTimeout(f"the database did not answer {name} within {self.timeout:g} s") from None

    def close(self) -> None:
        """Stop taking calls; threads stuck on a dead connection are not waited for."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
