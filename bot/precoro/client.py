"""Async Precoro API client. Every request passes the company's quota gate first.

This is the one boundary where HTTP answers and transport failures become `errors` types.
Tokens travel only in headers and never appear in an error, a log line or a repr.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.precoro import api
from bot.precoro.answers import RawAnswer, describe_bad_answer
from bot.precoro.errors import (
    InvalidRequest,
    NotAllowed,
    NotFound,
    NotWaiting,
    PrecoroError,
    RateLimited,
    TokenRejected,
    TokenWithdrawn,
    Unavailable,
)
from bot.quota.gate import QuotaGate, get_key
from bot.quota.ledger import Lane, Spend, day_window_reset, retry_at_from_429
from bot.store.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

# What an HTTP header value may hold: visible ASCII, inner spaces. httpx raises UnicodeEncodeError
# on anything non-ASCII, h11 refuses control characters; neither is an answer from Precoro.
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def _credential_headers(cred: Credentials, where: str) -> dict[str, str]:
    """The token and email headers, or TokenRejected (the credentials cannot be Precoro's) when
    either cannot go into a header; the message names neither value."""
    if not (_HEADER_VALUE.fullmatch(cred.token) and _HEADER_VALUE.fullmatch(cred.email)):
        raise TokenRejected(f"{where}: the token or email holds characters a header cannot carry")
    return {api.TOKEN_HEADER: cred.token, api.EMAIL_HEADER: cred.email, "Accept": api.ACCEPT}

# Page-1 variants of the same list read: Precoro refuses an identical GET within 60 s, so a
# poll that would repeat a recent URL takes another page size instead of waiting.
_POLL_PAGE_SIZES = (200, 100, 50)
# Token checks read small pages that polls never ask for (sizes x pages), so a check never waits
# for a poll's URL to leave the duplicate window and a burst of registrations finds a free URL.
_CHECK_PAGE_SIZES = (20, 10)
_CHECK_PAGES = range(1, 9)
# At most this many pages of one list read (10,000 documents at 200 a page): a pagination field
# that never says "last page" cannot loop the bot through the quota.
MAX_PAGES = 50
# Called right before a write leaves (see `PrecoroClient.approve`).
BeforeSend = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Credentials:
    email: str
    token: str = field(repr=False)
    # Asked right before a request leaves the quota gate (after any wait for a slot): False when
    # the token may no longer be used (removed, refused, replaced), and nothing is sent.
    usable: Callable[[], Awaitable[bool]] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    has_next: bool


class PrecoroClient:
    """One company's Precoro API, as one approver (credentials are passed per call)."""

    def __init__(self, company: str, base_url: str, gate: QuotaGate, http: httpx.AsyncClient, *,
                 interactive_wait: float = 10.0, poll_wait: float = 2.0) -> None:
        self.company = company
        self.base_url = base_url.rstrip("/")
        self.gate = gate
        self.http = http
        self.interactive_wait = interactive_wait
        self.poll_wait = poll_wait
        # Duplicate GETs keyed by route (path, any query) instead of by URL: set once Precoro
        # showed it keys them so (`bot/sync/adapt.py`); every list read then shares one key.
        self.route_keyed = False
        # `waitingForApprove` found not honoured (`bot/sync/adapt.py`): the waiting list is read as
        # every pending document (`status[]=1`), and the poller keeps those whose current approval
        # step names the user (precoro-api.md's named fallback).
        self.waiting_filter_ignored = False
        # Told of every 429 (method, RateLimit-Type) after the gate was closed; never raises.
        self.on_rate_limit: Callable[[str, str], Awaitable[None]] | None = None
        self._checks = 0  # token checks made: they take turns over the document types

    # --- reads -------------------------------------------------------------------------------

    async def waiting_page(self, cred: Credentials, doc_type: str, *, page: int = 1,
                           per_page: int | None = None, lane: Lane = Lane.POLL) -> tuple[Page, int]:
        """One page of the documents waiting for this user (with `waiting_filter_ignored`: of every
        pending document this user sees; the caller keeps its own); returns (page, page size used)."""
        sizes = (per_page,) if per_page else _POLL_PAGE_SIZES
        selector = ((api.STATUS_PARAM, str(api.STATUS_PENDING)) if self.waiting_filter_ignored
                    else (api.WAITING_PARAM, api.WAITING_VALUE))
        variants = [[selector, (api.PAGE_PARAM, str(page)), (api.PER_PAGE_PARAM, str(size))] for size in sizes]
        body, chosen = await self._send("GET", api.list_path(doc_type), cred, lane, variants=variants)
        items = body.get(api.LIST_DATA) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise InvalidRequest(_bad_shape(f"GET {api.list_path(doc_type)}", body, f"no '{api.LIST_DATA}' list"))
        more = api.has_next_page(body, items=len(items), per_page=sizes[chosen])
        return Page([i for i in items if isinstance(i, dict)], more), sizes[chosen]

    async def check_token(self, cred: Credentials, doc_types: tuple[str, ...], *, lane: Lane,
                          hold_polls: bool = True) -> None:
        """One cheap read that Precoro answers only for a valid token and email (raises
        TokenRejected otherwise). Its URLs never collide with a poll's; successive checks take
        turns over the document types, which multiplies the free URLs."""
        doc_type = doc_types[self._checks % len(doc_types)]
        self._checks += 1
        variants = [[(api.WAITING_PARAM, api.WAITING_VALUE), (api.PAGE_PARAM, str(page)),
                     (api.PER_PAGE_PARAM, str(size))] for size in _CHECK_PAGE_SIZES for page in _CHECK_PAGES]
        await self._send("GET", api.list_path(doc_type), cred, lane, variants=variants, hold_polls=hold_polls)

    async def waiting_documents(self, cred: Credentials, doc_type: str,
                                lane: Lane = Lane.POLL) -> tuple[list[dict[str, Any]], int]:
        """Every document waiting for this user (all pages); returns (items, requests spent)."""
        page, size = await self.waiting_page(cred, doc_type, lane=lane)
        items, spent, number = list(page.items), 1, 1
        while page.has_next and number < MAX_PAGES:
            number += 1
            page, _ = await self.waiting_page(cred, doc_type, page=number, per_page=size, lane=lane)
            items.extend(page.items)
            spent += 1
        return items, spent

    async def list_documents(self, cred: Credentials, doc_type: str, filters: list[list[tuple[str, str]]], *,
                             sizes: tuple[int, ...] = (api.PER_PAGE_CHOICES[0],), lane: Lane = Lane.POLL,
                             max_pages: int = MAX_PAGES) -> tuple[list[dict[str, Any]], int]:
        """Every document of the list read with these filters (all pages); returns (items,
        requests spent). `filters` and `sizes` are equivalent alternatives: the first page may
        use any pair the quota gate finds free (never a URL repeated within Precoro's minute),
        the next pages keep it. Used by company discovery."""
        items: list[dict[str, Any]] = []
        chosen: list[tuple[list[tuple[str, str]], int]] = [(f, size) for f in filters for size in sizes]
        for number in range(1, max_pages + 1):
            variants = [[*f, (api.PAGE_PARAM, str(number)), (api.PER_PAGE_PARAM, str(size))] for f, size in chosen]
            body, picked = await self._send("GET", api.list_path(doc_type), cred, lane, variants=variants)
            chosen = [chosen[picked]]
            data = body.get(api.LIST_DATA) if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise InvalidRequest(_bad_shape(f"GET {api.list_path(doc_type)}", body, f"no '{api.LIST_DATA}' list"))
            items.extend(i for i in data if isinstance(i, dict))
            if not api.has_next_page(body, items=len(data), per_page=chosen[0][1]):
                return items, number
        return items, max_pages

    async def document(self, cred: Credentials, doc_type: str, idn: str,
                       lane: Lane = Lane.INTERACTIVE) -> dict[str, Any]:
        body, _ = await self._send("GET", api.document_path(doc_type, idn), cred, lane, variants=[[]],
                                   one_document=True)
        if not isinstance(body, dict):
            raise InvalidRequest(_bad_shape(f"GET {api.document_path(doc_type, idn)}", body, "not a document"))
        return body

    # --- actions -----------------------------------------------------------------------------

    # `before_send` runs once the quota slot is booked, right before the request leaves: the
    # decision outbox checks there that its attempt still holds the decision (and renews the lease);
    # whatever it raises stops the request, which is then never sent.

    async def approve(self, cred: Credentials, doc_type: str, idn: str, *,
                      before_send: BeforeSend | None = None) -> dict[str, Any]:
        body, _ = await self._send("POST", api.approve_path(doc_type, idn), cred, Lane.INTERACTIVE, form={},
                                   before_send=before_send)
        return body if isinstance(body, dict) else {}

    async def reject(self, cred: Credentials, doc_type: str, idn: str, comment: str, *,
                     before_send: BeforeSend | None = None) -> dict[str, Any]:
        form = {api.REJECT_COMMENT_FIELD: comment[: api.REJECT_COMMENT_MAX]}
        body, _ = await self._send("POST", api.reject_path(doc_type, idn), cred, Lane.INTERACTIVE, form=form,
                                   before_send=before_send)
        return body if isinstance(body, dict) else {}

    # --- raw reads (the doctor) -------------------------------------------------------------

    async def raw_get(self, cred: Credentials, path: str, params: list[tuple[str, str]], *,
                      repeat_on_purpose: bool = False, max_wait: float = 120.0) -> RawAnswer:
        """One GET through the quota gate, answered as it came (status, header names, body):
        never raises for an HTTP status and never parses. For `precoro-bot doctor`.

        `repeat_on_purpose` books the request without its duplicate-GET key, so the gate lets the
        doctor repeat a URL to see what Precoro says. A 429 of the duplicate kind limits that URL
        (or route) alone, so it does not close the company's gate: the doctor waits for it itself."""
        key = None if repeat_on_purpose else get_key(path, [] if self.route_keyed else params)
        ticket = await self.gate.acquire(self.company, Lane.POLL, get_keys=[key], max_wait=max_wait)
        headers = {api.TOKEN_HEADER: cred.token, api.EMAIL_HEADER: cred.email, "Accept": api.ACCEPT}
        status: int | None = None
        try:
            response = await self.http.request("GET", self.base_url + path, params=params or None, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            return RawAnswer(None, (), "", "", error=type(exc).__name__)
        finally:
            await self.gate.finish(ticket, status)
        answer = RawAnswer.of(status, response.headers, response.text)
        if status == 429:
            limit_type = answer.text_field(api.RATE_LIMIT_TYPE)
            if limit_type != api.RATE_LIMIT_TYPE_DUPLICATE:
                body = answer.json if isinstance(answer.json, dict) else {}
                retry_at = retry_at_from_429(body, response.headers, self.gate.clock.now(),
                                             self.gate.policy(self.company))
                await self.gate.block(self.company, retry_at, limit_type or "429")
        return answer

    # --- the boundary ------------------------------------------------------------------------

    async def _send(self, method: str, path: str, cred: Credentials, lane: Lane, *,
                    variants: list[list[tuple[str, str]]] | None = None,
                    form: dict[str, str] | None = None, one_document: bool = False,
                    before_send: BeforeSend | None = None, hold_polls: bool = True) -> tuple[Any, int]:
        headers = _credential_headers(cred, f"{method} {path}")  # before the gate: a refusal spends nothing
        keys: list[str | None] = ([get_key(path, [] if self.route_keyed else v) for v in variants]
                                  if method == "GET" and variants else [None])
        wait = self.interactive_wait if lane is Lane.INTERACTIVE else self.poll_wait
        ticket = await self.gate.acquire(self.company, lane, get_keys=keys, max_wait=wait, hold_polls=hold_polls)
        try:  # last words before the request leaves; either can stop it, and then nothing was sent
            if cred.usable is not None and not await cred.usable():
                raise TokenWithdrawn(f"{method} {path}: not sent, the token was withdrawn meanwhile")
            if before_send is not None:
                await before_send()  # e.g. a decision's attempt checks that it still holds its claim
        except BaseException:
            await self.gate.cancel(ticket)
            raise
        params = variants[ticket.variant] if variants else []
        where = f"{method} {path}"
        status: int | None = None
        try:
            response = await self.http.request(
                method, self.base_url + path, params=params or None, headers=headers,
                data=form if method != "GET" else None,
            )
            status = response.status_code
        except httpx.TimeoutException:
            raise Unavailable(f"{where}: Precoro did not answer in time") from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"{where}: connection failed ({type(exc).__name__})") from None
        finally:
            await self.gate.finish(ticket, status)
        log.debug("precoro %s -> %s (%s lane)", where, status, lane.value)
        try:
            return await self._answer(where, response, one_document=one_document), ticket.variant
        except RateLimited as exc:
            if self.on_rate_limit is not None:
                await self.on_rate_limit(method, exc.limit_type)
            raise

    async def _answer(self, where: str, response: httpx.Response, *, one_document: bool = False) -> Any:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
            if 200 <= status < 300 and where.startswith("GET"):  # an HTML page, an empty body...
                raise InvalidRequest(describe_bad_answer(where, status, response.text,
                                                         response.headers.get("content-type", "")),
                                     status=status) from None
        if 200 <= status < 300:
            return body
        detail = _message(body)
        if status != 429:
            self.gate.answered(self.company)
        if status == 429:
            now = self.gate.clock.now()
            fields = body if isinstance(body, dict) else {}
            lowered = {k.lower() for k in response.headers}
            bare = not any(k in fields for k in (api.RATE_LIMIT_TYPE, api.RATE_LIMIT_RETRY_AFTER)) and not any(
                k.lower() in lowered for k in (api.RATE_LIMIT_TYPE, api.RATE_LIMIT_RETRY_AFTER, "Retry-After"))
            policy = self.gate.policy(self.company)
            limit_type = str((body or {}).get(api.RATE_LIMIT_TYPE, "")) if isinstance(body, dict) else ""
            spends: list[Spend] | None = None
            day_reset: float | None = None  # without the ledger: capped by the windows alone
            try:
                spends = await self.gate.spends(self.company)
            except DATABASE_UNAVAILABLE:
                pass
            else:
                day_reset = day_window_reset(spends, policy, now)
            retry_at = retry_at_from_429(fields, response.headers, now, policy, day_reset_at=day_reset,
                                         bare_streak=self.gate.bare_429(self.company, bare))
            # The retry time is when Precoro's (fixed) window resets: what the 429 teaches about
            # other integrations ends there.
            if spends is not None and not bare and (
                    outside := self.gate.note_429(self.company, spends, limit_type, retry_at)) is not None:
                log.warning("precoro %s: 429 while the bot was within its share: another integration "
                            "used about %.0f requests of the %s window until its reset at %.0f", where,
                            outside.requests, f"{outside.seconds:.0f} s", outside.until)
            await self.gate.block(self.company, retry_at, limit_type or "429")
            log.warning("precoro %s: 429 (%s); company %s paused until %.0f", where, limit_type, self.company,
                        retry_at)
            raise RateLimited(f"{where}: rate limited ({limit_type or 'no type'})", retry_at=retry_at,
                              limit_type=limit_type)
        if status == 403 and one_document:
            # One document this user may not see: says nothing about the token.
            raise NotFound(f"{where}: not visible to this user (403)", status=status)
        if status == 401 or (status == 403 and where.startswith("GET")):
            raise TokenRejected(f"{where}: token refused ({status})", status=status)
        if status == 403:
            raise NotAllowed(f"{where}: not an approver of the current step ({detail})", status=status)
        if status == 404:
            raise NotFound(f"{where}: not found", status=status)
        if status == 400 and where.endswith(("/approve", "/reject")):
            raise NotWaiting(f"{where}: document is not waiting for approval ({detail})", status=status)
        if status >= 500:
            raise Unavailable(f"{where}: Precoro error {status}", status=status)
        if 400 <= status < 500:
            raise InvalidRequest(f"{where}: refused ({status}: {detail})", status=status)
        raise PrecoroError(f"{where}: unexpected status {status}", status=status)


def _bad_shape(where: str, body: Any, problem: str) -> str:
    try:
        text = json.dumps(body)[:2000]
    except (TypeError, ValueError):
        text = repr(body)[:2000]
    return describe_bad_answer(where, 200, text, problem=f"the answer has {problem}")


def _message(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if isinstance(body.get(key), str):
                return body[key][:200]
    return ""
