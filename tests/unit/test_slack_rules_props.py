"""Slack's rules hold on every surface the bot renders, for any text and every config it accepts.

Property-based: hypothesis draws adversarial text for every field that comes from Precoro or is
typed by a user (very long, mentions and channel pings, mrkdwn markup, links, emoji, RTL, control
characters, empty), and configs through the real parser (`bot.config.parse_config`: one to three
snooze hours, amount rules, reminder and digest settings, connect policies, requesters' DMs,
finance channel). Every message, modal and Home view must pass `blockkit_rules.problems` (Slack's
own slack_sdk models plus the documented limits they skip), and every message's fallback text the
bot's own limit (`FALLBACK_TEXT_MAX`, stricter than Slack's 40,000).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import amounts
from bot.config import Config, parse_config
from bot.features.away import messages as away_messages
from bot.features.connect import messages as connect_messages
from bot.features.home import history_messages
from bot.features.home import messages as home_messages
from bot.features.outcomes import messages as outcome_messages
from bot.features.reminders import messages as reminder_messages
from bot.precoro import api
from bot.precoro.models import ApprovalStep, Attachment, Comment, CustomField, Document, LineItem, Person, _decimal
from bot.slack import messages as m
from bot.vault import generate_key
from precoro_devkit.emulator.blockkit_rules import problems

Json = dict[str, Any]
PROPS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
KEY = generate_key()

# --- adversarial text -----------------------------------------------------------------------------
NASTY = [
    "", " ", "\t\n", "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@W0ADMIN99>", "W0ADMIN99", "U0ALICE",
    "<#C0123|general>", "<!subteam^S123>", "<!date^1700000000^{date}|x>", "*bold*", "_it_", "~st~", "`code`",
    "```block```", ">quote", "<https://evil.example|click me>", "https://evil.example/x?a=1&b=2", "a|b",
    "&amp;", "&lt;&gt;", "& < >", ":smile:", "😀👍🏽🇺🇦", "\u202eevil\u202c", "שלום עולם", "مرحبا بالعالم",
    "\x00\x07\x1b[31m\x7f", "\r\n", "\u200b\u200d", "é" * 3, "ﷺ" * 4, "\ud7ff", "‮",
]


def _long(n: int) -> str:
    return ("<@U1> *x* & é😀 " * (n // 14 + 1))[:n]


texts = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.lists(st.sampled_from([*NASTY, "word", " "]), max_size=8).map("".join),
    st.integers(150, 6000).map(_long),
)
short_texts = st.one_of(st.sampled_from(NASTY), st.text(max_size=20))
user_ids = st.sampled_from(["U0ALICE", "W0ADMIN99", "U012ABCDEF"])
actors = st.none() | user_ids | texts  # a decider as Slack or Precoro names them
deciders = st.builds(m.Actor, slack_id=st.just("") | user_ids, name=texts)  # a resolved click or a Precoro name
links = st.sampled_from(["https://app.precoro.com/purchase/order/1001", "", "javascript:alert(1)",
                         "https://app.precoro.com/x|<y>", "https://app.precoro.com/" + "p" * 2990])
refs = st.sampled_from(["1", "c1:U123:purchaseorders:1001", "9" * 40, "r" * 2000])
zones = st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata", "Pacific/Chatham", "Bogus/Zone", ""])
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
# amounts as the models read them from Precoro's answers (NaN: present but unreadable)
amount_values = st.one_of(
    st.none(), st.decimals(allow_nan=True, allow_infinity=True), st.floats(), st.text(max_size=45),
    st.sampled_from(["0", "-0", "-5", "1e15", "1e16", "9" * 40, "10000.005", "12,000", "NaN", "Infinity"]),
).map(_decimal)

people = st.builds(Person, name=texts, email=short_texts)
documents = st.builds(
    Document,
    doc_type=st.sampled_from([*api.DOCUMENT_TYPES, "other"]),  # the type the bot asked Precoro for
    id=st.integers(0, 2**63),
    idn=texts,
    status=st.none() | st.sampled_from(list(api.STATUS_NAMES)) | st.integers(-5, 99),
    status_text=texts,
    total=amount_values,
    currency=short_texts | st.sampled_from(["EUR", "USD"]),
    supplier=texts,
    creator=people,
    location=texts,
    created_at=st.none() | moments,
    updated_at=st.none() | moments,
    items=st.lists(st.builds(LineItem, name=texts, quantity=short_texts, price=short_texts), max_size=6).map(tuple),
    approval_steps=st.lists(st.builds(ApprovalStep, name=texts, approvers=st.lists(people, max_size=3).map(tuple),
                                      done=st.booleans(), approved_by=st.lists(people, max_size=2).map(tuple)),
                            max_size=5).map(tuple),
    current_step=st.none() | st.builds(ApprovalStep, name=texts),
    last_approver=st.none() | people,
    custom_fields=st.lists(st.builds(CustomField, name=texts, value=texts), max_size=12).map(tuple),
    attachments=st.lists(st.builds(Attachment, name=texts, url=links | texts), max_size=6).map(tuple),
    comments=st.lists(st.builds(Comment, text=texts, author=people, at=st.none() | moments), max_size=4).map(tuple),
    note=texts,
)

# --- every config the schema accepts (through the real parser) --------------------------------------
hours = st.one_of(st.sampled_from([0.25, 1, 2, 24, 48, 72, 336]), st.floats(0.01, 336).map(lambda h: round(h, 2)))
clock = st.sampled_from(["00:00", "07:30", "09:00", "17:45", "23:59"])


@st.composite
def configs(draw: st.DrawFn) -> Config:
    start, end = sorted(draw(st.lists(clock, min_size=2, max_size=2, unique=True)))
    reminders = {"enabled": draw(st.booleans()), "after_working_hours": max(0.25, draw(hours)),
                 "repeat_working_hours": draw(st.sampled_from([0, 1, 8, 40])),
                 "workday": {"start": start, "end": end},
                 "working_days": draw(st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
                                               min_size=1, max_size=7, unique=True)),
                 "snooze_hours": draw(st.lists(hours, min_size=1, max_size=3)),
                 "digest": {"enabled": draw(st.booleans()), "at": draw(clock)}}
    precoro = {"id": draw(st.sampled_from(["acme", "globex-eu", "a" * 40])), "base_url": "https://api.precoro.com",
               "document_types": [*api.DOCUMENT_TYPES][:draw(st.integers(1, len(api.DOCUMENT_TYPES)))],
               "connect_policy": draw(st.sampled_from(["admin", "self", "self-with-approval"])),
               "confirm_above": draw(st.dictionaries(st.sampled_from(["EUR", "USD", "GBP", "JPY"]),
                                                     st.sampled_from([0.01, 1, 10000, 12000.5, 1e15]), max_size=3)),
               "notify_requesters": draw(st.booleans())}
    if draw(st.booleans()):
        precoro |= {"finance_channel": "C012ABCDEF", "finance_waiting_hours": draw(st.sampled_from([0, 4, 40]))}
    raw = {"slack": {"signing_secret": "s" * 32, "bot_token": "xoxb-test", "admins": ["U012ABCDEF"]},
           "precoro": precoro, "storage": {"url": "sqlite:///x.db"},
           "encryption": {"keys": [{"id": "k1", "key": KEY}]}, "reminders": reminders}
    return parse_config(raw, env={})


def confirm_above(config: Config, doc: Document) -> str:
    """What the bot shows for a document above its company's amount rule (`Notifier.confirm_above`)."""
    limit = amounts.confirm_limit(config.companies[0].confirm_above, doc)
    return m.limit_text(limit, doc.currency) if limit is not None else ""


def prefs(config: Config, mine_hours: float | None, mine_digest: bool | None) -> home_messages.ReminderPrefs:
    policy = config.reminders
    return home_messages.ReminderPrefs(
        default_hours=policy.after_working_hours, default_on=policy.enabled, hours=mine_hours,
        default_digest=policy.digest, digest=mine_digest, digest_at=f"{policy.digest_at:%H:%M}",
        workday=home_messages.workday_text(f"{policy.workday_start:%H:%M}", f"{policy.workday_end:%H:%M}",
                               policy.working_days))


# --- the checks -----------------------------------------------------------------------------------
def assert_message(msg: Json) -> None:
    found = problems(msg, "message")
    assert found == [], found[:5]
    assert 0 < len(msg["text"]) <= m.FALLBACK_TEXT_MAX, len(msg["text"])


def assert_view(view: Json) -> None:
    found = problems(view, view["type"])
    assert found == [], found[:5]


def home_items(draw: st.DrawFn, config: Config, max_size: int) -> list[m.HomeItem]:
    docs = draw(st.lists(documents, max_size=max_size))
    return [m.HomeItem(doc, ref=f"{i + 1}", link=draw(links),
                       state=draw(st.sampled_from([m.MessageState.WAITING, m.MessageState.QUEUED,
                                                   m.MessageState.FAILED, m.MessageState.WORKING])),
                       since=NOW - timedelta(seconds=draw(st.integers(0, 10**8))),
                       confirm_above=confirm_above(config, doc))
            for i, doc in enumerate(docs)]


# --- the document message and its modals ----------------------------------------------------------
@PROPS
@given(config=configs(), doc=documents, ref=refs, link=links, state=st.sampled_from(list(m.MessageState)),
       actor=actors, at=st.none() | moments, tz=zones, reason=texts, action=st.sampled_from(["approve", "reject"]),
       retry=st.booleans())
def test_the_document_message_in_every_state(config: Config, doc: Document, ref: str, link: str,
                                              state: m.MessageState, actor: str | None, at: datetime | None,
                                              tz: str, reason: str, action: str, retry: bool) -> None:
    assert_message(m.document_message(doc, ref=ref, link=link, state=state, actor=actor, at=at, tz=tz,
                                      reason=reason, action=action, retry_allowed=retry,
                                      confirm_above=confirm_above(config, doc)))


@PROPS
@given(config=configs(), doc=documents, ref=refs)
def test_the_decision_modals(config: Config, doc: Document, ref: str) -> None:
    assert_view(m.approve_modal(ref, doc))
    assert_view(m.reject_modal(ref, doc))
    limit = confirm_above(config, doc) or "10,000.00 EUR"
    assert_view(m.amount_confirm_modal(ref, doc, limit))


@PROPS
@given(config=configs(), target=user_ids, email=texts, title=texts, text=texts)
def test_register_connect_and_notice_modals(config: Config, target: str, email: str, title: str, text: str) -> None:
    """The user id is one the bot resolved and the company one from its config; the email is typed."""
    company = config.companies[0].id
    assert_view(m.register_modal(target_user=target, email=email, company=company))
    assert_view(connect_messages.connect_modal(company=company, email=email))
    assert_view(m.notice_view(title, text))


@PROPS
@given(config=configs(), user=user_ids | texts, email=texts, by=user_ids | texts)
def test_connect_requests_and_invitations(config: Config, user: str, email: str, by: str) -> None:
    company = config.companies[0]
    assert_message(connect_messages.connect_request_message(user=user, email=email, company=company.id,
                                                            value="17:" + "c" * 40))
    assert_message(connect_messages.invitation_message(company=company.id, by=by, policy=company.connect_policy))


# --- reminders, digests, away -----------------------------------------------------------------------
@PROPS
@given(config=configs(), docs=st.lists(documents, min_size=1, max_size=14), link=links,
       waited=st.floats(0, 10**6))
def test_reminders_with_every_snooze_config(config: Config, docs: list[Document], link: str, waited: float) -> None:
    items = [reminder_messages.ReminderItem(doc, ref=str(i + 1), link=link, waited_working_hours=waited)
             for i, doc in enumerate(docs)]
    msg = reminder_messages.reminder_message(items, snooze_hours=config.reminders.snooze_hours)
    assert_message(msg)
    snoozes = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e.get("value", "").endswith(tuple(f":{h:g}" for h in config.reminders.snooze_hours))]
    assert len(snoozes) == len(config.reminders.snooze_hours) * min(len(docs), reminder_messages.REMINDER_SHOWN)


@PROPS
@given(data=st.data(), config=configs(), tz=zones, until=st.dates(date(2000, 1, 1), date(2100, 1, 1)),
       owner=user_ids | texts, waiting=st.integers(0, 10**6))
def test_digests_and_away_messages(data: st.DataObject, config: Config, tz: str, until: date, owner: str,
                                   waiting: int) -> None:
    items = home_items(data.draw, config, 30)
    assert_message(reminder_messages.digest_message(items, now=NOW, tz=tz))
    assert_message(away_messages.cover_digest_message(owner, items, until=until, now=NOW))
    assert_message(away_messages.return_digest_message(items, waiting, since=NOW - timedelta(days=9), now=NOW))


# --- outcome DMs and finance channel lines ----------------------------------------------------------
@PROPS
@given(doc=documents, outcome=st.sampled_from(["approved", "rejected", "revision"]), link=links, reason=texts,
       by=deciders, hours_waited=st.floats(0, 10**5), waiting_for=st.lists(texts, max_size=6))
def test_outcome_dms_and_finance_lines(doc: Document, outcome: str, link: str, reason: str, by: m.Actor,
                                       hours_waited: float, waiting_for: list[str]) -> None:
    assert_message(outcome_messages.requester_outcome_message(doc, outcome, link=link, reason=reason, by=by))
    # the finance channel gets each line as a message's text (no blocks)
    assert_message({"text": outcome_messages.finance_decision_line(doc, outcome, link=link, reason=reason, by=by)})
    assert_message({"text": outcome_messages.finance_waiting_line(doc, link=link, hours=hours_waited,
                                                                  waiting_for=waiting_for)})


# --- the App Home, for approvers and admins ---------------------------------------------------------
@st.composite
def admin_summaries(draw: st.DrawFn) -> home_messages.AdminSummary:
    rows = draw(st.lists(st.builds(home_messages.ApproverRow, user=user_ids | texts, company=texts, email=texts,
                                   status=st.sampled_from(["active", "revoked", "pending"]) | texts,
                                   last_polled=st.none() | moments, waiting=st.integers(0, 10**6)), max_size=40))
    quotas = draw(st.lists(st.builds(home_messages.QuotaRow, company=texts, windows=st.lists(st.tuples(
        st.sampled_from([1.0, 60.0, 3600.0, 86400.0]), st.integers(0, 10**6), st.integers(1, 10**6),
        st.integers(0, 10**4)), max_size=4).map(tuple), paused_until=st.none() | moments), max_size=5))
    return home_messages.AdminSummary(tuple(rows), tuple(quotas))


@PROPS
@given(data=st.data(), config=configs(), tz=zones, page=st.integers(-3, 12), registered=st.booleans(),
       revoked=st.booleans(), admin=st.none() | admin_summaries(),
       bulk=st.lists(st.builds(home_messages.BulkResult, title=texts, ok=st.booleans(), text=texts,
                               amount=amount_values, currency=short_texts), max_size=30),
       mine_hours=st.none() | st.sampled_from([0.0, *home_messages.REMINDER_CHOICES, 3.0]),
       mine_digest=st.none() | st.booleans(),
       away=st.none() | st.dates(date(2000, 1, 1), date(2100, 1, 1)), cover=st.none() | user_ids,
       history_page=st.integers(-2, 8), invite=st.booleans())
def test_home_views(data: st.DataObject, config: Config, tz: str, page: int, registered: bool, revoked: bool,
                    admin: home_messages.AdminSummary | None, bulk: list[home_messages.BulkResult],
                    mine_hours: float | None, mine_digest: bool | None, away: date | None, cover: str | None,
                    history_page: int, invite: bool) -> None:
    items = home_items(data.draw, config, 45)
    entries = [history_messages.HistoryEntry(doc, action=data.draw(st.sampled_from(["approve", "reject"])), at=NOW,
                                             link="", comment=data.draw(texts))
               for doc in data.draw(st.lists(documents, max_size=25))]
    suppliers = [e.doc.supplier for e in entries] or [""]
    wanted = history_messages.HistoryFilter(doc_type=data.draw(st.sampled_from(["", *api.DOCUMENT_TYPES])),
                                            supplier=data.draw(st.sampled_from(suppliers) | texts),
                                            number=data.draw(texts), page=history_page)
    extra = (away_messages.away_home_blocks(away, cover if away else None, NOW.date())
             + history_messages.history_blocks(entries, wanted))
    company = config.companies[0]
    selfish = [company.id] if company.connect_policy != "admin" else []
    assert_view(home_messages.home_view(items, now=NOW, tz=tz, registered=registered, revoked=revoked, admin=admin,
                                        bulk=bulk, prefs=prefs(config, mine_hours, mine_digest), page=page,
                                        extra=extra if registered else [],
                                        connect=connect_messages.connect_home_blocks(selfish) if selfish else (),
                                        admin_actions=connect_messages.invite_home_blocks() if invite and selfish
                                        else ()))
