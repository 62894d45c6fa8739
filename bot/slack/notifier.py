"""Everything the bot sends to Slack on its own initiative (not as a reply to a request)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import amounts
from bot.precoro.models import Document
from bot.slack import messages
from bot.slack.installations import NotInstalled, SlackClients
from bot.slack.messages import MessageState

log = logging.getLogger(__name__)

PROFILE_TTL_SECONDS = 600.0


class SlackUnavailable(Exception):
    """Slack refused or failed a call; the caller keeps its state so the call is retried."""


class Notifier:
    """Every call names its workspace (`team`): with several workspaces each has its own bot token."""

    def __init__(self, clients: SlackClients, on_error: Callable[[str, str], None] | None = None) -> None:
        self.clients = clients
        self.on_error = on_error or (lambda method, error: None)
        self._profiles: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        # Each company's amount rules (`confirm_above`), set by the runtime: a document above its
        # rule says so in its message, and its Approve opens the typed confirmation.
        self.confirm_rules: dict[str, amounts.Rules] = {}

    def confirm_above(self, company: str, doc: Document) -> str:
        """`10,000 EUR` when `doc` is above its company's amount rule, else ""."""
        limit = amounts.confirm_limit(self.confirm_rules.get(company, ()), doc)
        return messages.limit_text(limit, doc.currency) if limit is not None else ""

    async def profile(self, team: str, user_id: str) -> dict[str, Any]:
        """The user's Slack profile (email, tz, admin/owner), cached for `PROFILE_TTL_SECONDS`: a
        Slack admin who is demoted stops counting as one within minutes, not at the next restart.
        Empty when Slack cannot tell (the last known profile while it is merely down)."""
        cached = self._profiles.get((team, user_id))
        if cached is None or time.monotonic() - cached[0] > PROFILE_TTL_SECONDS:
            try:
                answer = await self._call(team, "users_info", user=user_id)
            except SlackUnavailable:
                return cached[1] if cached is not None else {}
            user = answer.get("user") or {}
            self._profiles[(team, user_id)] = time.monotonic(), {
                "email": (user.get("profile") or {}).get("email") or "",
                "tz": user.get("tz") or "UTC",
                "name": user.get("real_name") or user.get("name") or "",
                "is_admin": bool(user.get("is_admin")), "is_owner": bool(user.get("is_owner")),
                # Who may receive what a workspace's approvers see (an away cover): a person of it.
                "team_id": user.get("team_id") or "", "is_bot": bool(user.get("is_bot")),
                "deleted": bool(user.get("deleted")), "is_stranger": bool(user.get("is_stranger")),
            }
        return self._profiles[(team, user_id)][1]

    async def user_by_email(self, team: str, email: str) -> str | None:
        """The workspace's Slack user with this email (`users.lookupByEmail`, users:read.email), or
        None when there is none (Slack's `users_not_found`); SlackUnavailable when Slack cannot tell."""
        try:
            client = await self.clients.for_team(team)
            answer = await client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            if error == "users_not_found":
                return None
        except NotInstalled:
            error = "not_installed"
        except Exception as exc:  # aiohttp / network errors
            error = type(exc).__name__
        else:
            user = answer.get("user") or {}
            found = user.get("id")
            return str(found) if found and not user.get("deleted") and not user.get("is_bot") else None
        log.warning("slack users.lookupByEmail failed: %s", error)
        self.on_error("users.lookupByEmail", error)
        raise SlackUnavailable(f"slack users.lookupByEmail: {error}")

    async def tz(self, team: str, user_id: str) -> str:
        return str((await self.profile(team, user_id)).get("tz") or "UTC")

    async def post_document(self, team: str, user_id: str, doc: Document, *, ref: str, link: str,
                            company: str = "") -> tuple[str, str]:
        """DM a waiting document to its approver; returns (channel, ts)."""
        body = messages.document_message(doc, ref=ref, link=link, tz=await self.tz(team, user_id),
                                         confirm_above=self.confirm_above(company, doc))
        answer = await self._call(team, "chat_postMessage", channel=user_id, unfurl_links=False, **body)
        return str(answer["channel"]), str(answer["ts"])

    async def show(self, team: str, channel: str, ts: str, doc: Document, *, owner: str, ref: str, link: str,
                   state: MessageState, company: str = "", **details: Any) -> None:
        """Redraw a posted document message in a new state."""
        body = messages.document_message(doc, ref=ref, link=link, state=state, tz=await self.tz(team, owner),
                                         confirm_above=self.confirm_above(company, doc), **details)
        await self._call(team, "chat_update", channel=channel, ts=ts, **body)

    async def post(self, team: str, user_id: str, body: dict[str, Any]) -> None:
        """DM a rendered message (`{"text", "blocks"}`) to a user."""
        await self._call(team, "chat_postMessage", channel=user_id, unfurl_links=False, **body)

    async def reply(self, team: str, channel: str, ts: str, text: str) -> None:
        """A reply in the thread of a posted message (mrkdwn text)."""
        await self._call(team, "chat_postMessage", channel=channel, thread_ts=ts, text=text, unfurl_links=False)

    async def post_text(self, team: str, channel: str, text: str, *, thread_ts: str | None = None) -> str:
        """Post mrkdwn text to a channel (in a thread when `thread_ts`); returns the post's ts."""
        extra = {"thread_ts": thread_ts} if thread_ts else {}
        answer = await self._call(team, "chat_postMessage", channel=channel, text=text, unfurl_links=False, **extra)
        return str(answer["ts"])

    async def publish_home(self, team: str, user_id: str, view: dict[str, Any]) -> None:
        """Publish the user's App Home tab."""
        await self._call(team, "views_publish", user_id=user_id, view=view)

    async def dm(self, team: str, user_id: str, text: str) -> None:
        await self._call(team, "chat_postMessage", channel=user_id, text=text)

    async def ephemeral(self, team: str, channel: str, user_id: str, text: str) -> None:
        await self._call(team, "chat_postEphemeral", channel=channel, user=user_id, text=text)

    async def _call(self, team: str, method: str, **kwargs: Any) -> Any:
        detail = ""
        try:
            client = await self.clients.for_team(team)
            return await getattr(client, method)(**kwargs)
        except NotInstalled:
            error = "not_installed"
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            # Slack says what it refused (e.g. "[ERROR] duplicate action_id ..."): a view or message
            # the bot rendered wrong is otherwise a bare "invalid_arguments" in the log.
            meta = exc.response.get("response_metadata")
            reasons = meta.get("messages") if isinstance(meta, dict) else None
            detail = "; ".join(str(r)[:200] for r in reasons[:5]) if isinstance(reasons, list) else ""
        except Exception as exc:  # aiohttp / network errors
            error = type(exc).__name__
        name = method.replace("_", ".")
        log.warning("slack %s failed: %s%s", name, error, f" ({detail})" if detail else "")
        self.on_error(name, error)
        raise SlackUnavailable(f"slack {name}: {error}")
