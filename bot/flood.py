"""Bounds against floods on the public endpoints that need no Slack signature.

Precoro's webhooks are unsigned (their secret path is the only check) and `/slack/install` is
open to anyone: each would otherwise let a stranger make the service hold big bodies in memory,
write a database row per request, or grow a table without end. Here: bodies are refused from
their `Content-Length` or while streaming once past the limit, and each company's hints (and the
install starts) are capped per minute (in this process: replicas each allow as many).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from starlette.requests import Request


class TooLarge(Exception):
    """The body is over the limit (said by Content-Length or seen while reading)."""


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused (TooLarge) before reading when Content-Length says it is too big,
    and as soon as more than `limit` bytes arrived otherwise (chunked bodies have no length)."""
    length = request.headers.get("content-length")
    if length is not None and (not length.strip().isdigit() or int(length) > limit):
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


class PerMinute:
    """At most `limit` events per key in any 60 seconds (a sliding window of arrival times)."""

    def __init__(self, limit: Callable[[str], int], now: Callable[[], float], window: float = 60.0) -> None:
        self.limit = limit
        self.now = now
        self.window = window
        self._seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.now()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit(key):
            return False
        seen.append(now)
        return True
