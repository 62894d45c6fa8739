"""Approver token lifecycle: register (checked with Precoro first), decrypt for use, revoke, remove."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from bot import redact
from bot.precoro.client import Credentials, PrecoroClient
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack import messages
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.approvers import Approver
from bot.vault import Vault, VaultError, owner_binding

log = logging.getLogger(__name__)


class TokenGone(VaultError):
    """The approver was removed (or its workspace left, or the token replaced) since it was read."""


class TokenService:
    def __init__(self, store: Store, vault: Vault, clients: Mapping[str, PrecoroClient],
                 document_types: Mapping[str, tuple[str, ...]], notifier: Notifier,
                 admins: Mapping[str, tuple[str, ...]], clock: Clock) -> None:
        self.store = store
        self.vault = vault
        self.clients = clients
        self.document_types = document_types
        self.notifier = notifier
        self.admins = admins  # each company's own admins (never another customer's)
        self.clock = clock

    def credentials(self, approver: Approver) -> Credentials:
        """Decrypt an approver's token; raises VaultError (never containing the token).

        The approver is read again first: a caller may hold a copy from before a removal or an
        uninstall, and a token that is no longer registered is never used again (TokenGone)."""
        current = self.store.approvers.get(approver.id)
        if current is None or not current.active or current.token_ciphertext != approver.token_ciphertext:
            raise TokenGone(f"approver {approver.id} is no longer registered with this token")
        binding = owner_binding(approver.company, approver.team_id, approver.slack_user_id)
        token = self.vault.decrypt(approver.token_ciphertext, binding=binding)
        redact.remember(token)  # from now on no log line of this process shows it
        return Credentials(email=approver.email, token=token)

    async def register(self, *, company: str, team_id: str, user_id: str, email: str, token: str,
                       registered_by: str) -> tuple[Approver, bool]:
        """Check the token with one cheap Precoro read, then store it encrypted.

        Raises the client's errors (TokenRejected for a wrong token or email); nothing is stored then."""
        redact.remember(token)
        cred = Credentials(email=email, token=token)
        doc_type = self.document_types[company][0]
        await self.clients[company].waiting_page(cred, doc_type, lane=Lane.INTERACTIVE)
        ciphertext = self.vault.encrypt(token, binding=owner_binding(company, team_id, user_id))
        approver, created = self.store.approvers.upsert(
            company=company, team_id=team_id, slack_user_id=user_id, email=email,
            token_ciphertext=ciphertext, registered_by=registered_by, now=self.clock.now(),
        )
        self.store.audit.record(at=self.clock.now(), company=company, actor=registered_by,
                                action="token.register" if created else "token.rotate",
                                subject=f"<@{user_id}>", outcome="ok")
        return approver, created

    def remove(self, approver: Approver, removed_by: str) -> None:
        self.store.approvers.remove(approver.id)
        self.store.audit.record(at=self.clock.now(), company=approver.company, actor=removed_by,
                                action="token.remove", subject=f"<@{approver.slack_user_id}>", outcome="ok")

    async def revoked(self, approver: Approver, where: str) -> None:
        """Precoro refused the token: stop using it and tell the approver and the admins, once."""
        if not self.store.approvers.mark_revoked(approver.id, self.clock.now()):
            return
        self.store.audit.record(at=self.clock.now(), company=approver.company, actor="precoro",
                                action="token.revoked", subject=f"<@{approver.slack_user_id}>", outcome=where)
        log.warning("token of approver %s (%s) refused by Precoro during %s; polling stopped",
                     approver.id, approver.company, where)
        notices = [(approver.slack_user_id, messages.token_revoked_text())]
        notices += [(admin, messages.admin_token_revoked_text(approver.slack_user_id))
                    for admin in self.admins.get(approver.company, ())]
        for user, text in notices:
            with contextlib.suppress(SlackUnavailable):  # logged; the revoked state and audit entry remain
                await self.notifier.dm(approver.team_id, user, text)
