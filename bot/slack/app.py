"""The Bolt AsyncApp: verifies Slack's signatures and dispatches to the listener modules: the
platform's own (`bot/slack`) and each feature's (`bot/features/<name>/listeners.py`, given its own
service). This is the one module of `bot/slack` that imports the features."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
    DefaultAsyncCallbackOptions,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse

from bot.features.admin import leaving_listeners as leaving
from bot.features.admin import listeners as admin
from bot.features.approvals import listeners as approvals
from bot.features.away import listeners as away
from bot.features.connect import listeners as connect
from bot.features.home import history_listeners as home_history
from bot.features.home import listeners as home
from bot.features.outcomes import listeners as outcomes
from bot.features.reminders import listeners as reminders
from bot.slack import messages
from bot.slack.installations import DatabaseStateStore

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


def build_bolt_app(rt: Runtime) -> AsyncApp:
    """The Bolt app with every feature's listeners. Each feature service must be built
    (`Runtime.build` does): a missing one would silently drop its listeners, `/precoro` itself or
    the clean-up of a workspace that leaves, so it is refused here instead."""
    missing = [name for name in ("admin", "connect", "away", "outcomes") if getattr(rt, name) is None]
    if missing:
        raise ValueError(f"the runtime lacks feature services: {', '.join(missing)} (build it with Runtime.build)")
    assert rt.admin is not None and rt.connect is not None and rt.away is not None and rt.outcomes is not None
    app = AsyncApp(
        client=rt.slack.default,
        signing_secret=rt.config.slack.signing_secret,
        process_before_response=False,  # ack at once; the listener goes on after the response
        # Socket Mode envelopes are not signed: the websocket is the bot's own (bot/slack/socket_mode.py)
        request_verification_enabled=not rt.config.slack.socket_mode,
        logger=logging.getLogger("bot.slack.bolt"),
        **_oauth(rt),
    )
    subcommands = {**away.subcommands(rt.away), **outcomes.subcommands(rt.outcomes)}
    # `/precoro` itself, and the admins' commands and registration form
    admin.register(app, rt.admin, subcommands=subcommands, flows=connect.flows(rt.connect))
    connect.register(app, rt.connect)  # approvers' own keys, connection approvals, invitations
    approvals.register(app, rt.decisions)  # Approve / Reject, their forms, the amount confirmation
    home.register(app, rt.home)
    reminders.register(app, rt.reminders)
    away.register(app, rt.away)
    home_history.register(app, rt.home)
    outcomes.register(app, rt.outcomes)  # the requester's Mute button
    # An uninstalled workspace's Slack tokens are deleted and its approvers removed (Bolt's own
    # revocation listeners would delete the Slack tokens only).
    leaving.register(app, rt.admin)

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
        installation_store=installations, state_store=DatabaseStateStore(rt.store.engine, boundary=rt.store.boundary),
        install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH, authorization_url=oauth.authorize_url,
        install_page_rendering_enabled=False,  # /slack/install goes straight to Slack
        installation_store_bot_only=True,
        callback_options=AsyncCallbackOptions(success=_installed, failure=_install_failed),
    )
    return {"oauth_settings": settings, "installation_store": installations,
            "user_facing_authorize_error_message": messages.not_installed_text()}


async def _installed(args: AsyncSuccessArgs) -> BoltResponse:
    """A workspace no company names was not stored (see EncryptedInstallationStore.allowed): tell
    the installer politely; otherwise Bolt's own success page."""
    installation = args.installation
    store = args.settings.installation_store
    found = await store.async_find_bot(enterprise_id=installation.enterprise_id, team_id=installation.team_id,
                                       is_enterprise_install=installation.is_enterprise_install)
    if found is None:
        return BoltResponse(status=403, body=messages.install_not_connected_html(),
                            headers={"Content-Type": "text/html; charset=utf-8"})
    return await _default(args).success(args)


async def _install_failed(args: AsyncFailureArgs) -> BoltResponse:
    return await _default(args).failure(args)


def _default(args: AsyncSuccessArgs | AsyncFailureArgs) -> DefaultAsyncCallbackOptions:
    settings = args.settings
    return DefaultAsyncCallbackOptions(logger=settings.logger, state_utils=settings.state_utils,
                                       redirect_uri_page_renderer=settings.redirect_uri_page_renderer)
