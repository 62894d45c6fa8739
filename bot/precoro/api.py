"""Every Precoro wire detail in one place: paths, headers, parameters, fields, formats.

Both the bot's client and the bundled emulator read these names, so a correction found
against the real API is a one-line change here. Items marked *unconfirmed* in
`shared/precoro-api.md` are kept tolerant (several spellings accepted when parsing).
"""

from __future__ import annotations

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
# Precoro's webhook body: {"id": 123, "type": 3, "action": 1, "idn": "INV-42"}; unsigned, a hint only.
WEBHOOK_TYPES: dict[int, str] = {
    0: "warehouserequests", 1: "purchaserequisitions", 2: "purchaseorders", 3: "invoices", 5: "receipts",
    6: "expenses",
}
WEBHOOK_ACTIONS: dict[int, str] = {0: "create", 1: "update"}


def parse_webhook(body: Any) -> tuple[str, str, str] | None:
    """(document type, IDN, action) of a webhook body; None when it is not one we know."""
    if not isinstance(body, dict):
        return None
    kind, idn, action = body.get("type"), body.get("idn"), body.get("action")
    if isinstance(kind, bool) or not isinstance(kind, int) or kind not in WEBHOOK_TYPES:
        return None
    if isinstance(action, bool) or action not in WEBHOOK_ACTIONS:
        return None
    if not isinstance(idn, str) or not 0 < len(idn) <= 64:
        return None
    return WEBHOOK_TYPES[kind], idn, WEBHOOK_ACTIONS[action]


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


# --- webhooks: Precoro's numeric document type -> our path segment ----------------------------
WEBHOOK_TYPES: dict[int, str] = {
    0: "warehouserequests",
    1: "purchaserequisitions",
    2: "purchaseorders",
    3: "invoices",
    5: "receipts",
    6: "expenses",
}


def web_link(web_url: str, doc_type: str, idn: str) -> str:
    """The document's page in Precoro's web app (*unconfirmed* path layout); the IDN is encoded
    like in API paths, so the link opens that document and no other."""
    return f"{web_url.rstrip('/')}/{WEB_PATHS.get(doc_type, segment(doc_type))}{path(idn)}"
