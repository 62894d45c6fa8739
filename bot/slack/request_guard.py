"""Pre-checks on a request to /slack/events (or a Socket Mode envelope), before Bolt sees it.

Bolt trusts the shape of what arrives: a timestamp header that is not a number makes it raise a
ValueError (a 500), a huge one an OverflowError, a non-ASCII signature a TypeError in
`hmac.compare_digest`; Python's json raises RecursionError on deeply nested input (100,000 `[`),
which nothing catches. A stranger can send any of these without knowing the signing secret, so the
checks here refuse them first: headers that cannot be Slack's get a 401 (the same answer Bolt
gives a bad signature), a body Bolt cannot read (not UTF-8, too deep, not a payload object) a 400.
Neither is an error of ours, so neither is logged with a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.internals import parse_body

# Slack's timestamp is Unix seconds; twelve digits reach the year 33658, far past any real request
# and far below what float() overflows on.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# v0= and a hex HMAC-SHA256: the only signature Slack sends (ASCII, so compare_digest accepts it).
_SIGNATURE = re.compile(r"v0=[0-9a-fA-F]{64}")
MAX_BODY = 256 * 1024  # Slack's payloads are far smaller; refuse anything absurd (a body or an envelope)
# Real payloads nest a dozen levels at most (a rich-text block inside a message inside a view);
# deeper input is refused before anything walks it recursively (deepcopy, json.dumps, logging).
MAX_DEPTH = 64

# Parts of a payload that Bolt reads as objects before any listener runs (even to log that no
# listener matched): a string or number there makes Bolt itself raise, which it answers with a 500.
_OBJECT_FIELDS = ("view", "user", "team", "channel", "container", "message", "enterprise", "event")


def header_problem(headers: Mapping[str, str]) -> str | None:
    """Why these headers cannot be a Slack request's (a 401), or None. Only the shape is checked;
    Bolt still verifies the signature and the timestamp's age."""
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if timestamp is None or signature is None:
        return "signature headers missing"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "timestamp is not Unix seconds"
    if not _SIGNATURE.fullmatch(signature):
        return "signature is not v0=<hex>"
    return None


def body_problem(body: bytes, content_type: str | None) -> str | None:
    """Why Bolt could not read this body (a 400), or None: not UTF-8, nested too deep, a truncated
    or non-object `payload=`, or an object field (`user`, `view`, ...) that is not an object."""
    try:
        payload = parse_body(body.decode("utf-8"), content_type)
    except UnicodeDecodeError:
        return "body is not UTF-8"
    except RecursionError:
        return "body nested too deep"
    except ValueError:
        return "body is not valid JSON"
    return payload_problem(payload)


def payload_problem(payload: Any) -> str | None:
    """Why Bolt could not dispatch this parsed payload (an HTTP body's, or a Socket Mode envelope's
    `payload`), or None: not an object, nested too deep, or a field of the wrong type."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type", ""), str):
        return "payload is not an object"
    if _depth(payload) > MAX_DEPTH:
        return "body nested too deep"
    if any(not isinstance(payload.get(name), dict | None) for name in _OBJECT_FIELDS):
        return "payload field of the wrong type"
    actions = payload.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        return "payload actions of the wrong type"
    return None


def _depth(value: Any) -> int:
    """How deep lists and objects nest in `value`, walked without recursion (stops past MAX_DEPTH)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
