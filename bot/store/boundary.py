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

`guard_event_loop` marks the serving event loop; every engine then reports a statement run on it
(`on_event_loop`: logged, and kept in `violations` for the tests, which fail on any).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import traceback
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
DEFAULT_TIMEOUT_SECONDS = 8.0

_GUARDED_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_SHARE: contextvars.ContextVar[asyncio.Semaphore | None] = contextvars.ContextVar("db_fan_out", default=None)
violations: list[str] = []  # where a statement ran on a guarded event loop (tests assert none)


class DatabaseTimeout(Exception):
    """The database did not answer within the boundary's timeout."""


class Boundary:
    def __init__(self, *, workers: int = DEFAULT_WORKERS, timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 inline: bool = False) -> None:
        self.timeout = timeout
        self.inline = inline
        self.workers = workers  # a fan-out leaves some free (`fan_out`)
        self._pool = None if inline else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` off the event loop, within the timeout (log context carried over)."""
        return await self.run_undoable(None, fn, *args, **kwargs)

    async def run_undoable(self, undo: Callable[[T], object] | None, fn: Callable[P, T], /,
                           *args: P.args, **kwargs: P.kwargs) -> T:
        """`run`, and if the caller gave up on a call that then finishes after all, `undo(result)`
        (in a worker thread): for a call whose result the caller must hand back, like a booking."""
        if self._pool is None:
            return fn(*args, **kwargs)
        if (share := _SHARE.get()) is None:
            return await self._call(self._pool, undo, fn, *args, **kwargs)
        async with share:  # a fan-out's call waits for its share here, not in the pool's queue
            return await self._call(self._pool, undo, fn, *args, **kwargs)

    async def _call(self, pool: ThreadPoolExecutor, undo: Callable[[T], object] | None, fn: Callable[P, T], /,
                    *args: P.args, **kwargs: P.kwargs) -> T:
        done = pool.submit(contextvars.copy_context().run, functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(done), self.timeout)
        except TimeoutError:
            if undo is not None:  # still running: undo what it did once it finishes (cancelled: nothing)
                def late(finished: Future[T]) -> None:
                    if not finished.cancelled() and finished.exception() is None:
                        with contextlib.suppress(RuntimeError):  # shut down meanwhile
                            pool.submit(undo, finished.result())
                done.add_done_callback(late)
            name = getattr(fn, "__qualname__", "call")
            raise DatabaseTimeout(f"the database did not answer {name} within {self.timeout:g} s") from None

    def close(self) -> None:
        """Stop taking calls; threads stuck on a dead connection are not waited for."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def fan_out(workers: int) -> Iterator[None]:
    """The calls made in this context (and in the tasks it starts) use at most `workers` of the
    pool at once: a fan-out (the tick's companies side by side) leaves the rest to clicks, whose
    quota bookings would otherwise queue behind it and time out."""
    token = _SHARE.set(asyncio.Semaphore(workers))
    try:
        yield
    finally:
        _SHARE.reset(token)


def guard_event_loop() -> None:
    """From now on, a database statement run on this (the serving) event loop is a violation."""
    _GUARDED_LOOPS.add(asyncio.get_running_loop())


def on_event_loop(*_: Any) -> None:
    """SQLAlchemy's `before_cursor_execute` hook: report a statement that blocks a guarded loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # a worker thread: as it should be
    if loop in _GUARDED_LOOPS:
        ours = [f for f in traceback.extract_stack()[:-1] if "site-packages" not in f.filename]
        where = "".join(traceback.format_list(ours[-8:]))
        violations.append(where)
        log.warning("database statement on the event loop (it waits for the database):\n%s", where)
