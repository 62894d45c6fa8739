"""Socket Mode end to end: the real bot opens a websocket to a Slack Socket Mode stand-in (no
request to /slack/events at all) and every flow works through envelopes: a registration, a DM
for a new document, a click that posts with the clicker's token, a modal, the Home tab; the
bot reconnects when the socket drops; a missing, malformed or refused app token is a clear
config error."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.config import ConfigError, ConfigErrors, parse_config
from bot.redact import redact
from bot.slack import messages
from bot.slack.request_guard import MAX_BODY
from bot.vault import generate_key
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.socket_mode import SocketDriver, SocketModeStandIn
from precoro_devkit.emulator.stack import (
    ADMIN,
    APP_TOKEN,
    FAST_EMULATOR,
    METRICS_TOKEN,
    SLACK_USERS,
    TEAM,
    LocalStack,
    ProcessStack,
)
from tests.support.slack import as_shown

ALICE, BOB = SLACK_USERS["alice"], SLACK_USERS["bob"]


@pytest.fixture
def stack(database_url: str) -> Any:
    running = LocalStack.start(database_url, socket_mode=True)
    yield running
    running.stop()


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if isinstance(block.get("text"), dict):
            parts.append(block["text"].get("text", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), dict):
                parts.append(element["text"].get("text", ""))
    return "\n".join(parts)


async def dm(stack: LocalStack, user: str, idn: str) -> dict[str, Any]:
    return await stack.slack.wait_for(lambda: next(
        (m for m in stack.slack.messages_in(dm_channel(user)) if idn in (m.get("text") or "")), None), timeout=15)


def shown(stack: LocalStack, message: dict[str, Any]) -> str:
    return text_of(stack.slack.messages[(message["channel"], message["ts"])])


def posts_to(stack: LocalStack, suffix: str) -> list[Any]:
    return [r for r in stack.precoro.requests if r.method == "POST" and r.path.endswith(suffix)]


async def approve_and_check(stack: LocalStack, user: str, name: str, doc_type: str, idn: str) -> None:
    """Click Approve on the DM about `idn`; the POST goes with `name`'s own token, and the DM says so."""
    message = await dm(stack, user, idn)
    ack = await stack.driver.click(user, message, messages.ACTION_APPROVE)
    assert ack.status_code == 200
    await stack.slack.wait_for(lambda: "Approved by" in shown(stack, message), timeout=15)
    [post] = posts_to(stack, f"/{doc_type}/{idn}/approve")
    assert post.token == stack.token_of(name) and post.status == 200


@pytest.mark.asyncio
async def test_register_document_dm_click_post_all_over_socket_mode(stack: LocalStack) -> None:
    assert stack.socket is not None
    await stack.socket.wait_connected()
    await stack.register("alice")  # the admin's slash command, as an envelope
    doc = stack.precoro.add_document("acme", "purchaseorders", stack.users["bob"].id, [[stack.users["alice"].id]],
                                     sum="777.00")
    await approve_and_check(stack, ALICE, "alice", "purchaseorders", doc.idn)
    assert stack.precoro.document("purchaseorders", doc.idn).current_step is None  # one step: approved

    kinds = [e["type"] for e in stack.socket.envelopes]
    assert "slash_commands" in kinds and "interactive" in kinds
    acked = {a["envelope_id"] for a in stack.socket.acks}
    assert all(e["envelope_id"] in acked for e in stack.socket.envelopes), "every envelope acknowledged"
    assert stack.socket.refused == 0

    async with httpx.AsyncClient(base_url=stack.bot_url) as http:
        # No public Slack endpoint: nothing is served at /slack/events; health, readiness, metrics are.
        assert (await http.post("/slack/events", content=b"{}")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200
        ready = await http.get("/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert ready.status_code == 200 and ready.json()["slack_socket"] is True
        metrics = (await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text
        assert "precoro" in metrics and APP_TOKEN not in metrics
        assert APP_TOKEN not in (await http.get("/readyz")).text


@pytest.mark.asyncio
async def test_modal_and_home_over_socket_mode(stack: LocalStack) -> None:
    await stack.register("bob")
    message = await dm(stack, BOB, "INV-1001")
    await stack.driver.click(BOB, message, messages.ACTION_REJECT)
    await stack.slack.wait_for(lambda: stack.slack.calls_to("views.open"), timeout=10)
    view = [v for v in stack.slack.views.values() if v.get("type") != "home"][-1]
    assert view["callback_id"] == messages.REJECT_CALLBACK

    # A view submission's ack payload (response_action) comes back over the socket.
    blank = await stack.driver.submit_view(BOB, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "  "}}})
    assert blank.json()["response_action"] == "errors"
    assert not posts_to(stack, "/reject")
    await stack.driver.submit_view(BOB, view, {messages.REASON_BLOCK: {messages.REASON_ACTION: {
        "type": "plain_text_input", "value": "Wrong supplier"}}})
    await stack.slack.wait_for(lambda: "Rejected by" in shown(stack, message), timeout=15)
    [post] = posts_to(stack, "/invoices/INV-1001/reject")
    assert post.token == stack.token_of("bob") and post.form == {"comment": "Wrong supplier"}

    # An Events API envelope: app_home_opened publishes Bob's Home tab.
    await stack.driver.open_home(BOB)
    home = await stack.slack.wait_for(lambda: stack.slack.home_of(BOB), timeout=10)
    assert home["type"] == "home"
    assert "events_api" in [e["type"] for e in stack.socket.envelopes]

    # A slash command answered through its response_url, as over HTTP.
    status = await stack.driver.ask(BOB, "status")
    assert "You are registered for *acme*" in status and as_shown(stack.users["bob"].email) in status, status


@pytest.mark.asyncio
async def test_the_bot_reconnects_when_the_socket_drops(stack: LocalStack) -> None:
    assert stack.socket is not None
    await stack.socket.wait_connected()
    await stack.register("alice")
    first = stack.precoro.add_document("acme", "invoices", stack.users["bob"].id, [[stack.users["alice"].id]])
    await approve_and_check(stack, ALICE, "alice", "invoices", first.idn)

    await stack.socket.drop()  # abruptly, as when a Slack host goes away
    await stack.socket.wait_connected(at_least=2)  # a new URL from apps.connections.open, a new socket
    later = stack.precoro.add_document("acme", "purchaseorders", stack.users["bob"].id, [[stack.users["alice"].id]])
    await approve_and_check(stack, ALICE, "alice", "purchaseorders", later.idn)

    await stack.socket.drop(warn=True)  # Slack's `disconnect` message first (refresh_requested)
    await stack.socket.wait_connected(at_least=3)
    assert "Documents waiting for your approval" in await stack.driver.ask(ALICE, "help")
    assert len(stack.slack.calls_to("apps.connections.open")) >= 3
    assert stack.socket.refused == 0, "every connection used a fresh URL"


@pytest.mark.asyncio
async def test_hostile_envelopes_are_refused_and_never_reach_bolt(stack: LocalStack,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    assert stack.socket is not None
    caplog.set_level(logging.INFO, logger="bot.slack.socket_mode")
    await stack.socket.wait_connected()

    def refused(why: str) -> bool:
        return any(f"slack envelope refused: {why}" in r.getMessage() for r in caplog.records)

    # A field Bolt reads as an object, given as a string: acknowledged without a payload.
    ack = await stack.socket.send("interactive", {"type": "block_actions", "user": "U0ALICE", "actions": "x"},
                                  accepts_response_payload=False)
    assert ack.get("payload") is None and refused("payload field of the wrong type")
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    ack = await stack.socket.send("slash_commands", {"command": "/precoro", "text": deep},
                                  accepts_response_payload=True)
    assert ack.get("payload") is None and refused("body nested too deep")
    # Past the size cap or not even JSON: dropped unread (no envelope id to acknowledge), like a 413.
    await stack.socket.send_raw(json.dumps({"envelope_id": "big", "type": "slash_commands", "payload": {
        "command": "/precoro", "user_id": ADMIN, "team_id": TEAM, "text": "x" * (MAX_BODY + 1)}}))
    await stack.socket.send_raw("[" * 100_000)
    await stack.socket.send_raw("not json")
    await stack.slack.wait_for(lambda: refused("envelope too large") and refused("envelope nested too deep")
                               and refused("envelope is not JSON"), timeout=10)
    assert "big" not in {a.get("envelope_id") for a in stack.socket.acks}
    # none of it made the bot say or do anything (its only Web API call: the one that opened the socket)
    assert [c.method for c in stack.slack.calls] == ["apps.connections.open"]
    # The connection and the bot are fine: a real command still works on the same socket.
    assert "Documents waiting for your approval" in await stack.driver.ask(ALICE, "help")
    assert stack.socket.connects == 1


def _raw(**slack: Any) -> dict[str, Any]:
    return {"slack": {"bot_token": "xoxb-1", "admins": ["U0ADMIN"], **slack},
            "precoro": {"id": "acme", "base_url": "https://acme.precoro.test", "document_types": ["invoices"]},
            "encryption": {"keys": [{"id": "k1", "key": generate_key()}]}}


def _error(raw: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises((ConfigError, ConfigErrors)) as caught:
        parse_config(raw, env=env or {})
    return str(caught.value)


def test_socket_mode_config() -> None:
    config = parse_config(_raw(socket_mode=True, app_token=APP_TOKEN), env={})
    assert config.slack.socket_mode and config.slack.app_token == APP_TOKEN
    assert config.slack.signing_secret == ""  # not needed: envelopes are not signed
    assert APP_TOKEN not in repr(config)
    assert APP_TOKEN not in redact(f"apps.connections.open with {APP_TOKEN} failed")  # even if some library says it
    from_env = parse_config(_raw(socket_mode=True), env={"PRECORO_BOT__SLACK__APP_TOKEN": APP_TOKEN})
    assert from_env.slack.app_token == APP_TOKEN
    over_http = parse_config(_raw(signing_secret="s3cret"), env={})
    assert not over_http.slack.socket_mode and over_http.slack.app_token is None

    missing = _error(_raw(socket_mode=True))
    assert "slack.app_token: is required with slack.socket_mode: true" in missing and "xapp-" in missing
    wrong = "xapp-not-a-real-token"
    assert "slack.app_token: must be an app-level token" in _error(_raw(socket_mode=True, app_token=wrong))
    assert wrong not in _error(_raw(socket_mode=True, app_token=wrong))
    assert "is a bot or user token" in _error(_raw(socket_mode=True, app_token="xoxb-1-2-abc"))
    assert "only used with slack.socket_mode: true" in _error(_raw(signing_secret="s", app_token=APP_TOKEN))
    assert "slack.socket_mode: must be true or false" in _error(_raw(socket_mode="maybe", app_token=APP_TOKEN))
    assert "slack.signing_secret: is required" in _error(_raw())  # over HTTP it still is


@pytest.mark.asyncio
async def test_serve_refuses_an_app_token_slack_refuses_and_runs_with_the_right_one(tmp_path: Path) -> None:
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    users = seed_demo(precoro)
    refused_token = "xapp-1-A0APP-1000000000002-fedcba9876543210"
    world = ProcessStack.start(precoro, users, f"sqlite:///{tmp_path / 'bot.db'}", tmp_path,
                               **{"slack.socket_mode": True, "slack.app_token": refused_token})
    socket = SocketModeStandIn().start()
    socket.attach(world.slack, APP_TOKEN)  # Slack knows APP_TOKEN only
    try:
        bot, _ = world.spawn("refused")
        assert bot.proc.wait(60) == 2
        said = bot.log.read_text()
        assert "slack.app_token was refused by Slack (invalid_auth)" in said
        assert refused_token not in said

        raw = yaml.safe_load(world.config.read_text())
        raw["slack"]["app_token"] = APP_TOKEN
        world.config.write_text(yaml.safe_dump(raw))
        bot, _ = world.spawn("accepted")
        try:
            await bot.ready()
            await socket.wait_connected(timeout=30)
            driver = SocketDriver(socket, world.slack, team_id=TEAM)
            assert "Documents waiting for your approval" in await driver.ask(ADMIN, "help", timeout=15)
            assert APP_TOKEN not in bot.log.read_text()
        finally:
            bot.stop()
    finally:
        socket.stop()
        world.stop()


@pytest.mark.asyncio
async def test_an_unreachable_slack_is_not_a_token_error() -> None:
    """Slack down at start is an outage (the connection keeps retrying), not a config error."""
    from bot.slack.socket_mode import app_token_problem
    from precoro_devkit.emulator.process import free_port

    assert await app_token_problem(f"http://127.0.0.1:{free_port()}/api/", APP_TOKEN, timeout=2) is None
