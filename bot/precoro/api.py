"""Every Precoro wire detail in one place: paths, headers, parameters, fields, formats.

Both the bot's client and the bundled emulator read these names, so a correction found
against the real API is a one-line change here. Items marked *unconfirmed* in
`shared/precoro-api.md` are kept tolerant (several spellings accepted when parsing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

# --- access -------------------------------------------------------------------------------
TOKEN_HEADER = "X-AUTH-TOKEN"
EMAIL_HEADER = "email"
ACCEPT = "application/json"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# --- document types (path segment -> human name) -----------------------------------------
DOCUMENT_TYPES: dict[str, str] = {
    "purchaserequisitions": "Purchase requisition",
    "purchaseorders": "Purchase order",
    "invoices": "Invoice",
    "expenses": "Expense",
    "receipts": "Receipt",
    "warehouserequests": "Warehouse request",
}
DEFAULT_DOCUMENT_TYPES: tuple[str, ...] = ("purchaseorders", "invoices")

# Web UI paths per document type, for the "Open in Precoro" link (*unconfirmed*).
WEB_PATHS: dict[str, str] = {
    "purchaserequisitions": "purchase/requisition",
    "purchaseorders": "purchase/order",
    "invoices": "invoice",
    "expenses": "expense",
    "receipts": "receipt",
    "warehouserequests": "warehouse/request",
}

# --- webhooks -------------------------------------------------------------------------------
# Precoro's own example body (help page "How to Set Up and Use Webhooks"):
# {"id":123456,"type":2,"action":0,"idn":5}. `id` is the entity's internal id, `idn` "the IDN of
# entity, if available" (a JSON number in the example; a string or absent otherwise), `action` 0
# create / 1 update. Unsigned: a hint to re-read, never the truth.
WEBHOOK_ID = "id"
WEBHOOK_TYPE = "type"
WEBHOOK_ACTION = "action"
WEBHOOK_IDN = "idn"
# Every `type` the page lists: a document type's path segment, or None for an entity that is not
# a document the bot shows (request for proposal, supplier, stock transfer, budget, custom fields).
WEBHOOK_TYPES: dict[int, str | None] = {
    0: "warehouserequests",
    1: "purchaserequisitions",
    2: "purchaseorders",
    3: "invoices",
    4: None,  # request for proposal
    5: "receipts",
    6: "expenses",
    7: None,  # supplier
    8: None,  # stock transfer
    9: None,  # budget
    10: None,  # document custom field
    11: None,  # item custom field
}
WEBHOOK_ACTIONS: dict[int, str] = {0: "create", 1: "update"}
IDN_MAX = 64  # the store's column; a longer "IDN" is not one


@dataclass(frozen=True)
class Webhook:
    """A Precoro webhook body, read: `doc_type` None for a type that is not a document the bot
    shows; `idn` None when the body names none ("if available"), then `entity_id` may find it."""

    kind: int
    action: str
    doc_type: str | None
    idn: str | None
    entity_id: int | None


def _count(value: Any) -> int | None:
    """A JSON non-negative integer (not a bool, not a float): Precoro's ids and numeric IDNs."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _webhook_idn(value: Any) -> tuple[bool, str | None]:
    """(readable, IDN): a string, or a non-negative integer written in decimal; (True, None) when
    absent or empty; (False, None) for anything else (a bool, a float, a negative, an object)."""
    if value is None or value == "":
        return True, None
    if isinstance(value, str):
        return len(value) <= IDN_MAX, value if len(value) <= IDN_MAX else None
    number = _count(value)
    return number is not None, None if number is None else str(number)


def parse_webhook(body: Any) -> Webhook | None:
    """A webhook body as Precoro sends it (number, string or absent IDN); None when it is not one:
    an unknown type or action, an IDN that is neither a string nor a non-negative integer, or a
    body naming no entity at all (neither id nor IDN)."""
    if not isinstance(body, dict):
        return None
    kind, action = _count(body.get(WEBHOOK_TYPE)), _count(body.get(WEBHOOK_ACTION))
    if kind not in WEBHOOK_TYPES or action not in WEBHOOK_ACTIONS:
        return None
    readable, idn = _webhook_idn(body.get(WEBHOOK_IDN))
    entity_id = _count(body.get(WEBHOOK_ID))
    if not readable or (idn is None and entity_id is None):
        return None
    return Webhook(kind, WEBHOOK_ACTIONS[action], WEBHOOK_TYPES[kind], idn, entity_id)


# --- statuses -------------------------------------------------------------------------------
STATUS_OPEN = 0
STATUS_PENDING = 1
STATUS_APPROVED = 2
STATUS_DENIED = 3
STATUS_ON_REVISION = 7
STATUS_CANCELED = 8
STATUS_NAMES: dict[int, str] = {
    STATUS_OPEN: "open",
    STATUS_PENDING: "pending",
    STATUS_APPROVED: "approved",
    STATUS_DENIED: "rejected",
    STATUS_ON_REVISION: "on revision",
    STATUS_CANCELED: "canceled",
    # The rest from a public client's invoice status map (hotgluexyz/tap-precoro, streams.py).
    4: "partly paid",
    5: "paid",
    6: "awaiting confirmation",
    9: "pending receipt",
    10: "approval review",
    11: "closed",
}

# --- list requests --------------------------------------------------------------------------
WAITING_PARAM = "waitingForApprove"
WAITING_PARAM_ALIASES = ("waitingForApprove", "waitingForapprove")
WAITING_VALUE = "yes"
STATUS_PARAM = "status[]"
MODIFIED_SINCE_PARAM = "modifiedSince"
MODIFIED_SINCE_FORMAT = "%Y-%m-%dT%H:%M:%S"
PAGE_PARAM = "page"
PER_PAGE_PARAM = "per_page"
PER_PAGE_CHOICES: tuple[int, ...] = (200, 100, 50, 20, 10)
# Identity check at registration: the cheapest list read there is.
CHECK_TYPE_DEFAULT = "purchaseorders"


def segment(value: str) -> str:
    """One path segment, percent-encoded so that it stays one segment and means only itself.

    Document numbers are data, not paths: `PO/2024/17` is common numbering, and a number like
    `PO-7/../../invoices/INV-1002` must not reach another document. Every character but RFC 3986's
    unreserved ones is encoded (`/` too), and a segment of dots (`.`, `..`) is encoded as `%2E`s,
    which clients (httpx keeps `%2E` as sent) and servers do not treat as dot segments.
    An empty value has no segment: ValueError rather than a path that names the list."""
    if not value:
        raise ValueError("an empty identifier cannot name a Precoro resource")
    encoded = quote(value, safe="")
    return "%2E" * len(value) if set(value) == {"."} else encoded


def path(*parts: str) -> str:
    """`/a/b/c` from raw identifiers, each encoded by `segment`: every Precoro path is built here."""
    return "".join("/" + segment(p) for p in parts)


def list_path(doc_type: str) -> str:
    return path(doc_type)


def document_path(doc_type: str, idn: str) -> str:
    return path(doc_type, idn)


def approve_path(doc_type: str, idn: str) -> str:
    return path(doc_type, idn, "approve")


def reject_path(doc_type: str, idn: str) -> str:
    return path(doc_type, idn, "reject")


REJECT_COMMENT_FIELD = "comment"
REJECT_COMMENT_MAX = 800

# --- list answers -----------------------------------------------------------------------------
LIST_DATA = "data"
LIST_META = "meta"
LIST_PAGINATION = "pagination"
HAS_NEXT_PAGE = "has_next_page"
# Older answers carry these instead of `has_next_page` (hotgluexyz/tap-precoro pages on either).
CURRENT_PAGE = "current_page"
TOTAL_PAGES = "total_pages"


def _page_number(value: Any) -> int | None:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def has_next_page(body: Any, *, items: int, per_page: int) -> bool:
    """Whether a list answer has a page after this one, in either of Precoro's shapes:
    `meta.pagination.has_next_page` (a bool) when present, else `current_page < total_pages`.

    With neither (our reading: no public evidence of such an answer), a short page proves the
    end, while a full one does not: the next page is read (an empty one ends it), so a missing
    field never hides documents; callers cap the number of pages. An empty page always ends it."""
    if items == 0:
        return False
    meta = body.get(LIST_META) if isinstance(body, dict) else None
    pagination = meta.get(LIST_PAGINATION) if isinstance(meta, dict) else None
    pagination = pagination if isinstance(pagination, dict) else {}
    flag = pagination.get(HAS_NEXT_PAGE)
    if isinstance(flag, bool):
        return flag
    current, total = _page_number(pagination.get(CURRENT_PAGE)), _page_number(pagination.get(TOTAL_PAGES))
    if current is not None and total is not None:
        return current < total
    return items >= per_page

# --- 429 answers -----------------------------------------------------------------------------
RATE_LIMIT_TYPE = "RateLimit-Type"
RATE_LIMIT_RETRY_AFTER = "RateLimit-Retry-After"
RATE_LIMIT_LIMIT = "RateLimit-Limit"
RETRY_AFTER_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
RATE_LIMIT_ERROR = "Too many requests for this endpoint"
# `RateLimit-Type` values: the duplicate-GET one is quoted by Precoro; the others are our reading.
RATE_LIMIT_TYPE_DUPLICATE = "Route based limiter by minute"
RATE_LIMIT_TYPE_CONCURRENCY = "Concurrency limiter by second"
RATE_LIMIT_TYPE_MINUTE = "Limiter by minute"
RATE_LIMIT_TYPE_HOUR = "Limiter by hour"
RATE_LIMIT_TYPE_DAY = "Limiter by day"
# Handled by name in the public clients hotgluexyz/tap-precoro (client.py) and
# hotgluexyz/target-precoro (client.py): the volume limiters as Precoro names them.
RATE_LIMIT_TYPE_DAILY = "Daily limiter"
RATE_LIMIT_TYPE_HOURLY = "Hourly limiter"
# Word stems that name a limit's window, whatever the rest of the name: "by minute", "Hourly",
# "by day", "Daily". Lower case; matched in a lower-cased `RateLimit-Type`.
LIMIT_WINDOW_STEMS: tuple[tuple[str, float], ...] = (
    ("second", 1.0), ("minute", 60.0), ("hour", 3600.0), ("day", 86400.0), ("daily", 86400.0),
)


def limit_window_seconds(limit_type: str) -> float | None:
    """The window (seconds) a `RateLimit-Type` names by its word stem; the longest when several
    match (the cautious reading); None for a name with no stem (some limit, window unknown)."""
    lowered = limit_type.lower() if isinstance(limit_type, str) else ""
    named = [seconds for stem, seconds in LIMIT_WINDOW_STEMS if stem in lowered]
    return max(named) if named else None


def format_retry_after(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime(RETRY_AFTER_FORMAT)


def parse_retry_after(text: str) -> float | None:
    """Parse Precoro's `RateLimit-Retry-After` (UTC, second precision) into epoch seconds."""
    try:
        moment = datetime.strptime(text.strip(), RETRY_AFTER_FORMAT)
    except (ValueError, AttributeError):
        return None
    return moment.replace(tzinfo=UTC).timestamp()


def format_modified_since(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime(MODIFIED_SINCE_FORMAT)


def parse_modified_since(text: str) -> float | None:
    try:
        moment = datetime.strptime(text.strip(), MODIFIED_SINCE_FORMAT)
    except (ValueError, AttributeError):
        return None
    return moment.replace(tzinfo=UTC).timestamp()


def web_link(web_url: str, doc_type: str, idn: str) -> str:
    """The document's page in Precoro's web app (*unconfirmed* path layout); the IDN is encoded
    like in API paths, so the link opens that document and no other."""
    return f"{web_url.rstrip('/')}/{WEB_PATHS.get(doc_type, segment(doc_type))}{path(idn)}"
