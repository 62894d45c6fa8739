"""The doctor's verdicts: pure logic over the answers the probe recorded (no I/O, no clock).

Each check names one assumption the bot makes about Precoro, says what Precoro answered, gives
a verdict (confirmed, refuted, could not tell) and what the bot does about it: the tolerant
parser's choice, what it switches by itself at run time, a config change, or "stop: this bot
cannot work here". Any refuted check whose action stops makes `precoro-bot doctor` exit 1.

How each assumption is decided (the same list closes the README's setup section):
- answers parse: every answer is JSON of the expected form (lists `{"data": [...], "meta":
  {"pagination": ...}}`, documents bare objects); anything else is named with its endpoint and
  a safe excerpt.
- `waitingForApprove=yes`: every document it lists has this user among the current step's
  approvers (refuted: the bot lists pending documents and keeps the user's own, by step), and
  every pending document whose current step names this user is in it.
- approval steps: list items (and a document read alone) carry `approvalSteps` / `approvalStep`
  with approvers' emails, per type.
- `modifiedSince`: a list since the newest update time seen holds that document, one a second
  later does not (it filters on the update time, inclusive).
- duplicate GETs: the same list path with another query a second later (refused: keyed by
  route), then the very same URL again (refused: keyed by URL; answered: no duplicate rule).
  Token versus company keying needs two tokens: not told by one.
- visibility: the pending list holds documents this user neither created nor approves (whether
  it holds all of them only the running bot tells: `bot/sync/blind.py`).
- the token's company: any answer or header naming a company.
- web links: a URL field in the document; otherwise the link the bot would build, to open by hand.
- 429 bodies: `RateLimit-Type` and a parseable `RateLimit-Retry-After`, when a 429 was seen.

A check whose requests met a 429 the doctor did not ask for (another integration took the
company's second or filled a window; the probe asked again once if the wait was short, see
`bot/doctor/probe.py`) is not guessed: it says "could not tell: Precoro answered 429 (<type>)"
(`Row.blocked`), and `precoro-bot doctor` exits 1 while any check stays undecided like that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.precoro import api
from bot.precoro.answers import RawAnswer
from bot.precoro.models import Document, parse_document
from bot.sync import route


class Verdict(StrEnum):
    CONFIRMED = "confirmed"
    REFUTED = "refuted"
    UNKNOWN = "could not tell"


@dataclass(frozen=True)
class Seen:
    """One request of the probe and its answer."""

    step: str  # waiting, pending, repeat, document, since-at, since-after
    doc_type: str
    endpoint: str  # value-free: "GET /purchaseorders?page&per_page&waitingForApprove"
    answer: RawAnswer
    idn: str = ""  # the document read, or the one whose update time `since-*` used
    superseded: bool = False  # a 429 the doctor did not ask for, asked again since (the checks skip it)


@dataclass(frozen=True)
class Row:
    assumption: str
    answered: str
    verdict: Verdict
    action: str
    stop: bool = False  # the bot cannot work here as it is
    blocked: str = ""  # the RateLimit-Type of a 429 that kept this check from an answer

    @property
    def verdict_text(self) -> str:
        return (f"{self.verdict.value}: Precoro answered 429 ({self.blocked})" if self.blocked
                else self.verdict.value)


@dataclass(frozen=True)
class Observations:
    email: str  # the token owner's, as registered
    web_url: str
    types: tuple[str, ...]
    seen: tuple[Seen, ...]
    unchecked_types: tuple[str, ...] = ()  # left out to stay within the request budget
    blocked_by: str = ""  # the RateLimit-Type of a 429 that stopped the probe early


def _items(answer: RawAnswer) -> list[dict[str, Any]] | None:
    body = answer.json if answer.is_json else None
    data = body.get(api.LIST_DATA) if isinstance(body, dict) else None
    return [i for i in data if isinstance(i, dict)] if isinstance(data, list) else None


def _docs(seen: Seen) -> list[Document]:
    return [d for d in (parse_document(seen.doc_type, i) for i in _items(seen.answer) or []) if d is not None]


def _ok(seen: Seen) -> bool:
    return seen.answer.status == 200 and _items(seen.answer) is not None


def _find(obs: Observations, step: str, doc_type: str | None = None) -> list[Seen]:
    return [s for s in obs.seen if s.step == step and (doc_type is None or s.doc_type == doc_type)
            and not s.superseded]


RETRY_LATER = ("run the doctor again in a quieter minute (another integration of the company may be using "
               "Precoro's quota now)")


def _blocked(obs: Observations, steps: Sequence[str], doc_type: str | None = None) -> str:
    """The RateLimit-Type of a 429 that left one of `steps` (of `doc_type`) without an answer:
    asked and refused, or never asked because a 429 stopped the probe ("" if none)."""
    for step in steps:
        seen = _find(obs, step, doc_type)
        if not seen:
            if obs.blocked_by:
                return obs.blocked_by
            continue
        if not any(s.answer.status == 200 for s in seen):
            refused = next((s for s in seen if s.answer.status == 429), None)
            if refused is not None:
                return refused.answer.text_field(api.RATE_LIMIT_TYPE) or "no RateLimit-Type"
    return ""


def _undecided(name: str, kind: str) -> Row:
    return Row(name, f"Precoro answered 429 ({kind})", Verdict.UNKNOWN, RETRY_LATER, blocked=kind)


def _current_emails(doc: Document) -> set[str] | None:
    people = route.waiting_people(doc)
    return None if people is None else {p.email.strip().lower() for p in people if p.email}


def _involves(doc: Document, email: str) -> bool:
    emails = {doc.creator.email.strip().lower()}
    for step in doc.approval_steps:
        emails |= {p.email.strip().lower() for p in step.approvers}
    return email in emails


def check_answers(obs: Observations) -> Row:
    bad = []
    for s in obs.seen:
        a = s.answer
        if a.status is None:
            bad.append(f"{s.endpoint}: no answer ({a.error})")
        elif a.status == 429 and a.is_json:
            continue
        elif not a.is_json:
            bad.append(a.describe(s.endpoint))
        elif a.status == 200 and s.step == "document" and not isinstance(a.json, dict):
            bad.append(a.describe(s.endpoint, "the answer is not a document object"))
        elif a.status == 200 and s.step != "document" and _items(a) is None:
            bad.append(a.describe(s.endpoint, f"the answer has no '{api.LIST_DATA}' list"))
    if bad:
        return Row("Precoro answers JSON in the expected form", "; ".join(bad[:3]), Verdict.REFUTED,
                   "stop: the bot cannot read these answers (a proxy, a wrong base_url, or a changed API); "
                   "fix that first", stop=True)
    return Row("Precoro answers JSON in the expected form", f"{len(obs.seen)} answers, all JSON as expected",
               Verdict.CONFIRMED, "none")


def check_token(obs: Observations) -> Row:
    refused = [s for s in obs.seen if s.answer.status in (401, 403)]
    if refused:
        return Row("The token and email are accepted", f"{refused[0].endpoint} answered {refused[0].answer.status}",
                   Verdict.REFUTED, "stop: register a working token (Configuration → Integrations → API Key)",
                   stop=True)
    if not any(s.answer.status == 200 for s in obs.seen):
        if kind := _blocked(obs, ("waiting",)):
            return _undecided("The token and email are accepted", kind)
        return Row("The token and email are accepted", "no request was answered 200", Verdict.UNKNOWN,
                   "run the doctor again later")
    return Row("The token and email are accepted", "answered 200", Verdict.CONFIRMED, "none")


# What the bot does when `waitingForApprove` lists documents that do not wait for the user (the
# doctor records it; a poll that meets it switches by itself: bot/sync/adapt.py).
WAITING_FALLBACK = ("automatic: polls list every pending document (`status[]=1`) and keep those whose current "
                    "step names the approver (admins told once, shown in `/precoro status`); a type without "
                    "readable steps then reaches nobody: turn company discovery off for it or report it")


def check_waiting_filter(obs: Observations) -> Row:
    name = f"`{api.WAITING_PARAM}={api.WAITING_VALUE}` lists exactly this user's waiting documents"
    email = obs.email.strip().lower()
    listed, wrong, missing, unreadable = 0, [], [], 0
    for doc_type in obs.types:
        waiting = [s for s in _find(obs, "waiting", doc_type) if _ok(s)]
        pending = [s for s in _find(obs, "pending", doc_type) if _ok(s)]
        if not waiting:
            continue
        waiting_idns = set()
        for doc in _docs(waiting[0]):
            listed += 1
            waiting_idns.add(doc.idn)
            emails = _current_emails(doc)
            if emails is None:
                unreadable += 1
            elif email not in emails:
                wrong.append(f"{doc_type}/{doc.idn}")
        for doc in _docs(pending[0]) if pending else []:
            emails = _current_emails(doc)
            if emails is not None and email in emails and doc.idn not in waiting_idns:
                missing.append(f"{doc_type}/{doc.idn}")
    if wrong:
        return Row(name, f"{len(wrong)} of {listed} listed documents do not wait for this user (e.g. {wrong[0]})",
                   Verdict.REFUTED, WAITING_FALLBACK)
    if missing:
        return Row(name, f"{len(missing)} pending documents waiting for this user are not listed (e.g. {missing[0]})",
                   Verdict.REFUTED, "turn company discovery on: it reads each document's current step; "
                   "per-approver polls would miss these")
    if kind := next((k for t in obs.types if (k := _blocked(obs, ("waiting", "pending"), t))), ""):
        return _undecided(name, kind)  # what was not read cannot be judged, whatever the rest says
    if listed == 0 or unreadable == listed:
        return Row(name, "nothing waits for this user now" if listed == 0 else "listed documents carry no "
                   "readable approval step", Verdict.UNKNOWN, "run the doctor again with an approver who has "
                   "something waiting")
    return Row(name, f"{listed} listed, each waits for this user; no pending one missing", Verdict.CONFIRMED, "none")


def check_steps(obs: Observations, doc_type: str) -> Row:
    name = f"{api.DOCUMENT_TYPES.get(doc_type, doc_type)}: list items carry approval steps with approvers' emails"
    lists = [s for s in (*_find(obs, "pending", doc_type), *_find(obs, "waiting", doc_type)) if _ok(s)]
    docs = list({d.idn: d for s in lists for d in _docs(s) if d.is_pending}.values())
    if not docs and (kind := _blocked(obs, ("pending", "waiting"), doc_type)):
        return _undecided(name, kind)
    if not docs:
        return Row(name, "no pending document listed", Verdict.UNKNOWN,
                   "the bot tolerates both: discovery reads a document alone when its list item has no step, "
                   "and leaves the type to per-approver polls when that has none either")
    missing = [d for d in docs if _current_emails(d) is None]
    if not missing:
        keys = sorted(_step_keys(lists))
        return Row(name, f"{len(docs)} pending document(s), each with a readable current step (step fields: "
                   f"{', '.join(keys) or 'none'})", Verdict.CONFIRMED, "none")
    alone = [s for s in _find(obs, "document", doc_type) if s.answer.status == 200 and isinstance(s.answer.json, dict)]
    single = parse_document(doc_type, alone[0].answer.json) if alone else None
    if single is not None and _current_emails(single) is not None:
        return Row(name, f"{len(missing)} of {len(docs)} list items lack them; the document read alone has them",
                   Verdict.REFUTED, "discovery reads such documents alone (one GET each; automatic)")
    told = "the document read alone lacks them too" if alone else "no document was read alone"
    return Row(name, f"{len(missing)} of {len(docs)} list items lack them; {told}", Verdict.REFUTED,
               f"discovery leaves {doc_type} to per-approver polls (automatic; admins told once, shown in "
               "/precoro status)")


def _step_keys(lists: Iterable[Seen]) -> set[str]:
    keys: set[str] = set()
    for s in lists:
        for item in _items(s.answer) or []:
            step = item.get("approvalStep")
            if isinstance(step, dict):
                keys |= set(step)
    return keys


def check_document(obs: Observations) -> Row:
    name = "A document read alone is the bare object (not wrapped in `data`)"
    alone = [s for s in _find(obs, "document") if s.answer.status == 200]
    if not alone and (kind := _blocked(obs, ("document",))):
        return _undecided(name, kind)
    if not alone:
        return Row(name, "no document to read", Verdict.UNKNOWN, "none until one is read")
    body = alone[0].answer.json
    if isinstance(body, dict) and parse_document(alone[0].doc_type, body) is not None:
        return Row(name, "a bare document object", Verdict.CONFIRMED, "none")
    return Row(name, alone[0].answer.describe(alone[0].endpoint, "not a bare document"), Verdict.REFUTED,
               "stop: a click's look at the document and discovery would fail; report it", stop=True)


def check_modified_since(obs: Observations) -> Row:
    name = f"`{api.MODIFIED_SINCE_PARAM}` filters on the update time, inclusive"
    at, after = _find(obs, "since-at"), _find(obs, "since-after")
    if (not at or not after or not _ok(at[0]) or not _ok(after[0])) and (
            kind := _blocked(obs, ("since-at", "since-after"))):
        return _undecided(name, kind)
    if not at or not after or not _ok(at[0]) or not _ok(after[0]):
        return Row(name, "not asked (no document with an update time, or the request failed)", Verdict.UNKNOWN,
                   "discovery relies on it; per-approver polls do not")
    idn = at[0].idn
    present_at = any(d.idn == idn for d in _docs(at[0]))
    present_after = any(d.idn == idn for d in _docs(after[0]))
    if present_at and not present_after:
        return Row(name, "the document is listed since its update time and not a second later", Verdict.CONFIRMED,
                   "none")
    what = ("listed a second after its update time too (the filter is ignored or uses another date)"
            if present_after else "not listed since its own update time (exclusive, or another date)")
    return Row(name, f"the document is {what}", Verdict.REFUTED,
               "leave company discovery off for this company (`/precoro discovery off`); per-approver polls "
               "do not use it")


def check_duplicates(obs: Observations) -> list[Row]:
    """Two rows: route versus URL keying, and whether an identical URL is refused at all."""
    probe = _find(obs, "pending")
    repeat = _find(obs, "repeat")
    route_row: Row
    first = probe[0] if probe else None
    if first is None and obs.blocked_by:
        route_row = _undecided("Duplicate GETs are keyed by URL (a new query is a new GET)", obs.blocked_by)
    elif first is not None and first.answer.status == 429 and (
            kind := first.answer.text_field(api.RATE_LIMIT_TYPE)) != api.RATE_LIMIT_TYPE_DUPLICATE:
        route_row = _undecided("Duplicate GETs are keyed by URL (a new query is a new GET)",
                               kind or "no RateLimit-Type")
    elif first is None or first.answer.status is None:
        route_row = Row("Duplicate GETs are keyed by URL (a new query is a new GET)", "not asked", Verdict.UNKNOWN,
                        "the bot keys by URL and switches to route keying on Precoro's first such 429")
    elif first.answer.status == 429 and first.answer.text_field(api.RATE_LIMIT_TYPE) == api.RATE_LIMIT_TYPE_DUPLICATE:
        route_row = Row("Duplicate GETs are keyed by URL (a new query is a new GET)",
                        f"another query on the same path a second later: 429 "
                        f"({api.RATE_LIMIT_TYPE}: {api.RATE_LIMIT_TYPE_DUPLICATE})", Verdict.REFUTED,
                        "keyed by route: the bot reads each list path at most once a minute per company "
                        "(switched and remembered now; a running bot switches on its first such 429)")
    elif first.answer.status == 200:
        route_row = Row("Duplicate GETs are keyed by URL (a new query is a new GET)",
                        "another query on the same path a second later: 200", Verdict.CONFIRMED, "none")
    else:
        route_row = Row("Duplicate GETs are keyed by URL (a new query is a new GET)",
                        f"another query on the same path: {first.answer.status}", Verdict.UNKNOWN,
                        "the bot keys by URL and switches to route keying on Precoro's first such 429")
    rows = [route_row]
    if route_row.verdict is Verdict.REFUTED:
        rows.append(Row("An identical GET within a minute is refused", "implied by the route reading",
                        Verdict.CONFIRMED, "none"))
    elif route_row.blocked or (not repeat and obs.blocked_by):
        rows.append(_undecided("An identical GET within a minute is refused", route_row.blocked or obs.blocked_by))
    elif repeat and repeat[0].answer.status == 429 and (
            kind := repeat[0].answer.text_field(api.RATE_LIMIT_TYPE)) != api.RATE_LIMIT_TYPE_DUPLICATE:
        rows.append(_undecided("An identical GET within a minute is refused", kind or "no RateLimit-Type"))
    elif repeat and repeat[0].answer.status == 429:
        kind = repeat[0].answer.text_field(api.RATE_LIMIT_TYPE) or "no RateLimit-Type"
        rows.append(Row("An identical GET within a minute is refused", f"the same URL again: 429 ({kind})",
                        Verdict.CONFIRMED, "none: the bot never repeats a URL within a minute"))
    elif repeat and repeat[0].answer.status == 200:
        rows.append(Row("An identical GET within a minute is refused", "the same URL again: 200", Verdict.REFUTED,
                        "none: the bot keeps spacing identical URLs, which costs nothing measurable"))
    else:
        rows.append(Row("An identical GET within a minute is refused", "not asked", Verdict.UNKNOWN, "none"))
    rows.append(Row("Two tokens' identical GETs count as one (company-wide keying)",
                    "one token cannot tell", Verdict.UNKNOWN,
                    "the bot keys company-wide, the stricter reading (it costs nothing measurable: bench/README.md)"))
    return rows


def check_visibility(obs: Observations) -> Row:
    name = "This token sees every document of the company (fit for company discovery)"
    email = obs.email.strip().lower()
    docs = list({(d.doc_type, d.idn): d for s in _find(obs, "pending") if _ok(s) for d in _docs(s)}.values())
    if not docs and (kind := next((k for t in obs.types if (k := _blocked(obs, ("pending",), t))), "")):
        return _undecided(name, kind)
    if not docs:
        return Row(name, "no pending document listed", Verdict.UNKNOWN, "none until documents are pending")
    others = [d for d in docs if not _involves(d, email)]
    if others:
        return Row(name, f"{len(others)} of {len(docs)} pending documents neither created nor approved by this user",
                   Verdict.CONFIRMED, "it sees beyond its own documents; fit for `/precoro discovery` (whether "
                   "it sees all, the running bot checks: a type it misses is left to per-approver polls, admins "
                   "told once)")
    return Row(name, f"all {len(docs)} pending documents involve this user", Verdict.REFUTED,
               "do not use this token for discovery (or give its user a role that sees the whole company); "
               "per-approver polls are not affected")


def check_company(obs: Observations) -> Row:
    name = "Precoro says which company a token belongs to"
    found = sorted({k for s in obs.seen for k in _company_keys(s.answer.json if s.answer.is_json else None)}
                   | {h for s in obs.seen for h in s.answer.header_names if "company" in h})
    if found:
        return Row(name, f"fields {', '.join(found[:5])}", Verdict.CONFIRMED,
                   "none yet: the bot takes the company from config.yaml (a check at registration could use it)")
    return Row(name, "no answer or header names a company", Verdict.REFUTED,
               "the company comes from config.yaml; a token of another company shows empty lists, not an error")


def _company_keys(value: Any, depth: int = 0) -> set[str]:
    if depth > 4:
        return set()
    if isinstance(value, dict):
        keys = {k for k in value if "company" in k.lower()}
        for v in value.values():
            keys |= _company_keys(v, depth + 1)
        return keys
    if isinstance(value, list):
        return set().union(*(_company_keys(v, depth + 1) for v in value[:3])) if value else set()
    return set()


def check_web_link(obs: Observations) -> Row:
    name = "The web link layout (\"Open in Precoro\")"
    docs = [(s.doc_type, s.idn, s.answer.json) for s in _find(obs, "document") if s.answer.status == 200]
    if not docs or not isinstance(docs[0][2], dict):
        return Row(name, "no document read", Verdict.UNKNOWN, "open a document's link from a Slack message "
                   "and check it lands on the document")
    doc_type, idn, body = docs[0]
    urls = sorted(k for k, v in body.items() if isinstance(v, str) and v.startswith("http") and "attach" not in k)
    link = api.web_link(obs.web_url, doc_type, idn)
    if urls:
        return Row(name, f"the document has URL fields ({', '.join(urls)})", Verdict.UNKNOWN,
                   f"compare with the link the bot builds: {link}")
    return Row(name, "the API gives no web link", Verdict.UNKNOWN,
               f"open {link} in a browser: it must show {idn}; if not, fix WEB_PATHS in bot/precoro/api.py")


def check_rate_limit_body(obs: Observations) -> Row:
    name = "A 429 names its limit and when it frees"
    limited = [s for s in obs.seen if s.answer.status == 429]
    if not limited:
        return Row(name, "no 429 seen", Verdict.UNKNOWN, "the bot also accepts a Retry-After header, else waits "
                   "its own window")
    a = limited[0].answer
    kind, retry = a.text_field(api.RATE_LIMIT_TYPE), a.text_field(api.RATE_LIMIT_RETRY_AFTER)
    if kind and api.parse_retry_after(retry) is not None:
        return Row(name, f"{api.RATE_LIMIT_TYPE} and {api.RATE_LIMIT_RETRY_AFTER} present", Verdict.CONFIRMED,
                   "none")
    return Row(name, f"body fields: {', '.join(sorted(a.json)) if isinstance(a.json, dict) else 'none'}",
               Verdict.REFUTED, "the bot waits by Retry-After, else its own window (tolerant)")


def verdicts(obs: Observations) -> list[Row]:
    rows = [check_token(obs), check_answers(obs)]
    if rows[0].stop or rows[1].stop:
        return rows  # nothing else can be read from answers like these
    rows += [check_waiting_filter(obs), *(check_steps(obs, t) for t in obs.types), check_document(obs),
             check_modified_since(obs), *check_duplicates(obs), check_visibility(obs), check_company(obs),
             check_web_link(obs), check_rate_limit_body(obs)]
    for doc_type in obs.unchecked_types:
        rows.append(Row(f"{api.DOCUMENT_TYPES.get(doc_type, doc_type)}: answers as the others", "not asked "
                        "(request budget)", Verdict.UNKNOWN, "run the doctor with fewer types configured"))
    return rows


def table(rows: Sequence[Row]) -> str:
    """A plain-text table for the terminal (one block per assumption, wide fields wrapped)."""
    lines = []
    for i, r in enumerate(rows, 1):
        lines += [f"{i:2}. {r.assumption}", f"    Precoro: {r.answered}", f"    verdict: {r.verdict_text}",
                  f"    the bot: {r.action}", ""]
    return "\n".join(lines)
