"""Issue 17's pure rules (which status is an outcome, its reason, whether an approval may be the
last step, the finance threshold and waiting time), its config keys and its texts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot.config import ConfigError, ReminderConfig, parse_config
from bot.features.outcomes import messages as outcome_messages
from bot.features.outcomes import rules as outcome_rules
from bot.precoro import api
from bot.precoro.models import ApprovalStep, Comment, Document, Person
from bot.slack import messages
from tests.support.config import minimal, with_

DANA = Person("Dana Admin", "dana@example.com")
BOB = Person("Bob Baker", "bob@example.com")


def doc(status: int = api.STATUS_PENDING, **extra: object) -> Document:
    fields: dict[str, object] = {"total": Decimal("1250.00"), "currency": "USD", "supplier": "Acme",
                                 "creator": DANA, **extra}
    return Document("purchaseorders", 1, "PO-1", status=status, **fields)  # type: ignore[arg-type]


def test_only_approved_rejected_and_sent_back_are_outcomes() -> None:
    assert outcome_rules.outcome_of(doc(api.STATUS_APPROVED)) == "approved"
    assert outcome_rules.outcome_of(doc(api.STATUS_DENIED)) == "rejected"
    assert outcome_rules.outcome_of(doc(api.STATUS_ON_REVISION)) == "revision"
    for status in (api.STATUS_PENDING, api.STATUS_OPEN, api.STATUS_CANCELED):
        assert outcome_rules.outcome_of(doc(status)) is None
    assert outcome_rules.outcome_of(None) is None


def test_the_reason_is_the_latest_comment_not_by_the_requester() -> None:
    comments = (Comment("Please hurry", DANA), Comment("Wrong supplier", BOB), Comment("But why?", DANA))
    rejected = doc(api.STATUS_DENIED, comments=comments)
    assert outcome_rules.reason_of(rejected) == "Wrong supplier"
    assert outcome_rules.decided_by(rejected, "rejected") == "Bob Baker"
    assert outcome_rules.reason_of(doc(api.STATUS_DENIED)) == ""


def test_an_approval_may_be_final_unless_a_later_step_waits() -> None:
    first, second = ApprovalStep("Step 1", (BOB,)), ApprovalStep("Step 2", (DANA,))
    assert not outcome_rules.may_be_final(doc(approval_steps=(first, second), current_step=first))
    assert outcome_rules.may_be_final(doc(approval_steps=(ApprovalStep("Step 1", (BOB,), done=True), second),
                                          current_step=second))
    assert outcome_rules.may_be_final(doc())  # no chain known: look
    assert outcome_rules.may_be_final(None)


def company(**keys: object):  # type: ignore[no-untyped-def]
    raw = minimal()
    raw["precoro"].update(keys)
    return parse_config(raw, env={}).companies[0]


def test_finance_threshold_and_waiting_time_in_working_hours() -> None:
    cfg = company(finance_channel="C0FIN", finance_min_amount=1000, finance_waiting_hours=2,
                  finance_timezone="Europe/Berlin")
    assert outcome_rules.over_threshold(cfg, doc())
    assert not outcome_rules.over_threshold(cfg, doc(total=Decimal("999.99")))  # type: ignore[arg-type]
    assert not outcome_rules.over_threshold(cfg, doc(total=None))  # type: ignore[arg-type]
    assert outcome_rules.over_threshold(company(), doc(total=None))  # type: ignore[arg-type]
    policy = ReminderConfig()
    friday_17 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC).timestamp()  # 17:00 in Berlin, workday ends 18:00
    monday_0930 = datetime(2026, 12, 7, 8, 30, tzinfo=UTC).timestamp()  # 1 h Friday + 0.5 h Monday
    assert not outcome_rules.waiting_due(friday_17, monday_0930, cfg, policy)
    monday_10 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()  # 10:00 in Berlin: 1 h Fri + 1 h Mon
    assert outcome_rules.waiting_due(friday_17, monday_10, cfg, policy)
    assert not outcome_rules.waiting_due(friday_17, monday_10, company(finance_waiting_hours=0), policy)


@pytest.mark.parametrize(("key", "value", "says"), [
    ("finance_channel", "#finance", "channel id"),
    ("finance_timezone", "Mars/Olympus", "time zone"),
    ("notify_requesters", "yes", "true or false"),
])
def test_wrong_values_name_their_key(key: str, value: object, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(with_(f"precoro.{key}", value), env={})
    assert f"precoro.{key}" in str(raised.value) and says in str(raised.value)


def test_the_requester_message_escapes_precoro_text_and_offers_mute() -> None:
    body = outcome_messages.requester_outcome_message(doc(api.STATUS_DENIED, supplier="<!channel>"), "rejected",
                                              link="https://app.precoro.test/po/PO-1", reason="No <b>udget",
                                              by=messages.Actor(slack_id="U0BOB"))
    shown = str(body["blocks"])
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "No &lt;b&gt;udget" in shown
    assert "<@U0BOB>" in shown and body["text"].startswith("Your request Purchase order PO-1 was rejected")
    assert outcome_messages.ACTION_MUTE_OUTCOMES in shown
    approved = outcome_messages.requester_outcome_message(doc(api.STATUS_APPROVED), "approved", link="",
                                                          reason="ignored")
    assert "ignored" not in str(approved["blocks"])
