"""Logging: plain text for a terminal, JSON lines for a hosted service, with a request id.

The request id of the Slack request (or scheduler tick) being handled is kept in a context
variable, so every line a listener, the client or the store writes carries it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import uuid
from datetime import UTC, datetime

from bot import redact

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def new_request_id() -> str:
    rid = uuid.uuid4().hex[:12]
    request_id.set(rid)
    return rid


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
