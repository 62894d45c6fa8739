"""What the engine needs of the approvers' Precoro tokens: decrypted credentials for a request, a
refusal to record, a re-checked token that works again, and when the next re-check is due.

A protocol, not an import of `bot.tokens.TokenService`: registering, removing and revoking
tokens, and telling the admins, go with the approvers' keys (the connect feature, `NOT_YET_MOVED`
in `tests/unit/test_layers.py`), and the engine never imports a feature. The poller, discovery,
the blind watch and the token checker take any object with these members; `bot/runtime.py` hands
them the TokenService.
"""

from __future__ import annotations

from typing import Protocol

from bot.precoro.client import Credentials
from bot.store.approvers import ACTIVE, Approver


class ApproverTokens(Protocol):
    # company -> earliest token check this process knows of (the checker reads it every tick)
    next_check: dict[str, float]

    def credentials(self, approver: Approver, *, status: str = ACTIVE) -> Credentials:
        """Decrypt an approver's token; raises VaultError (never containing the token)."""
        ...

    async def refused(self, approver: Approver, where: str) -> str:
        """Precoro refused the token (401): what that now means, "suspect" or "revoked" ("" if
        another worker already acted on it)."""
        ...

    async def restored(self, approver: Approver) -> bool:
        """Precoro accepts a suspect or revoked token again: use it again (its owner and the admins
        are told of a revoked one)."""
        ...
