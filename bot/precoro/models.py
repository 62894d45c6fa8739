"""Typed, tolerant views of Precoro documents.

Real answers vary by document type and account settings, so parsing never fails on a
missing or oddly typed field: it keeps what is present and leaves the rest empty.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.precoro import api


@dataclass(frozen=True)
class Person:
    name: str = ""
    email: str = ""


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: str = ""
    price: str = ""


@dataclass(frozen=True)
class CustomField:
    name: str
    value: str


@dataclass(frozen=True)
class Attachment:
    name: str
    url: str = ""  # only an http(s) URL Precoro gave; the bot never builds API links (they need a token)


@dataclass(frozen=True)
class Comment:
    text: str
    author: Person = field(default_factory=Person)
    at: datetime | None = None


@dataclass(frozen=True)
class ApprovalStep:
    name: str
    approvers: tuple[Person, ...] = ()
    done: bool = False
    approved_by: tuple[Person, ...] = ()  # *unconfirmed* field name (`approvedBy`); empty when absent


@dataclass(frozen=True)
class Document:
    """One document as the bot needs it: what, who asked, supplier, amount, when."""

    doc_type: str
    id: int
    idn: str
    status: int | None = None
    status_text: str = ""
    total: Decimal | None = None
    currency: str = ""
    supplier: str = ""
    creator: Person = field(default_factory=Person)
    location: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    items: tuple[LineItem, ...] = ()
    approval_steps: tuple[ApprovalStep, ...] = ()
    current_step: ApprovalStep | None = None
    last_approver: Person | None = None  # `lastApprover`: who approved most recently, when present
    custom_fields: tuple[CustomField, ...] = ()  # `dataDocumentCustomFields.data[]`, those with a value
    attachments: tuple[Attachment, ...] = ()
    comments: tuple[Comment, ...] = ()
    note: str = ""  # the requester's own text on the document (*unconfirmed* field: note / description)

    @property
    def requester_comment(self) -> str:
        """The requester's word: the document's note, else the latest comment by its creator."""
        if self.note.strip():
            return self.note.strip()
        email, name = self.creator.email.strip().lower(), self.creator.name.strip()
        for comment in reversed(self.comments):
            by = comment.author.email.strip().lower()
            if (email and by == email) or (not by and name and comment.author.name.strip() == name):
                return comment.text
        return ""

    @property
    def type_name(self) -> str:
        return api.DOCUMENT_TYPES.get(self.doc_type, self.doc_type)

    @property
    def status_name(self) -> str:
        """The status as a person reads it: Precoro's own `statusString` when it gave one, else
        our name for the code, else the bare code; never an error for a code we do not know."""
        if self.status_text.strip():
            return self.status_text.strip()
        if self.status is None:
            return ""
        return api.STATUS_NAMES.get(self.status, f"status {self.status}")

    @property
    def is_pending(self) -> bool:
        return self.status == api.STATUS_PENDING

    def fingerprint(self) -> str:
        """What, if changed, makes the posted message worth redrawing (a new comment, attachment or
        note counts even when Precoro's update date, to the second, did not move)."""
        extra = zlib.crc32(f"{self.note}|{[c.text for c in self.comments]}|{self.attachments}".encode())
        text = (f"{self.status}|{self.total}|{self.currency}|{self.supplier}|{self.updated_at}"
                f"|{len(self.comments)}.{len(self.attachments)}.{extra:08x}")
        # The column holds 200 characters (PostgreSQL enforces it): a long supplier name is hashed.
        return text if len(text) <= 200 else f"{text[:180]}#{zlib.crc32(text.encode()):08x}"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        for key in ("name", "fullName", "title", "value"):
            if value.get(key):
                return str(value[key])
        return ""
    return str(value)


def _person(value: Any) -> Person:
    if not isinstance(value, dict):
        return Person(name=_text(value))
    name = value.get("fullName") or value.get("name") or ""
    if not name and (value.get("firstName") or value.get("lastName")):
        name = f"{value.get('firstName', '')} {value.get('lastName', '')}".strip()
    return Person(name=str(name), email=str(value.get("email") or ""))


# An amount is a few dozen characters at most; past these bounds it is garbage or an attack
# ("1e10000000" formats as ten million digits), so it is kept as "present but unreadable" (NaN).
MAX_AMOUNT_TEXT = 40
MAX_AMOUNT_EXPONENT = 15  # a quadrillion: far beyond any purchase, far within what renders
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


def _decimal(value: Any) -> Decimal | None:
    """An amount bounded in length and exponent: None when absent, NaN when present but unreadable
    (not a number, infinite, too long, an absurd exponent); negative zero is zero."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or len(text) > MAX_AMOUNT_TEXT:
        return Decimal("NaN")
    if not _AMOUNT.fullmatch(text):  # Decimal itself also takes "1_000", "NaN" and non-ASCII digits
        return Decimal("NaN")
    try:
        amount = Decimal(text)
    except (InvalidOperation, ValueError):
        return Decimal("NaN")
    if not amount.is_finite() or abs(amount.adjusted()) > MAX_AMOUNT_EXPONENT:
        return Decimal("NaN") if not amount.is_zero() else Decimal(0)
    return abs(amount) if amount.is_zero() else amount


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_time(value: Any) -> datetime | None:
    """Precoro dates come as ISO 8601 (with or without zone) or `dd.mm.yyyy`."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    for parse in (datetime.fromisoformat, lambda s: datetime.strptime(s, "%d.%m.%Y")):
        try:
            moment = parse(text)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def _first(raw: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if raw.get(key) not in (None, ""):
            return raw[key]
    return None


def _step(raw: Any) -> ApprovalStep | None:
    """A step object; a bare string (public schemas type `approvalStep` as object or string) is a
    step known by its name alone, so routing falls back to `approvalSteps` for its approvers."""
    if isinstance(raw, str) and raw.strip():
        return ApprovalStep(name=raw.strip())
    if not isinstance(raw, dict):
        return None
    people = raw.get("approvers") or raw.get("users") or []
    if isinstance(people, dict):
        people = people.get("data", [])
    approvers = tuple(_person(p) for p in people if isinstance(p, dict))
    if not approvers and isinstance(raw.get("approver"), dict):
        approvers = (_person(raw["approver"]),)
    done = bool(raw.get("approved") or raw.get("isApproved") or raw.get("status") in ("approved", 2))
    approved_by = raw.get("approvedBy") or []
    return ApprovalStep(name=_text(raw.get("name")) or f"Step {raw.get('position', '')}".strip(),
                        approvers=approvers, done=done,
                        approved_by=tuple(_person(p) for p in approved_by if isinstance(p, dict))
                        if isinstance(approved_by, list) else ())


def _items(raw: Any) -> tuple[LineItem, ...]:
    if isinstance(raw, dict):
        raw = raw.get("data", [])
    if not isinstance(raw, list):
        return ()
    return tuple(
        LineItem(name=_text(i.get("name")), quantity=_text(i.get("quantity")), price=_text(i.get("price")))
        for i in raw
        if isinstance(i, dict)
    )


def _data(raw: Any) -> list[Any]:
    """A list, or the `data` list of a `{"data": [...]}` wrapper; [] for anything else."""
    if isinstance(raw, dict):
        raw = raw.get("data", [])
    return raw if isinstance(raw, list) else []


def _field_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(v for v in (_field_value(i) for i in value) if v)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _text(value).strip()


def _custom_fields(raw: Any) -> tuple[CustomField, ...]:
    found = []
    for item in _data(raw):
        if not isinstance(item, dict):
            continue
        nested = next((item[k] for k in ("documentCustomField", "customField", "field")
                       if isinstance(item.get(k), dict)), {})
        name = _text(item.get("name") or item.get("title") or item.get("label") or nested.get("name")
                     or nested.get("title")).strip()
        value = _field_value(_first(item, "value", "valueString", "option", "options", "text"))
        if name and value:
            found.append(CustomField(name, value))
    return tuple(found)


def _http_url(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    return text if text.startswith(("https://", "http://")) else ""


def _attachments(raw: Any) -> tuple[Attachment, ...]:
    found = []
    for item in _data(raw):
        if isinstance(item, dict):
            name = _text(_first(item, "name", "fileName", "originalName", "title", "filename")).strip()
            url = _http_url(_first(item, "url", "link", "downloadUrl", "publicUrl"))
            if name or url:
                found.append(Attachment(name or "attachment", url))
        elif isinstance(item, str) and item.strip():
            found.append(Attachment(item.strip()))
    return tuple(found)


def _comments(raw: Any) -> tuple[Comment, ...]:
    found = []
    for item in _data(raw):
        if isinstance(item, dict):
            text = _text(_first(item, "text", "comment", "body", "message")).strip()
            author = item.get("user") or item.get("author") or item.get("creator") or {}
            at = parse_time(_first(item, "createDate", "createdAt", "date"))
            if text:
                found.append(Comment(text, _person(author), at))
        elif isinstance(item, str) and item.strip():
            found.append(Comment(item.strip()))
    return tuple(found)


def _last_approver(raw: Any) -> Person | None:
    """`lastApprover`: an object, or a list (public schemas type it "object or array"; an empty
    list when nobody approved yet), of which the last person is the latest."""
    if isinstance(raw, list):
        raw = next((p for p in reversed(raw) if isinstance(p, dict)), None)
    return _person(raw) if isinstance(raw, dict) else None


def _note(raw: dict[str, Any]) -> str:
    value = _first(raw, "note", "description")
    return value.strip() if isinstance(value, str) else ""


def parse_document(doc_type: str, raw: dict[str, Any]) -> Document | None:
    """A document from a list item or a single-document answer; None if it has no IDN."""
    if not isinstance(raw, dict):
        return None
    idn = raw.get("idn")
    if idn in (None, ""):
        return None
    steps_raw = raw.get("approvalSteps") or []
    if isinstance(steps_raw, dict):
        steps_raw = steps_raw.get("data", [])
    steps = tuple(s for s in (_step(r) for r in steps_raw if isinstance(steps_raw, list)) if s)
    return Document(
        doc_type=doc_type,
        id=_int(raw.get("id")) or 0,
        idn=str(idn),
        status=_int(raw.get("status")),
        status_text=_text(raw.get("statusString")),
        total=_decimal(_first(raw, "sum", "netSum", "total")),
        currency=_text(raw.get("currency")) if not isinstance(raw.get("currency"), dict)
        else str(raw["currency"].get("code") or raw["currency"].get("name") or ""),
        supplier=_text(raw.get("supplier")),
        creator=_person(raw.get("creator") or raw.get("user") or {}),
        location=_text(raw.get("location")),
        created_at=parse_time(_first(raw, "createDate", "createdAt", "created_at", "date")),
        updated_at=parse_time(_first(raw, "updateDate", "updatedAt", "updated_at")),
        items=_items(raw.get("items")),
        approval_steps=steps,
        current_step=_step(raw.get("approvalStep")),
        last_approver=_last_approver(raw.get("lastApprover")),
        custom_fields=_custom_fields(raw.get("dataDocumentCustomFields") or raw.get("customFields")),
        attachments=_attachments(raw.get("attachments")),
        comments=_comments(raw.get("comments")),
        note=_note(raw),
    )
