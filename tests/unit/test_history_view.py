"""The Home's away and "Decided by me" parts, pure: within Slack's limits however long the history
and whatever the suppliers are called, and the full Home still a view Slack accepts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from bot.features.away import messages as away_messages
from bot.features.home import history_messages
from bot.features.home import messages as home_messages
from bot.features.home.history_messages import HistoryEntry, HistoryFilter
from bot.features.home.messages import AdminSummary, ApproverRow, QuotaRow
from bot.precoro.models import Document, Person
from bot.slack import messages
from precoro_devkit.emulator.blockkit_rules import VIEW_BLOCKS_MAX
from precoro_devkit.emulator.slack import _check_view
from tests.support.views import NOW, item, text

LONG = "Supplier with a very long name " * 10


def entry(n: int) -> HistoryEntry:
    doc = Document(doc_type="invoices" if n % 3 == 0 else "purchaseorders", id=n, idn=f"PO-{n:05d}",
                   total=Decimal("99.5") * n, currency="EUR", supplier=f"{LONG}{n % 150} <!here>",
                   creator=Person("Ann Lee", "ann@example.com"))
    return HistoryEntry(doc, "approve" if n % 4 else "reject", NOW - timedelta(hours=n),
                        f"https://app.precoro.test/x/{n}", "a comment " * 30)


def test_a_long_history_with_long_suppliers_stays_within_slack_limits() -> None:
    entries = [entry(n) for n in range(1, 600)]
    blocks = history_messages.history_blocks(entries, HistoryFilter(page=3))
    assert len(blocks) <= 10
    [filters] = [b for b in blocks if b.get("block_id") == messages.HISTORY_FILTER_BLOCK]
    for select in filters["elements"]:
        assert len(select["options"]) <= 100 and all(len(o["value"]) <= 150 for o in select["options"])
    shown = text({"blocks": blocks})
    assert "Showing 31–40 of 599" in shown and "<!here>" not in shown  # noqa: RUF001
    admin = AdminSummary(tuple(ApproverRow(f"U{i:04d}", "acme", f"u{i}@example.com", "active", None, i)
                               for i in range(300)), (QuotaRow("acme", ((3600.0, 120, 1500, 100),)),))
    extra = away_messages.away_home_blocks(date(2026, 12, 24), "U0CAROL", date(2026, 12, 1)) + blocks
    view = home_messages.home_view([item(i) for i in range(120)], now=NOW, tz="UTC", admin=admin, extra=extra)
    assert len(view["blocks"]) <= VIEW_BLOCKS_MAX
    _check_view(view)
    assert len(urlencode({"payload": json.dumps({"view": view})})) < 256 * 1024


def test_filters_by_type_supplier_and_number() -> None:
    entries = [entry(n) for n in range(1, 30)]
    supplier = history_messages.history_blocks(entries, HistoryFilter())[2]["elements"][1]["options"][1]["value"]
    for wanted, expected in ((HistoryFilter(doc_type="invoices"), {n for n in range(1, 30) if n % 3 == 0}),
                             (HistoryFilter(supplier=supplier), {n for n in range(1, 30)
                                                                 if f"{LONG}{n}".startswith(supplier)}),
                             (HistoryFilter(number="po-0001"), set(range(10, 20)))):  # PO-00010 to PO-00019
        shown = text({"blocks": history_messages.history_blocks(entries, wanted)})
        found = {n for n in range(1, 30) if f"PO-{n:05d}" in shown}
        assert found == {n for n in sorted(expected)[:10]}, wanted


def test_away_part_offers_the_picker_then_the_colleague_and_back() -> None:
    today = datetime(2026, 12, 1, tzinfo=UTC).date()
    [_, section] = away_messages.away_home_blocks(None, None, today)
    assert section["accessory"]["type"] == "datepicker" and "initial_date" not in section["accessory"]
    _, section, actions = away_messages.away_home_blocks(date(2026, 12, 24), "U0CAROL", today)
    assert section["accessory"]["initial_date"] == "2026-12-24" and "Thu 24 Dec 2026" in section["text"]["text"]
    assert [e["action_id"] for e in actions["elements"]] == [away_messages.ACTION_AWAY_COVER,
                                                             away_messages.ACTION_AWAY_BACK]
