"""Operational endpoints kept off the public port: `/metrics` and the detail of `/readyz`.

They name companies, decision counts, quota use, the host and pid: nothing for the internet. They
are served on `server.metrics_port` (an internal port, its own listener in this process) and, on
the public port, only to a request bearing `server.metrics_token`. With neither configured they
are not served at all; the public `/readyz` says only whether this replica is ready and
`/healthz` only "ok".

A scrape renders from a cache refreshed at most every `CACHE_SECONDS`, in a worker thread: the
database reads and the parse of a day of documents never run on the event loop, and scraping
faster does not cost more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

CACHE_SECONDS = 15.0


class CachedRender:
    """`render()` at most every `ttl` seconds, off the event loop; concurrent scrapes share one."""

    def __init__(self, render: Callable[[], bytes], ttl: float = CACHE_SECONDS,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.render = render
        self.ttl = ttl
        self.now = now
        self.renders = 0
        self._body: bytes | None = None
        self._at = 0.0
        self._lock: asyncio.Lock | None = None

    async def get(self) -> bytes:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._body is None or self.now() - self._at >= self.ttl:
                self._body = await asyncio.to_thread(self.render)
                self._at = self.now()
                self.renders += 1
            return self._body


def bearer_ok(request: Request, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (never when no token is set)."""
    if not token:
        return False
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


READY_DATABASE_SECONDS = 2.0  # a database slower than this to answer `SELECT 1` is not ready


async def readiness(rt: Runtime, scheduler_needed: bool) -> dict[str, object]:
    """Ready: the database answers (within `READY_DATABASE_SECONDS`) and the scheduler runs."""
    try:
        database = await asyncio.wait_for(rt.store.run(rt.store.ping), READY_DATABASE_SECONDS)
    except Exception:
        database = False
    checks = {"database": database, "scheduler": rt.scheduler.running or not scheduler_needed}
    return {"ready": all(checks.values()), **checks, "replica": rt.replica}


def create_ops_app(rt: Runtime, cache: CachedRender,
                   ready: Callable[[], Awaitable[dict[str, object]]]) -> Starlette:
    """The internal port's app: metrics and detailed readiness, no authentication (not exposed)."""

    async def metrics(_: Request) -> Response:
        return Response(await cache.get(), media_type=CONTENT_TYPE_LATEST)

    async def readyz(_: Request) -> Response:
        answer = await ready()
        return JSONResponse(answer, status_code=200 if answer["ready"] else 503)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"]), Route("/readyz", readyz, methods=["GET"]),
                             Route("/healthz", healthz, methods=["GET"])])


class _Listener(uvicorn.Server):
    """A second uvicorn server in the serving loop; the public server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    def __init__(self, app: Starlette, host: str, port: int) -> None:
        # log_config=None: uvicorn's default config would give its loggers plain-text handlers of
        # their own (for the whole process, the public server's too); they go through ours.
        self.server = _Listener(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off",
                                               log_config=None))
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.server.serve())
        log.info("metrics and readiness served on the internal port %d", self.server.config.port)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task
