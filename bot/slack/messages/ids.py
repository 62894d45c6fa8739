"""The ids the listeners match on: action ids, block ids, callback ids and option values.

They are wire values: a message posted yesterday still carries them, so a change here must keep
the old value working (see `bot/slack/actions.py`, `home.py`, `reminders.py`).
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

# Home preferences: the two selects and the option values of "default" and "never".
ACTION_REMINDER_CHOICE = "precoro_reminder_choice"
ACTION_DIGEST_CHOICE = "precoro_digest_choice"
DEFAULT_CHOICE = "default"
NEVER_CHOICE = "off"

# --- reminders ------------------------------------------------------------------------------------
ACTION_SNOOZE = "precoro_snooze"

# The requester's outcome DMs (bot/slack/outcomes.py)
ACTION_MUTE_OUTCOMES = "precoro_mute_outcomes"
