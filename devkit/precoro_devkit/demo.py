"""`precoro-bot demo`: one document from "waiting" to "approved", on local stand-ins, no accounts."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from bot.slack import messages
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import ADMIN, SLACK_USERS, LocalStack


def _plain(text: str) -> str:
    return re.sub(r"[*`]", "", text)


def _shown(stack: LocalStack, message: dict) -> str:
    current = stack.slack.messages[(message["channel"], message["ts"])]
    lines = [current.get("text") or ""]
    for block in current.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            lines.append(text.get("text", ""))
        lines += [f.get("text", "") for f in block.get("fields") or []]
        lines += [e.get("text", "") for e in block.get("elements") or [] if isinstance(e.get("text"), str)]
    return "\n".join("    " + _plain(line) for line in "\n".join(lines).splitlines() if line.strip())


async def run_demo() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack.start(f"sqlite:///{Path(tmp) / 'demo.db'}")
        try:
            alice = stack.users["alice"]
            print(f"1. Precoro (emulated) has purchase order PO-1001 waiting for {alice.name}.")
            print(f"2. An admin runs `/precoro register @alice {alice.email} <token>` in Slack.")
            await stack.register("alice")
            print("   The bot checked the token with Precoro and stored it encrypted.")
            channel = dm_channel(SLACK_USERS["alice"])
            message = await stack.slack.wait_for(
                lambda: next((m for m in stack.slack.messages_in(channel) if "PO-1001" in m.get("text", "")), None),
                timeout=15)
            print("3. The scheduler polled Precoro with Alice's token and sent her a direct message:")
            print(_shown(stack, message))
            print("4. Alice clicks Approve (a signed Slack request to /slack/events).")
            await stack.driver.click(SLACK_USERS["alice"], message, messages.ACTION_APPROVE)
            await stack.slack.wait_for(lambda: "Approved by" in _shown(stack, message), timeout=15)
            [post] = [r for r in stack.precoro.requests if r.method == "POST"]
            print(f"5. Precoro received POST {post.path} -> {post.status}, sent with Alice's own token: "
                  f"{post.token == alice.token}.")
            print("6. The message now reads:")
            print(_shown(stack, message))
            step = stack.precoro.document("purchaseorders", "PO-1001").current_step
            next_names = [u.name for u in stack.precoro.users.values() if step and u.id in step.approver_ids]
            print(f"7. In Precoro the document moved on to the next step: {', '.join(next_names) or 'done'}.")
            print(f"   Admin {ADMIN} can see everyone with `/precoro list` and quota use with `/precoro status`.")
        finally:
            stack.stop()
    return 0
