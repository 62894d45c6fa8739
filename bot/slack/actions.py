"""Approve / Reject buttons and the reject-reason form."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.decisions import APPROVE, REJECT
from bot.precoro.api import REJECT_COMMENT_MAX
from bot.precoro.models import parse_document
from bot.slack import messages
from bot.slack.notifier import SlackUnavailable

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def _team(body: dict[str, Any]) -> str:
    return str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")


def _ref(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def register(app: AsyncApp, rt: Runtime) -> None:
    async def tell(respond: AsyncRespond, text: str) -> None:
        if text:
            await respond(text=text, response_type="ephemeral", replace_original=False)

    @app.action(messages.ACTION_APPROVE)
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        answer = await rt.decisions.click(team_id=_team(body), user_id=body["user"]["id"], ref=_ref(body),
                                          action=APPROVE)
        await tell(respond, answer.text)

    @app.action(messages.ACTION_REJECT)
    async def reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        ref = _ref(body)
        message, refusal = rt.decisions.authorize(team_id=_team(body), user_id=body["user"]["id"], ref=ref,
                                                  action=REJECT)
        if message is None:
            await tell(respond, refusal)
            return
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is None or message.state not in ("waiting", "failed"):
            await tell(respond, messages.already_decided_text(message.state))
            return
        await client.views_open(trigger_id=body["trigger_id"], view=messages.reject_modal(ref, doc))

    @app.action(messages.ACTION_OPEN)
    async def open_link(ack: AsyncAck) -> None:
        await ack()  # a URL button: Slack opens the link, we only acknowledge

    @app.view(messages.REJECT_CALLBACK)
    async def reject_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view.get("state", {}).get("values", {})
        reason = str(((values.get(messages.REASON_BLOCK) or {}).get(messages.REASON_ACTION) or {})
                     .get("value") or "").strip()
        if not reason or len(reason) > REJECT_COMMENT_MAX:
            await ack(response_action="errors", errors={messages.REASON_BLOCK: messages.reason_required_text()})
            return
        await ack()
        user = body["user"]["id"]
        ref = str(view.get("private_metadata") or "")
        answer = await rt.decisions.click(team_id=_team(body), user_id=user, ref=ref, action=REJECT,
                                          comment=reason)
        message = rt.store.messages.get(int(ref)) if ref.isdigit() else None
        if answer.text and message is not None and message.channel:
            with contextlib.suppress(SlackUnavailable):
                await rt.notifier.ephemeral(message.channel, user, answer.text)
