"""Amount rules in Slack: Approve on a document above its company's limit opens a form asking to
type the amount or the document number; only a matching answer goes on to the one decision path
(`DecisionService`, the clicker's own token). The rule itself is `bot/amounts.py`; which document
it holds back is `amount_hold.py`, asked through `DecisionService.held`.

`held` is asked by every approve path (the Approve button, "Approve with comment", bulk approve);
the form's submission is checked again here, so an old or forged form never skips the rule.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot import amounts
from bot.features.approvals.service import APPROVE, DecisionService
from bot.slack import messages
from bot.slack.payload import guarded, input_value, text_field, user_id

log = logging.getLogger(__name__)


# (body, view, action, comment): the form-to-click path of `listeners.py`
Decide = Callable[[dict[str, Any], dict[str, Any], str, str], Awaitable[None]]


def register(app: AsyncApp, service: DecisionService, *, decide: Decide) -> None:
    @app.view(messages.AMOUNT_CONFIRM_CALLBACK)
    @guarded(service.notifier, "amount confirmation")
    async def confirmed(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """Approve only when what was typed is the amount or the document number; a wrong answer
        stays in the form with its error and nothing is sent."""
        user = user_id(body)
        ref = text_field(view, "private_metadata")
        typed = input_value(view, messages.AMOUNT_CONFIRM_BLOCK, messages.AMOUNT_CONFIRM_ACTION)
        comment = input_value(view, messages.COMMENT_BLOCK, messages.COMMENT_ACTION)
        if len(comment) > messages.APPROVE_COMMENT_MAX:
            await ack(response_action="errors", errors={messages.COMMENT_BLOCK: messages.comment_too_long_text()})
            return
        hold = await service.held(ref)
        if hold is not None and not amounts.confirmation_matches(typed, hold.doc):
            log.info("amount confirmation by %s on message %s did not match; nothing sent", user, ref)
            await ack(response_action="errors",
                      errors={messages.AMOUNT_CONFIRM_BLOCK: messages.wrong_confirmation_text(hold.doc)})
            return
        await ack()
        await decide(body, view, APPROVE, comment)
