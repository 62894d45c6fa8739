"""The ASGI app: Slack requests, health and readiness; its lifespan runs the scheduler."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.logs import new_request_id
from bot.runtime import Runtime
from bot.slack.app import build_bolt_app

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 256 * 1024  # Slack's payloads are far smaller; refuse anything absurd


def create_app(rt: Runtime, *, run_scheduler: bool = True) -> Starlette:
    handler = AsyncSlackRequestHandler(build_bolt_app(rt))

    async def slack_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_SLACK_BODY:
            return PlainTextResponse("request body missing or too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_SLACK_BODY:
            return PlainTextResponse("request body too large", status_code=413)
        new_request_id()  # the listener task inherits it: its log lines carry this id
        return await handler.handle(request)

    async def metrics(_: Request) -> Response:
        return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = {"database": _database_ok(rt), "scheduler": rt.scheduler.running or not run_scheduler}
        return JSONResponse({"ready": all(checks.values()), **checks}, status_code=200 if all(checks.values()) else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if run_scheduler:
            rt.scheduler.start()
        log.info("precoro-bot serving %d compan%s", len(rt.config.companies),
                 "y" if len(rt.config.companies) == 1 else "ies")
        try:
            yield
        finally:
            rt.scheduler.shutdown()
            await rt.aclose()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _database_ok(rt: Runtime) -> bool:
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
