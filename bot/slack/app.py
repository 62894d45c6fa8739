"""The Bolt AsyncApp: verifies Slack's signatures and dispatches to the listener modules."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot.slack import actions, commands, home, reminders

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=rt.slack,
        signing_secret=rt.config.slack.signing_secret,
        process_before_response=False,  # ack at once; the listener goes on after the response
        logger=logging.getLogger("bot.slack.bolt"),
    )
    commands.register(app, rt)
    actions.register(app, rt)
    home.register(app, rt)
    reminders.register(app, rt)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Never log the body: a slash command may carry a token typed by an admin.
        log.error("listener failed for a %s request: %s", body.get("type") or body.get("command") or "slack",
                  type(error).__name__, exc_info=error)

    return app
