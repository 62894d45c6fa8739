"""Trying refused tokens again: confirming a first refusal, re-checking revoked tokens.

Precoro's 401 is believed only when a second request a little later is refused too: the first
refusal makes the approver `suspect` (nothing uses the token), and this checker spends exactly
one request on it when its `check_at` comes: accepted, the approver is active again; refused,
the token is revoked (the approver and admins are told). A revoked token is tried again every
`TokenService.recheck_after` (doubling after each refusal), and restored, with its owner told,
when Precoro accepts it.

Each check is one page-1 list read in the poll lane: it waits for no slot (a click or the
reserve comes first), and one that finds no room, a 429 or an outage is simply tried again a
little later. The scheduler calls `run` on every tick; it reads the database only when the
earliest check it knows of is due (or every `RESCAN_SECONDS`, for other replicas' refusals).

A check that cannot be made is logged at INFO once, when that approver's reason changes, and at
DEBUG each time after: while the quota stays tight it is put off every `RETRY_SECONDS`, and a
steady state that repeats one line every half minute hides the lines that matter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.logs import fields
from bot.precoro.client import PrecoroClient
from bot.precoro.errors import PrecoroError, TokenRejected
from bot.quota.gate import Clock
from bot.quota.ledger import Lane
from bot.store import Store
from bot.sync.tokens import ApproverTokens
from bot.vault import VaultError

log = logging.getLogger(__name__)

RESCAN_SECONDS = 15.0
RETRY_SECONDS = 30.0  # a check that could not be made (no room, 429, outage) is tried this much later


class TokenChecker:
    def __init__(self, store: Store, tokens: ApproverTokens, clients: Mapping[str, PrecoroClient],
                 document_types: Mapping[str, tuple[str, ...]], clock: Clock) -> None:
        self.store = store
        self.tokens = tokens
        self.clients = clients
        self.document_types = document_types
        self.clock = clock
        self._scanned: dict[str, float] = {}
        self._put_off: dict[int, str] = {}  # approver id -> why its last check was not made (logged once)

    def due(self, company: str) -> bool:
        now = self.clock.now()
        known = self.tokens.next_check.get(company)
        return (known is not None and known <= now) or now - self._scanned.get(company, -1e300) >= RESCAN_SECONDS

    def scanned(self, companies: list[str], now: float) -> None:
        """These companies were seen (one query for all: `bot.sync.fleet`) to have no check due:
        none scans on its own before `RESCAN_SECONDS`."""
        for company in companies:
            self._scanned[company] = now

    async def run(self, company: str) -> int:
        """Make the company's due checks (one request each); returns how many were made."""
        if not self.due(company):
            return 0
        now = self.clock.now()
        self._scanned[company] = now
        self.tokens.next_check.pop(company, None)
        made = 0
        for approver in await self.store.run(self.store.approvers.due_checks, company, now):
            try:
                cred = self.tokens.credentials(approver, status=approver.status)
            except VaultError:
                continue  # logged where it is used; a new registration replaces it
            client = self.clients[company]
            try:
                await client.check_token(cred, self.document_types[company], lane=Lane.POLL)
            except TokenRejected:
                made += 1
                outcome = await self.tokens.refused(approver, "re-check")
                self._put_off.pop(approver.id, None)
                log.info("token check of approver %s (%s): refused again (%s)", approver.id, company, outcome,
                         extra=fields(company=company, approver_id=approver.id))
            except PrecoroError as exc:  # no room, 429, outage, or withdrawn meanwhile: later
                made += exc.status is not None
                later = self.clock.now() + RETRY_SECONDS
                await self.store.run(self.store.approvers.postpone_check, approver.id, later)
                self.tokens.next_check[company] = min(self.tokens.next_check.get(company, later), later)
                why = type(exc).__name__
                level = logging.DEBUG if self._put_off.get(approver.id) == why else logging.INFO
                self._put_off[approver.id] = why
                log.log(level, "token check of approver %s (%s) not made: %s", approver.id, company, why,
                        extra=fields(company=company, approver_id=approver.id))
                break
            else:
                made += 1
                self._put_off.pop(approver.id, None)
                await self.tokens.restored(approver)
        nxt = await self.store.run(self.store.approvers.next_check, company)
        if nxt is not None:
            self.tokens.next_check[company] = min(self.tokens.next_check.get(company, nxt), nxt)
        return made
