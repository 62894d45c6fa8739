"""The Bolt AsyncApp: verifies Slack's signatures and dispatches to the listener modules."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings

from bot.slack import actions, commands, home, messages, reminders
from bot.slack.installations import DatabaseStateStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def build_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=rt.slack.default,
        signing_secret=rt.config.slack.signing_secret,
        process_before_response=False,  # ack at once; the listener goes on after the response
        logger=logging.getLogger("bot.slack.bolt"),
        **_oauth(rt),
    )
    commands.register(app, rt)
    actions.register(app, rt)
    home.register(app, rt)
    reminders.register(app, rt)
    if rt.config.slack.oauth is not None:
        app.enable_token_revocation_listeners()  # an uninstalled workspace's stored tokens are deleted

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Never log the body: a slash command may carry a token typed by an admin.
        log.error("listener failed for a %s request: %s", body.get("type") or body.get("command") or "slack",
                  type(error).__name__, exc_info=error)

    return app


def _oauth(rt: Runtime) -> dict[str, Any]:
    """With `slack.oauth`: Slack's install flow, and each request authorized by its workspace's
    installation (the bot token stays encrypted in the database)."""
    oauth, installations = rt.config.slack.oauth, rt.slack.installations
    if oauth is None or installations is None:
        return {}
    settings = AsyncOAuthSettings(
        client_id=oauth.client_id, client_secret=oauth.client_secret, scopes=list(oauth.scopes),
        installation_store=installations, state_store=DatabaseStateStore(rt.store.engine),
        install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH, authorization_url=oauth.authorize_url,
        install_page_rendering_enabled=False,  # /slack/install goes straight to Slack
        installation_store_bot_only=True,
    )
    return {"oauth_settings": settings, "installation_store": installations,
            "user_facing_authorize_error_message": messages.not_installed_text()}
