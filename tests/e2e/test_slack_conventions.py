"""Issue 16, "Slack conventions": what a new admin sees in Slack reads as Slack apps read.

The approval chain is redrawn after a decision, times are Slack date tokens (each reader's own
zone) with a UTC fallback, the admin's Home does not send them to "a bot admin", `/precoro
status` speaks plainly (the planner's detail only with `verbose`), a command used wrongly gets
its own usage line, and the manifest asks for exactly the scopes and events the code uses.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.slack import messages
from precoro_devkit.emulator.stack import SLACK_USERS, LocalStack
from tests.support.paths import ROOT
from tests.support.slack import dm, text_of

ALICE, BOB = SLACK_USERS["alice"], SLACK_USERS["bob"]


# --- the approval chain after a decision ----------------------------------------------------------
@pytest.mark.asyncio
async def test_chain_is_redrawn_after_approval(stack: LocalStack) -> None:
    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    before = text_of(message)
    assert re.search(r":arrow_forward: Step 1 · \*now\*: Alice", before), before
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)

    def decided() -> dict[str, Any] | None:
        m = stack.slack.messages[(message["channel"], message["ts"])]
        return m if "Approved by" in text_of(m) else None

    after = text_of(await stack.slack.wait_for(decided, timeout=10))
    assert f":white_check_mark: Step 1 · approved by <@{ALICE}>" in after, after
    assert re.search(r":arrow_forward: Step 2 · \*now\*: Bob", after), after
    assert "now*: Alice" not in after and "next: Bob" not in after


# --- the admin's Home -----------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_an_admins_home_does_not_send_them_to_a_bot_admin(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN
    from tests.support.slack import home, home_text

    await stack.driver.open_home(ADMIN)
    text = home_text(await home(stack, ADMIN, "not registered"))
    assert "ask a" not in text.lower() and "register yourself" in text and "/precoro register @" in text


# --- a command used wrongly -----------------------------------------------------------------------
@pytest.mark.asyncio
async def test_a_known_command_used_wrongly_gets_its_usage_line(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN

    answer = await stack.driver.ask(ADMIN, "register alice")
    assert answer.startswith("Usage: `/precoro register @user`"), answer
    assert "Admin commands" not in answer
    assert (await stack.driver.ask(ADMIN, "remove alice")).startswith("Usage: `/precoro remove @user`")


@pytest.mark.asyncio
async def test_an_unknown_command_is_named_with_the_short_list(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN

    answer = await stack.driver.ask(ADMIN, "frobnicate")
    assert answer.startswith("Unknown command `frobnicate`; try `/precoro help`."), answer
    assert "`register`" in answer and "Admin commands" not in answer
    mine = await stack.driver.ask(ALICE, "frobnicate")
    assert "`status`" in mine and "`register`" not in mine  # not an admin: their own commands
    assert "*Admin commands*" in await stack.driver.ask(ADMIN, "help")


# --- `/precoro status` in plain words ---------------------------------------------------------------
@pytest.mark.asyncio
async def test_status_is_readable_and_verbose_keeps_the_planners_detail(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN

    await stack.register("alice")
    plain = await stack.driver.ask(ADMIN, "status")
    assert "bucket" not in plain and "pace" not in plain and "```" not in plain, plain
    assert re.search(r"Precoro requests used .*\b[\d,]+ of 150,000 per hour \(100 kept for clicks\)", plain), plain
    assert re.search(rf"1 active approver; next check of <@{ALICE}> (now|in )", plain), plain
    assert f" {ALICE} " not in plain, "no raw user id outside a mention"
    verbose = await stack.driver.ask(ADMIN, "status verbose")
    assert "bucket" in verbose and "pace" in verbose and f"{ALICE} alice@example.com" in verbose


@pytest.mark.asyncio
async def test_a_pause_is_said_plainly(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN

    stack.runtime.store.quota.block("acme", stack.runtime.clock.now() + 600, "Limiter by hour")
    plain = await stack.driver.ask(ADMIN, "status")
    assert re.search(r"Precoro asked the bot to wait \(Limiter by hour\): it sends nothing until "
                     r"<!date\^\d+\^\{date_short_pretty\}, \{time\}\|\w{3} \d\d, \d\d:\d\d UTC>", plain), plain
    assert "`/precoro resume`" in plain


# --- the manifest asks for what the code uses -----------------------------------------------------
# The bot scope each Slack Web API method needs (api.slack.com/methods); None: no scope of its own.
# A method the code calls that is missing here fails the test: look its scope up and add it.
METHOD_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write", "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
    "users_info": "users:read", "views_publish": None, "views_open": None, "views_update": None,
    "conversations_open": "im:write", "users_lookupByEmail": "users:read.email",
}
_CALL = re.compile(r"""_call\(\s*\w+,\s*"(\w+)"|client\.((?:chat|users|views|conversations|im)_\w+)\(""")
_EVENT = re.compile(r"""@app\.event\(\s*"(\w+)"\s*\)""")


def _bot_sources() -> str:
    """The served bot's Slack code: the platform and the features (the stand-ins and the simulator
    are not the bot)."""
    return "\n".join(p.read_text() for folder in ("slack", "features")
                     for p in sorted((ROOT / "bot" / folder).rglob("*.py")))


def _used_scopes() -> set[str]:
    source = _bot_sources()
    methods = {a or b for a, b in _CALL.findall(source)}
    assert {"chat_postMessage", "users_info", "views_publish"} <= methods, methods  # the scan sees the calls
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, f"add the scope of {unknown} to METHOD_SCOPES"
    scopes = {s for m in methods if (s := METHOD_SCOPES[m])}
    if "@app.command(" in source:
        scopes.add("commands")
    if '.get("email")' in (ROOT / "bot" / "slack" / "notifier.py").read_text():
        scopes.add("users:read.email")  # users.info shows a profile's email only with it
    return scopes


def test_manifest_scopes_and_events_are_what_the_code_uses() -> None:
    import yaml

    from bot.config import DEFAULT_SCOPES

    used = _used_scopes()
    assert "im:write" not in used  # no conversations.open: a DM to a user id needs chat:write only
    assert set(DEFAULT_SCOPES) == used
    events = set(_EVENT.findall(_bot_sources()))
    assert {"app_home_opened", "app_uninstalled", "tokens_revoked"} <= events
    # Both ways to reach the bot (Request URLs over HTTP, Socket Mode) ask for the same things.
    for name, socket_mode in (("slack-app-manifest.yaml", False), ("slack-app-manifest.socket-mode.yaml", True)):
        manifest = yaml.safe_load((ROOT / name).read_text())
        assert set(manifest["oauth_config"]["scopes"]["bot"]) == used, name
        assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == events, name
        assert manifest["settings"]["socket_mode_enabled"] is socket_mode, name
        urls = [manifest["settings"]["interactivity"].get("request_url"),
                manifest["settings"]["event_subscriptions"].get("request_url"),
                *(c.get("url") for c in manifest["features"]["slash_commands"])]
        assert all(urls) if not socket_mode else not any(urls), name
    readme = (ROOT / "README.md").read_text()
    setup = readme[readme.index("### 1. Create the Slack app"):readme.index("### 2.")]
    for scope in used:
        assert f"`{scope}`" in setup, scope
    assert "`im:write`, " not in setup and "and `im:write`" not in setup


# --- times in each reader's own zone --------------------------------------------------------------
DATE_TOKEN = re.compile(r"<!date\^\d+\^\{date_short_pretty\}, \{time\}\|[A-Z][a-z]{2} \d\d, \d\d:\d\d UTC>")


@pytest.mark.asyncio
async def test_times_are_slack_date_tokens_with_a_utc_fallback(stack: LocalStack) -> None:
    from precoro_devkit.emulator.stack import ADMIN

    await stack.register("alice")
    message = await dm(stack, ALICE, "PO-1001")
    await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)
    decided = await stack.slack.wait_for(lambda: (m := stack.slack.messages[(message["channel"], message["ts"])])
                                         and "Approved by" in text_of(m) and m, timeout=10)
    assert DATE_TOKEN.search(text_of(decided)), text_of(decided)
    await stack.slack.wait_for(lambda: stack.runtime.store.approvers.find("acme", "T0TEAM", ALICE).last_polled_at)
    for command in ("list", "audit"):
        answer = await stack.driver.ask(ADMIN, command)
        assert DATE_TOKEN.search(answer), (command, answer)
        assert " CET" not in answer and " CEST" not in answer
    assert DATE_TOKEN.search(await stack.driver.ask(ALICE, "status"))
    # Plain-text parts never carry a token (Slack would show it raw there).
    for block in decided["blocks"]:
        if block.get("type") == "header":
            assert "<!date" not in block["text"]["text"]
