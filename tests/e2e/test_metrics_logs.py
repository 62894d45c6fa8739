"""Metrics an operator can trust and logs they can read (issue 16, metrics and logs).

Over real HTTP against the running bot: `/metrics` (scraped with the metrics token) follows
Prometheus's naming and type rules (counters end in `_total` and only go up, windowed numbers are
gauges named as such, units in names, the `process_*` and `python_*` collectors), counts Slack's
acknowledgement time and shows the outbox's depth. A `precoro-bot serve` process with
`logging.format: json` writes every line (uvicorn's included) as JSON, with structured fields and
no secret. A tight quota over a minute of ticks repeats no INFO line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config import parse_config
from bot.ops import CachedRender
from bot.runtime import Runtime
from bot.slack import messages
from bot.store import Store
from bot.store.schema import quota_spends
from bot.vault import generate_key, owner_binding
from precoro_devkit.emulator.precoro import PrecoroEmulator, seed_demo
from precoro_devkit.emulator.slack import dm_channel
from precoro_devkit.emulator.stack import METRICS_TOKEN, SLACK_USERS, LocalStack, ProcessStack
from precoro_devkit.sim.clock import VirtualClock
from precoro_devkit.sim.slack import RecordingNotifier

ALICE = SLACK_USERS["alice"]

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)")


@pytest.fixture
def stack(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    # Every scrape renders afresh (the cache's 15 s would hide a change between two scrapes).
    monkeypatch.setattr("bot.server.CachedRender", functools.partial(CachedRender, ttl=0.0))
    stack = LocalStack.start(database_url)
    try:
        yield stack
    finally:
        stack.stop()


async def scrape(stack: LocalStack) -> str:
    async with httpx.AsyncClient(base_url=stack.bot_url) as web:
        answer = await web.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status_code == 200
    return answer.text


def types(text: str) -> dict[str, str]:
    return dict(line.split()[2:4] for line in text.splitlines() if line.startswith("# TYPE "))  # type: ignore[misc]


def samples(text: str) -> dict[str, float]:
    """Every sample line: `name{labels}` (labels sorted by name) -> value."""
    found = {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and not line.startswith("#"):
            labels = ",".join(sorted(re.findall(r'\w+="[^"]*"', match.group(2) or "")))
            found[match.group(1) + (f"{{{labels}}}" if labels else "")] = float(match.group(3))
    return found


def counter_samples(text: str) -> dict[str, float]:
    """The samples of every counter family (`_total`) and histogram (`_bucket`, `_count`, `_sum`)."""
    kinds = types(text)
    grows = {n for n, k in kinds.items() if k == "counter"} | {
        f"{n}{s}" for n, k in kinds.items() if k == "histogram" for s in ("_bucket", "_count", "_sum")}
    return {key: value for key, value in samples(text).items() if key.split("{")[0] in grows}


async def approve_first_document(stack: LocalStack) -> dict[str, Any]:
    await stack.register("alice")
    message = await stack.slack.wait_for(
        lambda: next((m for m in stack.slack.messages_in(dm_channel(ALICE)) if "PO-1001" in (m.get("text") or "")),
                     None), timeout=10)
    assert (await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)).status_code == 200
    return message  # type: ignore[no-any-return]


# --- metrics ------------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_names_and_types_follow_the_prometheus_rules(stack: LocalStack) -> None:
    kinds = types(await scrape(stack))
    assert "precoro_requests_last_day" not in kinds, "a windowed count named like a counter"
    assert kinds["precoro_requests_in_window"] == "gauge"
    assert kinds["precoro_quota_used"] == "gauge" and kinds["precoro_quota_limit"] == "gauge"
    assert kinds["precoro_outbox_pending"] == "gauge"
    assert kinds["precoro_decisions_total"] == "counter"
    assert kinds["slack_api_errors_total"] == "counter"
    assert kinds["precoro_detection_delay_seconds"] == "histogram"
    assert kinds["precoro_slack_ack_seconds"] == "histogram"
    assert any(n.startswith("process_") for n in kinds), "the process collector is registered"
    assert any(n.startswith("python_") for n in kinds), "the platform and GC collectors are registered"
    for name, kind in kinds.items():
        if kind == "gauge":
            assert not name.endswith("_total"), f"{name}: a gauge named like a counter"
        if kind == "counter":
            assert name.endswith("_total"), f"{name}: a counter not named as one"


@pytest.mark.asyncio
async def test_counters_only_go_up_across_a_decision(stack: LocalStack) -> None:
    await stack.register("alice")
    await stack.slack.wait_for(lambda: stack.slack.messages_in(dm_channel(ALICE)), timeout=10)
    before = await scrape(stack)
    message = next(m for m in stack.slack.messages_in(dm_channel(ALICE)) if "PO-1001" in (m.get("text") or ""))
    assert (await stack.driver.click(ALICE, message, messages.ACTION_APPROVE)).status_code == 200
    await stack.slack.wait_for(lambda: "Approved by" in str(stack.slack.messages[(message["channel"], message["ts"])]),
                               timeout=10)
    after = await scrape(stack)
    old, new = counter_samples(before), counter_samples(after)
    assert old, "counters were scraped"
    for key, value in old.items():
        assert key in new and new[key] >= value, f"{key} went from {value} to {new.get(key)}"
    approved = 'precoro_decisions_total{action="approve",company="acme",outcome="approved"}'
    assert new[approved] - old.get(approved, 0.0) == 1.0
    assert not any("state=" in key for key in new if key.startswith("precoro_decisions")), "no state label"
    assert new['precoro_detection_delay_seconds_count{company="acme"}'] >= 1, "observed when first posted"
    # Slack's requests: the register command, the click (each signed, each answered in time).
    assert new["precoro_slack_ack_seconds_count"] - old.get("precoro_slack_ack_seconds_count", 0.0) >= 1
    assert new['precoro_slack_ack_seconds_bucket{le="3.0"}'] >= 1


@pytest.mark.asyncio
async def test_a_queued_decision_shows_in_the_outbox_gauge(stack: LocalStack) -> None:
    stack.precoro.inject("500", count=50, path_contains="/approve")  # Precoro down for the POST
    await approve_first_document(stack)
    await stack.slack.wait_for(lambda: stack.runtime.store.decisions.any_due(1e12), timeout=10)
    pending = 'precoro_outbox_pending{company="acme",state="pending"}'
    sending = 'precoro_outbox_pending{company="acme",state="sending"}'
    seen = None
    for _ in range(50):  # the worker retries the POST meanwhile: read both states from one scrape
        if (sample := samples(await scrape(stack))).get(pending) == 1.0:
            seen = sample
            break
        await asyncio.sleep(0.1)
    assert seen is not None, "the queued click never showed as pending"
    assert seen[sending] == 0.0  # one click: pending, not also counted as sending


# --- logs -------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.asyncio
async def test_json_logs_for_every_logger_with_fields_and_no_secret(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one process run is enough")
    precoro = PrecoroEmulator()
    users = seed_demo(precoro)
    ps = ProcessStack.start(precoro, users, database_url, tmp_path, **{
        "logging.format": "json", "server.metrics_port": _free_port()})
    bot, driver = ps.spawn()
    try:
        await bot.ready()
        alice = users["alice"]
        precoro.inject("500", count=50, path_contains="/approve")  # a decision queued: a line with fields
        await driver.slash_command("U0ADMIN", f"register <@{ALICE}> {alice.email} {alice.token}")
        message = await ps.slack.wait_for(
            lambda: next((m for m in ps.slack.messages_in(dm_channel(ALICE)) if "PO-1001" in (m.get("text") or "")),
                         None), timeout=15)
        await driver.click(ALICE, message, messages.ACTION_APPROVE)
        # uvicorn's own line: a request that is not HTTP.
        _, writer = await asyncio.open_connection("127.0.0.1", bot.port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()
        for _ in range(100):
            text = bot.log.read_text()
            if "uvicorn" in text and "queued" in text:
                break
            await asyncio.sleep(0.1)
    finally:
        bot.stop()
        ps.stop()
    lines = [line for line in bot.log.read_text().splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line}")
    loggers = {e["logger"] for e in entries}
    assert any(name.startswith("uvicorn") for name in loggers), loggers
    assert any(name.startswith("bot.") for name in loggers), loggers
    queued = [e for e in entries if "queued" in e["message"]]
    assert queued, [e["message"] for e in entries]
    assert {"company": "acme", "doc_type": "purchaseorders", "idn": "PO-1001", "slack_user": ALICE}.items() \
        <= queued[0].items()
    assert isinstance(queued[0]["approver_id"], int) and queued[0]["request_id"] != "-"
    text = bot.log.read_text()
    assert alice.token not in text and ps.signing_secret not in text


def test_structured_fields_are_redacted_and_escaped() -> None:
    from bot import redact
    from bot.logs import JsonFormatter, fields

    redact.remember("a-very-secret-value-0123")
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "hello", (), None)
    record.__dict__.update(fields(company="acme\nforged", idn="a-very-secret-value-0123", approver_id=7))
    entry = json.loads(JsonFormatter().format(record))
    assert entry["company"] == "acme\\nforged" and entry["idn"] == redact.MASK and entry["approver_id"] == 7


# --- a quiet steady state -----------------------------------------------------------------------------

START = 1_700_000_000.0


def test_a_tight_quota_over_a_minute_of_ticks_repeats_no_info_line(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """The hour's quota is spent (another replica spent it) and a token waits for its check: every
    tick finds no room. Nothing changes, so nothing is said twice."""
    clock = VirtualClock(START)
    url = f"sqlite:///{tmp_path / 'quiet.db'}"
    config = parse_config({
        "slack": {"signing_secret": "quiet-signing-secret", "bot_token": "xoxb-quiet", "admins": ["U0ADMIN"]},
        "precoro": {"id": "acme", "base_url": "http://precoro.quiet", "web_url": "https://app.precoro.quiet",
                    "document_types": ["purchaseorders", "invoices"]},
        "storage": {"url": url},
        "encryption": {"keys": [{"id": "k", "key": generate_key()}]},
        "quota": {"windows": [{"seconds": 1, "limit": 1}, {"seconds": 3600, "limit": 12, "reserve": 4},
                              {"seconds": 86400, "limit": 3000, "reserve": 10}]},
        "dangerously_allow_http": True,  # the emulator answers in-process, under a made-up host
    }, env={})
    emulator = PrecoroEmulator(clock=clock.now)
    caplog.set_level(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # as `setup_logging` does

    async def main() -> int:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=emulator.app))
        rt = Runtime.build(config, clock=clock, store=Store.open(url, inline=True), http=http,
                           notifier=RecordingNotifier(clock))
        for i in range(3):
            user = emulator.add_user("acme", f"Approver {i}", f"a{i}@example.com")
            ciphertext = rt.vault.encrypt(user.token, binding=owner_binding("acme", "T0", f"U{i}"))
            rt.store.approvers.upsert(company="acme", team_id="T0", slack_user_id=f"U{i}", email=user.email,
                                      token_ciphertext=ciphertext, registered_by="U0ADMIN", now=clock.now())
        suspect = rt.store.approvers.find("acme", "T0", "U2")
        assert suspect is not None
        rt.store.approvers.mark_suspect(suspect.id, clock.now(), clock.now())  # its check is due now
        with rt.store.engine.begin() as conn:
            for k in range(11):  # the hour spent up to its last request
                conn.execute(quota_spends.insert().values(company="acme", at=clock.now() - k - 1, lane="poll",
                                                          finished_at=clock.now() - k, status=200))
        ticks = int(60 / config.tick_seconds) + 1
        for n in range(ticks):
            await rt.scheduler.tick()
            await clock.sleep_until(START + (n + 1) * config.tick_seconds)
        await rt.aclose()
        return ticks

    with tempfile.TemporaryDirectory():
        ticks = clock.run(main())
    assert ticks >= 12
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("bot")]
    assert len(emulator.requests) == 0, "no room: nothing sent"
    assert any("not made" in line for line in said), "the put-off check is said once"
    repeated = {line for line in said if said.count(line) > 1}
    assert not repeated, repeated
