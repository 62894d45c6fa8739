"""Slack's limits, the text helpers and the small Block Kit builders every surface uses. Pure.

Outside text is plain text. Names, suppliers, reasons, notes, comments, items, custom fields from
Precoro, and anything a user typed, never become a mention, a channel ping, a link or formatting.
The policy, in one place (`safe`), from Slack's "Formatting text for app surfaces"
(docs.slack.dev/messaging/formatting-message-text) and the text object reference
(docs.slack.dev/reference/block-kit/composition-objects/text-object):

1. Where a block takes `plain_text` and the bot adds no formatting of its own (headers, buttons,
   options, confirm dialogs, modal echoes) the text goes in `plain`: Slack shows plain_text as it
   is, and `emoji: false` keeps even `:shortcodes:` literal.
2. Where mrkdwn is needed (bold labels, the bot's own links, date tokens and mentions beside an
   outside value), each outside value goes through `safe`: control characters dropped, `& < >`
   escaped (Slack's only documented escapes: no `<!channel>`, `<@U…>`, `<url|label>`), then
   `neutral`: the markers Slack has no escape for are replaced by look-alikes (`*` U+2217,
   `_` U+02CD, `~` U+223C, `` ` `` U+02CB, and their fullwidth forms, which Slack also reads as
   markers), a `>` that starts a line (a quote) by U+203A, the `:` of `://` and of an `:emoji:`
   by U+A789 (also a colon near a value's end that could pair with the bot's own after it:
   `from :0` + `: ` would read `:0:`), the `.` of a host name (`evil.com`, `www.x`, also a
   leading `.com` beside the bot's own text) by U+2024, `@` and `#` before a word by their
   fullwidth forms (auto-linked emails, `@here`, `#channel`). Replacement, not a zero-width
   space: Slack takes a zero-width space as a word boundary, so one beside a marker *enables*
   formatting (jsx-slack's "exact mode", docs/about-escape-and-exact-mode.md, relies
   on it; its `<Escape>` uses the same look-alikes). The text reads the same; it cannot be
   copied back byte for byte.
3. Every mrkdwn object is `verbatim: true` (no auto-linking of URLs or channel names: defence in
   depth behind 2), and a message's fallback `text` (notifications) is mrkdwn too: its outside
   parts go through `safe` like the blocks'.
4. Mentions (`<@U…>`) come only from `mention`, whose argument is a Slack user id the bot
   resolved itself: a click's or a command's user, a stored registration, `users.lookupByEmail`,
   a mention Slack escaped in a slash command. A name from Precoro never goes there: one that
   looks like a member id (`W0ADMIN99`) is shown as text (`person`, `Actor`).

Amounts and times are formatted here too; times come in as arguments (no clock read). A time in
mrkdwn is a Slack date token (`slack_time`: each reader sees their own zone); `format_time` is for
plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# --- Slack limits ---------------------------------------------------------------------------------
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000
FALLBACK_TEXT_MAX = 3000
EMAIL_MAX = 254
TOKEN_MAX = 1000

DASH = "—"
AMOUNT_UNREADABLE = "amount unreadable"  # an amount that is not a sane number (NaN, 1e10000000)
AMOUNT_MAX_DIGITS = 16  # digits before the point that an amount may have
NAME_MAX = 200  # a person, supplier, location or step name as shown in a field
ITEM_MAX = 150
APPROVE_COMMENT_MAX = 800  # like a rejection's reason; kept in Slack and the bot's records only

SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Look-alikes for the characters Slack reads as markup and has no escape for (see the docstring).
_MARKERS = str.maketrans({
    "*": "\u2217", "\uff0a": "\ufe61",  # bold: asterisk operator, small asterisk
    "_": "\u02cd", "\uff3f": "\u02cd",  # italic: modifier letter low macron
    "~": "\u223c", "\uff5e": "\u223c",  # strikethrough: tilde operator
    "`": "\u02cb", "\uff40": "\u02cb",  # code and code blocks: modifier letter grave accent
})
_QUOTE = re.compile(r"^(\s*)(?:>|&gt;|\uff1e)", re.MULTILINE)  # a quote: `>` first on a line
_SCHEME = re.compile(r":(?=//)")  # https://…, ftp://…
_EMOJI = re.compile(r":([\w+'-]+):")  # :shortcode:
# a colon ending a value in a would-be shortcode (`from :0`) that the colon the bot writes after a
# value (`from :0: text`) would close; the bot's text before a value ends in a space, so a value's
# leading `word:` (an audit outcome's `ignored: …`) cannot pair and stays
_EDGE_COLON = re.compile(r":(?=[\w+'-]+$)")
_HOST_DOT = re.compile(r"\.(?=[^\W\d_])|(?<=\bwww)\.")  # a dot before a letter (evil.com, .com), www.
_AT_HASH = re.compile(r"[@#](?=\w)")  # a@b.c, @here, #general
_COLON, _DOT = "\ua789", "\u2024"  # modifier letter colon, one dot leader
_LINKERS = {"@": "\uff20", "#": "\uff03"}  # fullwidth commercial at, fullwidth number sign


# --- text helpers ---------------------------------------------------------------------------------
def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters (bot text only:
    outside text takes `safe`, which also neutralises formatting and auto-links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def neutral(text: str) -> str:
    """`text` with no character Slack would read as formatting, a quote, an emoji or an auto-link
    (look-alikes instead; see the module docstring). Works on raw or escaped text; `text` is one
    whole outside value, since a colon near its end is neutralised (it could pair with the bot's own)."""
    text = _QUOTE.sub("\\1\u203a", text.translate(_MARKERS))
    text = _EMOJI.sub(f"{_COLON}\\1{_COLON}", _SCHEME.sub(_COLON, text))
    text = _EDGE_COLON.sub(_COLON, _HOST_DOT.sub(_DOT, text))
    return _AT_HASH.sub(lambda m: _LINKERS[m.group()], text)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut (for plain text)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)].rstrip() + "…"


def clean(text: Any, *, one_line: bool = True) -> str:
    """`text` as a string without control characters; runs of whitespace made one space (`one_line`)."""
    value = _CONTROL.sub("", "" if text is None else str(text))
    return _SPACES.sub(" ", value).strip() if one_line else value.strip()


def safe(text: Any, limit: int, *, one_line: bool = True) -> str:
    """Outside text made inert for mrkdwn (and for a message's fallback `text`): cleaned, escaped,
    `neutral`, at most `limit` characters; never cuts an `&amp;`-style entity in half."""
    escaped = neutral(escape(clean(text, one_line=one_line)))
    if len(escaped) <= limit:
        return escaped
    cut = escaped[: max(limit - 1, 0)]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…"


def mention(user: str | None) -> str:
    """`<@U123>` for a Slack user id the bot resolved itself (never a name from Precoro); anything
    malformed is shown as inert text."""
    value = (user or "").strip()
    if SLACK_USER_ID.match(value):
        return f"<@{value}>"
    return safe(value, NAME_MAX) or "someone"


@dataclass(frozen=True)
class Actor:
    """Who did something: `slack_id`, a Slack user the bot resolved itself (a click's user), or
    else `name`, a person as Precoro names them (shown as text, never as a mention)."""

    slack_id: str = ""
    name: str = ""

    def __bool__(self) -> bool:
        return bool(self.slack_id.strip() or clean(self.name))


NOBODY = Actor()  # nobody named (the default of a `by`)


def person(actor: Actor) -> str:
    """mrkdwn for `actor`: a mention for a resolved Slack id, inert text for a Precoro name."""
    if actor.slack_id.strip():
        return mention(actor.slack_id)
    return safe(actor.name, NAME_MAX) or "someone"


# --- Block Kit builders (the shared pieces of every surface) --------------------------------------
def plain(text: str, limit: int, *, emoji: bool = False) -> dict[str, Any]:
    """A plain_text object, clipped to `limit`; "—" when empty (Slack refuses an empty one).
    Shown literally; `emoji=True` only for the bot's own text that uses `:shortcodes:`."""
    return {"type": "plain_text", "text": clip(clean(text) or DASH, limit), "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object, `verbatim` (no auto-linking); outside parts of `text` went through
    `safe`, and the caller clips it."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def field(label: str, value: str) -> dict[str, Any]:
    """A section field: bold `label` over `value` (already escaped mrkdwn)."""
    return mrkdwn(f"*{label}*\n{value}")


def button(text: str, action_id: str, **extra: Any) -> dict[str, Any]:
    """A button; `extra` adds value, style, url or confirm."""
    return {"type": "button", "text": plain(text, BUTTON_TEXT_MAX), "action_id": action_id, **extra}


def option(text: str, value: str) -> dict[str, Any]:
    """An option of a select menu."""
    return {"text": plain(text, 75), "value": value}


def mrkdwn_link(url: str, text: str) -> str:
    """`<url|text>` when the URL is safe to put in mrkdwn; else the (already escaped) text."""
    url = (url or "").strip()
    if url.startswith(("https://", "http://")) and len(url) <= URL_MAX and not any(c in url for c in "|<> "):
        return f"<{url}|{text.replace('|', '/')}>"
    return text


def check_ref(ref: str) -> None:
    """A button value carries `ref`: refuse one Slack would not accept (a bug, not user input)."""
    if not ref or len(ref) > BUTTON_VALUE_MAX:
        raise ValueError(f"ref must be 1..{BUTTON_VALUE_MAX} characters, got {len(ref or '')}")


# --- numbers and times ----------------------------------------------------------------------------
def format_amount(total: Decimal | None, currency: str) -> str:
    """`1,200.00 USD`; `—` when there is no amount; AMOUNT_UNREADABLE for one that is not a finite
    number of at most AMOUNT_MAX_DIGITS digits before the point (`1e10000000` would otherwise
    render ten million digits, a 13 MB message)."""
    if total is None:
        return DASH
    try:
        value = total if isinstance(total, Decimal) else Decimal(str(total))
    except (InvalidOperation, ValueError):
        return AMOUNT_UNREADABLE
    if not value.is_finite() or value.adjusted() >= AMOUNT_MAX_DIGITS:
        return AMOUNT_UNREADABLE
    if value.is_zero():
        value = abs(value)  # never "-0.00"
    try:
        rounded = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than the decimal context holds
        rounded = value
    text = f"{rounded:,.2f}"
    code = neutral(clean(currency)[:10])
    return f"{text} {code}" if code else text


def _zone(tz: str) -> tzinfo:
    try:
        return ZoneInfo(tz) if tz else UTC
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return UTC


def _local(at: datetime, tz: str) -> datetime:
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return aware.astimezone(_zone(tz))


def format_time(at: datetime, tz: str) -> str:
    """`Jan 05, 14:02 CET` in the zone `tz` (UTC for an unknown zone; naive times are UTC)."""
    return _local(at, tz).strftime("%b %d, %H:%M %Z").strip()


def slack_time(at: datetime) -> str:
    """`<!date^1736186520^{date_short_pretty}, {time}|Jan 06, 19:02 UTC>`: a time in mrkdwn.

    Slack shows a date token in each reader's own zone and format ("today, 20:02" in Berlin,
    "today, 2:02 PM" in New York), so one message reads right for every reader, and a time stays
    right when the reader travels. Clients that cannot render the token (notifications, some
    integrations) show the fallback, in UTC so it is never ambiguous. Only mrkdwn renders the
    token: a plain_text field (headers, modal titles, buttons) takes `format_time` instead.
    Naive times are UTC."""
    aware = at if at.tzinfo else at.replace(tzinfo=UTC)
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}}, {{time}}|{format_time(aware, 'UTC')}>"


def format_date(at: datetime | None, tz: str) -> str:
    """`Jan 05, 2025` in the zone `tz`; `—` when unknown."""
    if at is None:
        return DASH
    return _local(at, tz).strftime("%b %d, %Y")


def at_time(at: datetime | None) -> str:
    """` at <date token>` (mrkdwn, `slack_time`), or "" when the time is unknown."""
    return f" at {slack_time(at)}" if at is not None else ""


def format_age(seconds: float) -> str:
    """`just now`, `12 min`, `3 h`, `2 d`."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def format_span(seconds: float) -> str:
    """A quota window's length: `1 s`, `1 h`, `1 day`."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = int(seconds // 86400)
        return "day" if days == 1 else f"{days} days"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def plural(n: int, one: str, many: str | None = None) -> str:
    """`1 document`, `3 documents`."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def line_sections(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Lines as sections, several to a section, each section within Slack's text limit."""
    blocks: list[dict[str, Any]] = []
    text = ""
    for line in lines:
        if len(text) + len(line) + 2 > SECTION_TEXT_MAX:
            blocks.append({"type": "section", "text": mrkdwn(text)})
            text = ""
        text = f"{text}\n\n{line}" if text else line
    if text:
        blocks.append({"type": "section", "text": mrkdwn(text)})
    return blocks
