"""Naming an answer that does not parse: which request, and what came back, safe to show.

A proxy's HTML error page, a changed field type or an empty body must reach an admin as a
sentence ("GET /invoices: the answer is HTML, not JSON: <first 200 characters>"), never as a
traceback. The excerpt is the first `EXCERPT_CHARS` characters of the body with whitespace
folded and everything that looks like a secret (`bot.redact`: known tokens, `token=` fields,
bearer tokens...) or an email address masked, so it can be pasted into a ticket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.redact import MASK, redact

EXCERPT_CHARS = 200
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Long opaque runs (hex, base64, JWT-like) that a body may echo: likely tokens or session ids.
_OPAQUE = re.compile(r"\b(?=[A-Za-z0-9_\-.=+/]*\d)[A-Za-z0-9_\-.=+/]{24,}\b")


def safe_excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters of `text`, whitespace folded, secrets and emails masked."""
    folded = " ".join(text.split())
    cleaned = _OPAQUE.sub(MASK, _EMAIL.sub("[email]", redact(folded)))
    return cleaned[:limit]


def kind_of(text: str, content_type: str = "") -> str:
    """What a body that is not the JSON we expected looks like, in a few words."""
    stripped = text.lstrip()
    if not stripped:
        return "an empty body"
    if "html" in content_type.lower() or stripped[:15].lower().startswith(("<!doctype html", "<html")):
        return "HTML, not JSON (a proxy or a login page answered?)"
    if stripped[0] == "<":
        return "XML or markup, not JSON"
    return "not JSON"


def describe_bad_answer(endpoint: str, status: int | None, text: str, content_type: str = "",
                        problem: str = "") -> str:
    """One line naming the endpoint, the status, what is wrong and a safe excerpt of the body.

    `problem` says what was wrong with a body that did parse (e.g. "no 'data' list"); without
    it the body is taken not to be JSON at all."""
    what = problem or f"the answer is {kind_of(text, content_type)}"
    status_text = f" ({status})" if status is not None else ""
    excerpt = safe_excerpt(text)
    return f"{endpoint}{status_text}: {what}" + (f": {excerpt!r}" if excerpt else "")


_UNSET = object()


@dataclass(frozen=True)
class RawAnswer:
    """One answer as it came: status (None: no answer, see `error`), header names, body text and,
    when the body is JSON, its value (`NOT_JSON` otherwise)."""

    status: int | None
    header_names: tuple[str, ...]
    content_type: str
    text: str = field(repr=False)
    json: Any = field(default=_UNSET, repr=False)
    error: str = ""

    @classmethod
    def of(cls, status: int, headers: Mapping[str, str], text: str) -> RawAnswer:
        try:
            value: Any = json.loads(text) if text.strip() else _UNSET
        except ValueError:
            value = _UNSET
        return cls(status, tuple(sorted({k.lower() for k in headers})), headers.get("content-type", ""), text, value)

    @property
    def is_json(self) -> bool:
        return self.json is not _UNSET

    def text_field(self, name: str) -> str:
        """A top-level string field of a JSON object body ("" when absent)."""
        value = self.json.get(name) if isinstance(self.json, dict) else None
        return value if isinstance(value, str) else ""

    def describe(self, endpoint: str, problem: str = "") -> str:
        return describe_bad_answer(endpoint, self.status, self.text, self.content_type, problem)
