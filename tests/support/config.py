"""The smallest valid config, and that config with one dotted key set."""

from __future__ import annotations

import copy
from typing import Any

SIGNING_SECRET = "s1gn1ng-secret-8f3a9c0d"
BOT_TOKEN = "xoxb-1111-2222-bottokensecret"
KEY = "q2VtZ0x1c2VjcmV0a2V5bWF0ZXJpYWwzMmJ5dGVzISE="


def minimal() -> dict[str, Any]:
    return {
        "slack": {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "admins": ["U012ABCDEF"]},
        "precoro": {"base_url": "https://api.precoro.com"},
        "encryption": {"keys": [{"id": "k1", "key": KEY}]},
    }


def with_(path: str, value: Any, raw: dict[str, Any] | None = None) -> dict[str, Any]:
    """The minimal config (or a copy of `raw`) with one dotted key set (intermediate mappings created)."""
    raw = copy.deepcopy(raw or minimal())
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return raw
