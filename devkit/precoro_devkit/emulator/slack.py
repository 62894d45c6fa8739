"""A Slack stand-in for tests and local runs, in two halves.

`SlackStandIn` plays the Slack Web API toward the bot: an ASGI app that answers the methods the
bot uses, records every call, keeps the current state of every posted message (so a test can
read what a user sees *now*) and can be told to fail the next call.

`SlackDriver` plays Slack toward the bot: it sends slash commands, button clicks and modal
submissions to the bot's `/slack/events` over real HTTP, signed the way Slack signs them.

The stand-in is served by uvicorn in another thread while tests read it, so all state sits
behind one lock and every inspection method returns a copy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from precoro_devkit.emulator import blockkit_rules

T = TypeVar("T")
Json = dict[str, Any]

BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
_JSON_ARGS = ("blocks", "view", "attachments", "metadata")

# Every message and view is checked by `blockkit_rules.problems`, the same rules the tests apply,
# so a payload real Slack would refuse fails here too.
# The largest interaction body the stand-in sends (a click carries its whole view back, URL-encoded):
# past it, the click fails like it would at Slack (the bot's own server refuses more than 256 KB).
INTERACTION_PAYLOAD_MAX = 256 * 1024


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the stand-in received it; `error` is None when it answered ok."""

    method: str
    args: Json
    token: str | None
    at: float
    error: str | None = None


@dataclass(frozen=True)
class ResponsePost:
    """One POST the bot made to a `response_url`."""

    response_id: str
    body: Json
    at: float


@dataclass
class _ResponseTarget:
    """Where a response URL's replies land: the interaction's channel, user and message."""

    channel: str | None
    user_id: str | None
    ts: str | None
    ephemeral: bool


class SlackError(Exception):
    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)


@dataclass
class _Fault:
    error: str
    count: int


@dataclass
class _State:
    calls: list[SlackCall] = field(default_factory=list)
    messages: dict[tuple[str, str], Json] = field(default_factory=dict)
    ephemerals: list[Json] = field(default_factory=list)
    views: dict[str, Json] = field(default_factory=dict)
    responses: list[ResponsePost] = field(default_factory=list)
    users: dict[str, Json] = field(default_factory=dict)
    faults: dict[str, _Fault] = field(default_factory=dict)
    triggers: dict[str, bool] = field(default_factory=dict)  # trigger_id -> already used
    response_targets: dict[str, _ResponseTarget] = field(default_factory=dict)


def dm_channel(user_id: str) -> str:
    """The (deterministic) id of the bot's DM channel with a user."""
    return "D" + user_id


class SlackStandIn:
    """A fake Slack Web API at `POST /api/{method}` plus response URLs at `POST /response/{id}`.

    `base_url` is where the stand-in is reachable; set it once it is served so that
    `response_url()` hands out URLs the bot can POST to.
    """

    def __init__(self, bot_token: str = "xoxb-test", team_id: str = "T0TEAM",
                 base_url: str = "http://slack.invalid") -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.base_url = base_url
        # Workspaces: every bot token works in one workspace only (the first one has `bot_token`);
        # an app's OAuth install adds a workspace and its token (`issue_oauth_code`).
        self.client_id, self.client_secret = "1111.2222", "standin-client-secret"
        self._team_of_token: dict[str, str] = {bot_token: team_id}
        self._oauth_codes: dict[str, str] = {}  # code -> team id, each good once
        # Socket Mode: apps.connections.open with one of these app-level tokens asks `socket_url`
        # (a SocketModeStandIn's, see devkit/precoro_devkit/emulator/socket_mode.py) for a websocket URL.
        self.app_tokens: set[str] = set()
        self.socket_url: Callable[[], str] | None = None
        self._caller_team = team_id  # the calling token's workspace (set per call, lock held)
        # Seconds between a call taking effect and its answer leaving, per method: Slack shows a
        # posted message to its user before the poster hears back.
        self.answer_delays: dict[str, float] = {}
        self._lock = threading.RLock()
        self._state = _State()
        self._seq = itertools.count(1)
        self._handlers: dict[str, Callable[[Json], Json]] = {
            "auth.test": self._auth_test,
            "oauth.v2.access": self._oauth_access,
            "apps.connections.open": self._connections_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
        }
        self._app = Starlette(routes=[
            Route("/api/{method}", self._api, methods=["GET", "POST"]),
            Route("/response/{response_id}", self._response, methods=["POST"]),
        ])

    @property
    def app(self) -> Starlette:
        return self._app

    # --- set-up ---------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, email: str, tz: str = "Europe/Berlin", *,
                 team_id: str | None = None, is_bot: bool = False) -> None:
        offset = datetime.now(ZoneInfo(tz)).utcoffset()
        user = {
            "id": user_id, "team_id": team_id or self.team_id, "name": email.split("@")[0], "real_name": name,
            "deleted": False, "is_bot": is_bot, "tz": tz,
            "tz_offset": int(offset.total_seconds()) if offset else 0,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }
        with self._lock:
            self._state.users[user_id] = user

    def issue_oauth_code(self, team_id: str) -> str:
        """The code Slack hands the app's redirect URL when someone installs it in `team_id`."""
        code = f"code-{team_id}-{next(self._seq)}"
        with self._lock:
            self._oauth_codes[code] = team_id
        return code

    def team_of_token(self, token: str | None) -> str | None:
        with self._lock:
            return self._team_of_token.get(token or "")

    def fail_next(self, method: str, error: str = "ratelimited", count: int = 1) -> None:
        """Make the next `count` calls of `method` fail with `error` ("ratelimited" is a 429)."""
        with self._lock:
            self._state.faults[method] = _Fault(error, count)

    def issue_trigger_id(self) -> str:
        """A fresh trigger_id, good for one views.open/views.push (as in Slack)."""
        trigger_id = f"{next(self._seq)}.{self.team_id}.trigger"
        with self._lock:
            self._state.triggers[trigger_id] = False
        return trigger_id

    def response_url(self, channel: str | None = None, user_id: str | None = None,
                     ts: str | None = None, ephemeral: bool = False) -> str:
        """A response URL for an interaction; replies posted to it act on that channel/message."""
        response_id = str(next(self._seq))
        with self._lock:
            self._state.response_targets[response_id] = _ResponseTarget(channel, user_id, ts, ephemeral)
        return f"{self.base_url.rstrip('/')}/response/{response_id}"

    def new_ts(self) -> str:
        """A fresh Slack timestamp, later than every one handed out before."""
        n = next(self._seq) * 100
        return f"{1_700_000_000 + n // 1_000_000}.{n % 1_000_000:06d}"

    # --- inspection (copies, safe from any thread) ----------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def messages(self) -> dict[tuple[str, str], Json]:
        """Every message posted and not deleted, as it looks now, keyed by (channel, ts)."""
        with self._lock:
            return copy.deepcopy(self._state.messages)

    def messages_in(self, channel: str) -> list[Json]:
        """The messages in `channel`, oldest first (copies: the bot may change them meanwhile)."""
        with self._lock:
            msgs = [copy.deepcopy(m) for (ch, _), m in self._state.messages.items() if ch == channel]
        return sorted(msgs, key=lambda m: float(m["ts"]))

    def ephemerals_for(self, user_id: str) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(e) for e in self._state.ephemerals if e["user"] == user_id]

    @property
    def views(self) -> dict[str, Json]:
        """Every view opened, pushed or published, as it looks now, keyed by view id."""
        with self._lock:
            return copy.deepcopy(self._state.views)

    def home_of(self, user_id: str) -> Json | None:
        """The App Home view last published for `user_id`, as Slack holds it now (None if never)."""
        with self._lock:
            found = next((v for v in self._state.views.values()
                          if v.get("type") == "home" and v.get("user_id") == user_id), None)
            return copy.deepcopy(found)

    @property
    def responses(self) -> list[ResponsePost]:
        with self._lock:
            return list(self._state.responses)

    def user(self, user_id: str) -> Json | None:
        with self._lock:
            return copy.deepcopy(self._state.users.get(user_id))

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 15.0, interval: float = 0.02) -> T:
        """Poll `predicate` until it returns something truthy and return that.

        For tests over real HTTP, where the bot keeps working after it acked a request. Async so
        that a bot served in the test's own event loop keeps running while we wait.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s; calls: "
                                   f"{[c.method for c in self.calls]}")
            await asyncio.sleep(interval)

    # --- HTTP -----------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _parse_args(request)
        token = _bearer(request.headers.get("authorization")) or args.pop("token", None)
        args |= _basic(request.headers.get("authorization"))  # oauth.v2.access: the app's client id and secret
        at = time.time()
        status, headers, body = 200, {}, {"ok": True}
        with self._lock:
            try:
                if method == "oauth.v2.access":
                    self._caller_team = ""
                elif method == "apps.connections.open":
                    self._caller_team = self._app_token_team(token)
                elif token not in self._team_of_token:
                    raise SlackError("invalid_auth")
                else:
                    self._caller_team = self._team_of_token[token]
                fault = self._state.faults.get(method)
                if fault:
                    fault.count -= 1
                    if fault.count <= 0:
                        del self._state.faults[method]
                    if fault.error == "ratelimited":
                        status, headers = 429, {"Retry-After": "1"}
                    raise SlackError(fault.error)
                handler = self._handlers.get(method)
                if handler is None:
                    raise SlackError("unknown_method")
                body |= handler(args)
                error = None
            except SlackError as e:
                error = e.error
                body = {"ok": False, "error": e.error}
                if e.messages:
                    body["response_metadata"] = {"messages": e.messages}
            self._state.calls.append(SlackCall(method, args, token, at, error))
        if delay := self.answer_delays.get(method):
            await asyncio.sleep(delay)
        return JSONResponse(body, status_code=status, headers=headers)

    async def _response(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        try:
            body = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        with self._lock:
            target = self._state.response_targets.get(response_id)
            if target is None:
                return PlainTextResponse("no_such_response_url", status_code=404)
            self._state.responses.append(ResponsePost(response_id, body, time.time()))
            self._apply_response(target, body)
        return PlainTextResponse("ok")

    def _apply_response(self, target: _ResponseTarget, body: Json) -> None:
        """Do what Slack does with a response_url reply: replace, delete or add a message."""
        content = {k: body[k] for k in ("text", "blocks") if k in body}
        if target.ephemeral and target.ts:
            eph = next((e for e in self._state.ephemerals if e["ts"] == target.ts), None)
            if eph is not None and body.get("delete_original"):
                self._state.ephemerals.remove(eph)
                return
            if eph is not None and body.get("replace_original"):
                eph |= content
                return
        key = (target.channel or "", target.ts or "")
        if key in self._state.messages and body.get("delete_original"):
            del self._state.messages[key]
        elif key in self._state.messages and body.get("replace_original"):
            self._state.messages[key] |= content
        elif target.channel and body.get("response_type") == "in_channel":
            self._post_message({"channel": target.channel, **content})
        elif target.channel and target.user_id:
            self._post_ephemeral({"channel": target.channel, "user": target.user_id, **content})

    # --- methods (called with the lock held) ----------------------------------------------------

    def _auth_test(self, args: Json) -> Json:
        return {"url": "https://standin.slack.invalid/", "team": "Stand-in", "user": "precoro-bot",
                "team_id": self._caller_team, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": False}

    def _oauth_access(self, args: Json) -> Json:
        """Exchange an install's code for the workspace's bot token (oauth.v2.access)."""
        if (args.get("client_id"), args.get("client_secret")) != (self.client_id, self.client_secret):
            raise SlackError("invalid_client_id")
        team_id = self._oauth_codes.pop(str(args.get("code", "")), None)
        if team_id is None:
            raise SlackError("invalid_code")
        token = f"xoxb-{team_id.lower()}-{secrets.token_hex(8)}"
        self._team_of_token[token] = team_id
        return {"access_token": token, "token_type": "bot", "scope": "chat:write,commands,users:read",
                "bot_user_id": BOT_USER_ID, "app_id": APP_ID, "team": {"id": team_id, "name": team_id},
                "enterprise": None, "is_enterprise_install": False,
                "authed_user": {"id": "U0INSTALLER", "scope": "", "token_type": "user"}}

    def _app_token_team(self, token: str | None) -> str:
        """apps.connections.open takes only an app-level token, as in Slack."""
        if token in self._team_of_token:
            raise SlackError("not_allowed_token_type")
        if token not in self.app_tokens:
            raise SlackError("invalid_auth")
        return self.team_id

    def _connections_open(self, _: Json) -> Json:
        """A fresh, single-use websocket URL for Socket Mode."""
        if self.socket_url is None:
            raise SlackError("socket_mode_disabled")  # stands for an app with Socket Mode turned off
        return {"url": self.socket_url()}

    def _check_workspace(self, channel: str) -> None:
        """A DM goes only to a user of the calling token's workspace, as in Slack."""
        user = self._state.users.get(channel[1:]) if channel.startswith("D") else None
        if user is not None and user["team_id"] != self._caller_team:
            raise SlackError("channel_not_found")

    def _post_message(self, args: Json) -> Json:
        channel = _channel(args)
        self._check_workspace(channel)
        _check_content(args)
        ts = self.new_ts()
        message = {"type": "message", "channel": channel, "ts": ts, "user": BOT_USER_ID, "bot_id": BOT_ID,
                   "app_id": APP_ID, "team": self.team_id, "text": args.get("text", ""),
                   "blocks": args.get("blocks", [])}
        if "thread_ts" in args:
            message["thread_ts"] = args["thread_ts"]
        self._state.messages[(channel, ts)] = message
        return {"channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _update(self, args: Json) -> Json:
        channel = _channel(args)
        key = (channel, str(args.get("ts", "")))
        if key not in self._state.messages:
            raise SlackError("message_not_found")
        _check_content(args)
        message = self._state.messages[key]
        message |= {k: args[k] for k in ("text", "blocks") if k in args}
        message["edited"] = {"user": BOT_USER_ID, "ts": self.new_ts()}
        return {"channel": channel, "ts": key[1], "text": message["text"], "message": copy.deepcopy(message)}

    def _post_ephemeral(self, args: Json) -> Json:
        channel = _channel(args)
        if not args.get("user"):
            raise SlackError("user_not_found")
        _check_content(args)
        ts = self.new_ts()
        self._state.ephemerals.append({"channel": channel, "user": args["user"], "ts": ts,
                                       "text": args.get("text", ""), "blocks": args.get("blocks", []),
                                       "is_ephemeral": True})
        return {"message_ts": ts}

    def _delete(self, args: Json) -> Json:
        channel = _channel(args)
        ts = str(args.get("ts", ""))
        if self._state.messages.pop((channel, ts), None) is None:
            raise SlackError("message_not_found")
        return {"channel": channel, "ts": ts}

    def _use_trigger(self, trigger_id: str | None) -> None:
        if not trigger_id:
            raise SlackError("invalid_arguments", "[ERROR] missing required field: trigger_id")
        used = self._state.triggers.get(trigger_id)
        if used is None:
            raise SlackError("invalid_trigger_id")
        if used:
            raise SlackError("exchanged_trigger_id")
        self._state.triggers[trigger_id] = True

    def _store_view(self, view: Any, view_id: str | None = None) -> Json:
        _check_view(view)
        view_id = view_id or f"V{next(self._seq):010d}"
        stored = {"id": view_id, "team_id": self.team_id, "app_id": APP_ID, "bot_id": BOT_ID,
                  "callback_id": "", "private_metadata": "", "external_id": "",
                  **copy.deepcopy(view), "state": {"values": {}}, "hash": f"{view_id}.{next(self._seq)}"}
        self._state.views[view_id] = stored
        return copy.deepcopy(stored)

    def apply_view_ack(self, view_id: str, submitted_hash: str | None, response: httpx.Response) -> None:
        """Do what Slack does with a view_submission ack of `response_action: update`.

        Slack applies the ack as it arrives, before any later `views.update`; here the driver hands
        the ack over only after reading the response, so a `views.update` the bot made meanwhile must
        win: the ack is applied only while the view is still the one that was submitted."""
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            return
        if isinstance(answer, dict) and answer.get("response_action") == "update":
            with self._lock:
                current = self._state.views.get(view_id)
                if current is not None and current.get("hash") == submitted_hash:
                    self._store_view(answer.get("view"), view_id)

    def _views_open(self, args: Json) -> Json:
        self._use_trigger(args.get("trigger_id"))
        return {"view": self._store_view(args.get("view"))}

    def _views_update(self, args: Json) -> Json:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next((v["id"] for v in self._state.views.values()
                            if v.get("external_id") == args["external_id"]), None)
        if not view_id or view_id not in self._state.views:
            raise SlackError("not_found")
        return {"view": self._store_view(args.get("view"), view_id)}

    def _views_publish(self, args: Json) -> Json:
        user_id = args.get("user_id")
        if user_id not in self._state.users:
            raise SlackError("user_not_found")
        view_id = next((v["id"] for v in self._state.views.values()
                        if v.get("type") == "home" and v.get("user_id") == user_id), None)
        view = args.get("view")
        _check_view(view)
        return {"view": self._store_view({**view, "user_id": user_id}, view_id)}

    def _conversations_open(self, args: Json) -> Json:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            raise SlackError("users_list_not_supplied")
        channel_id = dm_channel(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        return {"channel": {"id": channel_id}}

    def _users_info(self, args: Json) -> Json:
        user = self._state.users.get(str(args.get("user", "")))
        if user is None or user["team_id"] != self._caller_team:
            raise SlackError("user_not_found")
        return {"user": copy.deepcopy(user)}

    def _users_lookup_by_email(self, args: Json) -> Json:
        """Like Slack: only a user of the calling token's workspace; `users_not_found` otherwise."""
        email = str(args.get("email", "")).strip().lower()
        if not email:
            raise SlackError("invalid_arguments")
        user = next((u for u in self._state.users.values() if u["profile"]["email"].lower() == email
                     and u["team_id"] == self._caller_team), None)
        if user is None:
            raise SlackError("users_not_found")
        return {"user": copy.deepcopy(user)}


# --- request parsing and checks -----------------------------------------------------------------

async def _parse_args(request: Request) -> Json:
    """Arguments from the query string and a JSON or form body, as slack_sdk may send them."""
    args: Json = dict(request.query_params)
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    if raw and content_type.startswith("application/json"):
        args |= json.loads(raw)
    elif raw and content_type.startswith("application/x-www-form-urlencoded"):
        args |= dict(parse_qsl(raw.decode(), keep_blank_values=True))
    for key in _JSON_ARGS:
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(args[key])
    return args


def _basic(header: str | None) -> Json:
    if not header or not header.lower().startswith("basic "):
        return {}
    with contextlib.suppress(ValueError):
        client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        return {"client_id": client_id, "client_secret": client_secret}
    return {}


def _bearer(header: str | None) -> str | None:
    if header and header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def _channel(args: Json) -> str:
    """The channel a message goes to; a user id means the bot's DM with that user."""
    channel = str(args.get("channel") or "")
    if not channel:
        raise SlackError("channel_not_found")
    return dm_channel(channel) if channel[0] in "UW" else channel


def _check_content(args: Json) -> None:
    if not args.get("text") and not args.get("blocks"):
        raise SlackError("no_text")
    found = blockkit_rules.problems(args, "message")
    if found:
        raise SlackError("invalid_blocks", *found)


def _check_view(view: Any) -> None:
    """Slack answers a view it refuses with `invalid_arguments` (not `invalid_blocks`) and its reasons."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        raise SlackError("invalid_arguments", "[ERROR] missing required field: view")
    found = blockkit_rules.problems(view, view["type"])
    if found:
        raise SlackError("invalid_arguments", *found)


def view_dispatches(view: Json, block_id: str) -> bool:
    """Does the input block `block_id` send its value on Enter (`dispatch_action`)?"""
    return any(b.get("block_id") == block_id and b.get("type") == "input" and b.get("dispatch_action")
               for b in view.get("blocks") or [])


def _interactive_elements(block: Json) -> list[Json]:
    found = [e for e in block.get("elements", []) if isinstance(e, dict) and "action_id" in e]
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            found.append(block[key])
    return found


# --- the Slack side toward the bot --------------------------------------------------------------

def sign(signing_secret: str, timestamp: str | int, body: bytes) -> str:
    """Slack's request signature: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{body}"))."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


class SlackDriver:
    """Sends the bot what Slack would: signed slash commands, clicks and view submissions.

    Each call returns the bot's `httpx.Response`. Like Slack, it gives up if the bot does not
    answer within `timeout` seconds (Slack's ack deadline is 3 s). Pass `transport` to reach a
    bot in-process (e.g. `httpx.ASGITransport`).
    """

    def __init__(self, bot_url: str, signing_secret: str, standin: SlackStandIn, team_id: str = "T0TEAM",
                 *, timeout: float = 3.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.events_url = bot_url.rstrip("/") + "/slack/events"
        self.signing_secret = signing_secret
        self.standin = standin
        self.team_id = team_id
        self.timeout = timeout
        self.transport = transport

    async def send(self, body: bytes, content_type: str, *, timestamp: str | int | None = None,
                   signature: str | None = None) -> httpx.Response:
        """POST raw bytes, signed correctly unless `timestamp`/`signature` say otherwise."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": signature or sign(self.signing_secret, ts, body)}
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as client:
            return await client.post(self.events_url, content=body, headers=headers)

    async def slash_command(self, user_id: str, text: str, command: str = "/precoro",
                            channel_id: str | None = None, response_url: str | None = None) -> httpx.Response:
        """A slash command, by default typed in the user's DM with the bot."""
        channel_id = channel_id or dm_channel(user_id)
        response_url = response_url or self.standin.response_url(channel=channel_id, user_id=user_id)
        form = {
            "token": "verification-token-unused", "team_id": self.team_id, "team_domain": "standin",
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else channel_id.lower(),
            "user_id": user_id, "user_name": self._user_name(user_id), "command": command, "text": text,
            "api_app_id": APP_ID, "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self.standin.issue_trigger_id(),
        }
        return await self._send_form(form)

    async def ask(self, user_id: str, text: str, timeout: float = 10.0) -> str:
        """A slash command's answer as the user sees it: the acknowledgement's text, or else the
        first reply the bot posts to this command's own response_url."""
        response_url = self.standin.response_url(channel=dm_channel(user_id), user_id=user_id)
        response_id = response_url.rsplit("/", 1)[1]
        ack = await self.slash_command(user_id, text, response_url=response_url)
        if ack.content.strip():  # answered in the acknowledgement (JSON, or plain text)
            with contextlib.suppress(ValueError):
                body = ack.json()
                return str(body.get("text") or json.dumps(body)) if isinstance(body, dict) else str(body)
            return ack.text
        reply = await self.standin.wait_for(lambda: next(
            (r for r in self.standin.responses if r.response_id == response_id and r.body.get("text")), None),
            timeout=timeout)
        return str(reply.body["text"])

    async def click(self, user_id: str, message: Json, action_id: str) -> httpx.Response:
        """A click on the button `action_id` in `message` (a dict from `standin.messages` or
        `standin.ephemerals_for`)."""
        block_id, element = _find_action(message, action_id)
        channel, ts = message["channel"], message["ts"]
        ephemeral = bool(message.get("is_ephemeral"))
        payload: Json = {
            "type": "block_actions", **self._who(user_id),
            "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                          "is_ephemeral": ephemeral},
            "channel": {"id": channel, "name": "directmessage" if channel.startswith("D") else channel},
            "actions": [{"action_id": action_id, "block_id": block_id, "value": element.get("value"),
                         "type": element.get("type", "button"), "text": element.get("text"),
                         "action_ts": self.standin.new_ts()}],
            "state": {"values": {}},
            "response_url": self.standin.response_url(channel, user_id, ts, ephemeral),
            "trigger_id": self.standin.issue_trigger_id(),
        }
        if not ephemeral:  # Slack does not echo ephemeral messages back
            payload["message"] = {k: v for k, v in message.items() if k != "channel"}
        return await self._send_payload(payload)

    async def submit_view(self, user_id: str, view: Json,
                          values: dict[str, dict[str, Json]]) -> httpx.Response:
        """Submit a modal the bot opened, with `values[block_id][action_id] = {"type": ..., "value": ...}`."""
        submitted = {"id": "V_UNKNOWN", "team_id": self.team_id, "type": "modal", "callback_id": "",
                     "private_metadata": "", "app_id": APP_ID, "bot_id": BOT_ID,
                     **copy.deepcopy(view), "state": {"values": copy.deepcopy(values)}}
        payload = {"type": "view_submission", **self._who(user_id), "view": submitted,
                   "trigger_id": self.standin.issue_trigger_id(), "response_urls": []}
        response = await self._send_payload(payload)
        self.standin.apply_view_ack(submitted["id"], submitted.get("hash"), response)
        return response

    async def event(self, event: Json) -> httpx.Response:
        """An Events API `event_callback` carrying `event` (JSON, signed like Slack's)."""
        body = {"token": "verification-token-unused", "team_id": self.team_id, "api_app_id": APP_ID,
                "event": {"event_ts": self.standin.new_ts(), **copy.deepcopy(event)}, "type": "event_callback",
                "event_id": f"Ev{next(self.standin._seq):08d}", "event_time": int(time.time()),
                "authorizations": [{"team_id": self.team_id, "user_id": BOT_USER_ID, "is_bot": True,
                                    "is_enterprise_install": False}],
                "is_ext_shared_channel": False}
        return await self.send(json.dumps(body).encode(), "application/json")

    async def open_home(self, user_id: str) -> httpx.Response:
        """The user opens the app's Home tab (`app_home_opened`)."""
        return await self.event({"type": "app_home_opened", "user": user_id, "channel": dm_channel(user_id),
                                 "tab": "home"})

    async def click_in_view(self, user_id: str, view: Json, action_id: str, *, value: str | None = None,
                            values: dict[str, dict[str, Json]] | None = None,
                            choose: str | None = None, date: str | None = None, user: str | None = None,
                            typed: str | None = None) -> httpx.Response:
        """A click on the element `action_id` (the one whose value is `value`, if given) in a view
        (a Home tab or a modal from `standin.views` / `standin.home_of`); `values` is the view's state
        (checked boxes and inputs) as Slack sends it along; `choose` picks the option with that value
        of a select menu (it must be one of its options); `date` is a date picker's pick
        (YYYY-MM-DD), `user` a users_select's, `typed` the text entered in a dispatching input
        (Enter pressed). A view has no response_url."""
        block_id, element = _find_action(view, action_id, value)
        action: Json = {"action_id": action_id, "block_id": block_id, "type": element.get("type", "button"),
                        "action_ts": self.standin.new_ts()}
        if date is not None:
            action["selected_date"] = date
        elif user is not None:
            action["selected_user"] = user
        elif typed is not None:
            if element.get("type") != "plain_text_input" or not view_dispatches(view, block_id):
                raise LookupError(f"{action_id!r} is not an input that dispatches its value")
            action["value"] = typed
        elif choose is None:
            action |= {"value": element.get("value"), "text": element.get("text")}
        else:
            option = next((o for o in element.get("options") or [] if o.get("value") == choose), None)
            if option is None:
                raise LookupError(f"{action_id!r} offers no option {choose!r}")
            action["selected_option"] = copy.deepcopy(option)
        payload: Json = {
            "type": "block_actions", **self._who(user_id),
            "container": {"type": "view", "view_id": view.get("id", "")},
            "view": {**copy.deepcopy(view), "state": {"values": copy.deepcopy(values or {})}},
            "actions": [action],
            "trigger_id": self.standin.issue_trigger_id(),
        }
        return await self._send_payload(payload)

    def _who(self, user_id: str) -> Json:
        name = self._user_name(user_id)
        return {"user": {"id": user_id, "username": name, "name": name, "team_id": self.team_id},
                "team": {"id": self.team_id, "domain": "standin"},
                "api_app_id": APP_ID, "token": "verification-token-unused", "is_enterprise_install": False}

    def _user_name(self, user_id: str) -> str:
        user = self.standin.user(user_id)
        return user["name"] if user else user_id.lower()

    async def _send_form(self, form: dict[str, str]) -> httpx.Response:
        return await self.send(urlencode(form).encode(), "application/x-www-form-urlencoded")

    async def _send_payload(self, payload: Json) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        if len(body) > INTERACTION_PAYLOAD_MAX:
            raise SlackError("payload_too_large", f"[ERROR] interaction payload of {len(body)} bytes exceeds "
                                                  f"{INTERACTION_PAYLOAD_MAX}")
        return await self.send(body, "application/x-www-form-urlencoded")


def _find_action(message: Json, action_id: str, value: str | None = None) -> tuple[str, Json]:
    """The (block_id, element) of the interactive element `action_id` (with `value`, if given) in a
    message's or view's blocks."""
    for i, block in enumerate(message.get("blocks") or []):
        for element in _interactive_elements(block):
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                return block.get("block_id", f"standin-block-{i}"), element
    raise LookupError(f"no element with action_id {action_id!r} in {message.get('ts') or message.get('id')}")
