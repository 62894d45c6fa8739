"""Home items and view text for the pure view tests (no stack)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bot.precoro.models import Document, Person
from bot.slack.messages import HomeItem, MessageState
from tests.support.slack import text_of

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def item(n: int, doc_type: str = "purchaseorders", *, age_hours: float = 1.0,
         state: MessageState = MessageState.WAITING) -> HomeItem:
    doc = Document(doc_type=doc_type, id=n, idn=f"X-{n}", total=Decimal("1234.5"), currency="EUR",
                   supplier="<!channel> Supplies", creator=Person("Ann Lee", "ann@example.com"))
    return HomeItem(doc=doc, ref=str(n), link=f"https://app.precoro.test/x/{n}", state=state,
                    since=NOW - timedelta(hours=age_hours))


def text(view: dict) -> str:
    return text_of({"blocks": view["blocks"]})
