"""Serve any ASGI app with uvicorn in a daemon thread (tests, demo, local runs)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class RunningServer:
    """A uvicorn server running in its own thread; `url` has the real bound port."""

    url: str
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)
    loops: list[asyncio.AbstractEventLoop] = field(default_factory=list, repr=False)  # the server's loop

    async def call(self, coro: Any) -> Any:
        """Await a coroutine in the server's own event loop (where its clients and sessions live)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loops[0]))

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait for the thread; force it if it lingers."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning",
                    startup_timeout: float = 10.0, **config: Any) -> RunningServer:
    """Start `app` on host:port (0 picks a free port); return once it accepts connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config.setdefault("timeout_graceful_shutdown", 2)
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, **config))
    failure: list[BaseException] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        await server.serve(sockets=[sock])

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the caller if startup never finished
            failure.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"uvicorn:{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            cause = failure[0] if failure else None
            raise RuntimeError(f"server on {host}:{bound_port} did not start") from cause
        time.sleep(0.01)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return RunningServer(url=f"http://{shown}:{bound_port}", server=server, thread=thread, loops=loops)
