"""One error tree for everything that can go wrong talking to Precoro.

The client is the single boundary where HTTP statuses and transport failures become these
errors. Messages name the request (method, path) and the status, never a token or an email.
"""

from __future__ import annotations


class PrecoroError(Exception):
    """Base class: a request to Precoro did not give the answer we needed."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class QuotaDeferred(PrecoroError):
    """Not sent: our own ledger has no slot in time. Nothing was spent."""

    retryable = True

    def __init__(self, message: str, *, retry_at: float | None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class RateLimited(PrecoroError):
    """Precoro answered 429; its gate is closed until `retry_at`."""

    retryable = True

    def __init__(self, message: str, *, retry_at: float, limit_type: str = "") -> None:
        super().__init__(message, status=429)
        self.retry_at = retry_at
        self.limit_type = limit_type


class Unavailable(PrecoroError):
    """5xx, timeout or a broken connection: worth retrying later."""

    retryable = True


class TokenRejected(PrecoroError):
    """401 (or 403 on a list read): the token is wrong, disabled or revoked; or Precoro hiccupped
    (callers confirm it with a second request before treating the token as revoked)."""


class TokenWithdrawn(PrecoroError):
    """Not sent: the token was removed, refused or replaced while the request waited for its slot."""


class NotFound(PrecoroError):
    """404: the document does not exist or this user may not see it."""


class NotAllowed(PrecoroError):
    """403 on an action: this user is not an approver of the document's current step."""


class NotWaiting(PrecoroError):
    """400 on an action: the document is no longer in approval."""


class InvalidRequest(PrecoroError):
    """422 or another 4xx: Precoro refused what we sent (e.g. a reject comment)."""
