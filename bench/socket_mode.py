"""Socket Mode against Request URLs: the same bot, Slack reaching it over signed HTTP posts or
over a Socket Mode websocket (the stand-ins of devkit/precoro_devkit/emulator on loopback).

Two figures per transport, per run: the acknowledgement time of `/precoro help` (answered in the
ack: the transport and Bolt, nothing else) and click-to-POST (a click on Approve until Precoro
received the approval sent with the clicker's token). Each run is a fresh stack on a fresh SQLite
file; the click order is shuffled with the run's seed.

    .venv/bin/python bench/socket_mode.py --runs 3 --commands 200 --clicks 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack

ALICE = SLACK_USERS["alice"]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _run(socket_mode: bool, seed: int, commands: int, clicks: int, directory: Path) -> dict[str, Any]:
    stack = LocalStack.start(f"sqlite:///{directory / f'bench-{socket_mode}-{seed}.db'}", socket_mode=socket_mode)
    try:
        if stack.socket is not None:
            await stack.socket.wait_connected()
        await stack.driver.ask(ADMIN, "help")  # warm-up
        acks = []
        for _ in range(commands):
            started = time.perf_counter()
            response = await stack.driver.slash_command(ADMIN, "help")
            acks.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.content
        await stack.register("alice")
        docs = [stack.precoro.add_document("acme", "invoices", stack.users["bob"].id, [[stack.users["alice"].id]])
                for _ in range(clicks)]
        def all_dms() -> dict[str, Any] | None:
            shown = {d.idn: m for d in docs for m in stack.slack.messages_in(dm_channel(ALICE))
                     if d.idn in (m.get("text") or "")}
            return shown if len(shown) == len(docs) else None

        found = await stack.slack.wait_for(all_dms, timeout=120)
        order = list(docs)
        random.Random(seed).shuffle(order)
        to_post = []
        for doc in order:
            path = f"/invoices/{doc.idn}/approve"
            started = time.perf_counter()
            await stack.driver.click(ALICE, found[doc.idn], messages.ACTION_APPROVE)
            await stack.slack.wait_for(lambda p=path: [r for r in stack.precoro.requests
                                                       if r.method == "POST" and r.path == p],
                                       timeout=30, interval=0.002)
            to_post.append(time.perf_counter() - started)
        return {"acks": acks, "to_post": to_post}
    finally:
        stack.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--clicks", type=int, default=20)
    args = parser.parse_args()
    print("| transport | seed | ack p50 ms | ack p99 ms | click-to-POST p50 ms | click-to-POST p99 ms |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.runs + 1):
            for socket_mode in (False, True):
                got = await _run(socket_mode, seed, args.commands, args.clicks, Path(tmp))
                acks, posts = [a * 1000 for a in got["acks"]], [p * 1000 for p in got["to_post"]]
                print(f"| {'Socket Mode' if socket_mode else 'HTTP'} | {seed} | {statistics.median(acks):.1f} | "
                      f"{_pct(acks, 99):.1f} | {statistics.median(posts):.1f} | {_pct(posts, 99):.1f} |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
