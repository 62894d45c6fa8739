"""The ids the listeners match on: action ids, block ids, callback ids and option values.

They are wire values: a message posted yesterday still carries them, so a change here must keep
the old value working (see `bot/features/approvals/listeners.py` and the features' listeners).
"""

from __future__ import annotations

# --- the document message and its modals ----------------------------------------------------------
ACTION_APPROVE = "precoro_approve"
ACTION_REJECT = "precoro_reject"
ACTION_OPEN = "precoro_open"
ACTION_APPROVE_COMMENT = "precoro_approve_comment"
APPROVE_CALLBACK = "precoro_approve_comment"
COMMENT_BLOCK = "comment"
COMMENT_ACTION = "comment_input"
DECISION_BLOCK = "decision"
REJECT_CALLBACK = "precoro_reject_reason"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"
REGISTER_CALLBACK = "precoro_register"
EMAIL_BLOCK = "email"
EMAIL_ACTION = "email_input"
TOKEN_BLOCK = "token"
TOKEN_ACTION = "token_input"

# --- App Home -------------------------------------------------------------------------------------
ACTION_SELECT = "precoro_home_select"
ACTION_BULK_APPROVE = "precoro_bulk_approve"
BULK_BLOCK = "home_bulk"
HOME_DOC_BLOCK = "home_doc_"  # + ref: the document's section (its checkbox lives there)
HOME_ACTIONS_BLOCK = "home_act_"  # + ref: its buttons

# Next and Previous: each button's value is the page number (0-based) to show. Two action ids, as
# Slack refuses a view whose block holds two elements with the same action_id (views.publish
# answers invalid_arguments and the user keeps the page they had).
ACTION_HOME_PAGE = "precoro_home_page"
ACTION_HOME_PAGE_BACK = "precoro_home_page_back"
HOME_PAGER_BLOCK = "home_pager"

# Amount rules: the typed-confirmation modal of a document above its company's limit.
AMOUNT_CONFIRM_CALLBACK = "precoro_amount_confirm"
AMOUNT_CONFIRM_BLOCK = "amount_confirm"
AMOUNT_CONFIRM_ACTION = "amount_confirm_input"

# Away mode on the Home: the "away until" date picker, the covering colleague, "I'm back".
ACTION_AWAY_DATE = "precoro_away_date"
ACTION_AWAY_COVER = "precoro_away_cover"
ACTION_AWAY_BACK = "precoro_away_back"
AWAY_BLOCK = "home_away"

# "Decided by me" on the Home: the filters (type, supplier, document number) and its pager.
ACTION_HISTORY_TYPE = "precoro_history_type"
ACTION_HISTORY_SUPPLIER = "precoro_history_supplier"
ACTION_HISTORY_NUMBER = "precoro_history_number"
ACTION_HISTORY_PAGE = "precoro_history_page"
ACTION_HISTORY_PAGE_BACK = "precoro_history_page_back"
ACTION_HISTORY_CLEAR = "precoro_history_clear"
HISTORY_FILTER_BLOCK = "home_history_filter"
HISTORY_NUMBER_BLOCK = "home_history_number"
HISTORY_PAGER_BLOCK = "home_history_pager"
ALL_CHOICE = "all"

# Home preferences: the two selects and the option values of "default" and "never".
ACTION_REMINDER_CHOICE = "precoro_reminder_choice"
ACTION_DIGEST_CHOICE = "precoro_digest_choice"
DEFAULT_CHOICE = "default"
NEVER_CHOICE = "off"

# --- reminders ------------------------------------------------------------------------------------
# A reminder offers one to three "Remind me in N h" buttons in one actions block, and Slack refuses a
# block whose elements share an action_id (chat.postMessage answers invalid_blocks). The first button
# keeps the id every reminder posted so far carries; the second and third add "_2" and "_3". The
# hours are in each button's value, so the listener matches them all (`SNOOZE_ACTIONS`).
ACTION_SNOOZE = "precoro_snooze"
SNOOZE_ACTIONS = r"^precoro_snooze(_\d+)?$"


def snooze_action_id(index: int) -> str:
    """The action id of a reminder's snooze button number `index` (0-based)."""
    return ACTION_SNOOZE if index == 0 else f"{ACTION_SNOOZE}_{index + 1}"

# --- approvers connecting themselves, and invitations ---------------------------------------------
ACTION_CONNECT = "precoro_connect"  # opens the connect form; value: the company id
CONNECT_CALLBACK = "precoro_connect_form"
ACTION_CONNECT_APPROVE = "precoro_connect_approve"  # value: "<approver id>:<request check>"
ACTION_CONNECT_DENY = "precoro_connect_deny"
ACTION_INVITE = "precoro_invite"  # admins' Home: invite the unconnected approvers
# The requester's outcome DMs (bot/features/outcomes/listeners.py)
ACTION_MUTE_OUTCOMES = "precoro_mute_outcomes"
