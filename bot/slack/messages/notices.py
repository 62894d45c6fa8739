"""What the engine and the platform tell a company's admins, and the few admin texts several parts
share: a token Precoro refused or accepts again, discovery lost, what the bot learned of a
company's Precoro, "not registered", an expired form, and the audit log's bounds (the help text
names them). Pure.

The admin feature's own replies (`/precoro register`, `list`, `status`, `discovery`, `resume`,
`audit`) are `bot/features/admin/messages.py`; these stay in the platform because the engine
(`bot/tokens.py`, `bot/sync/discovery.py`, `bot/sync/adapt.py`) and other features post them, and
neither may import a feature.
"""

from __future__ import annotations

from bot.slack.messages.text import mention, safe

AUDIT_DEFAULT = 20
AUDIT_MAX = 100


def form_expired_text() -> str:
    return "This form is out of date; run `/precoro register @user` again."


def not_registered_text(user: str) -> str:
    return (f"{mention(user)} is not registered. An admin can register them with "
            "`/precoro register @user`.")


def admin_token_revoked_text(user: str) -> str:
    return (f"Precoro refused the API token of {mention(user)}; the bot stopped using it. "
            f"Register a new one with `/precoro register {mention(user)}`.")


def admin_token_restored_text(user: str) -> str:
    return f"Precoro accepts the API token of {mention(user)} again; the bot uses it as before."


def admin_discovery_revoked_text(user: str, company: str) -> str:
    return (f"Precoro refused the discovery token of {mention(user)} for *{safe(company, 40)}*: discovery is off "
            "and each approver's own waiting list is polled again. Register a new token, then turn discovery "
            f"back on with `/precoro discovery {mention(user)}`.")


def admin_discovery_lost_text(company: str) -> str:
    return (f"Discovery for *{safe(company, 40)}* is off: its approver was removed or their token stopped working. "
            "Each approver's own waiting list is polled again. Choose another with `/precoro discovery @user`.")


FINDING_TEXTS: dict[str, str] = {
    "duplicate_keying=route": "Precoro refuses a second read of the same list within a minute even with other "
                              "parameters (its duplicate-GET limit is keyed by route): each list is now read at "
                              "most once a minute, so new documents may take longer to arrive.",
    "stepless": "Precoro's answers for {detail} carry no readable approval steps: company discovery leaves them to "
                "each approver's own waiting list (slower with many approvers).",
    "blind": "The company discovery user's Precoro role does not see every document of type {detail} (an "
             "approver's own list held one it could not read): discovery leaves {detail} to each approver's own "
             "waiting list (slower with many approvers). A discovery user whose role sees the whole company "
             "(`/precoro discovery @user`) brings it back.",
    "waiting_filter=ignored": "Precoro's `waitingForApprove` filter listed documents that do not wait for the "
                              "approver: each approver's list is now read as every pending document, keeping "
                              "those whose current approval step names them.",
}


def finding_sentence(name: str, value: str) -> str:
    if name.startswith("stepless:"):
        return FINDING_TEXTS["stepless"].format(detail=safe(name.removeprefix("stepless:"), 40))
    if name.startswith("blind:"):
        return FINDING_TEXTS["blind"].format(detail=safe(name.removeprefix("blind:"), 40))
    return FINDING_TEXTS.get(f"{name}={value}", f"{safe(name, 40)}: {safe(value, 80)}")


def admin_finding_text(company: str, name: str, value: str) -> str:
    return f"About *{safe(company, 40)}*: {finding_sentence(name, value)} `precoro-bot doctor` checks the rest."
