"""Approvers connecting their own Precoro key: the form, its answers, the admins' approval request,
invitations and their summary. Pure.

The key is typed by its owner only: no text here ever carries it, and the admins' request names
the person and the email, never the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.slack.messages.ids import (
    ACTION_CONNECT,
    ACTION_CONNECT_APPROVE,
    ACTION_CONNECT_DENY,
    ACTION_INVITE,
    CONNECT_CALLBACK,
    TOKEN_ACTION,
    TOKEN_BLOCK,
)
from bot.slack.messages.text import (
    CONFIRM_TEXT_MAX,
    CONFIRM_TITLE_MAX,
    EMAIL_MAX,
    NAME_MAX,
    TOKEN_MAX,
    button,
    mention,
    mrkdwn,
    plain,
    plural,
    safe,
)

KEY_STEPS = ("In Precoro: *Configuration → Integrations → API Key → Generate API Key* (signed in as "
             "yourself), then copy the key.")


def connect_modal(*, company: str, email: str) -> dict[str, Any]:
    """The approver's own form: their Precoro API key only; the email is their Slack profile's.
    private_metadata is JSON `{"company": company}`."""
    return {
        "type": "modal",
        "callback_id": CONNECT_CALLBACK,
        "private_metadata": json.dumps({"company": company}, separators=(",", ":")),
        "title": plain("Connect Precoro", 24),
        "submit": plain("Connect", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": mrkdwn(
                f"Connect your own Precoro account (*{safe(company, NAME_MAX)}*) with your email "
                f"*{safe(email, EMAIL_MAX)}* (from your Slack profile). {KEY_STEPS} "
                "The key is checked with Precoro, stored encrypted and never shown to anyone, admins included.")},
            {"type": "input", "block_id": TOKEN_BLOCK, "label": plain("Your Precoro API key", 2000),
             "element": {"type": "plain_text_input", "action_id": TOKEN_ACTION, "min_length": 1,
                         "max_length": TOKEN_MAX, "placeholder": plain("Paste your API key", 150)}},
        ],
    }


def connect_admin_only_text() -> str:
    return ("In your company a Precoro bot admin registers approvers: ask one of them to run "
            "`/precoro register @you`.")


def connect_choose_text(companies: Sequence[str]) -> str:
    return "Which Precoro company? `/precoro connect " + " | ".join(f"{safe(c, NAME_MAX)}" for c in companies) + "`"


def connect_no_email_text() -> str:
    return ("Your Slack profile shows no email, so the bot cannot tell which Precoro account is yours. "
            "Ask a Slack admin, or a Precoro bot admin to register you.")


def connect_checking_text() -> str:
    return "Checking your key with Precoro…"


def connected_text(email: str) -> str:
    return (f":white_check_mark: Connected as *{safe(email, EMAIL_MAX)}*. Documents waiting for your approval "
            "arrive here as direct messages. `/precoro disconnect` deletes your key.")


def connect_pending_text(email: str) -> str:
    return (f":hourglass: Your key for *{safe(email, EMAIL_MAX)}* works. A Precoro bot admin of your company "
            "must approve the connection (they never see the key); you will be told here.")


def connect_refused_text(email: str) -> str:
    return (f"Precoro did not accept this key with your email *{safe(email, EMAIL_MAX)}*: the key must be "
            f"yours, made while signed in as that email, and enabled. {KEY_STEPS} Nothing was stored.")


def connect_invalid_key_text() -> str:
    return "That does not look like a Precoro API key (letters, digits and . _ ~ + / = - only). Nothing was stored."


def connect_failed_text() -> str:
    return "Precoro could not be asked right now. Nothing was stored; try again in a minute."


def connect_request_message(*, user: str, email: str, company: str, value: str) -> dict[str, Any]:
    """The DM to each company admin: approve or deny a connection (the key is not in it)."""
    text = f"{mention(user)} asks to connect as {safe(email, EMAIL_MAX)} (Precoro company {safe(company, NAME_MAX)})."
    confirm = {"title": plain("Approve the connection?", CONFIRM_TITLE_MAX),
               "text": plain("The bot will poll Precoro with this person's own key.", CONFIRM_TEXT_MAX),
               "confirm": plain("Approve", 30), "deny": plain("Cancel", 30)}
    return {"text": text, "blocks": [
        {"type": "section", "text": mrkdwn(text)},
        {"type": "actions", "elements": [
            button("Approve", ACTION_CONNECT_APPROVE, value=value, style="primary", confirm=confirm),
            button("Deny", ACTION_CONNECT_DENY, value=value, style="danger")]},
    ]}


def connect_request_decided_text(*, user: str, email: str, approved: bool, by: str) -> str:
    what = "approved" if approved else "denied"
    return f"{mention(user)}'s connection as {safe(email, EMAIL_MAX)} was {what} by {mention(by)}."


def connect_request_gone_text() -> str:
    return "This connection request was already decided, withdrawn or replaced."


def connect_approved_text() -> str:
    return (":white_check_mark: A Precoro bot admin approved your connection. Documents waiting for your "
            "approval arrive here as direct messages.")


def connect_denied_text() -> str:
    return "A Precoro bot admin denied your connection; your key was deleted. Ask them if this is a mistake."


def disconnected_text(companies: Sequence[str]) -> str:
    if not companies:
        return "You are not connected: there was no key of yours to delete."
    return (f":wave: Disconnected: your Precoro key for {', '.join(safe(c, NAME_MAX) for c in companies)} is "
            "deleted and the bot no longer asks Precoro for you. `/precoro connect` connects you again.")


def invitation_message(*, company: str, by: str, policy: str) -> dict[str, Any]:
    """The DM an invited approver gets: why, how to make a key, and the Connect button."""
    approval = " A Precoro bot admin then approves the connection." if policy == "self-with-approval" else ""
    text = (f"{mention(by)} invites you to approve your Precoro documents ({safe(company, NAME_MAX)}) from Slack: "
            "documents waiting for you arrive here with Approve and Reject buttons.")
    return {"text": text, "blocks": [
        {"type": "section", "text": mrkdwn(text)},
        {"type": "section", "text": mrkdwn(
            f"To connect, make your own Precoro API key. {KEY_STEPS} Then click *Connect* and paste it: it is "
            f"stored encrypted and nobody else sees it.{approval}")},
        {"type": "actions", "elements": [button("Connect", ACTION_CONNECT, value=company, style="primary")]},
    ]}


def invite_summary_text(*, invited: int, not_in_slack: Sequence[str], already: int,
                        admin_only: Sequence[str] = (), failed: int = 0) -> str:
    lines = [f"Invited {invited}, not in Slack {len(not_in_slack)}, already invited {already}."]
    if not_in_slack:
        lines.append("No Slack user has the email: " + ", ".join(safe(e, EMAIL_MAX) for e in not_in_slack[:20]))
    if already:
        lines.append("`/precoro invite again` invites the already invited once more.")
    if failed:
        lines.append(f"{plural(failed, 'invitation')} could not be sent (Slack did not answer); try again later.")
    if admin_only:
        lines.append("Not invited (connect_policy is admin, approvers cannot connect themselves): "
                     + ", ".join(safe(c, NAME_MAX) for c in admin_only))
    if not invited and not not_in_slack and not already and not failed:
        lines.append("Nobody to invite: every approver named in waiting documents is connected (discovery lists "
                     "them; without discovery the bot does not know who else approves).")
    return "\n".join(lines)


def invite_usage_text() -> str:
    return "Usage: `/precoro invite` or `/precoro invite again`"


def connect_home_blocks(companies: Sequence[str]) -> list[dict[str, Any]]:
    """The Home of someone not connected, where their company lets approvers connect themselves."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": mrkdwn(f"Connect your own Precoro account: {KEY_STEPS}")}]
    for company in companies[:3]:  # one block each: Slack refuses a block with two equal action ids
        label = "Connect to Precoro" if len(companies) == 1 else f"Connect: {safe(company, 50)}"
        blocks.append({"type": "actions", "elements": [button(label, ACTION_CONNECT, value=company,
                                                              style="primary")]})
    return blocks


def invite_home_blocks() -> list[dict[str, Any]]:
    """The admins' Home: invite every unconnected approver named in waiting documents."""
    return [{"type": "actions", "elements": [button("Invite unconnected approvers", ACTION_INVITE, value="invite")]},
            {"type": "context", "elements": [mrkdwn(
                "DMs each approver named in waiting documents who is not connected, once; "
                "`/precoro invite again` repeats it.")]}]
