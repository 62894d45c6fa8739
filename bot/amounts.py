"""Amount rules: above a company's limit for a currency, approving asks the approver to type the
amount or the document number first. Pure.

Why typed, not a second click: a confirmation dialog is clicked through out of habit; typing
`12,500` or `PO-1001` makes the approver read what they approve. Only the document's own currency
counts: a USD limit never applies to a EUR document (no conversion, no guess). A document without
a readable amount is not held back (there is nothing to compare).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from bot.precoro.models import Document

Rules = tuple[tuple[str, Decimal], ...]  # (currency code, limit), as `CompanyConfig.confirm_above`

_SEPARATORS = re.compile(r"[\s,'’_]")  # noqa: RUF001 (thousands separators people type)


def limit_for(rules: Iterable[tuple[str, Decimal]], currency: str) -> Decimal | None:
    code = currency.strip().upper()
    return next((limit for c, limit in rules if c == code), None) if code else None


def _total(doc: Document) -> Decimal | None:
    try:
        total = doc.total if isinstance(doc.total, Decimal) or doc.total is None else Decimal(str(doc.total))
    except (InvalidOperation, ValueError):
        return None
    return total if total is not None and total.is_finite() else None


def confirm_limit(rules: Iterable[tuple[str, Decimal]], doc: Document) -> Decimal | None:
    """The limit this document is above (so approving it needs a typed confirmation), else None."""
    limit = limit_for(rules, doc.currency)
    total = _total(doc)
    return limit if limit is not None and total is not None and total > limit else None


def confirmation_matches(typed: str, doc: Document) -> bool:
    """Did the approver type the document's number or its amount? `12500`, `12,500.00`,
    `12 500 EUR` and `po-1001` all count; anything else does not (a near miss is a miss)."""
    text = typed.strip()
    if not text:
        return False
    if doc.idn.strip() and text.casefold() == doc.idn.strip().casefold():
        return True
    total = _total(doc)
    if total is None:
        return False
    code = doc.currency.strip()
    number = _SEPARATORS.sub("", text)
    if code and number.upper().endswith(code.upper()):
        number = number[: -len(code)]
    if code and number.upper().startswith(code.upper()):
        number = number[len(code):]
    if not re.fullmatch(r"-?\d+(\.\d{1,2})?", number):
        return False
    return Decimal(number) == total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)  # as the message shows it
