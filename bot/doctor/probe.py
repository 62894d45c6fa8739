"""The doctor's request sequence: a few read-only GETs through the real client and quota gate.

At most `MAX_REQUESTS` requests, never a write: the probe only has `PrecoroClient.raw_get`. Each
request is booked in the company's quota ledger like any other (a running bot on the same
database counts them), spaced by the gate. Order matters for the duplicate-GET checks:

1. the waiting list of the first type (`waitingForApprove=yes`);
2. the pending list of the same path a second later (`status[]=1`): a duplicate 429 here means
   Precoro keys duplicates by route; it is then read again once that route frees;
3. the very same URL as 1 again (booked without its key, so the gate lets it through): a 429
   confirms URL keying, a 200 means identical GETs are not refused (skipped when route-keyed);
4. the waiting and pending lists of the other types (up to `MAX_TYPES` types in all);
5. one pending document read alone (one whose list item lacks steps, if any);
6. `modifiedSince` at the newest update time seen, then one second later.

With route keying, reads of one path wait out Precoro's minute: the doctor then takes minutes.

Another integration may take the company's second, or fill its hour, while the doctor runs: a
429 the doctor did not ask for (any 429 but the duplicate kind at steps 2 and 3) is asked again
once, after the time it names, if that is at most `RETRY_WAIT_SECONDS` away and fewer than
`MAX_RETRIES` were asked again already (the budget keeps room for them: `MAX_REQUESTS`). A 429
that names a longer wait stops the probe: nothing more can be learned before it frees, and every
check left says so ("could not tell: Precoro answered 429 (...)").
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.doctor.checks import Observations, Seen
from bot.doctor.shapes import answer_shape
from bot.precoro import api
from bot.precoro.answers import RawAnswer
from bot.precoro.client import Credentials, PrecoroClient
from bot.precoro.errors import QuotaDeferred
from bot.precoro.models import parse_document
from bot.sync import route

MAX_REQUESTS = 15
MAX_TYPES = 4  # 2 reads each, plus 5 others: 13 at most...
MAX_RETRIES = 2  # ...plus 2 asked again after a 429 the doctor did not ask for
RETRY_WAIT_SECONDS = 60.0  # the longest wait for such a 429 worth sitting out


class _Stop(Exception):
    """A 429 that frees later than the doctor waits: the probe ends (`Probe.blocked_by`)."""


def endpoint(path: str, params: list[tuple[str, str]]) -> str:
    """A request named without values (safe to print and record)."""
    names = "&".join(sorted({k for k, _ in params}))
    return f"GET {path}" + (f"?{names}" if names else "")


@dataclass
class Probe:
    client: PrecoroClient
    cred: Credentials
    types: tuple[str, ...]
    say: Callable[[str], None] = lambda _: None
    seen: list[Seen] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    _free_at: dict[str, float] = field(default_factory=dict)  # path -> when a duplicate 429 frees it
    retries: int = 0  # requests asked again after a 429 the doctor did not ask for
    blocked_by: str = ""  # the RateLimit-Type of the 429 that stopped the probe ("" if none did)

    @property
    def sent(self) -> int:
        return len(self.seen)

    async def _get(self, step: str, doc_type: str, path: str, params: list[tuple[str, str]], *,
                   template: str | None = None, idn: str = "", repeat: bool = False,
                   probing: bool = False) -> RawAnswer:
        """One request of the sequence. `probing`: a duplicate 429 is the answer sought (steps 2
        and 3); any other 429 is someone else's use of the quota, asked again if worth it."""
        answer = await self._ask(step, doc_type, path, params, template=template, idn=idn, repeat=repeat)
        kind = answer.text_field(api.RATE_LIMIT_TYPE)
        if answer.status != 429 or (probing and kind == api.RATE_LIMIT_TYPE_DUPLICATE):
            return answer
        clock = self.client.gate.clock
        retry = api.parse_retry_after(answer.text_field(api.RATE_LIMIT_RETRY_AFTER))
        wait = (retry + self.client.gate.policy(self.client.company).margin_seconds - clock.now()
                if retry is not None else math.inf)
        named = kind or "no RateLimit-Type"
        if wait > RETRY_WAIT_SECONDS:
            self.blocked_by = named
            self.say(f"Precoro answered 429 ({named}) and names no retry within {RETRY_WAIT_SECONDS:.0f} s: "
                     "stopping here")
            raise _Stop
        if self.retries >= MAX_RETRIES or self.sent >= MAX_REQUESTS:
            return answer  # left undecided: the checks say so
        self.retries += 1
        self.seen[-1] = dataclasses.replace(self.seen[-1], superseded=True)
        self.say(f"Precoro answered 429 ({named}): asking again in {max(0.0, wait):.0f} s")
        if kind == api.RATE_LIMIT_TYPE_DUPLICATE:  # that URL alone: the gate does not hold it
            self._free_at[path] = max(self._free_at.get(path, 0.0), clock.now() + max(0.0, wait))
        return await self._ask(step, doc_type, path, params, template=template, idn=idn, repeat=repeat)

    async def _ask(self, step: str, doc_type: str, path: str, params: list[tuple[str, str]], *,
                   template: str | None, idn: str, repeat: bool) -> RawAnswer:
        if self.sent >= MAX_REQUESTS:
            raise RuntimeError("the doctor's request budget is spent")  # a bug in the sequence, never Precoro's
        clock = self.client.gate.clock
        if (free := self._free_at.get(path, 0.0)) > clock.now():
            self.say(f"waiting {free - clock.now():.0f} s for Precoro's duplicate-GET minute on {path}")
            await clock.sleep(free - clock.now())
        name = endpoint(template or path, params)
        self.say(f"{self.sent + 1:2}. {name}")
        try:
            answer = await self.client.raw_get(self.cred, path, params, repeat_on_purpose=repeat)
        except QuotaDeferred:  # the company's gate is closed for longer than the doctor waits
            self.blocked_by = self.blocked_by or "the company's requests are paused by an earlier 429"
            raise _Stop from None
        self.seen.append(Seen(step, doc_type, name, answer, idn))
        self.shapes.append(answer_shape(f"{step} {doc_type}", name, answer))
        if answer.status == 429 and answer.text_field(api.RATE_LIMIT_TYPE) == api.RATE_LIMIT_TYPE_DUPLICATE:
            retry = api.parse_retry_after(answer.text_field(api.RATE_LIMIT_RETRY_AFTER))
            policy = self.client.gate.policy(self.client.company)
            self._free_at[path] = (retry if retry is not None else clock.now() + policy.duplicate_get_seconds) \
                + policy.margin_seconds
        return answer

    def _stopped(self, answer: RawAnswer) -> bool:
        """Nothing more to learn: the token is refused, or the answers are not Precoro's."""
        return answer.status in (401, 403) or answer.status is None or not answer.is_json

    async def run(self) -> Observations:
        types = self.types[:MAX_TYPES]
        with contextlib.suppress(_Stop):  # a 429 that frees too late: the checks not asked say so
            await self._sequence(types)
        return self._observations(types)

    async def _sequence(self, types: tuple[str, ...]) -> None:
        first = types[0]
        page = [(api.PAGE_PARAM, "1"), (api.PER_PAGE_PARAM, str(api.PER_PAGE_CHOICES[0]))]
        waiting = [(api.WAITING_PARAM, api.WAITING_VALUE), *page]
        pending = [(api.STATUS_PARAM, str(api.STATUS_PENDING)), *page]
        answer = await self._get("waiting", first, api.list_path(first), waiting)
        if self._stopped(answer):
            return
        answer = await self._get("pending", first, api.list_path(first), pending, probing=True)
        if answer.status == 429 and answer.text_field(api.RATE_LIMIT_TYPE) == api.RATE_LIMIT_TYPE_DUPLICATE:
            self.client.route_keyed = True  # from now on the gate spaces this path's reads by a minute
            await self._get("pending", first, api.list_path(first), pending)
        else:
            await self._get("repeat", first, api.list_path(first), waiting, repeat=True, probing=True)
        for doc_type in types[1:]:
            await self._get("waiting", doc_type, api.list_path(doc_type), waiting)
            await self._get("pending", doc_type, api.list_path(doc_type), pending)
        chosen = self._document_to_read()
        if chosen is not None:
            doc_type, idn = chosen
            await self._get("document", doc_type, api.document_path(doc_type, idn), [],
                            template=api.list_path(doc_type) + "/{idn}", idn=idn)
        newest = self._newest()
        if newest is not None:
            doc_type, idn, at = newest
            for step, moment in (("since-at", at), ("since-after", at + 1)):
                params = [(api.MODIFIED_SINCE_PARAM, api.format_modified_since(moment)), *page]
                await self._get(step, doc_type, api.list_path(doc_type), params, idn=idn)

    def _observations(self, types: tuple[str, ...]) -> Observations:
        return Observations(self.cred.email, "", types, tuple(self.seen), unchecked_types=self.types[len(types):],
                            blocked_by=self.blocked_by)

    def _listed(self) -> list[tuple[str, dict[str, Any]]]:
        return [(s.doc_type, item) for s in self.seen if s.step in ("waiting", "pending") and s.answer.status == 200
                and isinstance(s.answer.json, dict) and isinstance(s.answer.json.get(api.LIST_DATA), list)
                for item in s.answer.json[api.LIST_DATA] if isinstance(item, dict)]

    def _document_to_read(self) -> tuple[str, str] | None:
        """A pending document to read alone: one whose list item lacks a readable step first."""
        candidates = []
        for doc_type, item in self._listed():
            doc = parse_document(doc_type, item)
            if doc is not None and doc.is_pending:
                candidates.append((route.waiting_people(doc) is not None, doc_type, doc.idn))
        return min(candidates)[1:] if candidates else None

    def _newest(self) -> tuple[str, str, float] | None:
        """The listed document with the newest update time (to probe `modifiedSince` with)."""
        best: tuple[float, str, str] | None = None
        for doc_type, item in self._listed():
            doc = parse_document(doc_type, item)
            if doc is not None and doc.updated_at is not None:
                at = float(int(doc.updated_at.timestamp()))
                if best is None or at > best[0]:
                    best = (at, doc_type, doc.idn)
        return (best[1], best[2], best[0]) if best else None
