"""Exit codes and one-line errors for the `precoro-bot` commands.

An admin (or a supervisor, or a container runtime) must be able to tell from the exit code alone
what kind of thing went wrong, and from the one line on stderr which key or action fixes it. So
an operational failure is never a traceback: the commands raise `Failure` (or one of the errors
`explain` knows: a key that does not decrypt, a database that cannot be reached), and `explain`
turns it into one line and its code. A traceback is left only for a bug.

Once `serve` has set up logging, the line goes through logging (a JSON object when
`logging.format: json`), so a log collector sees it like every other line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

OK = 0
FAILED = 1  # the command ran but not everything succeeded (rotate-keys left tokens unreadable; unhealthy)
CONFIG = 2  # the config file or a key in it is wrong (also a command-line usage error); fix the named key
DATABASE = 3  # the database at storage.url cannot be reached or used
LISTEN = 4  # the server cannot listen on server.host:server.port (in use, or not allowed)

# Shown by `--help` and in the README.
EPILOG = """exit codes:
  0  done (serve: stopped cleanly, also on SIGTERM or Ctrl-C)
  1  done, but not everything succeeded (rotate-keys: tokens left unreadable; healthcheck: unhealthy)
  2  the config file or a key in it is wrong, or the command line is (the message names the key)
  3  the database at storage.url cannot be reached or used
  4  the server cannot listen on server.host:server.port (port in use or not allowed)"""

log = logging.getLogger("bot.cli")
_via_logging = False


class Failure(Exception):
    """An operational failure: `message` is the one line shown, `code` the exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def report_through_logging() -> None:
    """From now on failures are logged (serve, once logging is set up) rather than printed."""
    global _via_logging
    _via_logging = True


def say(message: str) -> None:
    """One line on stderr, or one log record once `serve` set logging up."""
    if _via_logging:
        log.critical(message)
    else:
        print(message, file=sys.stderr)


def safe_url(url: str) -> str:
    """A database URL as it may be shown: without its password."""
    from sqlalchemy import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("://", 1)[0] + "://…"


def database_failure(url: str, exc: BaseException) -> Failure:
    """A database error as one line naming storage.url (never its password)."""
    from sqlalchemy import make_url

    cause = getattr(exc, "orig", None) or exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    if len(reason) > 300:
        reason = reason[:300] + "…"
    return Failure(DATABASE, f"cannot use the database at storage.url ({safe_url(url)}): {reason} "
                             "(is it running and reachable, and is storage.url right?)")


@contextmanager
def explained(config_path: str | None = None, storage_url: Callable[[], str | None] | None = None) -> Iterator[None]:
    """Turn the operational errors a command may meet into `Failure`s (see `run`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.boundary import DatabaseTimeout
    from bot.vault import VaultError

    try:
        yield
    except VaultError as exc:
        where = f" in {config_path}" if config_path else ""
        raise Failure(CONFIG, f"config error{where}: encryption.keys: {exc}") from None
    except (SQLAlchemyError, DatabaseTimeout) as exc:
        url = storage_url() if storage_url else None
        raise database_failure(url or "", exc) from None


def run(command: Callable[[], int], config_path: str | None = None,
        storage_url: Callable[[], str | None] | None = None) -> int:
    """Run a command; an operational failure becomes its one line and exit code."""
    try:
        with explained(config_path, storage_url):
            return int(command())
    except Failure as failure:
        say(failure.message)
        return failure.code
