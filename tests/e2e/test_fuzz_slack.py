"""Fuzzing the Slack side: random and truncated, correctly signed requests to /slack/events.

Whatever arrives (missing keys, wrong types, huge strings, cut-off JSON), the bot answers 2xx or
4xx, never 500; no listener crashes on its input; and nothing it posts to Slack looks like a
traceback.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack import messages
from bot.vault import owner_binding
from precoro_devkit.emulator.slack import sign
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, TEAM, LocalStack

ALICE = SLACK_USERS["alice"]
# Exceptions that mean "a handler trusted its input": the bugs this fuzzing is after.
INPUT_BUGS = ("KeyError", "TypeError", "AttributeError", "IndexError", "ValueError", "JSONDecodeError",
              "UnicodeDecodeError", "OverflowError", "RecursionError")
TRACEBACK_MARKS = ("Traceback", 'File "', "Error:", "Exception")
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Bot:
    """The stack plus a signed sync client (hypothesis drives plain functions)."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.bot_url, timeout=10.0)
        self.statuses: list[int] = []

    def send(self, body: bytes, content_type: str = "application/x-www-form-urlencoded") -> int:
        ts = str(int(time.time()))
        response = self.http.post("/slack/events", content=body, headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(self.stack.signing_secret, ts, body)})
        self.statuses.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text[:300], body[:300])
        assert "Traceback" not in response.text
        return response.status_code

    def send_raw(self, body: bytes, headers: dict[str, bytes | str]) -> int:
        """POST `body` with exactly these headers (a stranger's request: no valid signature)."""
        response = self.http.post("/slack/events", content=body, headers=headers)
        self.statuses.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text[:300], headers)
        assert "Traceback" not in response.text
        return response.status_code


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    stack = LocalStack.start(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'bot.db'}")
    stack.runtime.scheduler.shutdown()  # the document message is made by hand below
    user = stack.users["alice"]
    approver, _ = stack.runtime.store.approvers.upsert(
        company="acme", team_id=TEAM, slack_user_id=ALICE, email=user.email,
        token_ciphertext=stack.runtime.vault.encrypt(user.token, binding=owner_binding("acme", TEAM, ALICE)),
        registered_by=ADMIN, now=time.time())
    message = stack.runtime.store.messages.claim_post(
        approver_id=approver.id, company="acme", doc_type="purchaseorders", idn="PO-1001",
        document={"idn": "PO-1001", "id": 1, "status": 1}, fingerprint="f", now=time.time())
    assert message is not None
    stack.runtime.store.messages.mark_posted(message.id, "DU0ALICE", "1700000000.000100", time.time())
    running = Bot(stack)
    running.ref = str(message.id)  # type: ignore[attr-defined]
    yield running
    running.http.close()
    stack.stop()


@pytest.fixture(scope="module")
def errors(bot: Bot) -> Iterator[list[logging.LogRecord]]:
    """Every error logged while fuzzing (listeners run on after the ack, so collect them all)."""
    found: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                found.append(record)

    handler = Collect()
    logging.getLogger().addHandler(handler)
    yield found
    logging.getLogger().removeHandler(handler)


def templates(bot: Bot) -> dict[str, dict[str, Any]]:
    slack = bot.stack.slack
    who = {"user": {"id": ALICE, "username": "alice", "team_id": TEAM}, "team": {"id": TEAM, "domain": "x"},
           "api_app_id": "A0APP", "token": "unused"}
    return {
        "approve": {"type": "block_actions", **who, "trigger_id": slack.issue_trigger_id(),
                    "response_url": slack.response_url("DU0ALICE", ALICE),
                    "container": {"type": "message", "channel_id": "DU0ALICE", "message_ts": "1700000000.000100"},
                    "actions": [{"action_id": messages.ACTION_APPROVE, "block_id": "decision", "value": bot.ref,
                                 "type": "button"}]},
        "reject": {"type": "block_actions", **who, "trigger_id": slack.issue_trigger_id(),
                   "response_url": slack.response_url("DU0ALICE", ALICE),
                   "actions": [{"action_id": messages.ACTION_REJECT, "block_id": "decision", "value": bot.ref,
                                "type": "button"}]},
        "reason": {"type": "view_submission", **who, "view": {
            "id": "V1", "type": "modal", "callback_id": messages.REJECT_CALLBACK, "private_metadata": bot.ref,
            "state": {"values": {messages.REASON_BLOCK: {messages.REASON_ACTION: {
                "type": "plain_text_input", "value": "Not needed"}}}}}},
        "register": {"type": "view_submission", **who, "user": {"id": ADMIN, "team_id": TEAM}, "view": {
            "id": "V2", "type": "modal", "callback_id": messages.REGISTER_CALLBACK,
            "private_metadata": json.dumps({"user": ALICE, "company": "acme"}),
            "state": {"values": {
                messages.EMAIL_BLOCK: {messages.EMAIL_ACTION: {"type": "plain_text_input", "value": "a@b.co"}},
                messages.TOKEN_BLOCK: {messages.TOKEN_ACTION: {"type": "plain_text_input", "value": "x" * 20}}}}}},
    }


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate(payload: dict[str, Any], path: tuple[Any, ...], op: str, value: Any) -> None:
    parent: Any = payload
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "delete":
        del parent[last]
    else:
        parent[last] = value


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30) | st.sampled_from(["", "0", "-1", "9" * 30, "²", "<@U0ALICE>", ALICE, "V1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
HUGE = st.integers(min_value=1_000, max_value=200_000).map(lambda n: "A" * n)


@FUZZ
@given(data=st.data())
def test_mutated_interaction_payloads(bot: Bot, errors: list[logging.LogRecord], data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["approve", "reject", "reason", "register"]))
    payload = copy.deepcopy(templates(bot)[kind])
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        candidates = paths(payload)
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates))
        op = data.draw(st.sampled_from(["delete", "replace", "huge"]))
        mutate(payload, path, op, data.draw(HUGE) if op == "huge" else data.draw(JSON))
    body = urlencode({"payload": json.dumps(payload)}).encode()
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(min_value=0, max_value=len(body)))]
    bot.send(body)


@FUZZ
@given(fields=st.dictionaries(
    st.sampled_from(["command", "text", "user_id", "team_id", "trigger_id", "response_url", "payload", "type",
                     "channel_id", "ssl_check", "challenge"]),
    st.text(max_size=60) | HUGE | st.sampled_from(["/precoro", "register <@U0ALICE> a@b.co tok-12345678",
                                                  "audit 99999999", "audit ²", "remove <@U0BOB>", "{", "[]"]),
    max_size=6), cut=st.integers(min_value=0, max_value=400), truncate=st.booleans())
def test_random_form_bodies(bot: Bot, errors: list[logging.LogRecord], fields: dict[str, str], cut: int,
                            truncate: bool) -> None:
    body = urlencode(fields).encode()
    bot.send(body[:cut] if truncate else body)


@FUZZ
@given(text=st.text(max_size=200) | st.sampled_from([
    "register", "register <@U0ALICE>", "register <@U0ALICE> x y z", "register <@U0ALICE|alice> a@b.co " + "t" * 600,
    "remove", "remove <@", "audit", "audit 0", "audit -5", "audit 1 2", "list extra", "status", "help me"]),
    user=st.sampled_from([ADMIN, ALICE, "", "U" + "9" * 40]))
def test_slash_command_text(bot: Bot, errors: list[logging.LogRecord], text: str, user: str) -> None:
    bot.send(urlencode({"command": "/precoro", "text": text, "user_id": user, "team_id": TEAM,
                        "trigger_id": bot.stack.slack.issue_trigger_id(),
                        "response_url": bot.stack.slack.response_url("DU0ADMIN", user or ADMIN)}).encode())


# Header values a stranger can put on the wire (h11 refuses CR, LF, NUL and edge spaces itself).
HEADER_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
                       max_size=80).map(lambda s: s.strip().encode("latin-1")) | st.sampled_from([
                           b"", b"abc", b"9" * 400, b"-1", b"1e9", "\u00b2".encode("latin-1"), b"v0=",
                           "v0=\u00e9".encode("latin-1"), b"v0=" + b"0" * 64, b"0x10", b"1 7"])


@FUZZ
@given(headers=st.dictionaries(st.sampled_from(["X-Slack-Request-Timestamp", "X-Slack-Signature", "Content-Type",
                                                "X-Slack-Retry-Num", "X-Slack-Retry-Reason"]),
                               HEADER_VALUE, max_size=5),
       body=st.sampled_from([b"command=%2Fprecoro&text=help&user_id=U0ADMIN&team_id=T0TEAM", b"[" * 100_000,
                             b"payload=" + b"%5B" * 50_000, b"\xff\xfe\x00", b'{"type": "url_verification"}']),
       real_timestamp=st.booleans())
def test_hostile_headers(bot: Bot, errors: list[logging.LogRecord], headers: dict[str, bytes], body: bytes,
                         real_timestamp: bool) -> None:
    """Unsigned or badly signed requests, whatever their headers: a 400 or 401, never a 500."""
    if real_timestamp:
        headers = {**headers, "X-Slack-Request-Timestamp": str(int(time.time())).encode()}
    assert bot.send_raw(body, headers) in (400, 401, 413)


def test_nothing_crashed_and_nothing_like_a_traceback_reached_slack(bot: Bot,
                                                                      errors: list[logging.LogRecord]) -> None:
    time.sleep(1.0)  # listeners run on after their ack
    assert len(bot.statuses) >= 300 and 200 in bot.statuses
    crashes = [(r.name, r.getMessage(), r.exc_text or "") for r in errors
               if r.exc_info and type(r.exc_info[1]).__name__ in INPUT_BUGS]
    assert crashes == []
    slack = bot.stack.slack
    said = [json.dumps(c.args) for c in slack.calls] + [json.dumps(r.body) for r in slack.responses]
    assert not [s[:200] for s in said if any(mark in s for mark in TRACEBACK_MARKS)]
