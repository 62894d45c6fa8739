"""A Slack Socket Mode stand-in: the websocket side of Slack, for tests and local runs.

Slack's Socket Mode, as documented (docs.slack.dev, "Using Socket Mode"): the app calls
`apps.connections.open` with its app-level token and gets a single-use `wss://` URL; on connecting
Slack sends `{"type": "hello", ...}`, then one envelope per request,
`{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
"accepts_response_payload"}`, and the app acknowledges each with `{"envelope_id", "payload"?}`
(the payload is what an HTTP response body would be: a reply, `response_action`, ...). Slack may
ask the app to reconnect (`{"type": "disconnect", "reason": ...}`) or just drop the socket.

`SocketModeStandIn` is that server on loopback (aiohttp, in its own thread: uvicorn here has no
websocket library). `SlackStandIn.socket_url` hands out its URLs. `SocketDriver` is a SlackDriver
whose requests travel as envelopes instead of signed HTTP posts, so every driver method (slash
commands, `ask`, clicks, view submissions, events) works unchanged over Socket Mode.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qsl

import httpx
from aiohttp import WSMsgType, web

from precoro_devkit.emulator.slack import APP_ID, SlackDriver, SlackStandIn

Json = dict[str, Any]


class SocketModeStandIn:
    """Slack's Socket Mode server on 127.0.0.1. `send` delivers an envelope to a connected app and
    returns its acknowledgement; `drop` closes every connection (the app must reconnect)."""

    def __init__(self, app_id: str = APP_ID) -> None:
        self.app_id = app_id
        self._tickets: set[str] = set()  # URLs handed out and not used yet
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.connects = 0  # connections greeted with `hello` so far
        self.refused = 0  # connection attempts with an unknown or used ticket
        self.envelopes: list[Json] = []  # everything sent, for inspection
        self.acks: list[Json] = []  # every acknowledgement received
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="socket-mode-standin", daemon=True)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> SocketModeStandIn:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the Socket Mode stand-in did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._started.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            await self._close_all(1001)
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def attach(self, slack: SlackStandIn, app_token: str) -> None:
        """Let `slack`'s apps.connections.open hand out this server's URLs for `app_token`."""
        slack.app_tokens.add(app_token)
        slack.socket_url = self.issue_url

    # --- the Web API side -----------------------------------------------------------------------

    def issue_url(self) -> str:
        """A single-use URL, as apps.connections.open returns (ws:// on loopback, wss:// at Slack)."""
        ticket = secrets.token_urlsafe(12)
        with self._lock:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    # --- inspection -----------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Connections open now."""
        return sum(1 for ws in list(self._sockets) if not ws.closed)

    async def wait_connected(self, at_least: int = 1, timeout: float = 20.0) -> None:
        """Until `connects` reaches `at_least` and a connection is open (a real condition, no sleep-and-hope)."""
        deadline = time.monotonic() + timeout
        while not (self.connects >= at_least and self.connections):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no Socket Mode connection within {timeout}s (connects={self.connects}, "
                                   f"refused={self.refused})")
            await asyncio.sleep(0.02)

    # --- the websocket side ---------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            known = request.query.get("ticket") in self._tickets
            self._tickets.discard(request.query.get("ticket", ""))
        if not known:
            self.refused += 1
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": self.connections,
                            "debug_info": {"host": "standin", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": self.app_id}})
        self.connects += 1
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._acknowledged(message.data)
        finally:
            self._sockets.remove(ws)
        return ws

    def _acknowledged(self, data: str) -> None:
        try:
            ack = json.loads(data)
        except ValueError:
            return
        if not isinstance(ack, dict):
            return
        self.acks.append(ack)
        waiting = self._pending.pop(str(ack.get("envelope_id")), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(ack)

    async def _deliver(self, envelope: Json, timeout: float, connect_timeout: float) -> Json:
        deadline = time.monotonic() + connect_timeout
        while not self.connections:  # Slack holds a request while the app reconnects, briefly
            if time.monotonic() > deadline:
                raise TimeoutError("no app connected over Socket Mode")
            await asyncio.sleep(0.02)
        ws = next(ws for ws in self._sockets if not ws.closed)
        waiting: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[envelope["envelope_id"]] = waiting
        self.envelopes.append(envelope)
        try:
            await ws.send_str(json.dumps(envelope))
            return await asyncio.wait_for(waiting, timeout)
        finally:
            self._pending.pop(envelope["envelope_id"], None)

    async def send(self, kind: str, payload: Json, *, accepts_response_payload: bool, timeout: float = 3.0,
                   connect_timeout: float = 20.0) -> Json:
        """Deliver one envelope and return the app's acknowledgement (TimeoutError past `timeout`,
        Slack's 3 s by default). Callable from any event loop."""
        envelope = {"envelope_id": f"{next(self._ids):08d}-{secrets.token_hex(4)}", "type": kind,
                    "payload": payload, "accepts_response_payload": accepts_response_payload}
        if kind == "events_api":
            envelope["retry_attempt"], envelope["retry_reason"] = 0, ""
        future = asyncio.run_coroutine_threadsafe(self._deliver(envelope, timeout, connect_timeout), self._loop)
        return await asyncio.wrap_future(future)

    async def send_raw(self, text: str) -> None:
        """Send any text on every open connection (hostile-input tests); nothing waits for an ack."""
        async def push() -> None:
            for ws in [w for w in self._sockets if not w.closed]:
                await ws.send_str(text)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(push(), self._loop))

    async def drop(self, *, warn: bool = False) -> None:
        """Close every connection, after Slack's `disconnect` message if `warn` (else abruptly, as
        when a Slack host goes away); the app must open a new URL and reconnect."""
        async def close() -> None:
            if warn:
                for ws in [w for w in self._sockets if not w.closed]:
                    await ws.send_json({"type": "disconnect", "reason": "refresh_requested",
                                        "debug_info": {"host": "standin"}})
            await self._close_all(1001)

        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(close(), self._loop))

    async def _close_all(self, code: int) -> None:
        for ws in list(self._sockets):
            await ws.close(code=code)


class SocketDriver(SlackDriver):
    """A SlackDriver whose requests go to the bot as Socket Mode envelopes: the same calls
    (`slash_command`, `ask`, `click`, `submit_view`, `event`, `open_home`, ...), the acknowledgement
    handed back as the HTTP response a signed post would have had (200, its payload as JSON)."""

    def __init__(self, socket: SocketModeStandIn, standin: SlackStandIn, team_id: str = "T0TEAM", *,
                 timeout: float = 3.0) -> None:
        super().__init__(f"http://127.0.0.1:{socket.port}", "", standin, team_id, timeout=timeout)
        self.socket = socket

    async def send(self, body: bytes, content_type: str, *, timestamp: str | int | None = None,
                   signature: str | None = None) -> httpx.Response:
        kind, payload = envelope_of(body, content_type)
        accepts = kind == "slash_commands" or (kind == "interactive" and payload.get("type") == "view_submission")
        try:
            ack = await self.socket.send(kind, payload, accepts_response_payload=accepts, timeout=self.timeout)
        except TimeoutError:  # as httpx would say of an HTTP request past the deadline
            raise httpx.ReadTimeout("no Socket Mode acknowledgement in time") from None
        request = httpx.Request("POST", f"ws://127.0.0.1:{self.socket.port}/link/")
        if ack.get("payload") is None:
            return httpx.Response(200, content=b"", request=request)
        return httpx.Response(200, json=ack["payload"], request=request)


def envelope_of(body: bytes, content_type: str) -> tuple[str, Json]:
    """The envelope type and payload Slack would send over Socket Mode for an HTTP request body:
    a slash command's form fields, an interaction's `payload=` JSON, an event callback's JSON."""
    if content_type.startswith("application/json"):
        return "events_api", json.loads(body)
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    if "payload" in fields and "command" not in fields:
        return "interactive", json.loads(fields["payload"])
    return "slash_commands", fields
