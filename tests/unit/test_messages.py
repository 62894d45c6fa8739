"""What an approver or admin reads: Block Kit messages, modals and command replies."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.features.admin import messages as admin_messages
from bot.precoro import api
from bot.precoro.models import ApprovalStep, Document, LineItem, Person
from bot.slack import messages as m
from bot.slack.messages import MessageState
from precoro_devkit.emulator.blockkit_rules import problems
from tests.support.blocks import escaped, text_obj, validate_blocks

LINK = "https://app.precoro.com/purchase/order/1001"
REF = "c1:U123:purchaseorders:1001"
AT = datetime(2025, 1, 6, 19, 2, tzinfo=UTC)  # 14:02 in New York (EST)
AT_SHOWN = "<!date^1736190120^{date_short_pretty}, {time}|Jan 06, 19:02 UTC>"  # AT as Slack shows it to each reader


def validate_message(msg: dict[str, Any]) -> None:
    assert set(msg) == {"text", "blocks"}
    assert msg["text"].strip() and len(msg["text"]) <= 3000
    escaped(msg["text"])
    validate_blocks(msg["blocks"])
    assert problems(msg, "message") == []  # and Slack's rules (slack_sdk's models and the documented limits)


def validate_view(view: dict[str, Any]) -> None:
    assert view["type"] == "modal"
    assert 0 < len(view["callback_id"]) <= 255
    assert len(view["private_metadata"]) <= 3000
    for key in ("title", "submit", "close"):
        text_obj(view[key], 24, plain_only=True)
    validate_blocks(view["blocks"], max_blocks=100)
    assert problems(view, "modal") == []


# --- fixtures ------------------------------------------------------------------------------------
def make_doc(**changes: Any) -> Document:
    base: dict[str, Any] = {
        "doc_type": "purchaseorders",
        "id": 1001,
        "idn": "PO-1001",
        "status": api.STATUS_PENDING,
        "total": Decimal("1200"),
        "currency": "USD",
        "supplier": "Acme Corp",
        "creator": Person(name="Jane Doe", email="jane@example.com"),
        "location": "Berlin office",
        "created_at": datetime(2025, 1, 6, 2, 30, tzinfo=UTC),  # still Jan 05 in New York
        "items": (LineItem("Laptop", "2", "1000"), LineItem("Dock", "2", "100")),
        "current_step": ApprovalStep(name="Finance"),
    }
    base.update(changes)
    return Document(**base)


def render(doc: Document | None = None, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("ref", REF)
    kwargs.setdefault("link", LINK)
    msg = m.document_message(doc or make_doc(), **kwargs)
    validate_message(msg)
    return msg


def actions(msg: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = [b for b in msg["blocks"] if b["type"] == "actions"]
    assert len(blocks) <= 1
    if not blocks:
        return {}
    assert blocks[0]["block_id"] == "decision"
    return {el["action_id"]: el for el in blocks[0]["elements"]}


def all_text(msg: dict[str, Any]) -> str:
    return json.dumps(msg, ensure_ascii=False)


def state_line(msg: dict[str, Any]) -> str:
    sections = [b for b in msg["blocks"] if b["type"] == "section" and "text" in b]
    return sections[-1]["text"]["text"]


# --- the document message --------------------------------------------------------------------------
def test_fallback_text_names_type_idn_requester_and_amount() -> None:
    text = render()["text"]
    assert text == "Purchase order PO-1001 from Jane Doe: 1,200.00 USD, waiting for your approval"


def test_waiting_message_shows_the_facts() -> None:
    msg = render(tz="America/New_York")
    header = msg["blocks"][0]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "Purchase order PO-1001",
                                                 "emoji": False}}
    fields = [f["text"] for f in msg["blocks"][1]["fields"]]
    assert fields == ["*Requester*\nJane Doe", "*Supplier*\nAcme Corp", "*Total*\n1,200.00 USD",
                      "*Created*\nJan 05, 2025", "*Location*\nBerlin office"]
    body = all_text(msg)
    assert "Laptop — 2 × 1,000.00 USD" in body  # noqa: RUF001
    assert "Approval step: *Finance*" in body


def test_buttons_when_waiting() -> None:
    buttons = actions(render())
    assert list(buttons) == [m.ACTION_APPROVE, m.ACTION_APPROVE_COMMENT, m.ACTION_REJECT, m.ACTION_OPEN]
    approve, with_comment, reject, open_ = buttons.values()
    assert approve["style"] == "primary" and approve["value"] == REF
    assert with_comment["value"] == REF and "style" not in with_comment
    assert reject["style"] == "danger" and reject["value"] == REF
    assert "confirm" not in reject  # the reason modal is the confirmation
    assert open_["url"] == LINK and open_["text"]["text"] == "Open in Precoro"


def test_approve_confirm_names_idn_and_amount() -> None:
    confirm = actions(render())[m.ACTION_APPROVE]["confirm"]
    assert confirm["text"]["text"] == "Approve PO-1001 for 1,200.00 USD?"
    assert actions(render(make_doc(total=None)))[m.ACTION_APPROVE]["confirm"]["text"]["text"] == \
        "Approve PO-1001?"


@pytest.mark.parametrize("state", [s for s in MessageState if s is not MessageState.WAITING])
def test_only_open_button_when_not_waiting(state: MessageState) -> None:
    msg = render(state=state, actor="U42", at=AT, reason="because")
    assert list(actions(msg)) == [m.ACTION_OPEN]
    assert "Waiting for your approval" not in all_text(msg)


def test_failed_with_retry_brings_buttons_back() -> None:
    msg = render(state=MessageState.FAILED, action="reject", reason="Precoro said 400", retry_allowed=True)
    assert list(actions(msg)) == [m.ACTION_APPROVE, m.ACTION_APPROVE_COMMENT, m.ACTION_REJECT, m.ACTION_OPEN]
    assert state_line(msg) == ":warning: Could not reject: Precoro said 400 You can try again."
    assert msg["text"].endswith("could not reject")


@pytest.mark.parametrize(
    ("kwargs", "line"),
    [
        ({"state": MessageState.WORKING}, ":hourglass_flowing_sand: Sending your approval to Precoro…"),
        ({"state": MessageState.WORKING, "action": "reject"},
         ":hourglass_flowing_sand: Sending your rejection to Precoro…"),
        ({"state": MessageState.QUEUED},
         ":clock3: Precoro is busy; your approval is queued and will be retried automatically."),
        ({"state": MessageState.APPROVED, "actor": "U42", "at": AT},
         ":white_check_mark: Approved by <@U42> at <!date^1736190120^{date_short_pretty}, {time}|Jan 06, 19:02 UTC>"),
        ({"state": MessageState.REJECTED, "actor": "U42", "at": AT, "reason": "Over budget"},
         ":x: Rejected by <@U42> at <!date^1736190120^{date_short_pretty}, {time}|Jan 06, 19:02 UTC>: Over budget"),
        ({"state": MessageState.GONE, "reason": "withdrawn"},
         ":information_source: No longer waiting for you: withdrawn"),
        ({"state": MessageState.FAILED, "reason": "token refused"},
         ":warning: Could not approve: token refused"),
    ],
)
def test_state_lines(kwargs: dict[str, Any], line: str) -> None:
    assert state_line(render(tz="America/New_York", **kwargs)) == line


def test_gone_reason_defaults_from_document_status() -> None:
    msg = render(make_doc(status=api.STATUS_APPROVED), state=MessageState.GONE)
    assert state_line(msg).endswith("No longer waiting for you: approved in Precoro")


def test_one_status_emoji_per_state() -> None:
    for state in MessageState:
        line = state_line(render(state=state, actor="U1", at=AT, reason="x")) \
            if state is not MessageState.WAITING else ""
        assert len(re.findall(r":[a-z0-9_]+:", line)) <= 1


def test_supplier_and_reason_areescaped() -> None:
    doc = make_doc(supplier="<script>&</script> <!channel>", creator=Person(name="A & B <x>"))
    msg = render(doc, state=MessageState.REJECTED, actor="U1", at=AT, reason="<@U999> & <!here>")
    body = all_text(msg)
    assert "&lt;script&gt;&amp;&lt;/script&gt; &lt;!channel&gt;" in body
    assert "<script>" not in body and "<!channel>" not in body and "<!here>" not in body
    assert "<@U999>" not in body
    assert msg["text"].startswith("Purchase order PO-1001 from A &amp; B &lt;x&gt;: ")
    view = m.reject_modal(REF, doc)
    validate_view(view)
    assert "&lt;script&gt;&amp;" in view["blocks"][0]["text"]["text"]


def test_empty_document_renders_with_dashes() -> None:
    doc = Document(doc_type="invoices", id=0, idn="INV-42")
    msg = render(doc)
    fields = [f["text"] for f in msg["blocks"][1]["fields"]]
    assert fields == ["*Requester*\n—", "*Supplier*\n—", "*Total*\n—", "*Created*\n—"]
    assert msg["text"] == "Invoice INV-42, waiting for your approval"
    assert "Items" not in all_text(msg)
    for state in MessageState:
        render(doc, state=state)
    validate_view(m.reject_modal(REF, doc))


def test_items_list_first_three_and_count() -> None:
    items = tuple(LineItem(f"Item {i}", "1", "9.5") for i in range(5))
    body = all_text(render(make_doc(items=items)))
    assert "Item 2" in body and "Item 3" not in body
    assert "and 2 more in Precoro" in body
    assert "more in Precoro" not in all_text(render(make_doc(items=items[:3])))


def test_item_without_quantity_or_price() -> None:
    body = all_text(render(make_doc(items=(LineItem(""), LineItem("Chair", "", "abc")))))
    assert "• (unnamed item)" in body and "• Chair — abc" in body


def test_unknown_document_type_and_no_link() -> None:
    msg = render(Document(doc_type="contracts", id=1, idn="C-1"), link="")
    assert msg["blocks"][0]["text"]["text"] == "contracts C-1"
    assert m.ACTION_OPEN not in actions(msg)
    assert actions(render(state=MessageState.APPROVED, link="")) == {}


def test_long_texts_are_clipped_within_limits() -> None:
    doc = make_doc(
        idn="P" * 400,
        supplier="&" * 5000,
        creator=Person(name="N" * 5000),
        location="<" * 3000,
        items=tuple(LineItem("x&" * 2000, "9" * 100, "1" * 100) for _ in range(10)),
        current_step=ApprovalStep(name="S" * 4000),
    )
    for state in MessageState:
        render(doc, state=state, reason="&<>" * 2000, actor="U1", at=AT, retry_allowed=True)
    validate_view(m.reject_modal(REF, doc))


def test_ref_is_checked() -> None:
    render(ref="r" * 2000)
    with pytest.raises(ValueError):
        m.document_message(make_doc(), ref="r" * 2001, link=LINK)


def test_state_accepts_strings() -> None:
    assert list(actions(render(state="approved"))) == [m.ACTION_OPEN]


# --- amounts and times ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "currency", "text"),
    [
        (Decimal("1200"), "USD", "1,200.00 USD"),
        (Decimal("1234567.891"), "EUR", "1,234,567.89 EUR"),
        (Decimal("0.005"), "USD", "0.01 USD"),
        (Decimal("-42.5"), "GBP", "-42.50 GBP"),
        (Decimal("7"), "", "7.00"),
        (None, "USD", "—"),
        (Decimal("NaN"), "USD", "amount unreadable"),
        (Decimal("Infinity"), "USD", "amount unreadable"),
        (Decimal("1e10000000"), "USD", "amount unreadable"),
        (Decimal("9" * 5000), "USD", "amount unreadable"),
        (Decimal("-0"), "USD", "0.00 USD"),
        (Decimal("9" * 16), "USD", "9,999,999,999,999,999.00 USD"),
    ],
)
def test_format_amount(total: Decimal | None, currency: str, text: str) -> None:
    assert m.format_amount(total, currency) == text


def test_format_time_in_zone() -> None:
    assert m.format_time(AT, "America/New_York") == "Jan 06, 14:02 EST"
    assert m.format_time(AT, "Europe/Berlin") == "Jan 06, 20:02 CET"
    assert m.format_time(AT, "Not/AZone") == "Jan 06, 19:02 UTC"
    assert m.format_time(AT, "") == "Jan 06, 19:02 UTC"
    assert m.format_time(datetime(2025, 1, 6, 19, 2), "UTC") == "Jan 06, 19:02 UTC"  # naive = UTC


def fields(msg: dict[str, Any]) -> list[str]:
    return [f["text"] for f in msg["blocks"][1]["fields"]]


def test_created_date_in_zone() -> None:
    assert "*Created*\nJan 06, 2025" in fields(render(tz="Europe/Berlin"))
    assert "*Created*\nJan 05, 2025" in fields(render(tz="America/Los_Angeles"))


# --- modals ----------------------------------------------------------------------------------------
def test_reject_modal() -> None:
    doc = make_doc(doc_type="invoices", idn="INV-42", supplier="Acme", total=None)
    view = m.reject_modal(REF, doc)
    validate_view(view)
    assert view["callback_id"] == m.REJECT_CALLBACK
    assert view["private_metadata"] == REF
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == \
        ("Reject document", "Reject", "Cancel")
    assert view["blocks"][0]["text"]["text"] == (
        "Reject Invoice INV-42 from Acme? Precoro notifies the requester; a rejection cannot be undone.")
    reason = view["blocks"][1]
    assert reason["block_id"] == m.REASON_BLOCK and reason["label"]["text"] == "Reason"
    element = reason["element"]
    assert element["action_id"] == m.REASON_ACTION
    assert element["type"] == "plain_text_input" and element["multiline"] is True
    assert element["min_length"] == 1
    assert element["max_length"] == api.REJECT_COMMENT_MAX == 800


def test_reject_modal_names_amount_when_known() -> None:
    text = m.reject_modal(REF, make_doc())["blocks"][0]["text"]["text"]
    assert text.startswith("Reject Purchase order PO-1001 from Acme Corp for 1,200.00 USD?")


def test_register_modal() -> None:
    view = m.register_modal(target_user="U777", email="jane@example.com", company="acme")
    validate_view(view)
    assert view["callback_id"] == m.REGISTER_CALLBACK
    assert json.loads(view["private_metadata"]) == {"user": "U777", "company": "acme"}
    assert view["title"]["text"] == "Register approver"
    intro = view["blocks"][0]["text"]["text"]
    assert intro.startswith("Precoro API token for <@U777>.")
    assert "Configuration → Integrations → API Key" in intro
    assert "stored encrypted and never shown again" in intro
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs[m.EMAIL_BLOCK]["element"]["action_id"] == m.EMAIL_ACTION
    assert inputs[m.EMAIL_BLOCK]["element"]["initial_value"] == "jane@example.com"
    token = inputs[m.TOKEN_BLOCK]
    assert token["element"]["type"] == "plain_text_input"
    assert token["element"]["action_id"] == m.TOKEN_ACTION
    assert "no masked input" in token["hint"]["text"]


def test_register_modal_without_email() -> None:
    view = m.register_modal(target_user="U777", email="", company="")
    validate_view(view)
    email = next(b for b in view["blocks"] if b.get("block_id") == m.EMAIL_BLOCK)
    assert "initial_value" not in email["element"]


# --- command replies -------------------------------------------------------------------------------
def test_help_text_admin_and_not() -> None:
    admin, user = m.help_text(True), m.help_text(False)
    for command in ("help", "status"):
        assert f"/precoro {command}" in admin and f"/precoro {command}" in user
    for command in ("list", "register @user", "register @user email token", "remove @user"):
        assert f"/precoro {command}" in admin
        assert f"/precoro {command}" not in user


def test_command_replies() -> None:
    assert m.wrong_user_text("U1") == "This document waits for <@U1>; only they can decide it."
    assert m.token_revoked_text().startswith("Precoro refused your API token; ask an admin")
    assert "/precoro register" in m.token_revoked_text()
    assert admin_messages.registered_text("U1", "a<b>@x.com") == (
        "<@U1> is registered with Precoro account a&lt;b&gt;\uff20x\u2024com. "
        "Documents waiting for their approval will arrive as direct messages.")
    assert admin_messages.removed_text("U1").startswith("<@U1> is removed")
    assert m.not_registered_text("U1").startswith("<@U1> is not registered")
    assert admin_messages.token_rejected_text("401 <bad>") == \
        "Precoro did not accept that token: 401 &lt;bad&gt;. Nothing was stored."
    assert m.already_decided_text("approve", actor="U2", at=AT) == \
        f"This document was already approved by <@U2> at {AT_SHOWN}; nothing changed."
    assert m.already_decided_text() == "This document was already decided; nothing changed."
    assert m.mention("<!channel>") == "&lt;!channel&gt;"
    for text in (m.not_admin_text(), m.precoro_unavailable_text(), m.help_text(True),
                 m.reason_required_text(), admin_messages.invalid_email_text(), admin_messages.removed_text("U1")):
        assert text.strip()
        validate_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def test_registration_list() -> None:
    rows = [("U1", "a@x.com", "active", AT), ("U2", "b@x.com", "token revoked", None)]
    text = admin_messages.registration_list(rows, "America/New_York")
    assert text.splitlines() == [
        "*Registered approvers (2)*",
        f"• <@U1> · a\uff20x\u2024com · active · last checked {AT_SHOWN}",  # no mailto: link from outside text
        "• <@U2> · b\uff20x\u2024com · token revoked · last checked never",
    ]
    assert "No approvers are registered" in admin_messages.registration_list([], "UTC")


def test_registration_list_stays_within_a_section() -> None:
    rows = [(f"U{i:08d}", f"person{i}@example.com", "active", AT) for i in range(500)]
    text = admin_messages.registration_list(rows, "UTC")
    assert len(text) <= 3000
    assert re.search(r"\nand \d+ more$", text)
    shown = text.count("• ")
    assert text.endswith(f"and {500 - shown} more")


# --- any document Precoro could send renders into valid Block Kit ---------------------------------
texts = st.text(max_size=300)
people = st.builds(Person, name=texts, email=texts)
line_items = st.builds(LineItem, name=texts, quantity=st.text(max_size=20), price=st.text(max_size=20))
amounts = st.none() | st.decimals(allow_nan=True, allow_infinity=True)
documents = st.builds(
    Document,
    doc_type=st.sampled_from([*api.DOCUMENT_TYPES, "other"]),
    id=st.integers(0, 10**9),
    idn=st.text(min_size=1, max_size=200),
    status=st.none() | st.sampled_from(list(api.STATUS_NAMES)),
    total=amounts,
    currency=st.text(max_size=12),
    supplier=texts,
    creator=people,
    location=texts,
    created_at=st.none() | st.datetimes(timezones=st.just(UTC)),
    items=st.lists(line_items, max_size=8).map(tuple),
    current_step=st.none() | st.builds(ApprovalStep, name=texts),
)


@settings(max_examples=150, deadline=None)
@given(doc=documents, state=st.sampled_from(list(MessageState)), reason=st.text(max_size=1000),
       retry=st.booleans(), tz=st.sampled_from(["UTC", "Asia/Kolkata", "Bogus/Zone"]))
def test_any_document_renders_valid_blocks(
    doc: Document, state: MessageState, reason: str, retry: bool, tz: str
) -> None:
    render(doc, state=state, actor="U1", at=AT, reason=reason, retry_allowed=retry, tz=tz)
    validate_view(m.reject_modal(REF, doc))


# --- the audit log ----------------------------------------------------------------------------------
def test_audit_log_text_shows_who_what_when_and_result() -> None:
    rows = [(AT, "acme", "U0ALICE", "decision.approve", "purchaseorders/PO-1", "approved"),
            (AT, "acme", "precoro", "token.revoked", "<@U0BOB>", "poll"),
            (AT, "globex", "U0ADMIN", "token.register", "<@U0CAROL>", "refused by Precoro")]
    assert admin_messages.audit_log_text(rows, "America/New_York").splitlines() == [
        "*Audit log: the last 3 entries*",
        f"• {AT_SHOWN} · <@U0ALICE> · decision.approve purchaseorders/PO-1 → approved",
        f"• {AT_SHOWN} · precoro · token.revoked <@U0BOB> → poll",
        f"• {AT_SHOWN} · <@U0ADMIN> · token.register <@U0CAROL> → refused by Precoro",
    ]
    assert "· globex ·" in admin_messages.audit_log_text(rows, "UTC", show_company=True)
    assert "empty" in admin_messages.audit_log_text([], "UTC")


def test_audit_log_text_escapes_and_stays_within_a_section() -> None:
    sneaky = [(AT, "acme", "<!channel>", "decision.approve", "invoices/<!here>", "x" * 500)]
    text = admin_messages.audit_log_text(sneaky, "UTC")
    assert "<!" not in text.replace(AT_SHOWN, "") and "&lt;!channel&gt;" in text  # only the bot's date token
    rows = [(AT, "acme", f"U{i:08d}", "decision.approve", f"invoices/INV-{i}", "approved") for i in range(300)]
    text = admin_messages.audit_log_text(rows, "UTC")
    assert len(text) <= 3000 and re.search(r"\nand \d+ more$", text)
