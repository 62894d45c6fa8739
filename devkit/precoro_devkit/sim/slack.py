"""The one stand-in of the simulation: a Slack sink that records instead of calling the Web API.

The bot's `Notifier` talks to Slack through slack_sdk's aiohttp client, which cannot be pointed
at an in-process ASGI app; this subclass keeps everything the bot does (rendering the Block Kit
message, the post / update calls and their order) and only replaces the network call by a
record stamped with virtual time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.precoro.models import Document
from bot.quota.gate import Clock
from bot.slack.notifier import Notifier


@dataclass(frozen=True)
class Post:
    at: float
    user_id: str
    doc_type: str
    idn: str
    ref: str  # our message id: what a click sends back
    channel: str
    ts: str


@dataclass(frozen=True)
class Call:
    at: float
    method: str  # chat.postMessage, chat.update, ...
    channel: str
    ts: str


class RecordingNotifier(Notifier):
    def __init__(self, clock: Clock, on_post: Callable[[Post], None] | None = None) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # no Web API client: nothing leaves the process
        self.clock = clock
        self.on_post = on_post or (lambda post: None)
        self.posts: list[Post] = []
        self.calls: list[Call] = []
        self._ts = itertools.count(1)

    async def profile(self, team: str, user_id: str) -> dict[str, Any]:
        return {"email": "", "tz": "UTC", "name": user_id}

    async def post_document(self, team: str, user_id: str, doc: Document, *, ref: str, link: str,
                            company: str = "") -> tuple[str, str]:
        channel, ts = await super().post_document(team, user_id, doc, ref=ref, link=link, company=company)
        post = Post(self.clock.now(), user_id, doc.doc_type, doc.idn, ref, channel, ts)
        self.posts.append(post)
        self.on_post(post)
        return channel, ts

    async def _call(self, team: str, method: str, **kwargs: Any) -> Any:
        channel = str(kwargs.get("channel", ""))
        ts = str(kwargs.get("ts") or f"{next(self._ts)}.000000")
        self.calls.append(Call(self.clock.now(), method.replace("_", "."), channel, ts))
        return {"ok": True, "channel": channel, "ts": ts}
