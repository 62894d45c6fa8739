"""Socket Mode: Slack's requests arrive over a websocket the bot opens itself, so no public URL.

Bolt's aiohttp Socket Mode handler does the work (aiohttp is already here through slack_sdk); this
module adds what `/slack/events` does around Bolt over HTTP (see bot/server.py):

- every envelope is checked like an HTTP body (request_guard): too large, not JSON, nested too
  deep or with a field of the wrong type is acknowledged without a payload and never reaches Bolt;
  a listener or Bolt tripping is acknowledged too (Slack would otherwise retry, or show the user
  an error), never re-raised;
- each envelope gets its own request id and its acknowledgement time is measured;
- the SDK logs through `bot.slack.socket`, held at INFO: its DEBUG lines repeat whole envelopes,
  and a slash command can carry a Precoro key typed by an admin.

There is no signature to check: the websocket is the bot's own, opened with the app-level token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt.adapter.socket_mode.async_base_handler import AsyncBaseSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.logs import new_request_id
from bot.slack import request_guard

log = logging.getLogger(__name__)

# Seconds between the SDK's pings; a connection silent for four of them is replaced. A socket the
# server closes is replaced at once (the CLOSE frame), not after a ping.
PING_SECONDS = 10.0
# What Slack answers apps.connections.open when the token itself is wrong: a config error, not an outage.
TOKEN_REFUSALS = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked",
                            "token_expired", "account_inactive", "missing_scope"})


def _sdk_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack.socket")
    logger.setLevel(logging.INFO)  # never DEBUG, whatever the root level: DEBUG lines carry payloads
    return logger


def envelope_problem(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed message and why it must not reach Bolt (None if it may)."""
    if len(raw) > request_guard.MAX_BODY or len(raw.encode("utf-8", "replace")) > request_guard.MAX_BODY:
        return None, "envelope too large"
    try:
        message = json.loads(raw)
    except RecursionError:
        return None, "envelope nested too deep"
    except ValueError:
        return None, "envelope is not JSON"
    if not isinstance(message, dict):
        return None, "envelope is not an object"
    if "payload" in message:
        problem = request_guard.payload_problem(message["payload"])
        if problem is not None:
            return message, problem
    return message, None


class GuardedSocketModeClient(SocketModeClient):
    """The SDK's aiohttp client, with each message checked before any listener sees it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tasks: set[asyncio.Future[None]] = set()  # kept referenced until done

    async def process_message(self) -> None:
        raw = await self.message_queue.get()
        if raw is None:
            return
        message, problem = envelope_problem(raw)
        if problem is not None:
            log.info("slack envelope refused: %s", problem)
            envelope_id = message.get("envelope_id") if message else None
            if isinstance(envelope_id, str):  # acknowledged, so that Slack does not send it again
                await self.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
            return
        task = asyncio.ensure_future(self.run_message_listeners(message or {}, raw))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class SocketModeRunner(AsyncBaseSocketModeHandler):
    """Bolt's app behind a guarded Socket Mode client; `on_ack(seconds)` hears each ack's delay."""

    def __init__(self, app: AsyncApp, app_token: str, web_client: AsyncWebClient,
                 on_ack: Callable[[float], None] | None = None, ping_interval: float = PING_SECONDS) -> None:
        self.app = app
        self.on_ack = on_ack
        self.client = GuardedSocketModeClient(app_token=app_token, logger=_sdk_logger(), web_client=web_client,
                                              ping_interval=ping_interval)
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def handle(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.perf_counter()  # Slack's 3 s deadline runs from the envelope to its ack
        new_request_id()  # the listener task inherits it: its log lines carry this id
        try:
            try:
                response = await run_async_bolt_app(self.app, req)
            except Exception as exc:  # Bolt itself tripped on a payload: acknowledge it, never re-raise
                log.warning("slack envelope refused: Bolt could not dispatch it (%s)", type(exc).__name__)
                log.debug("dispatch failure", exc_info=exc)
                response = None
            if response is not None and response.status == 200:
                await send_async_response(client, req, response, started)
                return
            if response is not None:  # the body is not logged: it may repeat what the user typed
                log.info("slack %s envelope answered %d; acknowledged without a payload", req.type, response.status)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        finally:
            if self.on_ack is not None:
                self.on_ack(time.perf_counter() - started)

    async def connected(self) -> bool:
        return bool(await self.client.is_connected())


async def app_token_problem(api_url: str, app_token: str, timeout: float = 10.0) -> str | None:
    """Why Slack refuses `app_token` (a config error to stop on), or None when it accepted it or
    could not be asked (an outage: the connection keeps retrying once serving)."""
    client = AsyncWebClient(base_url=api_url, timeout=int(max(timeout, 1)))
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if error in TOKEN_REFUSALS:
            return (f"slack.app_token was refused by Slack ({error}): use the app's app-level token (xapp-..., "
                    "Basic Information > App-Level Tokens, scope connections:write) and turn Socket Mode on")
        return None
    except Exception as exc:  # not reachable now: not the token's fault
        log.warning("could not check slack.app_token now (%s); connecting anyway", type(exc).__name__)
        return None
    return None
