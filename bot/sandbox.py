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

from bot.emulator.slack import dm_channel
from bot.emulator.stack import ADMIN, SLACK_USERS, LocalStack
from bot.precoro import api

Json = dict[str, Any]
APPROVERS = ("alice", "bob", "carol")
SHOWN_REQUESTS = 40  # the latest Precoro requests on the page
POLL_SECONDS = 2.0  # each approver's list at most this often: a new document shows up within seconds


@dataclass
class Sandbox:
    stack: LocalStack
    submitted: set[str] = field(default_factory=set)  # modal ids already submitted (closed)
    _view_owner: dict[str, str] = field(default_factory=dict)  # modal id -> the Slack user whose click opened it

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
                  "ephemerals": [_plain(e.get("text", "")) for e in slack.ephemerals_for(SLACK_USERS[name])][-5:],
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
        return {"users": users, "admin": ADMIN, "documents": documents, "bot_url": self.stack.bot_url,
                "precoro_writes": [shown(r) for r in recorded if r.method != "GET"],
                "precoro_requests": [shown(r) for r in recorded[-SHOWN_REQUESTS:]]}

    def _open_form(self, user_id: str) -> Json | None:
        """The user's latest modal not yet submitted, with its text inputs."""
        modals = [v for v in self.stack.slack.views.values()
                  if v.get("type") == "modal" and v["id"] not in self.submitted]
        mine = [v for v in modals if self._opened_by(v) == user_id]
        if not mine:
            return None
        view = mine[-1]
        inputs = [{"block_id": b["block_id"], "action_id": b["element"]["action_id"],
                   "label": (b.get("label") or {}).get("text", ""), "type": b["element"].get("type")}
                  for b in view.get("blocks") or []
                  if b.get("type") == "input" and isinstance(b.get("element"), dict) and "block_id" in b]
        return {"view_id": view["id"], "title": (view.get("title") or {}).get("text", ""),
                "text": "\n".join(_block_lines(view.get("blocks") or [])), "inputs": inputs}

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
        message = self.stack.slack.messages.get((channel, ts))
        if user not in APPROVERS or message is None or channel != dm_channel(SLACK_USERS[user]):
            raise ValueError("no such message for that user")
        before = set(self.stack.slack.views)
        answer = await self.stack.driver.click(SLACK_USERS[user], message, action_id)
        for view_id in set(self.stack.slack.views) - before:  # a form this click opened
            self._view_owner[view_id] = SLACK_USERS[user]
        return {"status": answer.status_code}

    async def submit(self, user: str, view_id: str, values: dict[str, dict[str, str]]) -> Json:
        view = self.stack.slack.views.get(view_id)
        if user not in APPROVERS or view is None or self._view_owner.get(view_id) != SLACK_USERS[user]:
            raise ValueError("no such form for that user")
        inputs = {(i["block_id"], i["action_id"]): i["type"] for i in (self._open_form(SLACK_USERS[user]) or {})
                  .get("inputs", [])}
        state = {block: {action: {"type": inputs.get((block, action), "plain_text_input"), "value": str(text)}
                         for action, text in actions.items()} for block, actions in values.items()}
        answer = await self.stack.driver.submit_view(SLACK_USERS[user], view, state)
        body = answer.json() if answer.content else {}
        if not (isinstance(body, dict) and body.get("response_action") == "errors"):
            self.submitted.add(view_id)
        return {"status": answer.status_code, "answer": body}

    async def command(self, text: str) -> Json:
        """`/precoro <text>` typed by the admin; the answer as the admin sees it."""
        return {"answer": _plain(await self.stack.driver.ask(ADMIN, text))}


_STATUS = {api.STATUS_PENDING: "pending", api.STATUS_APPROVED: "approved", api.STATUS_DENIED: "rejected"}


async def _register(stack: LocalStack) -> None:
    for name in APPROVERS:
        await stack.register(name)


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text)


def _block_lines(blocks: list[Json]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and block.get("type") != "input":
            lines.append(text.get("text", ""))
        lines += [f.get("text", "") for f in block.get("fields") or []]
        lines += [e.get("text", "") for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
    return [_plain(line) for line in "\n".join(lines).splitlines() if line.strip()]


def _message(message: Json) -> Json:
    buttons = []
    for block in message.get("blocks") or []:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("type") == "button" and "action_id" in element:
                buttons.append({"action_id": element["action_id"], "label": element["text"]["text"],
                                "url": element.get("url")})
    return {"channel": message["channel"], "ts": message["ts"],
            "lines": _block_lines(message.get("blocks") or []) or [_plain(message.get("text", ""))],
            "buttons": buttons}


def page_app(sandbox: Sandbox) -> Starlette:
    async def page(_: Request) -> Response:
        return HTMLResponse((resources.files("bot") / "sandbox.html").read_text(encoding="utf-8"))

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
