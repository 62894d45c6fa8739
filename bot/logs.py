"""Logging: plain text for a terminal, JSON lines for a hosted service, with a request id.

The request id of the Slack request (or scheduler tick) being handled is kept in a context
variable, so every line a listener, the client or the store writes carries it.

Every logger goes through the root handler set up here: ours, uvicorn's (configured with
`log_config=None`, so it keeps no handler of its own), Bolt's and APScheduler's, so with
`logging.format: json` every line is JSON. A line about a company, an approver or a document
carries them as fields (`log.info(..., extra=fields(company=..., idn=...))`): JSON lines show
them as keys an operator can filter on. Field values are redacted like the message (they are
set after the scrubbing record factory ran) and never hold a secret by construction.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from bot import redact

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def new_request_id() -> str:
    rid = uuid.uuid4().hex[:12]
    request_id.set(rid)
    return rid


# The structured fields a log line may carry (`fields()`), in the order JSON lines show them.
FIELDS = ("company", "approver_id", "slack_user", "doc_type", "idn", "decision_id")


def fields(*, company: str | None = None, approver_id: int | None = None, slack_user: str | None = None,
           doc_type: str | None = None, idn: str | None = None, decision_id: int | None = None) -> dict[str, Any]:
    """The `extra=` of a log call: the known fields given (None ones left out)."""
    given = {"company": company, "approver_id": approver_id, "slack_user": slack_user, "doc_type": doc_type,
             "idn": idn, "decision_id": decision_id}
    return {k: v for k, v in given.items() if v is not None}


def _field(value: Any) -> Any:
    return value if isinstance(value, int | float | bool) else redact.redact(redact.escape_controls(str(value)))


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if name in record.__dict__:
                entry[name] = _field(record.__dict__[name])
        if record.exc_info:
            # The text the scrubbing record factory redacted (bot.redact), never the raw exception.
            entry["error"] = record.exc_text or redact.redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact.redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that would log request URLs or bodies at INFO/DEBUG stay at WARNING.
    for noisy in ("httpx", "httpcore", "apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
