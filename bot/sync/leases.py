"""Which companies this replica polls: its leases, claimed for all companies at once.

A tick must cost what is due, not what is configured: the leases of every company are taken or
renewed by one statement (`LeaseRepo.claim`), and only every `lease_seconds / RENEWALS` (a third of
the lease by default), not on every tick. Between claims the replica trusts what it holds until
`expires_at - lease_seconds * SAFETY`: its lease still has a sixth left when it stops polling a
company whose renewal failed (database down, a tick that ran long), so two replicas never poll a
company at once. A company another replica holds is tried again at the next claim, and taken once
that replica's lease has run out (it died) or was released (it stopped).
"""

from __future__ import annotations

import logging

from bot.quota.gate import Clock
from bot.store import Store
from bot.store.db import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

RENEWALS = 3  # claims per lease period
SAFETY = 1 / 6  # of the lease left unused at the end of what we hold


class LeaseKeeper:
    def __init__(self, store: Store, companies: list[str], replica: str, lease_seconds: float, clock: Clock) -> None:
        self.store, self.companies, self.replica = store, companies, replica
        self.lease_seconds, self.clock = lease_seconds, clock
        self._until: dict[str, float] = {}  # company -> when we stop trusting our lease on it
        self._claimed_at = -float("inf")

    async def claim(self) -> None:
        """Take or renew every lease we may (one statement), when a third of the lease has gone."""
        now = self.clock.now()
        if now - self._claimed_at < self.lease_seconds / RENEWALS:
            return
        held = await self.store.run(self.store.leases.claim, self.companies, self.replica, now, self.lease_seconds)
        self._claimed_at = now
        until = now + self.lease_seconds * (1 - SAFETY)
        self._until = {company: until for company in held}

    def holds(self, company: str) -> bool:
        return self.clock.now() < self._until.get(company, -float("inf"))

    def release(self) -> None:
        """Hand every company over at once (blocking: call it through the store or at shutdown)."""
        self._until = {}
        try:
            self.store.leases.release_all(self.companies, self.replica)
        except DATABASE_UNAVAILABLE:
            log.warning("leases not released (database unavailable); they expire by themselves")
