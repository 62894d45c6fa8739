"""Hostile requests and forged log lines, against the real bot over HTTP.

A stranger (no signing secret) sends headers Bolt would trip on and bodies Python's json cannot
read; a signed sender puts newlines and terminal escapes in fields that reach the log. Each gets a
400 or 401 (never a 500, never a traceback in the log), and no log line can be forged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot import redact
from bot.logs import JsonFormatter
from precoro_devkit.emulator.slack import sign
from precoro_devkit.emulator.stack import ADMIN, LocalStack

FORGED = "\n2030-01-01 00:00:00,000 INFO bot.forged [-] FORGED \x1b[2K"
HELP = b"command=%2Fprecoro&text=help&user_id=U0ADMIN&team_id=T0TEAM"
FORM = "application/x-www-form-urlencoded"
ZEROS = "v0=" + "0" * 64  # a well-formed signature that does not verify


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    running = LocalStack.start(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'bot.db'}")
    running.runtime.scheduler.shutdown()
    yield running
    running.stop()


@pytest.fixture
def records(stack: LocalStack) -> Iterator[Records]:
    handler, root = Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def now() -> str:
    return str(int(time.time()))


def signed(stack: LocalStack, body: bytes, content_type: str = FORM) -> dict[str, Any]:
    ts = now()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(stack.signing_secret, ts, body)}


HOSTILE: dict[str, tuple[bytes, dict[str, Any] | None]] = {
    # (body, headers; None = correctly signed)
    "non-numeric timestamp": (HELP, {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": ZEROS}),
    "huge timestamp": (HELP, {"X-Slack-Request-Timestamp": "9" * 400, "X-Slack-Signature": ZEROS}),
    "superscript digit timestamp": (HELP, {"X-Slack-Request-Timestamp": "\u00b2".encode("latin-1"),
                                           "X-Slack-Signature": ZEROS}),
    "non-ASCII signature": (HELP, {"X-Slack-Request-Timestamp": "TS",
                                   "X-Slack-Signature": "v0=\u00e9".encode("latin-1")}),
    "no signature headers": (HELP, {}),
    "no timestamp": (HELP, {"X-Slack-Signature": ZEROS}),
    "unsigned 100,000 levels of [": (b"[" * 100_000, {"Content-Type": "application/json",
                                                     "X-Slack-Request-Timestamp": "TS",
                                                     "X-Slack-Signature": ZEROS}),
    "signed 100,000 levels of [": (b"[" * 100_000, None),
    "signed payload= 50,000 levels deep": (b"payload=" + b"%5B" * 50_000, None),
    "signed 200 levels of objects": (json.dumps({"type": "x", "event": json.loads('{"a":' * 200 + "1" + "}" * 200)})
                                     .encode(), None),
    "signed body that is not UTF-8": (b"command=%2Fprecoro&text=\xff\xfe", None),
    "unsigned body that is not UTF-8": (b"\xff\xfe\x00", {"X-Slack-Request-Timestamp": "TS",
                                                         "X-Slack-Signature": ZEROS}),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_request_gets_400_or_401_and_no_traceback(stack: LocalStack, records: Records, case: str) -> None:
    body, headers = HOSTILE[case]
    if headers is None:
        content_type = "application/json" if body.startswith((b"[", b"{")) else FORM
        headers = signed(stack, body, content_type)
    headers = {"Content-Type": FORM, **{k: (now() if v == "TS" else v) for k, v in headers.items()}}
    response = httpx.post(stack.bot_url + "/slack/events", content=body, headers=headers, timeout=10)
    assert response.status_code in (400, 401), (response.status_code, response.text[:200])
    assert "Traceback" not in response.text
    time.sleep(0.2)  # a listener would run on after the ack
    assert [r.getMessage() for r in records.records if r.levelno >= logging.ERROR or r.exc_info] == []


def test_a_healthy_signed_request_still_passes(stack: LocalStack) -> None:
    response = httpx.post(stack.bot_url + "/slack/events", content=HELP, headers=signed(stack, HELP), timeout=10)
    assert response.status_code == 200


def test_attacker_fields_cannot_forge_a_log_line(stack: LocalStack, records: Records) -> None:
    """A slash command's `command` and `text`, a user id and an action id, each with a newline and
    a terminal escape, reach the log escaped: one record is one line, in text and in JSON logs."""
    driver = stack.driver

    async def send() -> None:
        await driver.slash_command(ADMIN, "help" + FORGED, command="/precoro" + FORGED)
        await driver.slash_command(ADMIN, "audit x" + FORGED)
        await driver.slash_command("U0X" + FORGED, "list")
        await driver._send_payload({"type": "block_actions", **driver._who(ADMIN), "trigger_id": "t",
                                    "actions": [{"action_id": "approve" + FORGED, "block_id": "b",
                                                 "value": "1" + FORGED, "type": "button"}]})
        await asyncio.sleep(0.5)

    asyncio.run(send())
    text_format = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    seen = [r for r in records.records if "FORGED" in r.getMessage()]
    assert seen, "the attacker's fields reached the log (escaped), so the check is not vacuous"
    for record in seen:
        record.exc_info, record.exc_text = None, None  # tracebacks are multi-line by nature
        for line in (text_format.format(record), JsonFormatter().format(record)):
            assert "\n" not in line and "\x1b" not in line, line
    assert any("\\n2030-01-01" in r.getMessage() and "\\x1b[2K" in r.getMessage() for r in seen)


def test_json_logs_redact_exception_text(stack: LocalStack) -> None:
    """The scrubbing factory (installed by the server) redacts the traceback; the JSON formatter
    prints that redacted text, like the text formatter does, never the raw exception."""
    secret = "json-secret-" + stack.signing_secret[:8]
    redact.remember(secret)
    logger = logging.getLogger("bot.test.json")
    try:
        raise ValueError(f"token {secret} was refused")
    except ValueError:
        record = logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "failed %s", ("x\ny",),
                                   exc_info=__import__("sys").exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert secret not in entry["error"] and "[redacted]" in entry["error"]
    assert entry["message"] == "failed x\\ny"
    assert secret not in logging.Formatter().format(record)
