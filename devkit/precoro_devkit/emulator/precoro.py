"""A local Precoro: the REST API of `shared/precoro-api.md`, its limits and its failures.

All state (users, documents, quota counters, request log, injected faults) lives in one
`PrecoroEmulator` behind one lock, so tests may change it from another thread while uvicorn
serves `emulator.app`. Time comes from the injected `clock`, so a simulation can run a whole
virtual day through `httpx.ASGITransport` in seconds. Every wire name comes from `api`.

Quota rules, per company (all its tokens share them):
- every request with a known token counts in every window, whatever its answer (401, 404, 429...);
- windows `(seconds, limit[, name])`, by `window_mode`:
  - "sliding" (the default): 429 when `limit` requests of the company arrived in the last
    `seconds`; the answer names when the oldest of them leaves the window;
  - "fixed" (Precoro's own words: over a limit "all the subsequent requests will fail until the
    next minute/hour/day"): windows of a minute or more are aligned to the UTC clock (minutes,
    hours, days from midnight UTC) and count from zero at each boundary; 429 once `limit`
    requests of the company arrived in the current one, and `RateLimit-Retry-After` names its end;
  - "anchored" (the other reading of the same words): a window starts at the company's first
    request after the previous one ended, and ends `seconds` later;
  the shortest window (if <= 1 s) stays sliding in every mode (it is spacing, not volume) and also
  caps requests in flight at once;
- an identical GET (path + query, order-insensitive) within `duplicate_get_seconds` of the last
  one that was not refused by a limit: 429 (keyed by token + URL, or company + URL if strict;
  `duplicate_keying="route"` keys by company + path, the query ignored);
- when several limits are hit, the answer names the one that frees last.

Faults (`inject`, or `chaos` for random ones): "500", "429", "drop" (the connection breaks before
an answer) and "timeout" (no answer) leave Precoro unchanged; "timeout_after" performs the
request and then never answers, the lost answer a client must not mistake for a failure.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import secrets
import threading
import time
from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from bot.precoro import api

FAULT_KINDS = ("500", "timeout", "drop", "429", "timeout_after")
DUPLICATE_KEYINGS = ("token", "company", "route")
LIST_PAGINATIONS = ("both", "has_next_page", "pages", "none")
DOCUMENT_SHAPES = ("mixed", "lists", "wrapped", "strings")
SUMS = ("string", "number")
_COLLECTIONS = ("items", "comments", "attachments", "dataDocumentCustomFields", "approvalSteps")
WINDOW_MODES = ("sliding", "fixed", "anchored")
FIXED_WINDOW_MIN_SECONDS = 60.0  # shorter windows (the 1 s spacing) slide in every mode
PROXY_HTML = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
              "<p>The upstream server sent an invalid response. Contact it-support@proxy.example.com</p>"
              "</body></html>")
DEFAULT_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 1), (3600.0, 1500), (86400.0, 3000))
IDN_PREFIXES = {"purchaserequisitions": "PR", "purchaseorders": "PO", "invoices": "INV",
                "expenses": "EXP", "receipts": "REC", "warehouserequests": "WR"}
_WINDOW_NAMES = {1.0: api.RATE_LIMIT_TYPE_CONCURRENCY, 60.0: api.RATE_LIMIT_TYPE_MINUTE,
                 3600.0: api.RATE_LIMIT_TYPE_HOUR, 86400.0: api.RATE_LIMIT_TYPE_DAY}
_WRITES = frozenset({"POST", "PUT", "PATCH"})
_NOT_FOUND = {"message": "Not found"}


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised after the response has started: uvicorn then closes the socket mid-answer, and a
    client on `httpx.ASGITransport` gets this transport error directly."""


class _QuietDrops(logging.Filter):
    """Keep uvicorn from logging an injected drop as an application error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass
class EmUser:
    id: int
    name: str
    email: str
    token: str
    company: str
    is_admin: bool = False  # sees every document of the company
    active: bool = True  # a disabled token gets 401


@dataclass
class EmStep:
    name: str
    approver_ids: list[int]
    approved_by: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """A step is done once any one of its approvers approved."""
        return bool(self.approved_by)


@dataclass
class EmDocument:
    company: str
    doc_type: str
    id: int
    idn: str
    creator_id: int
    steps: list[EmStep]
    status: int = api.STATUS_PENDING
    sum: str = "120.00"
    currency: str = "USD"
    supplier: str = "Acme Supplies"
    location: str = "Main office"
    created_at: float = 0.0
    updated_at: float = 0.0
    items: list[dict[str, str]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    last_approver_id: int | None = None
    custom_fields: list[dict[str, str]] = field(default_factory=list)  # {"name", "value"}
    attachments: list[dict[str, Any]] = field(default_factory=list)  # {"id", "name", "url"}
    note: str = ""

    @property
    def current_step(self) -> EmStep | None:
        if self.status != api.STATUS_PENDING:
            return None
        return next((s for s in self.steps if not s.done), None)

    def waits_for(self, user_id: int) -> bool:
        step = self.current_step
        return step is not None and user_id in step.approver_ids and user_id not in step.approved_by

    def involves(self, user_id: int) -> bool:
        return user_id == self.creator_id or any(user_id in s.approver_ids for s in self.steps)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    token: str | None
    email: str | None
    company: str | None  # None when the token is unknown (such requests count for nobody)
    at: float
    form: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # None: no answer was sent (dropped, timed out)
    limit_type: str = ""  # RateLimit-Type of a 429
    applied: bool = False  # a write Precoro carried out (even if its answer was then lost)


@dataclass
class Fault:
    kind: str
    remaining: int
    path_contains: str | None = None
    answer: tuple[int, Any, dict[str, str]] | None = None  # kind "answer": status, body, headers
    token: str | None = None  # only requests with this token


@dataclass(frozen=True)
class Window:
    seconds: float
    limit: int
    name: str


class PrecoroEmulator:
    """One emulated Precoro instance (any number of companies); `app` serves it."""

    def __init__(self, clock: Callable[[], float] = time.time, *, strict_duplicates: bool = False,
                 windows: tuple[tuple[float, int] | tuple[float, int, str], ...] = DEFAULT_WINDOWS,
                 duplicate_get_seconds: float = 60.0, latency: float = 0.0,
                 fault_timeout: float = 30.0, duplicate_keying: str | None = None,
                 ignore_waiting_filter: bool = False, list_pagination: str = "both",
                 document_shape: str = "mixed", sums: str = "string", window_mode: str = "sliding") -> None:
        self.clock = clock
        # How answers are shaped, each a shape public evidence shows (tests/contract/precoro/):
        # `list_pagination` "both" | "has_next_page" | "pages" (current_page/total_pages only,
        # older answers) | "none" (no meta); `document_shape` "mixed" | "lists" | "wrapped" |
        # "strings" (see `shape_document`); `sums` "string" | "number".
        for name, value, choices in (("list_pagination", list_pagination, LIST_PAGINATIONS),
                                     ("document_shape", document_shape, DOCUMENT_SHAPES), ("sums", sums, SUMS)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {choices}")
        self.list_pagination, self.document_shape, self.sums = list_pagination, document_shape, sums
        self.strict_duplicates = strict_duplicates
        # What makes two GETs "identical": "token" (+ URL), "company" (+ URL) or "route" (company +
        # path, any query), one of the readings of Precoro's "Route based limiter by minute".
        self.duplicate_keying = duplicate_keying or ("company" if strict_duplicates else "token")
        if self.duplicate_keying not in DUPLICATE_KEYINGS:
            raise ValueError(f"duplicate_keying must be one of {DUPLICATE_KEYINGS}")
        # A proxy in front of Precoro answering HTML (status, matching path part or None for all):
        # such requests never reach Precoro and count for nobody.
        self.html_proxy: tuple[int, str | None] | None = None
        self.windows = tuple(sorted((_window(w) for w in windows), key=lambda w: w.seconds))
        if window_mode not in WINDOW_MODES:
            raise ValueError(f"window_mode must be one of {WINDOW_MODES}")
        self.window_mode = window_mode  # see the module docstring
        self._fixed: dict[tuple[str, float], tuple[float, int]] = {}  # (company, seconds) -> (start, count)
        self.duplicate_get_seconds = duplicate_get_seconds
        self.latency = latency  # real seconds each admitted request stays in flight
        self.fault_timeout = fault_timeout  # how long a "timeout" fault hangs unless the client leaves
        self.users: dict[int, EmUser] = {}
        self.documents: list[EmDocument] = []
        self.requests: list[RecordedRequest] = []
        self.rate_limited: Counter[str] = Counter()  # 429s answered, per company
        self.faults: list[Fault] = []
        # Document types answered without `approvalSteps` / `approvalStep` (lists and single
        # documents alike): how discovery meets an account or type that does not show them.
        self.stepless_types: set[str] = set()
        # `waitingForApprove` ignored: a list asking for it answers as if it were not there (every
        # document the user sees), one way the real filter may fail the bot's reading of it.
        self.ignore_waiting_filter = ignore_waiting_filter
        # Called (lock held) when an approval moves a document on to its next step.
        self.on_step: Callable[[EmDocument], None] | None = None
        self.faults_fired: Counter[str] = Counter()  # by kind, injected and random alike
        self._chaos: tuple[float, tuple[str, ...], random.Random, str | None] | None = None
        self._lock = threading.Lock()
        self._hits: dict[str, list[float]] = {}  # arrival times per company, sorted
        self._in_flight: Counter[str] = Counter()
        self._last_get: dict[tuple[str, str], float] = {}
        self._user_ids = itertools.count(1)
        self._doc_ids = itertools.count(1)
        self._idn_numbers: dict[str, itertools.count[int]] = {}
        self._supplier_ids: dict[str, int] = {}
        self._app = self._build_app()

    @property
    def app(self) -> Starlette:
        return self._app

    # --- setting the scene --------------------------------------------------------------------

    def add_user(self, company: str, name: str, email: str, token: str | None = None, *,
                 is_admin: bool = False) -> EmUser:
        with self._lock:
            token = token or secrets.token_hex(16)
            if any(u.token == token for u in self.users.values()):
                raise ValueError("token already in use")
            user = EmUser(next(self._user_ids), name, email, token, company, is_admin=is_admin)
            self.users[user.id] = user
            return user

    def add_document(self, company: str, doc_type: str, creator_id: int, approver_steps: list[list[int]],
                     sum: str = "120.00", supplier: str = "Acme Supplies", idn: str | None = None,
                     items: list[dict[str, str]] | None = None, *, currency: str = "USD",
                     location: str = "Main office", created_at: float | None = None) -> EmDocument:
        """A pending document whose chain has one step per list of approver ids."""
        with self._lock:
            if doc_type not in api.DOCUMENT_TYPES:
                raise ValueError(f"unknown document type {doc_type!r}")
            for uid in [creator_id, *itertools.chain.from_iterable(approver_steps)]:
                if uid not in self.users or self.users[uid].company != company:
                    raise ValueError(f"user {uid} is not in company {company!r}")
            if not approver_steps or not all(approver_steps):
                raise ValueError("every step needs at least one approver")
            if idn is None:
                numbers = self._idn_numbers.setdefault(doc_type, itertools.count(1001))
                idn = f"{IDN_PREFIXES.get(doc_type, doc_type.upper())}-{next(numbers)}"
            if self._find(company, doc_type, idn):
                raise ValueError(f"{doc_type}/{idn} already exists")
            self._supplier_ids.setdefault(supplier, len(self._supplier_ids) + 1)
            now = self.clock() if created_at is None else created_at
            doc = EmDocument(
                company, doc_type, next(self._doc_ids), idn, creator_id,
                steps=[EmStep(f"Step {i}", list(ids)) for i, ids in enumerate(approver_steps, 1)],
                sum=sum, currency=currency, supplier=supplier, location=location, created_at=now,
                updated_at=now, items=items if items is not None else [
                    {"name": "Goods and services", "quantity": "1", "price": sum}],
            )
            self.documents.append(doc)
            return doc

    # --- changes made "elsewhere" (Precoro's web UI), without a request ---------------------------

    def approve_as(self, user_id: int, doc_type: str, idn: str) -> EmDocument:
        """Approve as this user; ValueError if Precoro would refuse it."""
        with self._lock:
            user, doc = self._user_and_doc(user_id, doc_type, idn)
            if refused := self._refusal(user, doc):
                raise ValueError(refused[1]["message"])
            self._approve(user, doc)
            return doc

    def reject_as(self, user_id: int, doc_type: str, idn: str, comment: str = "Rejected") -> EmDocument:
        with self._lock:
            user, doc = self._user_and_doc(user_id, doc_type, idn)
            if refused := self._refusal(user, doc) or self._comment_refusal(comment):
                raise ValueError(refused[1]["message"])
            self._reject(user, doc, comment.strip())
            return doc

    def send_back_as(self, user_id: int, doc_type: str, idn: str, comment: str) -> EmDocument:
        """Send the document back to its requester for revision (status "on revision"), as an
        approver of its current step does in Precoro's web app; the reason is kept as a comment."""
        with self._lock:
            user, doc = self._user_and_doc(user_id, doc_type, idn)
            if refused := self._refusal(user, doc) or self._comment_refusal(comment):
                raise ValueError(refused[1]["message"])
            now = self.clock()
            doc.status, doc.updated_at = api.STATUS_ON_REVISION, now
            doc.comments.append({"text": comment.strip(), "user": self._person(user.id), "createDate": _iso(now)})
            return doc

    def edit_document(self, doc_type: str, idn: str, *, sum: str | None = None, note: str | None = None,
                      custom_fields: dict[str, str] | None = None, attachments: list[str] | None = None,
                      comment_by: int | None = None, comment: str = "") -> EmDocument:
        """Change a document as its requester would in Precoro's web app (its update date moves)."""
        with self._lock:
            doc = self._document(doc_type, idn)
            if sum is not None:
                doc.sum = sum
            if note is not None:
                doc.note = note
            if custom_fields is not None:
                doc.custom_fields = [{"name": k, "value": v} for k, v in custom_fields.items()]
            if attachments is not None:
                doc.attachments = [{"id": i, "name": name, "url": f"https://files.precoro.test/{doc.id}/{i}"}
                                   for i, name in enumerate(attachments, 1)]
            if comment_by is not None:
                doc.comments.append({"text": comment, "user": self._person(comment_by),
                                     "createDate": _iso(self.clock())})
            doc.updated_at = self.clock()
            return doc

    def withdraw(self, doc_type: str, idn: str) -> EmDocument:
        """The creator cancels the document (status canceled)."""
        with self._lock:
            doc = self._document(doc_type, idn)
            doc.status, doc.updated_at = api.STATUS_CANCELED, self.clock()
            return doc

    def restrict_role(self, user_id: int, *, sees_all: bool = False) -> EmUser:
        """Give the user a role that sees only the documents they created or approve (`sees_all`:
        the whole company again), as a Precoro role limited to locations or departments does."""
        with self._lock:
            user = self.users[user_id]
            user.is_admin = sees_all
            return user

    def disable_token(self, user_id: int) -> EmUser:
        with self._lock:
            self.users[user_id].active = False
            return self.users[user_id]

    def inject(self, kind: str, count: int = 1, path_contains: str | None = None) -> None:
        """Make the next `count` matching requests fail: "500", "timeout", "drop", "429" or
        "timeout_after" (carried out, then no answer)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")
        with self._lock:
            self.faults.append(Fault(kind, count, path_contains))

    def inject_answer(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None,
                      count: int = 1, path_contains: str | None = None, token: str | None = None) -> None:
        """Answer the next `count` matching requests (path, token) with exactly this status, body
        (JSON, or a str sent as HTML) and headers, Precoro changed in nothing: a 401 hiccup, a
        403 on one document, a 429 from a proxy or with chosen fields. The request still counts."""
        with self._lock:
            self.faults.append(Fault("answer", count, path_contains, (status, body, dict(headers or {})), token))

    def chaos(self, rate: float, kinds: tuple[str, ...] = FAULT_KINDS, *, seed: int = 0,
              path_contains: str | None = None) -> None:
        """Fail each matching request with probability `rate`, with a kind drawn from `kinds`
        (reproducible with `seed`); `rate` 0 stops it. Injected faults are used up first."""
        if any(k not in FAULT_KINDS for k in kinds) or not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be in [0, 1] and kinds among {FAULT_KINDS}")
        with self._lock:
            self._chaos = (rate, tuple(kinds), random.Random(seed), path_contains) if rate else None

    def proxy_answers_html(self, status: int | None = 502, path_contains: str | None = None) -> None:
        """From now on a proxy answers matching requests with an HTML page (`status` None: stop)."""
        with self._lock:
            self.html_proxy = None if status is None else (status, path_contains)

    # --- looking ------------------------------------------------------------------------------

    def document(self, doc_type: str, idn: str) -> EmDocument:
        with self._lock:
            return self._document(doc_type, idn)

    def waiting_for(self, user_id: int, doc_type: str) -> list[EmDocument]:
        with self._lock:
            company = self.users[user_id].company
            return [d for d in self.documents
                    if d.company == company and d.doc_type == doc_type and d.waits_for(user_id)]

    def quota_used(self, company: str, seconds: float) -> int:
        """Requests of the company counted in the last `seconds` (a sliding count, in every mode)."""
        with self._lock:
            hits = self._hits.get(company, [])
            return len(hits) - bisect_right(hits, self.clock() - seconds)

    def too_many(self, company: str | None = None) -> int:
        """429s answered to the company (to everyone if None)."""
        with self._lock:
            return self.rate_limited[company] if company else sum(self.rate_limited.values())

    # --- the HTTP side --------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        control = [
            Route("/requests", self._control(lambda: list(self.requests)), methods=["GET"]),
            Route("/documents", self._control(self.add_document), methods=["POST"]),
            Route("/approve_as", self._control(self.approve_as), methods=["POST"]),
            Route("/reject_as", self._control(self.reject_as), methods=["POST"]),
            Route("/withdraw", self._control(self.withdraw), methods=["POST"]),
            Route("/disable_token", self._control(self.disable_token), methods=["POST"]),
            Route("/faults", self._control(self.inject), methods=["POST"]),
        ]
        return Starlette(routes=[Mount("/_emulator", routes=control), Mount("", app=self._serve)])

    def _control(self, action: Callable[..., Any]) -> Callable[[Request], Awaitable[Response]]:
        """A `/_emulator/` endpoint: JSON body -> keyword arguments -> JSON answer (no auth, no quota)."""
        async def endpoint(request: Request) -> Response:
            try:
                kwargs = await request.json() if request.method == "POST" else {}
                result = action(**kwargs)
            except (ValueError, TypeError, KeyError) as exc:
                return JSONResponse({"message": str(exc)}, status_code=400)
            with self._lock:
                return JSONResponse(_plain(result))
        return endpoint

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every Precoro request: log, quota, faults, latency, then the API itself."""
        request = Request(scope, receive)
        # Routed on the path as sent (`raw_path`), split into segments and only then decoded, as
        # Precoro's router does: `PO%2F2024%2F17` is one IDN, `%2E%2E` a document named "..".
        # `path` (recorded) stays the encoded form the client put on the wire.
        method = request.method
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        body = await request.body() if method in _WRITES else b""
        form = _form(request.headers.get("content-type"), body)
        token, email = request.headers.get(api.TOKEN_HEADER), request.headers.get(api.EMAIL_HEADER)
        if (proxy := self.html_proxy) is not None and (proxy[1] is None or proxy[1] in path):
            with self._lock:
                self.requests.append(RecordedRequest(method, path, scope.get("query_string", b"").decode("latin-1"),
                                                     token, email, None, self.clock(), form or {}, proxy[0]))
            await HTMLResponse(PROXY_HTML, status_code=proxy[0])(scope, receive, send)
            return
        with self._lock:
            user = next((u for u in self.users.values() if token and u.token == token), None)
            query = scope.get("query_string", b"").decode("latin-1")
            rec = RecordedRequest(method, path, query, token, email, user.company if user else None,
                                  self.clock(), form or {})
            self.requests.append(rec)
            verdict = self._admit(rec)
        headers: dict[str, str] = {}
        if isinstance(verdict, tuple):
            status, payload = verdict[0], verdict[1]
            headers = verdict[2] if len(verdict) > 2 else {}
        elif verdict == "500":
            status, payload = 500, {"message": "Internal server error"}
        elif verdict == "drop":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
            raise ConnectionDropped("emulated connection drop")
        elif verdict == "timeout":
            if await self._hang(receive):
                return  # the client gave up: nothing to answer
            status, payload = 504, {"message": "Gateway timeout"}
        else:
            try:
                if self.latency:
                    await asyncio.sleep(self.latency)
                with self._lock:
                    status, payload = self._handle(user, email, method, path, request, form)
                    rec.applied = method in _WRITES and 200 <= status < 300
            finally:
                with self._lock:
                    self._in_flight[rec.company or ""] -= 1
            if verdict == "timeout_after" and await self._hang(receive):
                return  # done in Precoro, but the client never hears of it
        with self._lock:
            rec.status = status
        if isinstance(payload, str):  # an HTML page (a proxy's error page)
            await Response(payload, status_code=status, headers=headers, media_type="text/html")(scope, receive, send)
            return
        await JSONResponse(payload, status_code=status, headers=headers or None)(scope, receive, send)

    async def _hang(self, receive: Receive) -> bool:
        """Wait up to `fault_timeout` for the client to disconnect; True if it did."""
        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
        try:
            await asyncio.wait_for(disconnected(), self.fault_timeout)
        except TimeoutError:
            return False
        return True

    # --- quota (called with the lock held) -------------------------------------------------------

    def _admit(self, rec: RecordedRequest) -> tuple[Any, ...] | str | None:
        """Count the request; a 429 answer, a fault kind, or None (admitted and now in flight)."""
        company, now = rec.company, rec.at
        dup_key = self._duplicate_key(rec) if company is not None else None
        if company is not None and (hit := self._limit_hit(company, now, dup_key)):
            return self._too_many(rec, *hit)
        fault = next((f for f in self.faults if (f.path_contains is None or f.path_contains in rec.path)
                      and (f.token is None or f.token == rec.token)), None)
        if fault:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.faults.remove(fault)
        elif self._chaos is not None:
            rate, kinds, rng, where = self._chaos
            if (where is None or where in rec.path) and rng.random() < rate:
                fault = Fault(rng.choice(kinds), 0)
        if fault:
            self.faults_fired[fault.kind] += 1
        if fault and fault.kind == "429":
            return self._too_many(rec, api.RATE_LIMIT_TYPE_CONCURRENCY, now + 1.0, 1)
        if fault and fault.answer is not None:
            if fault.answer[0] == 429:
                self.rate_limited[company or ""] += 1
            return fault.answer
        if dup_key is not None:
            self._last_get[dup_key] = now
        if fault and fault.kind != "timeout_after":
            return fault.kind
        self._in_flight[company or ""] += 1
        return fault.kind if fault else None

    def _limit_hit(self, company: str, now: float,
                   dup_key: tuple[str, str] | None) -> tuple[str, float, int] | None:
        """Record the arrival; the (type, free-at, limit) of the limit that frees last, if any."""
        hits = self._hits.setdefault(company, [])
        horizon = max((w.seconds for w in self.windows), default=0.0)
        del hits[: bisect_right(hits, now - horizon)]
        found: list[tuple[str, float, int]] = []
        for w in self.windows:
            if self.window_mode != "sliding" and w.seconds >= FIXED_WINDOW_MIN_SECONDS:
                if (full := self._count_fixed(company, w, now)) is not None:
                    found.append((w.name, full, w.limit))
                continue
            recent = hits[bisect_right(hits, now - w.seconds):]
            if len(recent) >= w.limit:  # this request counts too: it frees when `limit - 1` remain
                occupied = sorted([*recent, now])
                found.append((w.name, occupied[len(occupied) - w.limit] + w.seconds, w.limit))
        if self.windows and self.windows[0].seconds <= 1.0:
            first = self.windows[0]
            if self._in_flight[company] >= first.limit:
                found.append((first.name, now + first.seconds, first.limit))
        if dup_key is not None:
            if len(self._last_get) > 10_000:
                self._last_get = {k: t for k, t in self._last_get.items()
                                  if now - t < self.duplicate_get_seconds}
            previous = self._last_get.get(dup_key)
            if previous is not None and now - previous < self.duplicate_get_seconds:
                found.append((api.RATE_LIMIT_TYPE_DUPLICATE, previous + self.duplicate_get_seconds, 1))
        insort(hits, now)
        return max(found, key=lambda f: f[1]) if found else None

    def _count_fixed(self, company: str, w: Window, now: float) -> float | None:
        """Count a request in the company's current fixed window `w`; its end if it was already full."""
        start, count = self._fixed.get((company, w.seconds), (-math.inf, 0))
        if now >= start + w.seconds:  # the window is over: a new one counts from zero
            start = math.floor(now / w.seconds) * w.seconds if self.window_mode == "fixed" else now
            count = 0
        self._fixed[(company, w.seconds)] = (start, count + 1)
        return start + w.seconds if count >= w.limit else None

    def window_end(self, company: str, seconds: float) -> float | None:
        """When the company's current fixed window of `seconds` ends (None: sliding, or none yet)."""
        with self._lock:
            start = self._fixed.get((company, float(seconds)), (None, 0))[0]
            return None if start is None else start + float(seconds)

    def _duplicate_key(self, rec: RecordedRequest) -> tuple[str, str] | None:
        if rec.method != "GET":
            return None
        if self.duplicate_keying == "route":
            return (rec.company or "", f"GET {rec.path.rstrip('/')}")
        query = urlencode(sorted(parse_qsl(rec.query, keep_blank_values=True)))
        who = rec.company if self.duplicate_keying == "company" else rec.token
        return (who or "", f"{rec.path.rstrip('/')}?{query}")

    def _too_many(self, rec: RecordedRequest, limit_type: str, free_at: float,
                  limit: int) -> tuple[int, dict[str, Any]]:
        self.rate_limited[rec.company or ""] += 1
        rec.limit_type = limit_type
        return 429, {"error": api.RATE_LIMIT_ERROR, api.RATE_LIMIT_TYPE: limit_type,
                     api.RATE_LIMIT_RETRY_AFTER: api.format_retry_after(math.ceil(free_at)),
                     api.RATE_LIMIT_LIMIT: limit}

    # --- the API (called with the lock held) -----------------------------------------------------

    def _handle(self, user: EmUser | None, email: str | None, method: str, path: str, request: Request,
                form: dict[str, str] | None) -> tuple[int, Any]:
        if (user is None or not user.active
                or (email or "").strip().lower() != user.email.strip().lower()):
            return 401, {"message": "Invalid credentials"}
        parts = segments(path)
        if not parts or parts[0] not in api.DOCUMENT_TYPES or len(parts) > 3:
            return 404, _NOT_FOUND
        doc_type, action = parts[0], parts[2] if len(parts) == 3 else None
        if action not in (None, "approve", "reject"):
            return 404, _NOT_FOUND
        if method != ("GET" if action is None else "POST"):
            return 405, {"message": "Method not allowed"}
        if len(parts) == 1:
            return self._list(user, doc_type, request)
        doc = self._find(user.company, doc_type, parts[1])
        if doc is None or not (user.is_admin or doc.involves(user.id)):
            return 404, _NOT_FOUND
        if action is None:
            return 200, self._render(doc)
        if form is None:
            return 415, {"message": f"Unsupported media type: send {api.FORM_CONTENT_TYPE}"}
        comment = form.get(api.REJECT_COMMENT_FIELD, "")
        refused = self._refusal(user, doc)
        if action == "reject":
            refused = refused or self._comment_refusal(comment)
        if refused:
            return refused
        if action == "approve":
            self._approve(user, doc)
        else:
            self._reject(user, doc, comment.strip())
        return 200, self._render(doc)

    def _list(self, user: EmUser, doc_type: str, request: Request) -> tuple[int, Any]:
        query = request.query_params
        try:
            statuses = {int(s) for s in query.getlist(api.STATUS_PARAM)}
            page = int(query.get(api.PAGE_PARAM, "1"))
            per_page = int(query.get(api.PER_PAGE_PARAM, "20"))
        except ValueError:
            return 400, {"message": "Invalid filter value"}
        if page < 1 or per_page not in api.PER_PAGE_CHOICES:
            return 400, {"message": f"{api.PER_PAGE_PARAM} must be one of {sorted(api.PER_PAGE_CHOICES)}"}
        since = None
        if (raw_since := query.get(api.MODIFIED_SINCE_PARAM)) is not None:
            since = api.parse_modified_since(raw_since)
            if since is None:
                return 400, {"message": f"Invalid {api.MODIFIED_SINCE_PARAM}"}
        waiting = not self.ignore_waiting_filter and any(
            query.get(name, "").lower() == api.WAITING_VALUE for name in api.WAITING_PARAM_ALIASES)
        found = [
            d for d in self.documents
            if d.company == user.company and d.doc_type == doc_type
            and (user.is_admin or d.involves(user.id))
            and (not waiting or d.waits_for(user.id))
            and (not statuses or d.status in statuses)
            and (since is None or d.updated_at >= since)
        ]
        chunk = found[(page - 1) * per_page: page * per_page]
        total_pages = max(1, math.ceil(len(found) / per_page))
        body: dict[str, Any] = {api.LIST_DATA: [self._render(d) for d in chunk]}
        if self.list_pagination != "none":
            pagination: dict[str, Any] = {"total": len(found), "count": len(chunk), "per_page": per_page}
            if self.list_pagination in ("both", "pages"):
                pagination |= {api.CURRENT_PAGE: page, api.TOTAL_PAGES: total_pages}
            if self.list_pagination in ("both", "has_next_page"):
                pagination[api.HAS_NEXT_PAGE] = page < total_pages
            body[api.LIST_META] = {api.LIST_PAGINATION: pagination}
        return 200, body

    def _refusal(self, user: EmUser, doc: EmDocument) -> tuple[int, dict[str, str]] | None:
        if doc.status != api.STATUS_PENDING:
            return 400, {"message": "Document is not waiting for approval"}
        if not doc.waits_for(user.id):
            return 403, {"message": "You are not an approver of the current step"}
        return None

    @staticmethod
    def _comment_refusal(comment: str) -> tuple[int, dict[str, Any]] | None:
        if not comment.strip():
            problem = "This value should not be blank."
        elif len(comment) > api.REJECT_COMMENT_MAX:
            problem = f"This value is too long. It should have {api.REJECT_COMMENT_MAX} characters or less."
        else:
            return None
        return 422, {"message": f"Invalid {api.REJECT_COMMENT_FIELD}: {problem}",
                     "errors": {api.REJECT_COMMENT_FIELD: problem}}

    def _approve(self, user: EmUser, doc: EmDocument) -> None:
        step = doc.current_step
        assert step is not None
        step.approved_by.append(user.id)
        doc.last_approver_id = user.id
        if all(s.done for s in doc.steps):
            doc.status = api.STATUS_APPROVED
        doc.updated_at = self.clock()
        if doc.status == api.STATUS_PENDING and self.on_step is not None:
            self.on_step(doc)

    def _reject(self, user: EmUser, doc: EmDocument, comment: str) -> None:
        now = self.clock()
        doc.status, doc.updated_at = api.STATUS_DENIED, now
        doc.comments.append({"text": comment, "user": self._person(user.id), "createDate": _iso(now)})

    # --- lookups and rendering (lock held) ----------------------------------------------------

    def _find(self, company: str, doc_type: str, idn: str) -> EmDocument | None:
        return next((d for d in self.documents
                     if d.company == company and d.doc_type == doc_type and d.idn == idn), None)

    def _document(self, doc_type: str, idn: str) -> EmDocument:
        doc = next((d for d in self.documents if d.doc_type == doc_type and d.idn == idn), None)
        if doc is None:
            raise KeyError(f"no document {doc_type}/{idn}")
        return doc

    def _user_and_doc(self, user_id: int, doc_type: str, idn: str) -> tuple[EmUser, EmDocument]:
        user = self.users[user_id]
        doc = self._find(user.company, doc_type, idn)
        if doc is None:
            raise KeyError(f"no document {doc_type}/{idn} in {user.company}")
        return user, doc

    def _person(self, user_id: int) -> dict[str, Any]:
        user = self.users[user_id]
        return {"id": user.id, "fullName": user.name, "email": user.email}

    def _render(self, doc: EmDocument) -> dict[str, Any]:
        """The document as Precoro's API answers it."""
        steps = [{"name": s.name, "position": i, "approved": s.done,
                  "approvers": [self._person(uid) for uid in s.approver_ids],
                  "approvedBy": [self._person(uid) for uid in s.approved_by]}
                 for i, s in enumerate(doc.steps, 1)]
        current = doc.current_step
        shown = doc.doc_type not in self.stepless_types
        return shape_document({
            "id": doc.id, "idn": doc.idn, "status": doc.status,
            "statusString": api.STATUS_NAMES.get(doc.status, ""),
            "sum": doc.sum, "netSum": doc.sum, "currency": doc.currency,
            "supplier": {"id": self._supplier_ids.get(doc.supplier, 0), "name": doc.supplier},
            "creator": self._person(doc.creator_id),
            "location": {"name": doc.location},
            "createDate": _iso(doc.created_at), "updateDate": _iso(doc.updated_at),
            "items": {"data": [dict(i) for i in doc.items]},
            "comments": [dict(c) for c in doc.comments],
            "attachments": [dict(a) for a in doc.attachments],
            "dataDocumentCustomFields": {"data": [dict(f) for f in doc.custom_fields]},
            "note": doc.note,
            **({"approvalSteps": steps,
                "approvalStep": next((steps[i] for i, s in enumerate(doc.steps) if s is current), None)}
               if shown else {}),
            "lastApprover": self._person(doc.last_approver_id) if doc.last_approver_id else None,
        }, self.document_shape, self.sums)


def shape_document(raw: dict[str, Any], shape: str, sums: str) -> dict[str, Any]:
    """A rendered document in one of the shapes public schemas allow (hotgluexyz/tap-precoro types
    each collection "object or array", `approvalStep`/`supplier`/`creator`/`location` "object or
    string", `lastApprover` "object or array", sums "number or string"):

    - "mixed" (the default): `items` and `dataDocumentCustomFields` wrapped, the rest lists;
    - "lists": every collection a plain list; "wrapped": every one a `{"data": [...]}` wrapper;
    - "strings": `supplier`, `creator`, `location` and `approvalStep` by name only (strings), and
      `lastApprover` a list (empty when nobody approved yet).
    `sums` "number": `sum` and `netSum` as JSON numbers."""
    out = dict(raw)
    if shape in ("lists", "wrapped"):
        for key in _COLLECTIONS:
            if key in out:
                value = out[key]
                items = value.get("data", []) if isinstance(value, dict) else value
                out[key] = {"data": items} if shape == "wrapped" else items
    if shape == "strings":
        for key in ("supplier", "location", "approvalStep"):
            if isinstance(out.get(key), dict):
                out[key] = str(out[key].get("name", ""))
        if isinstance(out.get("creator"), dict):
            out["creator"] = str(out["creator"].get("fullName", ""))
        out["lastApprover"] = [out["lastApprover"]] if out.get("lastApprover") else []
    if sums == "number":
        for key in ("sum", "netSum"):
            if isinstance(out.get(key), str):
                out[key] = _number(out[key])
    return out


def _number(text: str) -> int | float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def seed_demo(emulator: PrecoroEmulator) -> dict[str, EmUser]:
    """Company "acme": an admin, approvers alice, bob and carol, a pending PO and invoice."""
    users = {
        "admin": emulator.add_user("acme", "Dana Admin", "admin@example.com", "acme-admin-token",
                                   is_admin=True),
        "alice": emulator.add_user("acme", "Alice Archer", "alice@example.com", "acme-alice-token"),
        "bob": emulator.add_user("acme", "Bob Baker", "bob@example.com", "acme-bob-token"),
        "carol": emulator.add_user("acme", "Carol Chen", "carol@example.com", "acme-carol-token"),
    }
    admin, alice, bob, carol = (users[n].id for n in ("admin", "alice", "bob", "carol"))
    emulator.add_document("acme", "purchaseorders", admin, [[alice], [bob]], sum="1250.00",
                          supplier="Acme Supplies", items=[
                              {"name": "Office chair", "quantity": "5", "price": "250.00"}])
    emulator.add_document("acme", "invoices", admin, [[bob, carol], [alice]], sum="480.50",
                          supplier="Northwind Traders", items=[
                              {"name": "Printer paper (box)", "quantity": "10", "price": "48.05"}])
    return users


def segments(raw_path: str) -> list[str]:
    """The decoded segments of a path as sent: `/purchaseorders/PO%2F1/approve` ->
    ["purchaseorders", "PO/1", "approve"] (a trailing slash is ignored, an empty segment kept)."""
    trimmed = raw_path.strip("/")
    return [unquote(p, errors="replace") for p in trimmed.split("/")] if trimmed else []


def _window(spec: tuple[float, int] | tuple[float, int, str]) -> Window:
    seconds, limit = float(spec[0]), int(spec[1])
    name = spec[2] if len(spec) > 2 else _WINDOW_NAMES.get(seconds, f"Limiter by {seconds:g} seconds")
    return Window(seconds, limit, str(name))


def _form(content_type: str | None, body: bytes) -> dict[str, str] | None:
    """The form fields of a write; None if the body is not form-urlencoded."""
    media = (content_type or "").split(";")[0].strip().lower()
    if not body and not media:
        return {}
    if media != api.FORM_CONTENT_TYPE:
        return None
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return {"ok": True} if value is None else value
