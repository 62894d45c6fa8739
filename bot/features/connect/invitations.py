"""Invite the approvers named in waiting documents who are not connected to connect themselves.

Company discovery already records, per waiting document, the approvers it names who have no token
here (`discovery_settings.unregistered`, emails as Precoro knows them). An admin's one action finds
each of them in the admin's Slack workspace by that email (`users.lookupByEmail`, users:read.email)
and sends a short DM with the Precoro steps to make a key and a Connect button. Every invitation is
recorded, so a second action invites nobody twice unless the admin asks again explicitly.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.config import CompanyConfig
from bot.features.connect import messages
from bot.quota.gate import Clock
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass
class InviteSummary:
    invited: int = 0
    already: int = 0
    failed: int = 0  # Slack did not answer: not recorded, tried again next time
    not_in_slack: list[str] = field(default_factory=list)  # emails no user of the workspace has
    admin_only: list[str] = field(default_factory=list)  # companies whose approvers cannot connect themselves


def unconnected(store: Store, company: str) -> dict[str, str]:
    """The emails (lower-cased) -> names of approvers named in the company's waiting documents
    who have no approver row here (connected, pending or refused alike). Blocking (database)."""
    settings = store.discovery.get(company)
    named: dict[str, str] = {}
    for people in (settings.unregistered.values() if settings is not None else ()):
        for person in people:
            if isinstance(person, list) and person and isinstance(person[0], str) and "@" in person[0]:
                named.setdefault(person[0].strip().lower(), str(person[1]) if len(person) > 1 else "")
    known = {a.email.strip().lower() for a in store.approvers.list(company)}
    return {email: name for email, name in sorted(named.items()) if email not in known}


async def invite(store: Store, notifier: Notifier, clock: Clock, companies: Sequence[CompanyConfig], *,
                 team: str, by: str, again: bool = False) -> InviteSummary:
    """Invite, for each of `companies` (the admin's own), the unconnected approvers who are users of
    `team`; `again` also those invited before."""
    summary = InviteSummary()
    for company in companies:
        if company.connect_policy == "admin":
            summary.admin_only.append(company.id)
            continue
        people = await store.run(unconnected, store, company.id)
        invited = await store.run(store.invitations.invited, company.id)
        message = messages.invitation_message(company=company.id, by=by, policy=company.connect_policy)
        for email in people:
            if email in invited and not again:
                summary.already += 1
                continue
            try:
                user = await notifier.user_by_email(team, email)
                if user is None:
                    summary.not_in_slack.append(email)
                    continue
                if await store.run(store.approvers.find, company.id, team, user) is not None:
                    continue  # connected under another email: nothing to invite
                await notifier.post(team, user, message)
            except SlackUnavailable:
                summary.failed += 1
                continue
            await store.run(store.invitations.record, company=company.id, email=email, team_id=team,
                            slack_user_id=user, by=by, now=clock.now())
            summary.invited += 1
        with contextlib.suppress(Exception):  # the invitations are recorded; the audit line is a courtesy
            await store.run(store.audit.record, at=clock.now(), company=company.id, actor=by,
                            action="invite" if not again else "invite.again", subject="",
                            outcome=f"invited {summary.invited}, not in Slack {len(summary.not_in_slack)}, "
                                    f"already {summary.already}")
    log.info("invitations by %s: %d sent, %d not in Slack, %d already invited, %d failed", by, summary.invited,
             len(summary.not_in_slack), summary.already, summary.failed)
    return summary
