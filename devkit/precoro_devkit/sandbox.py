"""`precoro-bot sandbox`: try the real bot locally, with no Slack or Precoro account.

It runs what the end-to-end tests run (`LocalStack`): the real server between the Precoro
emulator (with demo data) and the Slack stand-in, over real HTTP with signed Slack requests,
registers the demo approvers, and serves a small page where a newcomer plays Slack and Precoro:
add a document for an approver, watch the bot's direct message arrive, click Approve (or
Reject and fill in the form), run `/precoro` commands as the admin, and see each request
Precoro received and whose token it carried.

The page is plain HTML and a little JavaScript over a JSON API (`GET /api/state`,
`POST /api/documents`, `/api/click`, `/api/submit`, `/api/command`), which the tests use too.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.precoro import api
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack

Json = dict[str, Any]
APPROVERS = ("alice", "bob", "carol")
SHOWN_REQUESTS = 40  # the latest Precoro requests on the page
POLL_SECONDS = 2.0  # each approver's list at most this often: a new document shows up within seconds


@dataclass
class Sandbox:
    stack: LocalStack
    submitted: set[str] = field(default_factory=set)  # modal ids already submitted (closed)
    _view_owner: dict[str, str] = field(default_factory=dict)  # modal id -> the Slack user whose click opened it
    errors: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)  # view id -> (its hash, errors)

    @classmethod
    def start(cls, database_url: str) -> Sandbox:
        """The stack, with the demo approvers registered by the admin (as `/precoro register` would)."""
        stack = LocalStack.start(database_url, **{"scheduler.min_poll_interval_seconds": POLL_SECONDS})
        try:
            asyncio.run(_register(stack))
        except BaseException:
            stack.stop()
            raise
        return cls(stack)

    def stop(self) -> None:
        self.stack.stop()

    # --- what the page shows --------------------------------------------------------------------

    def state(self) -> Json:
        slack, precoro = self.stack.slack, self.stack.precoro
        users = [{"name": name, "slack_id": SLACK_USERS[name], "precoro_name": self.stack.users[name].name,
                  "email": self.stack.users[name].email, "token": self.stack.users[name].token,
                  "messages": [_message(m) for m in slack.messages_in(dm_channel(SLACK_USERS[name]))],
                  "ephemerals": [_ephemeral(e) for e in slack.ephemerals_for(SLACK_USERS[name])][-5:],
                  "form": self._open_form(SLACK_USERS[name])}
                 for name in APPROVERS]
        names = {u.id: key for key, u in self.stack.users.items()}
        by_token = {u.token: key for key, u in self.stack.users.items()}
        documents = [{"type": d.doc_type, "idn": d.idn, "sum": f"{d.sum} {d.currency}", "supplier": d.supplier,
                      "status": _STATUS.get(d.status, str(d.status)),
                      "waiting_for": [names.get(i, str(i)) for i in (d.current_step.approver_ids
                                                                   if d.current_step else [])]}
                     for d in list(precoro.documents)]
        recorded = list(precoro.requests)

        def shown(r: Any) -> Json:
            return {"method": r.method, "path": r.path, "status": r.status, "token": r.token,
                    "by": by_token.get(r.token or "", "?")}

        # The polls' GETs flood the log: the writes (approvals, rejections) are listed on their own.
        return {"users": users, "admin": ADMIN, "admin_form": self._open_form(ADMIN), "people": self.people(),
                "documents": documents, "bot_url": self.stack.bot_url,
                "precoro_writes": [shown(r) for r in recorded if r.method != "GET"],
                "precoro_requests": [shown(r) for r in recorded[-SHOWN_REQUESTS:]]}

    def people(self) -> dict[str, str]:
        """Slack id -> the name Slack shows for that person (the page draws `<@U…>` as that name)."""
        found = {user_id: self.stack.slack.user(user_id) for user_id in (ADMIN, *SLACK_USERS.values())}
        return {user_id: str(user.get("real_name") or user.get("name") or user_id)
                for user_id, user in found.items() if user}

    def _open_form(self, user_id: str) -> Json | None:
        """The user's latest modal still open: its blocks as the bot sent them (the page draws them)
        and the errors the bot answered to its last submission (`response_action: errors`)."""
        modals = [v for v in self.stack.slack.views.values()
                  if v.get("type") == "modal" and v["id"] not in self.submitted]
        mine = [v for v in modals if self._opened_by(v) == user_id]
        if not mine:
            return None
        view = mine[-1]
        errors_for, errors = self.errors.get(view["id"], ("", {}))
        return {"view_id": view["id"], "hash": view.get("hash", ""),
                "title": (view.get("title") or {}).get("text", ""),
                "submit": (view.get("submit") or {}).get("text", ""),
                "close": (view.get("close") or {}).get("text", "") or "Close",
                "blocks": view.get("blocks") or [], "inputs": _inputs(view),
                "text": "\n".join(_block_lines(view.get("blocks") or [])),
                "errors": errors if errors_for == view.get("hash", "") else {}}

    def _opened_by(self, view: Json) -> str | None:
        """Who a modal belongs to: the user whose click opened it (views.open names no user)."""
        return self._view_owner.get(view["id"])

    # --- what the page does ---------------------------------------------------------------------

    def add_document(self, approver: str, doc_type: str = "purchaseorders", amount: str = "99.00",
                     supplier: str = "Sandbox Supplies") -> Json:
        if approver not in APPROVERS:
            raise ValueError(f"approver must be one of {', '.join(APPROVERS)}")
        if doc_type not in api.DOCUMENT_TYPES:
            raise ValueError(f"type must be one of {', '.join(api.DOCUMENT_TYPES)}")
        if not re.fullmatch(r"\d{1,9}(\.\d{1,2})?", amount):
            raise ValueError("amount must be a number like 99.00")
        doc = self.stack.precoro.add_document("acme", doc_type, self.stack.users["admin"].id,
                                              [[self.stack.users[approver].id]], sum=amount,
                                              supplier=supplier[:80] or "Sandbox Supplies")
        return {"type": doc.doc_type, "idn": doc.idn}

    async def click(self, user: str, channel: str, ts: str, action_id: str) -> Json:
        """A click on a button of a message (or an ephemeral message) in the user's DM."""
        if user not in APPROVERS or channel != dm_channel(SLACK_USERS[user]):
            raise ValueError("no such message for that user")
        message = self.stack.slack.messages.get((channel, ts)) or next(
            (e for e in self.stack.slack.ephemerals_for(SLACK_USERS[user]) if e.get("ts") == ts), None)
        if message is None:
            raise ValueError("no such message for that user")
        before = set(self.stack.slack.views)
        answer = await self.stack.driver.click(SLACK_USERS[user], message, action_id)
        self._own(set(self.stack.slack.views) - before, SLACK_USERS[user])  # a form this click opened
        return {"status": answer.status_code}

    async def submit(self, user: str, view_id: str, values: dict[str, dict[str, Any]]) -> Json:
        """Submit the user's open form; `values[block_id][action_id]` is the text typed in a text
        input, or a select's, checkboxes' or date picker's state as Slack sends it (`selected_option`...).
        The bot's `response_action: errors` stay with the form (the page shows them by their fields);
        `update` keeps the form open with the view the bot put in its place."""
        owner = self._owner_id(user)
        view = self.stack.slack.views.get(view_id)
        if view is None or view_id in self.submitted or self._view_owner.get(view_id) != owner:
            raise ValueError("no such form for that user")
        if not isinstance(values, dict):
            raise ValueError("values must map block ids to {action_id: value}")
        types = _inputs(view)
        state: dict[str, dict[str, Json]] = {}
        for block, actions in values.items():
            if not isinstance(actions, dict):
                raise ValueError("values must map block ids to {action_id: value}")
            for action, value in actions.items():
                kind = next((i["type"] for i in types if (i["block_id"], i["action_id"]) == (block, action)), None)
                if kind is None:
                    raise ValueError(f"the form has no input {block}/{action}")
                given = {k: v for k, v in value.items() if k in _STATE_KEYS} if isinstance(value, dict) else {
                    "value": str(value)}
                state.setdefault(block, {})[action] = {"type": kind, **given}
        answer = await self.stack.driver.submit_view(owner, view, state)
        body = answer.json() if answer.content else {}
        action = body.get("response_action") if isinstance(body, dict) else None
        if action == "errors":
            self.errors[view_id] = (str(view.get("hash", "")), dict(body.get("errors") or {}))
        elif action != "update":
            self.submitted.add(view_id)
        return {"status": answer.status_code, "answer": body}

    def close(self, user: str, view_id: str) -> Json:
        """Cancel (or Close) on the user's open form: Slack just closes it."""
        if self._view_owner.get(view_id) != self._owner_id(user):
            raise ValueError("no such form for that user")
        self.submitted.add(view_id)
        return {"closed": view_id}

    async def command(self, text: str) -> Json:
        """`/precoro <text>` typed by the admin; the answer as the admin sees it (mrkdwn, the page
        draws it), or a form the command opened (`/precoro register @bob` opens the registration)."""
        driver, slack = self.stack.driver, self.stack.slack
        response_url = slack.response_url(channel=dm_channel(ADMIN), user_id=ADMIN)
        response_id = response_url.rsplit("/", 1)[1]
        before = set(slack.views)
        ack = await driver.slash_command(ADMIN, str(text), response_url=response_url)
        if ack.content.strip():
            try:
                body = ack.json()
            except ValueError:
                return {"answer": ack.text}
            return {"answer": str(body.get("text") or "") if isinstance(body, dict) else str(body)}

        def outcome() -> Json | None:
            opened = set(slack.views) - before
            if opened:
                self._own(opened, ADMIN)
                return {"answer": "", "opened": sorted(opened)}
            reply = next((r for r in slack.responses if r.response_id == response_id and r.body.get("text")), None)
            return {"answer": str(reply.body["text"])} if reply else None

        try:
            return await slack.wait_for(outcome, timeout=15.0, interval=0.1)
        except TimeoutError:
            return {"answer": "(no answer from the bot within 15 s)"}

    def _own(self, view_ids: set[str], user_id: str) -> None:
        for view_id in view_ids:
            self._view_owner.setdefault(view_id, user_id)

    @staticmethod
    def _owner_id(user: str) -> str:
        if user == "admin":
            return ADMIN
        if user in APPROVERS:
            return SLACK_USERS[user]
        raise ValueError("no such form for that user")


_STATUS = {api.STATUS_PENDING: "pending", api.STATUS_APPROVED: "approved", api.STATUS_DENIED: "rejected"}


async def _register(stack: LocalStack) -> None:
    for name in APPROVERS:
        await stack.register(name)


_STATE_KEYS = ("value", "selected_option", "selected_options", "selected_date", "selected_user")


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text)


def _block_lines(blocks: list[Json]) -> list[str]:
    """The blocks' texts, one per line (what `lines` carries for scripts; the page draws the blocks)."""
    lines: list[str] = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and block.get("type") != "input":
            lines.append(text.get("text", ""))
        lines += [f.get("text", "") for f in block.get("fields") or []]
        lines += [e.get("text", "") for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
    return [_plain(line) for line in "\n".join(lines).splitlines() if line.strip()]


def _inputs(view: Json) -> list[Json]:
    """A view's input blocks: block_id, action_id, label and element type."""
    return [{"block_id": b["block_id"], "action_id": b["element"]["action_id"],
             "label": (b.get("label") or {}).get("text", ""), "type": b["element"].get("type")}
            for b in view.get("blocks") or []
            if b.get("type") == "input" and isinstance(b.get("element"), dict) and "block_id" in b
            and "action_id" in b["element"]]


def _buttons(blocks: list[Json]) -> list[Json]:
    buttons = []
    for block in blocks:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("type") == "button" and "action_id" in element:
                buttons.append({"action_id": element["action_id"], "label": element["text"]["text"],
                                "url": element.get("url")})
    return buttons


def _message(message: Json) -> Json:
    """A message as the page gets it: its blocks and fallback text as the bot sent them (the page
    draws them as Slack does), plus `lines` and `buttons` for scripts."""
    blocks = message.get("blocks") or []
    return {"channel": message["channel"], "ts": message["ts"], "thread_ts": message.get("thread_ts"),
            "text": message.get("text", ""), "blocks": blocks,
            "lines": _block_lines(blocks) or [_plain(message.get("text", ""))], "buttons": _buttons(blocks)}


def _ephemeral(message: Json) -> Json:
    return {**_message(message), "ephemeral": True}


def page_app(sandbox: Sandbox) -> Starlette:
    async def page(_: Request) -> Response:
        return HTMLResponse((resources.files("precoro_devkit") / "sandbox.html").read_text(encoding="utf-8"))

    async def state(_: Request) -> Response:
        return JSONResponse(sandbox.state())

    def action(fn: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("send a JSON object")
                result = fn(**{k: v for k, v in body.items() if isinstance(k, str)})
                if asyncio.iscoroutine(result):
                    result = await result
            except (ValueError, TypeError, LookupError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse(result)
        return endpoint

    return Starlette(routes=[
        Route("/", page, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/documents", action(sandbox.add_document), methods=["POST"]),
        Route("/api/click", action(sandbox.click), methods=["POST"]),
        Route("/api/submit", action(sandbox.submit), methods=["POST"]),
        Route("/api/close", action(sandbox.close), methods=["POST"]),
        Route("/api/command", action(sandbox.command), methods=["POST"]),
    ])


def run_sandbox(*, host: str = "127.0.0.1", port: int = 8080, database_url: str | None = None) -> int:
    """Serve the page on host:port until Ctrl-C or SIGTERM (the rest on free loopback ports)."""
    from bot.logs import setup_logging
    from bot.serving import bind, serve_until_stopped

    setup_logging("WARNING")
    sock = bind(host, port, "pass another --port")  # first: a port in use is one line before anything starts
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.start(database_url or f"sqlite:///{Path(tmp) / 'sandbox.db'}")
        try:
            shown = f"[{host}]" if ":" in host else host
            print(f"sandbox ready: open http://{shown}:{sock.getsockname()[1]}/\n"
                  f"  the bot: {sandbox.stack.bot_url} (Slack stand-in {sandbox.stack.servers[1].url}, "
                  f"Precoro emulator {sandbox.stack.servers[0].url})\n"
                  f"  approvers alice, bob and carol are registered; Ctrl-C stops everything", flush=True)
            return serve_until_stopped(page_app(sandbox), sock)
        finally:
            sandbox.stop()
