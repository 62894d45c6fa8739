"""The ASGI app: Slack requests, health and readiness; its lifespan runs the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from sqlalchemy import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot import redact
from bot.flood import PerMinute, TooLarge, read_capped
from bot.housekeeping import Housekeeping
from bot.logs import new_request_id
from bot.ops import CachedRender, OpsServer, bearer_ok, create_ops_app, readiness
from bot.precoro import api
from bot.runtime import Runtime
from bot.slack import request_guard
from bot.slack.app import INSTALL_PATH, REDIRECT_PATH, build_bolt_app
from bot.slack.socket_mode import SocketModeRunner
from bot.store import hints
from bot.store.boundary import guard_event_loop

log = logging.getLogger(__name__)

MAX_SLACK_BODY = request_guard.MAX_BODY
MAX_WEBHOOK_BODY = 4096  # Precoro's webhook body is a few dozen bytes
INSTALLS_PER_MINUTE = 60  # "Add to Slack" starts, all workspaces together


def create_app(rt: Runtime, *, run_scheduler: bool = True) -> Starlette:
    oauth = rt.config.slack.oauth
    redact.install([rt.config.slack.signing_secret, rt.config.slack.bot_token, oauth and oauth.client_secret,
                    rt.config.slack.app_token, *(c.webhook_secret for c in rt.config.companies),
                    *(k.key for k in rt.config.encryption_keys), _password(rt.config.storage_url)])
    bolt = build_bolt_app(rt)
    handler = AsyncSlackRequestHandler(bolt)
    socket_mode = rt.config.slack.socket_mode
    socket: list[SocketModeRunner] = []  # made in the lifespan: its client belongs to the serving loop

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()  # Slack's 3 s deadline runs from here to the returned response
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
        finally:
            rt.metrics.slack_acknowledged(time.perf_counter() - started)

    secrets_by_company = {c.id: c.webhook_secret for c in rt.config.companies if c.webhook_secret}
    hint_rate = {c.id: c.webhook_hints_per_minute for c in rt.config.companies}
    hints_allowed = PerMinute(lambda company: hint_rate.get(company, 0), rt.clock.now)
    installs_allowed = PerMinute(lambda _: INSTALLS_PER_MINUTE, rt.clock.now)

    async def precoro_webhook(request: Request) -> Response:
        """A Precoro webhook: unsigned, so only a hint to look at that document soon (through the
        quota like any read); the secret path keeps strangers from spending the company's quota."""
        company, secret = request.path_params["company"], request.path_params["secret"]
        expected = secrets_by_company.get(company)
        if expected is None or not hmac.compare_digest(secret.encode(), expected.encode()):
            return PlainTextResponse("not found", status_code=404)
        if not hints_allowed.allow(company):  # before reading: a flood costs no memory and no write
            return PlainTextResponse("too many webhooks", status_code=429, headers={"Retry-After": "60"})
        try:
            body = await read_capped(request, MAX_WEBHOOK_BODY)
        except TooLarge:
            return PlainTextResponse("request body too large", status_code=413)
        try:
            hint = api.parse_webhook(json.loads(body))
        except ValueError:
            hint = None
        if hint is None:
            return PlainTextResponse("not a Precoro document webhook", status_code=400)
        doc_type = hint.doc_type
        if doc_type is None or doc_type not in rt.config.company(company).document_types:
            log.debug("webhook: type %d of %s is not a document type it shows; ignored", hint.kind, company)
            return JSONResponse({"ok": True}, status_code=202)  # a supplier, a budget...: acknowledged
        idn = hint.idn
        if idn is None and hint.entity_id is not None:  # no IDN: maybe a document it posted, by its id
            idn = await rt.store.run(rt.store.messages.idn_of, company, doc_type, hint.entity_id)
        if idn is None:
            log.info("webhook: %s of a %s of %s without an IDN it knows; the next discovery run or poll "
                     "looks", hint.action, doc_type, company)
        key = hints.ANY_DOCUMENT if idn is None else idn
        if await rt.store.run(rt.store.hints.add, company, doc_type, key, rt.clock.now()):  # once a hint
            if idn is not None:
                log.info("webhook: %s %s/%s of %s; looking now", hint.action, doc_type, idn, company)
            if run_scheduler:
                rt.scheduler.wake(company)  # read at once, not at the next tick
        return JSONResponse({"ok": True}, status_code=202)

    async def install(request: Request) -> Response:
        """Slack's OAuth install flow (several workspaces): Bolt runs it. Each start stores a state
        row (purged when expired), so starts are capped per minute."""
        if request.url.path == INSTALL_PATH and not installs_allowed.allow("install"):
            return PlainTextResponse("too many install attempts; try again in a minute", status_code=429,
                                     headers={"Retry-After": "60"})
        return await handler.handle(request)

    metrics_cache = CachedRender(rt.metrics.render)
    token = rt.config.metrics_token

    async def ready() -> dict[str, object]:
        answer = await readiness(rt, run_scheduler)
        if socket_mode:  # no Slack request reaches a replica whose websocket is down
            connected = bool(socket) and await socket[0].connected()
            answer = {**answer, "ready": bool(answer["ready"]) and connected, "slack_socket": connected}
        return answer

    async def metrics(request: Request) -> Response:
        """Only with the metrics bearer token (else as if there were no such page); see bot.ops."""
        if not bearer_ok(request, token):
            return PlainTextResponse("not found", status_code=404)
        return Response(await metrics_cache.get(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        answer = await ready()
        body = answer if bearer_ok(request, token) else {"ready": answer["ready"]}
        return JSONResponse(body, status_code=200 if answer["ready"] else 503)

    housekeeping = Housekeeping(rt.store, rt.clock, every=rt.config.reminders.check_seconds)
    ops = OpsServer(create_ops_app(rt, metrics_cache, ready), rt.config.host, rt.config.metrics_port) \
        if rt.config.metrics_port else None

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        guard_event_loop()  # from here on the database is reached only through the store's boundary
        # One kept-alive session for the Web API (slack_sdk otherwise opens a connection per call),
        # made here, in the serving event loop, which it belongs to. Idle connections are dropped
        # before a server's own idle timeout (uvicorn's is 5 s) could close one as it is reused.
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=rt.slack.default.timeout),
                                        connector=aiohttp.TCPConnector(keepalive_timeout=4.0))
        rt.slack.share_session(session)
        connecting = None
        if socket_mode:  # connects (and reconnects) in the background: /healthz answers meanwhile
            socket.append(SocketModeRunner(bolt, rt.config.slack.app_token or "", rt.slack.default,
                                           on_ack=rt.metrics.slack_acknowledged))
            connecting = asyncio.create_task(socket[0].connect_async())
        if ops is not None:
            ops.start()
        if run_scheduler:
            rt.scheduler.start()
            rt.reminders.start()  # its own interval job (reminders.check_seconds)
            if rt.finance is not None:
                rt.finance.start()  # the finance channel's "waiting too long" lines, same interval
            housekeeping.start()
        log.info("precoro-bot serving %d compan%s%s", len(rt.config.companies),
                 "y" if len(rt.config.companies) == 1 else "ies", "; Slack over Socket Mode" if socket_mode else "")
        try:
            yield
        finally:
            if connecting is not None:  # no new envelope from here; Slack sends them to another connection
                connecting.cancel()
                await socket[0].close_async()
            # Clicks being sent get their answer; the outbox keeps any that cannot finish in time.
            grace = rt.config.interactive_wait_seconds + rt.config.request_timeout_seconds
            await rt.scheduler.stop(grace)
            rt.reminders.shutdown()
            if rt.finance is not None:
                rt.finance.shutdown()
            await housekeeping.stop()
            left = await rt.decisions.drain(grace)
            if rt.outcomes is not None:
                await rt.outcomes.drain(grace)
            if left:
                log.warning("%d decision(s) still in flight at shutdown; the outbox resumes them", left)
            await session.close()
            if ops is not None:
                await ops.stop()
            await rt.aclose()

    return Starlette(
        routes=[
            # In Socket Mode Slack sends nothing here (and nothing here would be signed by it)
            *([] if socket_mode else [Route("/slack/events", slack_events, methods=["POST"])]),
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


