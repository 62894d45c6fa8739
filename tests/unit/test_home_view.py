"""The App Home rendering (pure): grouping, order, limits, the admin part."""

from __future__ import annotations

from bot.features.home import messages as home_messages
from bot.features.home.messages import AdminSummary, ApproverRow, QuotaRow
from bot.slack import messages
from bot.slack.messages import MessageState
from precoro_devkit.emulator.blockkit_rules import VIEW_BLOCKS_MAX
from precoro_devkit.emulator.slack import _check_view
from tests.support.views import NOW, item, text


def test_grouped_by_type_oldest_first_with_amount_requester_and_age() -> None:
    view = home_messages.home_view([item(1, age_hours=2), item(2, "invoices", age_hours=50), item(3, age_hours=30)],
                              now=NOW, tz="Europe/Berlin")
    shown = text(view)
    assert shown.index("Invoices (1)") < shown.index("Purchase orders (2)")  # the oldest document's type first
    assert shown.index("X-3") < shown.index("X-1")
    assert "1,234.50 EUR" in shown and "Ann Lee" in shown and "waiting 2 d" in shown and "waiting 30 h" in shown
    assert "&lt;!channel&gt; Supplies" in shown and "<!channel>" not in shown
    # Each reader's own zone: a Slack date token, with a UTC fallback (not the server's zone)
    assert f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}}, {{time}}|Nov 25, 12:00 UTC>" in shown
    _check_view(view)


def test_in_flight_documents_have_no_buttons() -> None:
    view = home_messages.home_view([item(1, state=MessageState.WORKING)], now=NOW, tz="UTC")
    assert "Sending your decision" in text(view)
    ids = [e.get("action_id") for b in view["blocks"] for e in b.get("elements", []) if isinstance(e, dict)]
    assert messages.ACTION_APPROVE not in ids and messages.ACTION_BULK_APPROVE not in ids


def test_a_long_queue_stays_within_slack_limits_and_counts_the_rest() -> None:
    admin = AdminSummary(tuple(ApproverRow(f"U{i:04d}", "acme", f"u{i}@example.com", "active", None, i)
                               for i in range(300)),
                         (QuotaRow("acme", ((3600.0, 120, 1500, 100), (86400.0, 900, 3000, 200))),))
    view = home_messages.home_view([item(i, "invoices" if i % 2 else "purchaseorders") for i in range(120)],
                              now=NOW, tz="UTC", admin=admin)
    assert len(view["blocks"]) <= VIEW_BLOCKS_MAX
    shown = text(view)
    assert "Waiting for your approval (120)" in shown and "Showing 1–20 of 120" in shown  # noqa: RUF001
    assert "120/1,500 per hour" in shown and "900/3,000 per day" in shown and "and " in shown
    _check_view(view)


def test_every_page_of_a_long_queue_is_a_view_slack_accepts() -> None:
    """The middle pages carry Previous and Next in one block: Slack refuses two elements with the
    same action_id there, so each button has its own (both carry the page to show)."""
    queue = [item(i, age_hours=100 - i) for i in range(45)]
    for page, (showing, turns) in enumerate([("1–20", {messages.ACTION_HOME_PAGE: "1"}),  # noqa: RUF001
                                             ("21–40", {messages.ACTION_HOME_PAGE_BACK: "0",  # noqa: RUF001
                                                        messages.ACTION_HOME_PAGE: "2"}),
                                             ("41–45", {messages.ACTION_HOME_PAGE_BACK: "1"})]):  # noqa: RUF001
        view = home_messages.home_view(queue, now=NOW, tz="UTC", page=page)
        _check_view(view)
        assert f"Showing {showing} of 45" in text(view)
        [pager] = [b for b in view["blocks"] if b.get("block_id") == messages.HOME_PAGER_BLOCK]
        assert {e["action_id"]: e["value"] for e in pager["elements"]} == turns


def test_nothing_waiting() -> None:
    assert "Nothing is waiting" in text(home_messages.home_view([], now=NOW, tz="UTC"))


def test_not_registered_or_token_refused() -> None:
    assert "not registered" in text(home_messages.home_view([], now=NOW, tz="UTC", registered=False))
    shown = text(home_messages.home_view([item(1)], now=NOW, tz="UTC", revoked=True))
    assert "refused your API token" in shown and "X-1" in shown
