"""Everything the bot sends to Slack on its own initiative (not as a reply to a request)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.precoro.models import Document
from bot.slack import messages
from bot.slack.messages import MessageState

log = logging.getLogger(__name__)


class SlackUnavailable(Exception):
    """Slack refused or failed a call; the caller keeps its state so the call is retried."""


class Notifier:
    def __init__(self, client: AsyncWebClient, on_error: Callable[[str, str], None] | None = None) -> None:
        self.client = client
        self.on_error = on_error or (lambda method, error: None)
        self._profiles: dict[str, dict[str, Any]] = {}

    async def profile(self, user_id: str) -> dict[str, Any]:
        """The user's Slack profile (email, tz), cached; empty when Slack cannot tell."""
        if user_id not in self._profiles:
            try:
                answer = await self.client.users_info(user=user_id)
            except SlackApiError as exc:
                log.info("users.info %s failed: %s", user_id, exc.response.get("error"))
                return {}
            user = answer.get("user") or {}
            self._profiles[user_id] = {
                "email": (user.get("profile") or {}).get("email") or "",
                "tz": user.get("tz") or "UTC",
                "name": user.get("real_name") or user.get("name") or "",
            }
        return self._profiles[user_id]

    async def tz(self, user_id: str) -> str:
        return str((await self.profile(user_id)).get("tz") or "UTC")

    async def post_document(self, user_id: str, doc: Document, *, ref: str, link: str) -> tuple[str, str]:
        """DM a waiting document to its approver; returns (channel, ts)."""
        body = messages.document_message(doc, ref=ref, link=link, tz=await self.tz(user_id))
        answer = await self._call("chat_postMessage", channel=user_id, unfurl_links=False, **body)
        return str(answer["channel"]), str(answer["ts"])

    async def show(self, channel: str, ts: str, doc: Document, *, owner: str, ref: str, link: str,
                   state: MessageState, **details: Any) -> None:
        """Redraw a posted document message in a new state."""
        body = messages.document_message(doc, ref=ref, link=link, state=state, tz=await self.tz(owner),
                                         **details)
        await self._call("chat_update", channel=channel, ts=ts, **body)

    async def post(self, user_id: str, body: dict[str, Any]) -> None:
        """DM a rendered message (`{"text", "blocks"}`) to a user."""
        await self._call("chat_postMessage", channel=user_id, unfurl_links=False, **body)

    async def reply(self, channel: str, ts: str, text: str) -> None:
        """A reply in the thread of a posted message (mrkdwn text)."""
        await self._call("chat_postMessage", channel=channel, thread_ts=ts, text=text, unfurl_links=False)

    async def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        """Publish the user's App Home tab."""
        await self._call("views_publish", user_id=user_id, view=view)

    async def dm(self, user_id: str, text: str) -> None:
        await self._call("chat_postMessage", channel=user_id, text=text)

    async def ephemeral(self, channel: str, user_id: str, text: str) -> None:
        await self._call("chat_postEphemeral", channel=channel, user=user_id, text=text)

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
        except Exception as exc:  # aiohttp / network errors
            error = type(exc).__name__
        name = method.replace("_", ".")
        log.warning("slack %s failed: %s", name, error)
        self.on_error(name, error)
        raise SlackUnavailable(f"slack {name}: {error}")
