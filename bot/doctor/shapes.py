"""Shapes, not data: what Precoro's answers look like, safe to share.

`precoro-bot doctor --record FILE` writes, for each request it made, the endpoint (path with
document numbers replaced by `{idn}`, query parameter *names* only), the status, the header
names and the body's shape: object keys, value types, list lengths, and for strings only a
format class (`iso-datetime`, `decimal`...). No value, name, email or amount is kept, so an
admin can attach the file to a ticket. Tests inflate each shape back into a synthetic answer
of the same form and check that the models parse it (`inflate`).

Format (JSON):

    {"format": "precoro-bot shapes 1", "source": "emulator",
     "answers": [{"step": "waiting purchaseorders", "request": "GET /purchaseorders?page&per_page&waitingForApprove",
                  "status": 200, "headers": ["content-type", ...], "body": SHAPE}]}

    SHAPE := "null" | "boolean" | "integer" | "number" | "string:<format>" | "not-json:<kind>"
           | {"object": {key: SHAPE, ...}} | {"array": [SHAPE, ...], "length": n}

Arrays keep the shapes of their first `ITEMS_KEPT` items.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.precoro.answers import RawAnswer

FORMAT = "precoro-bot shapes 1"
ITEMS_KEPT = 3
_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("empty", re.compile(r"^$")),
    ("integer", re.compile(r"^-?\d+$")),
    ("decimal", re.compile(r"^-?\d+\.\d+$")),
    ("iso-datetime", re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")),
    ("iso-date", re.compile(r"^\d{4}-\d{2}-\d{2}$")),
    ("date-dmy", re.compile(r"^\d{2}\.\d{2}\.\d{4}$")),
    ("utc-datetime", re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")),
    ("email", re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")),
    ("url", re.compile(r"^https?://\S+$")),
)
# One synthetic value per string format, for `inflate`.
_SAMPLES = {"empty": "", "integer": "7", "decimal": "12.50", "iso-datetime": "2024-05-01T10:00:00+00:00",
            "iso-date": "2024-05-01", "date-dmy": "01.05.2024", "utc-datetime": "2024-05-01 10:00:00 UTC",
            "email": "someone@example.com", "url": "https://example.com/file", "text": "Some text"}
_SCALARS = {"null": None, "boolean": True, "integer": 1, "number": 1.5}


def string_format(value: str) -> str:
    text = value.strip()
    return next((name for name, pattern in _FORMATS if pattern.match(text)), "text")


def shape(value: Any) -> Any:
    """The shape of a JSON value (see the module's grammar)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return f"string:{string_format(value)}"
    if isinstance(value, dict):
        return {"object": {str(k): shape(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"array": [shape(v) for v in value[:ITEMS_KEPT]], "length": len(value)}
    return "unknown"


def answer_shape(step: str, endpoint: str, answer: RawAnswer) -> dict[str, Any]:
    """One recorded answer. `endpoint` must already be value-free (`Probe` builds it so)."""
    if answer.status is None:
        body: Any = f"no-answer:{answer.error}"
    elif answer.is_json:
        body = shape(answer.json)
    else:
        body = "not-json:" + ("empty" if not answer.text.strip() else
                              "html" if "<html" in answer.text[:500].lower() else "text")
    return {"step": step, "request": endpoint, "status": answer.status, "headers": list(answer.header_names),
            "body": body}


def write(path: str | Path, answers: list[dict[str, Any]], *, source: str) -> None:
    Path(path).write_text(json.dumps({"format": FORMAT, "source": source, "answers": answers}, indent=1) + "\n")


def load(path: str | Path) -> list[dict[str, Any]]:
    """The recorded answers of a shapes file; ValueError when it is not one."""
    raw = json.loads(Path(path).read_text())
    if not isinstance(raw, dict) or raw.get("format") != FORMAT or not isinstance(raw.get("answers"), list):
        raise ValueError(f"{path}: not a {FORMAT!r} file")
    return raw["answers"]


def inflate(recorded: Any) -> Any:
    """A synthetic JSON value of this shape (string formats get a sample value of that format)."""
    if isinstance(recorded, dict) and "object" in recorded:
        return {k: inflate(v) for k, v in recorded["object"].items()}
    if isinstance(recorded, dict) and "array" in recorded:
        return [inflate(v) for v in recorded["array"]]
    if isinstance(recorded, str) and recorded.startswith("string:"):
        return _SAMPLES.get(recorded.removeprefix("string:"), "Some text")
    if isinstance(recorded, str) and recorded in _SCALARS:
        return _SCALARS[recorded]
    raise ValueError(f"not a JSON shape: {str(recorded)[:40]!r}")
