"""Approver token lifecycle: register (checked with Precoro first), decrypt for use, revoke, remove."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping

from bot import redact
from bot.check_turns import CheckTurns
from bot.precoro.client import Credentials, PrecoroClient
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.slack import messages
from bot.slack.notifier import Notifier, SlackUnavailable
from bot.store import Store
from bot.store.approvers import ACTIVE, REVOKED, SUSPECT, Approver
from bot.vault import Vault, owner_binding

log = logging.getLogger(__name__)

# A refusal (401) is believed only when a second request this much later is refused too: a brief
# Precoro authentication hiccup must not revoke every approver polled during it.
CONFIRM_AFTER_SECONDS = 60.0
# A revoked token is tried again after this long, doubling after each refusal up to the maximum.
RECHECK_SECONDS = 6 * 3600.0
RECHECK_MAX_SECONDS = 48 * 3600.0


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
        self.confirm_after = CONFIRM_AFTER_SECONDS
        self.recheck_after = RECHECK_SECONDS
        self.recheck_max = RECHECK_MAX_SECONDS
        # company -> earliest token check this process knows of (the checker reads it every tick)
        self.next_check: dict[str, float] = {}
        self.turns = CheckTurns(clock, self._spacing)

    def _spacing(self, company: str) -> float:
        policy = self.clients[company].gate.policy(company)
        return min(w.seconds for w in policy.windows) + policy.margin_seconds

    def credentials(self, approver: Approver, *, status: str = ACTIVE) -> Credentials:
        """Decrypt an approver's token; raises VaultError (never containing the token).

        The credentials re-read the approver's row right before each request leaves the quota
        gate: once the row is gone (removed), has another status (refused) or another token, the
        request is not sent."""
        binding = owner_binding(approver.company, approver.team_id, approver.slack_user_id)
        token = self.vault.decrypt(approver.token_ciphertext, binding=binding)
        redact.remember(token)  # from now on no log line of this process shows it

        async def usable() -> bool:
            row = await self.store.run(self.store.approvers.get, approver.id)
            return row is not None and row.status == status and row.token_ciphertext == approver.token_ciphertext

        return Credentials(email=approver.email, token=token, usable=usable)

    async def register(self, *, company: str, team_id: str, user_id: str, email: str, token: str,
                       registered_by: str, status: str = ACTIVE) -> tuple[Approver, bool]:
        """Check the token with one cheap Precoro read, then store it encrypted (`status` PENDING:
        stored, unused until an admin approves the connection).

        Raises the client's errors (TokenRejected for a wrong token or email); nothing is stored then."""
        redact.remember(token)
        cred = Credentials(email=email, token=token)
        client = self.clients[company]
        # In turns, and without making polls step aside as a click does: fifty registrations neither
        # fail for want of a slot nor stop polls (`bot.check_turns`).
        await self.turns.run(company, lambda: client.check_token(cred, self.document_types[company],
                                                                 lane=Lane.INTERACTIVE, hold_polls=False))
        ciphertext = self.vault.encrypt(token, binding=owner_binding(company, team_id, user_id))
        return await self.store.run(self._save, company=company, team_id=team_id, user_id=user_id, email=email,
                                    ciphertext=ciphertext, registered_by=registered_by, status=status)

    def _save(self, *, company: str, team_id: str, user_id: str, email: str, ciphertext: str,
              registered_by: str, status: str = ACTIVE) -> tuple[Approver, bool]:
        approver, created = self.store.approvers.upsert(
            company=company, team_id=team_id, slack_user_id=user_id, email=email,
            token_ciphertext=ciphertext, registered_by=registered_by, now=self.clock.now(), status=status,
        )
        self.store.audit.record(at=self.clock.now(), company=company, actor=registered_by,
                                action="token.register" if created else "token.rotate",
                                subject=f"<@{user_id}>", outcome="ok" if status == ACTIVE else status)
        return approver, created

    def remove(self, approver: Approver, removed_by: str) -> None:
        """Delete the approver and its sealed token. Blocking (database): run it through `store.run`."""
        self.store.approvers.remove(approver.id)
        self.store.audit.record(at=self.clock.now(), company=approver.company, actor=removed_by,
                                action="token.remove", subject=f"<@{approver.slack_user_id}>", outcome="ok")

    async def refused(self, approver: Approver, where: str) -> str:
        """Precoro refused the token (401): what that now means, "suspect" or "revoked" ("" if
        another worker already acted on it).

        A first refusal only makes the token suspect: nothing uses it until the token checker's
        one request `confirm_after` later confirms it (revoked) or clears it (active again)."""
        now = self.clock.now()
        row = await self.store.run(self.store.approvers.get, approver.id)
        if row is None or row.token_ciphertext != approver.token_ciphertext:
            return ""  # removed or replaced meanwhile
        if row.status == ACTIVE:
            if not await self.store.run(self.store.approvers.mark_suspect, approver.id, now, now + self.confirm_after):
                return ""
            self._wake(approver.company, now + self.confirm_after)
            log.warning("token of approver %s (%s) refused by Precoro during %s; confirming before revoking",
                        approver.id, approver.company, where)
            return SUSPECT
        if row.status == SUSPECT:
            await self.revoked(approver, where)
            return REVOKED
        # A revoked token's re-check refused again: wait longer before the next one.
        delay = min(self.recheck_after * 2.0 ** (row.checks + 1), self.recheck_max)
        await self.store.run(self.store.approvers.check_failed, approver.id, now + delay)
        self._wake(approver.company, now + delay)
        return REVOKED

    async def restored(self, approver: Approver) -> bool:
        """Precoro accepts a suspect or revoked token: use it again; a revoked one's owner and the
        admins are told (a suspect one was never announced)."""
        was = approver.status
        if not await self.store.run(self.store.approvers.restore, approver.id, self.clock.now(),
                                    approver.token_ciphertext):
            return False
        await self.store.run(self.store.audit.record, at=self.clock.now(), company=approver.company,
                             actor="precoro", action="token.restored" if was == REVOKED else "token.confirmed",
                             subject=f"<@{approver.slack_user_id}>", outcome="accepted again")
        log.info("token of approver %s (%s) accepted by Precoro again", approver.id, approver.company)
        if was == REVOKED:
            notices = [(approver.slack_user_id, messages.token_restored_text())]
            notices += [(a, messages.admin_token_restored_text(approver.slack_user_id))
                        for a in self.admins.get(approver.company, ())]
            for user, text in notices:
                with contextlib.suppress(SlackUnavailable):
                    await self.notifier.dm(approver.team_id, user, text)
        return True

    def _wake(self, company: str, at: float) -> None:
        self.next_check[company] = min(self.next_check.get(company, at), at)

    async def revoked(self, approver: Approver, where: str) -> None:
        """Precoro refused the token twice: stop using it and tell the approver and the admins, once.
        It is tried again `recheck_after` later (see `bot.sync.token_checks`)."""
        check_at = self.clock.now() + self.recheck_after
        if not await self.store.run(self.store.approvers.mark_revoked, approver.id, self.clock.now(), check_at):
            return
        self._wake(approver.company, check_at)
        await self.store.run(self.store.audit.record, at=self.clock.now(), company=approver.company,
                             actor="precoro", action="token.revoked", subject=f"<@{approver.slack_user_id}>",
                             outcome=where)
        log.warning("token of approver %s (%s) refused by Precoro during %s; polling stopped",
                     approver.id, approver.company, where)
        notices = [(approver.slack_user_id, messages.token_revoked_text())]
        notices += [(admin, messages.admin_token_revoked_text(approver.slack_user_id))
                    for admin in self.admins.get(approver.company, ())]
        for user, text in notices:
            with contextlib.suppress(SlackUnavailable):  # logged; the revoked state and audit entry remain
                await self.notifier.dm(approver.team_id, user, text)
