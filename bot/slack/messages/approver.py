"""What an approver (or anyone) reads in reply to a command or a click: help, refusals, errors. Pure.

Each is a mrkdwn string of at most 3000 characters, so a caller may post it, answer ephemerally
with it or put it in a section block. Errors say what happened and that nothing was lost or sent,
never a traceback. The admin's replies (registration, audit, discovery) are in `admin.py`.
"""

from __future__ import annotations

from datetime import datetime

from bot.slack.messages.notices import AUDIT_DEFAULT, AUDIT_MAX
from bot.slack.messages.text import APPROVE_COMMENT_MAX, at_time, clean, mention, safe


def help_text(is_admin: bool) -> str:
    lines = [
        "*Precoro approvals*",
        "Documents waiting for your approval arrive here as direct messages; "
        "approve or reject them with the buttons.",
        "• `/precoro help`: this help",
        "• `/precoro status`: your registration and when Precoro was last checked",
        "• `/precoro connect`: connect your own Precoro API key (where your company allows it); "
        "`/precoro disconnect` deletes it",
        "• `/precoro away until 2026-12-24 [cover @colleague]`: pause reminders and digests while away "
        "(the colleague gets an FYI digest); `/precoro back` ends it",
        "• `/precoro mute-outcomes` / `unmute-outcomes`: stop or resume the messages telling you that "
        "your own requests were approved, rejected or sent back",
    ]
    if is_admin:
        lines += [
            "*Admin commands*",
            "• `/precoro list`: registered approvers and their status",
            "• `/precoro register @user`: register an approver (a form asks for the token)",
            "• `/precoro register @user email token [override]`: register in one line (the email must be "
            "the user's Slack email; `override` accepts another, audited)",
            "• `/precoro remove @user`: remove an approver and delete their token",
            "• `/precoro status verbose`: status with the poll planner's detail",
            "• `/precoro resume`: clear a pause after Precoro answered 429 (status shows it)",
            f"• `/precoro audit [N]`: the last N decisions and token changes (default {AUDIT_DEFAULT}, "
            f"at most {AUDIT_MAX})",
            "• `/precoro discovery @user`: find new documents for every approver with this registered "
            "approver's token (it must see the whole company); `/precoro discovery off` stops it",
            "• `/precoro invite`: invite the approvers named in waiting documents who are not connected "
            "(`/precoro invite again` invites those already invited once more)",
        ]
    return "\n".join(lines)


USER_COMMANDS = ("help", "status", "connect", "disconnect", "away", "back", "mute-outcomes", "unmute-outcomes")
ADMIN_COMMANDS = ("list", "register", "remove", "resume", "audit", "discovery", "invite")


def unknown_command_text(word: str, is_admin: bool) -> str:
    """A `/precoro` subcommand the bot does not know: say so, and the short list (not the whole help)."""
    shown = safe(word.replace("`", ""), 40) or "?"
    names = USER_COMMANDS + (ADMIN_COMMANDS if is_admin else ())
    return (f"Unknown command `{shown}`; try `/precoro help`. "
            f"Commands: {', '.join(f'`{n}`' for n in names)}.")


def not_admin_text() -> str:
    return "Only Precoro bot admins can do that. See `/precoro help` for what you can do."


def not_connected_text() -> str:
    """A workspace no company names: the same answer whatever it asks (nothing about others)."""
    return ("This Slack workspace is not connected to a Precoro company on this service. "
            "Ask the service's operator to connect it.")


def install_not_connected_html() -> str:
    """The install page's answer for a workspace no company names: nothing was installed."""
    return ("<html><body><h1>Not connected</h1><p>This Slack workspace is not connected to a Precoro "
            "company on this service, so nothing was installed. Ask the service's operator to connect "
            "it, then install again.</p></body></html>")


def wrong_user_text(owner: str) -> str:
    return f"This document waits for {mention(owner)}; only they can decide it."


def already_decided_text(
    decision: str = "", *, actor: str | None = None, at: datetime | None = None
) -> str:
    """A second click on a decided document: who decided it and when (a Slack date token); nothing changed."""
    word = {"approve": "approved", "approved": "approved", "reject": "rejected",
            "rejected": "rejected"}.get(clean(decision).lower(), safe(decision, 100) or "decided")
    by = f" by {mention(actor)}" if actor else ""
    return f"This document was already {word}{by}{at_time(at)}; nothing changed."


def token_revoked_text() -> str:
    return ("Precoro refused your API token; ask an admin to register a new one with "
            "`/precoro register`, or connect a new one yourself with `/precoro connect` where your "
            "company allows it.")


def token_restored_text() -> str:
    return "Precoro accepts your API token again: your documents come to Slack as before."


def precoro_unavailable_text() -> str:
    return "Precoro is not answering right now; nothing was changed. Try again in a few minutes."


def comment_too_long_text() -> str:
    return f"Keep the comment to {APPROVE_COMMENT_MAX} characters."


def reason_required_text() -> str:
    """Modal validation error for a blank rejection reason."""
    return "Write a reason; Precoro shows it to the requester."


def decision_in_progress_text() -> str:
    """A second click while the first one's decision is still being sent."""
    return "Your decision on this document is already on its way to Precoro; nothing more was sent."


def unknown_document_text() -> str:
    return "This message is no longer tracked by the bot; open the document in Precoro to decide it."


def not_waiting_reason() -> str:
    return "Precoro says it no longer waits for your approval (decided elsewhere, changed or withdrawn)."


def token_unreadable_text() -> str:
    return ("Your stored token cannot be read (the encryption key changed). Ask an admin to register "
            "it again with `/precoro register`.")


def precoro_refused_text(detail: str) -> str:
    return f"Precoro refused the request: {safe(detail, 300)}"


def click_not_recorded_text() -> str:
    """The database could not record a click: nothing happened, the user should click again."""
    return ("Your click could not be recorded (the bot's database is unavailable for a moment); nothing was "
            "sent to Precoro. Please click again in a minute.")


def click_recorded_text() -> str:
    """The decision is in the outbox but its attempt was interrupted (database hiccup)."""
    return ("Your decision is saved; the bot sends it to Precoro as soon as its database answers again "
            "and updates the message then. No need to click again.")


def not_installed_text() -> str:
    """Several workspaces: a request from a workspace where the app is not (or no longer) installed."""
    return ("Precoro approvals is not installed in this Slack workspace (or was removed). "
            "Ask a Slack admin to install it again from the app's install page.")


def request_failed_text() -> str:
    """The safety net of every handler: something unexpected failed; never a traceback."""
    return "Something went wrong on the bot's side and your request was not completed. Please try again."


def unreadable_request_text() -> str:
    return "The bot could not read that request from Slack; nothing was done. Please try again."
