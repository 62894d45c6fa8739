"""Approve / Reject buttons, "Approve with comment", and the reject-reason and comment forms (the
amount confirmation form is `amount_listeners.py`). What they do is `DecisionService`'s
(`service.py`)."""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.features.approvals import amount_listeners
from bot.features.approvals.service import APPROVE, REJECT, DecisionService
from bot.precoro.api import REJECT_COMMENT_MAX
from bot.precoro.models import parse_document
from bot.slack import messages
from bot.slack.notifier import SlackUnavailable
from bot.slack.payload import action_value, guarded, input_value, team_id, text_field, user_id

log = logging.getLogger(__name__)


def register(app: AsyncApp, service: DecisionService) -> None:
    register_approve_comment(app, service)
    amount_listeners.register(app, service, decide=partial(_decide_from_form, service))

    async def tell(respond: AsyncRespond, text: str, user: str, team: str) -> None:
        """Answer the clicker privately (response_url; a DM if that fails)."""
        if not text:
            return
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception as exc:  # no or a broken response_url
            log.info("could not answer %s through response_url (%s); sending a DM", user, type(exc).__name__)
            with contextlib.suppress(SlackUnavailable):
                await service.dm(team, user, text)

    @app.action(messages.ACTION_APPROVE)
    @guarded(service.notifier, "approve click")
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        user = user_id(body)
        if not user:
            log.info("approve click without a user ignored")
            return
        hold = await service.held(action_value(body))
        if hold is not None:  # above the company's amount rule: type the amount or number first
            await open_form(body, respond, client, APPROVE)
            return
        answer = await service.click(team_id=team_id(body), user_id=user, ref=action_value(body),
                                      action=APPROVE)
        await tell(respond, answer.text, user, team_id(body))

    @app.action(messages.ACTION_REJECT)
    @guarded(service.notifier, "reject click")
    async def reject(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await ack()
        await open_form(body, respond, client, REJECT)

    @app.action(messages.ACTION_APPROVE_COMMENT)
    @guarded(service.notifier, "approve with comment click")
    async def approve_with_comment(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond,
                                   client: AsyncWebClient) -> None:
        await ack()
        await open_form(body, respond, client, APPROVE)

    async def open_form(body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient, action: str) -> None:
        """The reject-reason or approve-comment form, for the message's own approver only."""
        user, ref = user_id(body), action_value(body)
        if not user:
            log.info("%s click without a user ignored", action)
            return
        message, refusal = await service.authorize_click(team_id=team_id(body), user_id=user, ref=ref,
                                                          action=action)
        if message is None:
            await tell(respond, refusal, user, team_id(body))
            return
        doc = parse_document(message.doc_type, message.raw_document)
        if doc is None or message.state not in ("waiting", "failed"):
            await tell(respond, messages.already_decided_text(message.state), user, team_id(body))
            return
        trigger = text_field(body, "trigger_id")
        if not trigger:
            await tell(respond, messages.unreadable_request_text(), user, team_id(body))
            return
        hold = await service.held(ref) if action == APPROVE else None
        if hold is not None:
            form = messages.amount_confirm_modal(ref, doc, hold.limit)
        else:
            form = messages.reject_modal(ref, doc) if action == REJECT else messages.approve_modal(ref, doc)
        await client.views_open(trigger_id=trigger, view=form)

    @app.action(messages.ACTION_OPEN)
    async def open_link(ack: AsyncAck) -> None:
        await ack()  # a URL button: Slack opens the link, we only acknowledge

    @app.view(messages.REJECT_CALLBACK)
    @guarded(service.notifier, "reject reason")
    async def reject_reason(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = input_value(view, messages.REASON_BLOCK, messages.REASON_ACTION)
        if not reason or len(reason) > REJECT_COMMENT_MAX:
            await ack(response_action="errors", errors={messages.REASON_BLOCK: messages.reason_required_text()})
            return
        await ack()
        await _decide_from_form(service, body, view, REJECT, reason)


def register_approve_comment(app: AsyncApp, service: DecisionService) -> None:
    @app.view(messages.APPROVE_CALLBACK)
    @guarded(service.notifier, "approve comment")
    async def approve_comment(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Approve with an optional comment. Precoro's approve POST takes no body, so the comment
        stays with the bot: in the decision record and on the Slack message."""
        comment = input_value(view, messages.COMMENT_BLOCK, messages.COMMENT_ACTION)
        if len(comment) > messages.APPROVE_COMMENT_MAX:
            await ack(response_action="errors", errors={messages.COMMENT_BLOCK: messages.comment_too_long_text()})
            return
        hold = await service.held(text_field(view, "private_metadata"))
        if hold is not None:  # a form opened before the rule applied: the rule still holds
            await ack(response_action="errors",
                      errors={messages.COMMENT_BLOCK: messages.confirmation_needed_text(hold.limit)})
            return
        await ack()
        await _decide_from_form(service, body, view, APPROVE, comment)


async def _decide_from_form(service: DecisionService, body: dict[str, Any], view: dict[str, Any], action: str,
                            comment: str) -> None:
    """A reject reason or approve comment form was submitted: the same click path as a button."""
    user = user_id(body)
    if not user:
        log.info("%s form without a user ignored", action)
        return
    ref = text_field(view, "private_metadata")
    answer = await service.click(team_id=team_id(body), user_id=user, ref=ref, action=action, comment=comment)
    if answer.text:
        await service.tell_submitter(team_id(body), ref, user, answer.text)
