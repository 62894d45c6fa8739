"""Outside text is plain text (issue 23, item 3): names, reasons, notes, comments, items and custom
fields from Precoro, and text users typed, never become a mention, a ping, a link or formatting in
any block, field, context or fallback text; mentions come only from Slack ids the bot resolved.

The detector follows Slack's "Formatting text for app surfaces" (docs.slack.dev/messaging/
formatting-message-text): `<…>` is markup (mentions, pings, links, date tokens); `*bold*`,
`_italic_`, `~strike~` apply when the markers stand at word boundaries around non-space text;
`` `code` `` and ```` ``` ```` blocks; `>` (or `&gt;`) first on a line quotes; `:shortcode:` is an emoji; bare
URLs, `www.` hosts, domains and emails are auto-linked. Slack also reads the fullwidth markers
(jsx-slack's escape notes). Each surface is rendered twice, once with harmless values and once
with adversarial ones: the adversarial rendering may hold no construct the harmless one lacks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.features.admin import messages as admin_messages
from bot.features.away import messages as away_messages
from bot.features.home import history_messages
from bot.features.home import messages as home_messages
from bot.features.home.history_messages import HistoryEntry, HistoryFilter
from bot.features.outcomes import messages as outcome_messages
from bot.features.reminders import messages as reminder_messages
from bot.features.reminders.messages import ReminderItem
from bot.precoro import api
from bot.precoro.models import ApprovalStep, Attachment, Comment, CustomField, Document, LineItem, Person
from bot.slack import messages
from bot.slack.messages import HomeItem, MessageState

NOW = datetime(2025, 1, 6, 19, 2, tzinfo=UTC)
LINK = "https://app.precoro.test/purchaseorders/1"
RESOLVED = {"U0ALICE", "U0BOB"}  # the Slack ids the bot resolved itself (a click, a registration)

# --- the detector ---------------------------------------------------------------------------------
_BOT_TOKEN = re.compile(r"<(@[UW][A-Z0-9]+|!date\^\d+\^[^|<>]*\|[^<>]*|https?://[^|<> ]+\|[^<>]*)>")
_MARKER = {"bold": "*\uff0a", "italic": "_\uff3f", "strike": "~\uff5e"}
_SPANS = {kind: re.compile(rf"(?<![^\s\W])[{m}](?=\S)[^\n{m}]*?(?<=\S)[{m}](?![^\s\W])")
          for kind, m in _MARKER.items()}
_SPANS["code"] = re.compile(r"[`\uff40][^`\uff40\n]+[`\uff40]")
_SPANS["block"] = re.compile(r"```.+?```", re.DOTALL)
# a quote the bot did not write: its own is a raw `>` (outside `>` arrives escaped, yet Slack quotes `&gt;` too)
_SPANS["quote"] = re.compile(r"^\s*(?:>\s*)?(?:&gt;|\uff1e)", re.MULTILINE)
_SPANS["emoji"] = re.compile(r":[a-z0-9_+'-]+:", re.IGNORECASE)
_SPANS["url"] = re.compile(r"\b[a-z][a-z0-9+.-]*://|\bwww\.", re.IGNORECASE)
_SPANS["domain"] = re.compile(r"\b[\w-]+\.[^\W\d_]{2,}\b")
# an address needs a letter or digit on both sides of its `@` (`_@_` is the bot's italics around an `@`)
_SPANS["email"] = re.compile(r"[\w.+-]*[^\W_]@[^\W_][\w-]*")
_SPANS["ping"] = re.compile(r"@(?:here|channel|everyone)\b|#[^\W\d_]\w*", re.IGNORECASE)


def constructs(text: str) -> Counter[str]:
    """What Slack would make of `text` (mrkdwn), by kind; the bot's own `<…>` tokens by value."""
    found: Counter[str] = Counter()
    for token in _BOT_TOKEN.findall(text):
        found[f"token {token.split('|')[0] if token.startswith('http') else token[:6]}"] += 1
    rest = _BOT_TOKEN.sub(" ", text)
    found["angle"] += rest.count("<")
    for kind, pattern in _SPANS.items():
        found[kind] += len(pattern.findall(rest))
    return found


def mrkdwn_texts(value: Any) -> Iterator[str]:
    """Every text Slack parses as mrkdwn: mrkdwn objects, a message's fallback `text`, a bare string."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        if value.get("type") == "plain_text":
            assert value.get("emoji") is False, value  # shortcodes stay literal
            return
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            elif key not in ("url", "value", "action_id", "block_id", "callback_id", "private_metadata"):
                yield from mrkdwn_texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from mrkdwn_texts(item)


def mentions(text: str) -> set[str]:
    return set(re.findall(r"<@([UW][A-Z0-9]+)>", text))


# --- every surface that shows outside text ----------------------------------------------------------
def document(v: dict[str, str]) -> Document:
    who = Person(v["name"], v["email"])
    return Document(
        "purchaseorders", 1, v["idn"], status=api.STATUS_DENIED, total=Decimal("1250.5"), currency=v["currency"],
        supplier=v["supplier"], creator=who, location=v["location"], created_at=NOW,
        items=(LineItem(v["item"], v["qty"], v["price"]),),
        approval_steps=(ApprovalStep(v["step"], (Person(v["name"], ""),), True, (Person(v["approver"], ""),)),
                        ApprovalStep(v["step"] + "2", (Person(v["approver"], ""),))),
        custom_fields=(CustomField(v["field"], v["value"]),), attachments=(Attachment(v["file"], LINK),),
        comments=(Comment(v["comment"], Person(v["approver"], "approver@example.test")),),
        note=v["note"], last_approver=Person(v["approver"], ""))


def surfaces(v: dict[str, str]) -> dict[str, Any]:
    """Each surface rendered with the outside values `v` (Precoro's and typed text)."""
    doc = document(v)
    home = HomeItem(doc, "1", LINK, MessageState.WAITING, NOW)
    precoro_by = messages.Actor(name=v["approver"])
    clicked_by = messages.Actor(slack_id="U0BOB")
    renders: dict[str, Any] = {
        f"document {state}": messages.document_message(doc, ref="1", link=LINK, state=state, actor="U0BOB", at=NOW,
                                                       reason=v["reason"], retry_allowed=True)
        for state in MessageState
    }
    renders |= {
        "change note": messages.change_note(document({**v, "comment": "x", "note": "y", "file": "z"}), doc),
        "outcome DM by Precoro name": outcome_messages.requester_outcome_message(doc, "rejected", link=LINK,
                                                                          reason=v["reason"], by=precoro_by),
        "outcome DM by a click": outcome_messages.requester_outcome_message(doc, "revision", link=LINK,
                                                                     reason=v["reason"], by=clicked_by),
        "finance decision": outcome_messages.finance_decision_line(doc, "rejected", link=LINK, reason=v["reason"],
                                                           by=precoro_by),
        "finance waiting": outcome_messages.finance_waiting_line(doc, link=LINK, hours=8, waiting_for=[v["approver"]]),
        "reminder": reminder_messages.reminder_message([ReminderItem(doc, "1", LINK, 9.0)], snooze_hours=[2, 24]),
        "digest": reminder_messages.digest_message([home], now=NOW, tz="UTC"),
        "snoozed": reminder_messages.snoozed_text(doc, NOW, "UTC"),
        "cover digest": away_messages.cover_digest_message("U0ALICE", [home], until=date(2025, 1, 9), now=NOW),
        "return digest": away_messages.return_digest_message([home], 1, since=NOW, now=NOW),
        "home": home_messages.home_view([home], now=NOW, tz="UTC"),
        "history": history_messages.history_blocks([HistoryEntry(doc, "reject", NOW, LINK, v["reason"])],
                                                   HistoryFilter()),
        "approve modal": messages.approve_modal("1", doc),
        "reject modal": messages.reject_modal("1", doc),
        "already decided": messages.already_decided_text(v["reason"], actor="U0BOB", at=NOW),
        "requesters status": outcome_messages.requesters_status_line(v["company"], 1, [v["email"]], 2, 0),
        # A decision's subject is the bot's `type/IDN` (the IDN is Precoro's); only a subject the
        # bot wrote as a whole `<@U…>` (token changes) is shown as a mention.
        "audit": admin_messages.audit_log_text([(NOW, v["company"], "U0ALICE", "decision.reject",
                                           f"purchaseorders/{v['idn']}", v["reason"])], "UTC"),
    }
    return renders


FIELDS = ("name", "email", "idn", "currency", "supplier", "location", "item", "qty", "price", "step", "approver",
          "field", "value", "file", "comment", "note", "reason", "company")
HARMLESS = dict.fromkeys(FIELDS, "Ann")

ATTACKS = ["W0ADMIN99", "<@U0ALICE>", "<!channel>", "<!here>", "<https://evil.example|click>", "@here", "@channel",
           "#general", "*bold*", "_it_", "~st~", "`code`", "```block```", "> quote", "\n> quote", "&gt; q",
           "https://evil.example", "www.x.com", "evil.com", "a@evil.com", ":joy:", "\uff0abold\uff0a", "x*y*z",
           "<!date^1^{date}|x>", "&amp;", "&lt;", "<", ">", "\u200b*b\u200b*", "mailto:a@b.co"]
adversarial = st.lists(st.sampled_from(ATTACKS) | st.text(alphabet=" *_~`>:<@#.!|/\nabcW0", max_size=12),
                       min_size=1, max_size=6).map("".join)


def assert_inert(render: Callable[[dict[str, str]], dict[str, Any]], values: dict[str, str]) -> None:
    harmless, hostile = render(HARMLESS), render(values)
    for surface, body in hostile.items():
        expected = sum((constructs(t) for t in mrkdwn_texts(harmless[surface])), Counter())
        for text in mrkdwn_texts(body):
            assert mentions(text) <= RESOLVED, (surface, text)
        got = sum((constructs(t) for t in mrkdwn_texts(body)), Counter())
        extra = {kind: n for kind, n in got.items() if n > expected[kind]}
        assert not extra, (surface, extra, list(mrkdwn_texts(body)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.fixed_dictionaries({f: adversarial for f in FIELDS}))
def test_no_outside_text_becomes_markup_on_any_surface(values: dict[str, str]) -> None:
    assert_inert(surfaces, values)


def test_each_attack_alone_in_each_field() -> None:
    for attack in ATTACKS:
        assert_inert(surfaces, dict.fromkeys(FIELDS, f"x {attack} y"))


def test_the_detector_sees_what_slack_would_render() -> None:
    for text in ["*bold*", "_it_", "~st~", "`c`", "```b```", "&gt; q", ":joy:", "https://e.x", "www.x.com", "evil.com",
                 "a@evil.com", "@here", "#general", "<!channel>", "\uff0ab\uff0a"]:
        assert sum(constructs(text).values()) > 0, text
    for text in ["x*y*z", "snake_case_name", "Acme Inc.", "1.5 kg", "a * b * c", messages.safe("*bold* evil.com", 99)]:
        assert constructs(text)["bold"] + constructs(text)["italic"] + constructs(text)["domain"] == 0, text


# --- the bug list, each case on its own ---------------------------------------------------------------
def _rejected(**extra: object) -> Document:
    fields: dict[str, Any] = {"total": Decimal("1250"), "currency": "USD", "supplier": "Acme",
                              "creator": Person("Dana", "dana@example.com"), **extra}
    return Document("purchaseorders", 1, "PO-1", status=api.STATUS_DENIED, **fields)


def _outcome_by(name: str) -> Any:
    """A decider as Precoro names them. Before `Actor`, `by` was a bare string (a click's Slack id
    or a Precoro name alike): the same input, so these tests also ran against the old code."""
    actor = getattr(messages, "Actor", None)
    return actor(name=name) if actor is not None else name


def test_a_precoro_name_like_a_member_id_is_not_a_mention_in_the_outcome_dm() -> None:
    body = outcome_messages.requester_outcome_message(_rejected(), "rejected", link=LINK, reason="no",
                                              by=_outcome_by("W0ADMIN99"))
    shown = str(body)
    assert "<@W0ADMIN99>" not in shown and "by W0ADMIN99" in shown


def test_a_precoro_name_like_a_member_id_is_not_a_mention_in_the_finance_line() -> None:
    line = outcome_messages.finance_decision_line(_rejected(), "rejected", link=LINK, by=_outcome_by("W0ADMIN99"))
    assert "<@W0ADMIN99>" not in line and "by W0ADMIN99" in line


def test_a_mention_typed_as_a_precoro_name_shows_as_text() -> None:
    line = outcome_messages.finance_decision_line(_rejected(), "rejected", link=LINK, by=_outcome_by("<@U0ALICE>"))
    assert "<@U0ALICE>" not in line and "&lt;" in line and "U0ALICE&gt;" in line


def test_a_clicker_resolved_by_slack_is_a_mention() -> None:
    actor = getattr(messages, "Actor", None)
    by = actor(slack_id="U0BOB") if actor is not None else "U0BOB"
    line = outcome_messages.finance_decision_line(_rejected(), "rejected", link=LINK, by=by)
    assert "by <@U0BOB>" in line


def test_a_reason_does_not_ping_or_link_in_the_outcome_fallback_text() -> None:
    body = outcome_messages.requester_outcome_message(_rejected(), "rejected", link=LINK, reason="<!channel> <https://x|y>")
    assert "<" not in body["text"] and "&lt;!channel&gt;" in body["text"]


def test_a_bold_supplier_is_not_bold() -> None:
    doc = _rejected(supplier="*bold*")
    fields = messages.document_message(doc, ref="1", link=LINK)["blocks"][1]["fields"]
    supplier = next(f["text"] for f in fields if f["text"].startswith("*Supplier*"))
    assert "*bold*" not in supplier and "bold" in supplier
    assert "*bold*" not in outcome_messages.finance_decision_line(doc, "approved", link=LINK)


def test_formatting_and_bare_urls_in_a_note_stay_text() -> None:
    doc = _rejected(note="_it_ ~st~ `code` ```block``` https://evil.example www.x.com evil.com")
    note = str(messages.document_message(doc, ref="1", link=LINK)["blocks"])
    for raw in ("_it_", "~st~", "`code`", "```", "https://evil", "www.x.com", "evil.com"):
        assert raw not in note, raw
