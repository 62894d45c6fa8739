"""The ASGI app: Slack requests, health and readiness; its lifespan runs the scheduler."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import make_url, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import redact
from bot.logs import new_request_id
from bot.precoro import api
from bot.runtime import Runtime
from bot.slack import request_guard
from bot.slack.app import INSTALL_PATH, REDIRECT_PATH, build_bolt_app
from bot.store.boundary import guard_event_loop

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 256 * 1024  # Slack's payloads are far smaller; refuse anything absurd
MAX_WEBHOOK_BODY = 4096  # Precoro's webhook body is a few dozen bytes


def create_app(rt: Runtime, *, run_scheduler: bool = True) -> Starlette:
    oauth = rt.config.slack.oauth
    redact.install([rt.config.slack.signing_secret, rt.config.slack.bot_token, oauth and oauth.client_secret,
                    *(c.webhook_secret for c in rt.config.companies),
                    *(k.key for k in rt.config.encryption_keys), _password(rt.config.storage_url)])
    handler = AsyncSlackRequestHandler(build_bolt_app(rt))

    async def slack_events(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is None or not length.isdigit() or int(length) > MAX_SLACK_BODY:
            return PlainTextResponse("request body missing or too large", status_code=413)
        body = await request.body()
        if len(body) > MAX_SLACK_BODY:
            return PlainTextResponse("request body too large", status_code=413)
        refused = request_guard.header_problem(request.headers)
        if refused is not None:  # cannot be Slack's: Bolt would trip on it (a 500) before verifying
            log.info("slack request refused (401): %s", refused)
            return JSONResponse({"error": "invalid request"}, status_code=401)
        refused = request_guard.body_problem(body, request.headers.get("content-type"))
        if refused is not None:
            log.info("slack request refused (400): %s", refused)
            return PlainTextResponse("malformed request body", status_code=400)
        new_request_id()  # the listener task inherits it: its log lines carry this id
        try:
            return await handler.handle(request)
        except Exception as exc:  # Bolt itself tripped on a malformed payload: refuse it, never a 500
            log.warning("slack request refused: Bolt could not dispatch it (%s)", type(exc).__name__)
            log.debug("dispatch failure", exc_info=exc)
            return PlainTextResponse("request could not be handled", status_code=400)

    secrets_by_company = {c.id: c.webhook_secret for c in rt.config.companies if c.webhook_secret}

    async def precoro_webhook(request: Request) -> Response:
        """A Precoro webhook: unsigned, so only a hint to look at that document soon (through the
        quota like any read); the secret path keeps strangers from spending the company's quota."""
        company, secret = request.path_params["company"], request.path_params["secret"]
        expected = secrets_by_company.get(company)
        if expected is None or not hmac.compare_digest(secret.encode(), expected.encode()):
            return PlainTextResponse("not found", status_code=404)
        body = await request.body()
        if len(body) > MAX_WEBHOOK_BODY:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            hint = api.parse_webhook(json.loads(body))
        except ValueError:
            hint = None
        if hint is None:
            return PlainTextResponse("not a Precoro document webhook", status_code=400)
        doc_type, idn, action = hint
        if doc_type in rt.config.company(company).document_types:
            rt.store.hints.add(company, doc_type, idn, rt.clock.now())
            log.info("webhook: %s %s/%s of %s; looking soon", action, doc_type, idn, company)
        return JSONResponse({"ok": True}, status_code=202)

    async def install(request: Request) -> Response:
        """Slack's OAuth install flow (several workspaces): Bolt runs it."""
        return await handler.handle(request)

    async def metrics(_: Request) -> Response:
        return Response(rt.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        checks = {"database": _database_ok(rt), "scheduler": rt.scheduler.running or not run_scheduler}
        return JSONResponse({"ready": all(checks.values()), **checks, "replica": rt.replica},
                            status_code=200 if all(checks.values()) else 503)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        guard_event_loop()  # from here on the database is reached only through the store's boundary
        # One kept-alive session for the Web API (slack_sdk otherwise opens a connection per call),
        # made here, in the serving event loop, which it belongs to. Idle connections are dropped
        # before a server's own idle timeout (uvicorn's is 5 s) could close one as it is reused.
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=rt.slack.default.timeout),
                                        connector=aiohttp.TCPConnector(keepalive_timeout=4.0))
        rt.slack.share_session(session)
        if run_scheduler:
            rt.scheduler.start()
            rt.reminders.start()  # its own interval job (reminders.check_seconds)
        log.info("precoro-bot serving %d compan%s", len(rt.config.companies),
                 "y" if len(rt.config.companies) == 1 else "ies")
        try:
            yield
        finally:
            # Clicks being sent get their answer; the outbox keeps any that cannot finish in time.
            grace = rt.config.interactive_wait_seconds + rt.config.request_timeout_seconds
            await rt.scheduler.stop(grace)
            rt.reminders.shutdown()
            left = await rt.decisions.drain(grace)
            if left:
                log.warning("%d decision(s) still in flight at shutdown; the outbox resumes them", left)
            await session.close()
            await rt.aclose()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/precoro/webhooks/{company}/{secret}", precoro_webhook, methods=["POST"]),
            *([Route(path, install, methods=["GET"]) for path in (INSTALL_PATH, REDIRECT_PATH)]
              if rt.config.slack.oauth else []),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _password(url: str) -> str | None:
    try:
        return make_url(url).password
    except Exception:
        return None


def _database_ok(rt: Runtime) -> bool:
    try:
        with rt.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
