"""Keep secrets out of every log line, whichever library writes it and at whatever level.

Bolt logs the whole raw body of a request whose signature does not verify (at INFO), and a
typed `/precoro register @user email TOKEN` carries a token in that body; slack_sdk and others
log request details at DEBUG. Raising their levels is not enough (an operator debugging turns
DEBUG on), so the server installs a log record factory that scrubs every record as it is made,
before any handler or formatter sees it:

- known secret values (signing secret, bot token, encryption keys, and every Precoro token the
  process registers or decrypts), also in their URL-encoded form;
- `token=`-style fields, `X-AUTH-TOKEN` headers, bearer and Slack tokens, a typed register
  command's token, a modal's token input, and the body of Bolt's "invalid signature" line.

The same factory escapes control characters in every record's message and arguments (a newline
shows as `\\n`, an escape as `\\x1b`): a slash command's `command` or `text`, a user or action id
or a webhook field is the sender's to choose, and a newline in it would otherwise forge a second
log line (or an ANSI sequence rewrite the operator's terminal). Tracebacks stay multi-line; they
are redacted, and JSON logs encode them as one string.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_SECRET_LENGTH = 8

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Bolt: "Invalid request signature detected (signature: ..., timestamp: ..., body: <raw body>)"
    (re.compile(r"(Invalid request signature detected.*?body: ).*", re.S), rf"\g<1>{MASK})"),
    # form and query fields: token=..., text=register ... (a typed token), and the like
    (re.compile(r"(?i)(\b(?:(?:bot_|app_)?token|signing_secret|secret|key|password)=)[^&\s'\"]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(\btext=register(?:\+|%20|\s))[^&\s'\"]*"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(\bregister\s+<@[^>\s]+>\s+(?:\S+\s+)?\S+@\S+\s+)\S+"), rf"\g<1>{MASK}"),
    # headers and JSON-ish fields
    (re.compile(r"(?i)(x-auth-token['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(['\"](?:(?:bot_|app_)?token|signing_secret|key)['\"]\s*:\s*['\"])[^'\"]*"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(token_input['\"]?\s*:\s*\{[^{}]*?['\"]value['\"]\s*:\s*['\"])[^'\"]*"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\g<1>{MASK}"),
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9-]+"), MASK),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), MASK),  # Socket Mode's app-level token
)

_lock = threading.Lock()
_secrets: set[str] = set()
# Known secrets by their first MIN_SECRET_LENGTH characters, longest first. A process remembers
# every approver's token (thousands): one regex alternation of them all cost ~70 ms to recompile
# per new token and ~0.3 ms per log line; this index costs microseconds for both.
_by_prefix: dict[str, tuple[str, ...]] = {}
_installed = False


def remember(*values: str | None) -> None:
    """Add secret values to scrub from now on (short or empty ones are ignored)."""
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH} - _secrets
    if not fresh:
        return
    with _lock:
        for value in fresh:
            for form in {value, quote_plus(value), quote(value, safe="")} - _secrets:
                _secrets.add(form)
                key = form[:MIN_SECRET_LENGTH]
                _by_prefix[key] = tuple(sorted((*_by_prefix.get(key, ()), form), key=len, reverse=True))


def _mask_known(text: str) -> str:
    """Replace every known secret, leftmost first and the longest where several start at once."""
    if not _by_prefix:
        return text
    parts, start, i, last = [], 0, 0, len(text) - MIN_SECRET_LENGTH
    while i <= last:
        candidates = _by_prefix.get(text[i:i + MIN_SECRET_LENGTH])
        found = next((s for s in candidates if text.startswith(s, i)), None) if candidates else None
        if found is None:
            i += 1
            continue
        parts += [text[start:i], MASK]
        i = start = i + len(found)
    return "".join([*parts, text[start:]]) if parts else text


def redact(text: str) -> str:
    text = _mask_known(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return _CONTROL.sub(_escape_char, text) if _CONTROL.search(text) else text


def _escaped(value: Any) -> Any:
    """A log argument, escaped if its text holds a control character (else the value itself, so
    `%d` and friends still format it)."""
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, int | float | type(None)):
        return value
    text = str(value)
    cleaned = escape_controls(text)
    return value if cleaned == text else cleaned


def _escape_record(record: logging.LogRecord) -> None:
    """Escape the message and each argument in place, keeping the arguments' shape (formatters such
    as uvicorn's access log unpack them); fall back to the escaped whole message."""
    msg, args = record.msg, record.args
    if isinstance(msg, str):
        record.msg = escape_controls(msg)
    if isinstance(args, tuple):
        record.args = tuple(_escaped(a) for a in args)
    elif isinstance(args, dict):
        record.args = {k: _escaped(v) for k, v in args.items()}
    try:
        message = record.getMessage()
    except Exception:
        record.msg, record.args = msg, args
        message = record.getMessage()
    if _CONTROL.search(message):  # e.g. a %r of an object with a control character in its repr
        record.msg, record.args = escape_controls(message), ()


def _scrub(record: logging.LogRecord) -> None:
    _escape_record(record)
    message = record.getMessage()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, ()
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))


def install(secrets: Iterable[str | None] = ()) -> None:
    """Scrub every log record of this process from now on (idempotent; adds `secrets`)."""
    global _installed
    remember(*secrets)
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            with contextlib.suppress(Exception):  # a malformed record is logging's problem, not ours
                _scrub(record)
            return record

        logging.setLogRecordFactory(factory)
