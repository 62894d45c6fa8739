"""Listening and serving for the long-running commands (`serve`, `sandbox`).

The socket is bound before the app starts, so a port in use is one line and exit 4, said before
anything claims to be serving. uvicorn logs through the root logger (JSON when configured), and a
clean stop on SIGTERM or Ctrl-C exits 0.
"""

from __future__ import annotations

import errno
import signal
import socket
from typing import Any

import uvicorn

from bot.exits import FAILED, LISTEN, Failure, say


def bind(host: str, port: int, fix: str = "change server.port or server.host, or pass --port") -> socket.socket:
    """A socket bound to host:port; `Failure` (exit 4) saying what to change (`fix`) if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does; a listener still refuses
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = {errno.EADDRINUSE: "the port is in use by another process",
               errno.EACCES: "not allowed (ports below 1024 need privileges)",
               errno.EADDRNOTAVAIL: "no such address on this machine"}.get(exc.errno or 0, exc.strerror)
        raise Failure(LISTEN, f"cannot listen on {host}:{port}: {why} ({fix})") from None
    return sock


def serve_until_stopped(app: Any, sock: socket.socket, **config: Any) -> int:
    """Serve `app` on `sock` until SIGTERM or Ctrl-C; a clean stop returns 0.

    uvicorn re-raises the signal it caught once it has shut down, so under the default handler
    the process would end with -15, which a supervisor reads as a crash. Our own handlers are the
    ones uvicorn restores before re-raising, and they take it quietly."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, **config))
    stops: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: stops.append(signum))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if not server.started and not stops:
        say("the server did not start (see the lines above)")
        return FAILED
    return 0
