"""The click benchmark: sustained Approve clicks against one real bot process.

    .venv/bin/python bench/clicks.py                # 1,000 approvers, 50 clicks/s for 20 s, 200 ms Precoro

One `precoro-bot serve` process (SQLite) between the Precoro emulator, which answers every request
after `--latency` seconds, and the Slack stand-in (both served in this process). Its quota is
relaxed so that it is not the bottleneck: Precoro's real 1 request/s per company would cap
decisions at 1/s per company whatever the bot does.

Set-up, before the bot starts: `--approvers` approvers, each with one document waiting in the
emulator, registered straight into the database (their tokens encrypted with the config's key;
registering through Slack would cost one Precoro request each) and marked as polled just now, and
each document's message posted through the stand-in's Web API with the bot's own rendering, its
`posted_messages` row written as the bot writes it. Letting the bot poll 1,000 approvers would cost
2,000 Precoro reads first, a quarter of an hour at 200 ms each and one request at a time.

Then clicks arrive open-loop at `--rate` per second for `--seconds`, each signed as Slack signs it,
on a kept-alive connection as Slack's would be. Printed: Slack ack latency (p50/p95/p99/max),
decisions completed per second, and the bot's resident memory (VmRSS, VmHWM) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "devkit"))  # precoro_devkit, if not installed

from bot.precoro import api
from bot.precoro.models import parse_document
from bot.slack import messages
from bot.store import Store
from bot.store.schema import decisions
from bot.vault import Vault, generate_key, owner_binding
from precoro_devkit.emulator.precoro import PrecoroEmulator
from precoro_devkit.emulator.process import BotProcess, free_port
from precoro_devkit.emulator.serve import serve_in_thread
from precoro_devkit.emulator.slack import SlackDriver, SlackStandIn, sign
from precoro_devkit.emulator.stack import ADMIN, TEAM, stack_raw_config

COMPANY = "acme"
DOC_TYPE = "purchaseorders"
WEB_URL = "https://app.precoro.test"
# Relaxed for clicks so that the quota is not what is measured (1,000 requests in any second); the
# reserves leave polls Precoro's real hour and day budgets (1,500 and 3,000), so they stay a trickle.
BOT_QUOTA = [{"seconds": 1, "limit": 1000},
             {"seconds": 3600, "limit": 1_000_000, "reserve": 998_500},
             {"seconds": 86400, "limit": 10_000_000, "reserve": 9_997_000}]
FORM = "application/x-www-form-urlencoded"
EMULATOR_WINDOWS = ((1.0, 1000), (3600.0, 10_000_000), (86400.0, 100_000_000))


class CapturingDriver(SlackDriver):
    """Builds each click exactly as SlackDriver sends it, and keeps the body instead of sending it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[bytes] = []

    async def send(self, body: bytes, content_type: str, *, timestamp: str | int | None = None,
                   signature: str | None = None) -> httpx.Response:
        assert content_type == FORM
        self.bodies.append(body)
        return httpx.Response(200)


def fire(url: str, signing_secret: str, bodies: list[bytes], rate: float,
         timeout: float) -> tuple[list[float], list[int], float, float]:
    """Slack's side, in a process of its own (so that the emulators' threads here cannot delay
    reading an answer): POST each body, signed at sending time, open-loop at `rate` per second on
    kept-alive connections. Returns each request's latency, its status (0: no answer within
    `timeout`, Slack's 3 s), when sending started (epoch) and how long it took."""

    async def main() -> tuple[list[float], list[int], float, float]:
        latencies: list[float] = [0.0] * len(bodies)
        statuses: list[int] = [0] * len(bodies)
        async with aiohttp.ClientSession() as http:
            async with http.get(url.replace("/slack/events", "/healthz")):  # a connection before timing
                pass

            async def one(i: int, body: bytes) -> None:
                ts = str(int(time.time()))
                headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": ts,
                           "X-Slack-Signature": sign(signing_secret, ts, body)}
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(timeout):  # Slack's deadline is for the whole answer
                        async with http.post(url, data=body, headers=headers) as answer:
                            await answer.read()
                            statuses[i] = answer.status
                except (TimeoutError, aiohttp.ClientError):
                    pass
                latencies[i] = time.perf_counter() - started

            start, first_at, tasks = time.perf_counter(), time.time(), []
            for i, body in enumerate(bodies):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, body)))
            sent = time.perf_counter() - start
            await asyncio.gather(*tasks)
        return latencies, statuses, first_at, sent

    return asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sample_cpu(pid: int) -> None:
    """The bot's CPU use each second, on stderr (a saturated process shows 100 %)."""
    last = cpu_seconds(pid)
    while True:
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        print(f"bot cpu {100 * (now - last):.0f} %", file=sys.stderr)
        last = now


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def seed(n: int, precoro: PrecoroEmulator, precoro_url: str, slack: SlackStandIn, slack_url: str,
               store: Store, vault: Vault) -> None:
    """n approvers, one waiting document each, registered, polled and posted as the bot would."""
    admin = precoro.add_user(COMPANY, "Dana Admin", "admin@example.com", "bench-admin-token", is_admin=True)
    now = time.time()
    approvers = {}
    for i in range(n):
        user_id, email = f"U{i:08d}", f"approver{i}@example.com"
        user = precoro.add_user(COMPANY, f"Approver {i}", email, f"bench-token-{i:05d}")
        slack.add_user(user_id, user.name, email)
        precoro.add_document(COMPANY, DOC_TYPE, admin.id, [[user.id]], sum=f"{100 + i}.00")
        ciphertext = vault.encrypt(user.token, binding=owner_binding(COMPANY, TEAM, user_id))
        approver, _ = store.approvers.upsert(company=COMPANY, team_id=TEAM, slack_user_id=user_id, email=email,
                                             token_ciphertext=ciphertext, registered_by=ADMIN, now=now)
        store.approvers.mark_polled(approver.id, now, 1)  # fresh: a click costs one request, the POST
        approvers[email] = approver
    async with httpx.AsyncClient(timeout=30) as http:
        raws = []  # the documents as Precoro lists them (what a poll stores), read with the admin token
        for page in range(1, n // 200 + 2):
            answer = await http.get(f"{precoro_url}/{DOC_TYPE}", params={"page": page, "per_page": 200},
                                    headers={api.TOKEN_HEADER: admin.token, api.EMAIL_HEADER: admin.email})
            answer.raise_for_status()
            raws += answer.json()[api.LIST_DATA]
        limit = asyncio.Semaphore(20)

        async def post(raw: dict) -> None:
            doc = parse_document(DOC_TYPE, raw)
            assert doc is not None and doc.current_step is not None
            approver = approvers[doc.current_step.approvers[0].email]
            row = store.messages.claim_post(approver_id=approver.id, company=COMPANY, doc_type=DOC_TYPE,
                                            idn=doc.idn, document=raw, fingerprint=doc.fingerprint(), now=now)
            assert row is not None
            body = messages.document_message(doc, ref=str(row.id), link=api.web_link(WEB_URL, DOC_TYPE, doc.idn),
                                             tz="Europe/Berlin")
            async with limit:
                answer = (await http.post(f"{slack_url}/api/chat.postMessage", json={
                    "channel": approver.slack_user_id, **body}, headers={"Authorization": "Bearer xoxb-test"})).json()
            assert answer["ok"], answer
            store.messages.mark_posted(row.id, answer["channel"], answer["ts"], time.time())

        await asyncio.gather(*(post(raw) for raw in raws))


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    database_url = f"sqlite:///{workdir / 'bot.db'}"
    precoro = PrecoroEmulator(windows=EMULATOR_WINDOWS, duplicate_get_seconds=3.0, latency=args.latency)
    slack = SlackStandIn(bot_token="xoxb-test", team_id=TEAM)
    slack.add_user(ADMIN, "Dana Admin", "admin@example.com")
    servers = [serve_in_thread(precoro.app), serve_in_thread(slack.app)]
    slack.base_url = servers[1].url
    signing_secret, key, port = secrets.token_hex(16), generate_key(), free_port()
    raw = stack_raw_config(precoro_url=servers[0].url, slack_url=servers[1].url, database_url=database_url,
                           signing_secret=signing_secret, key=key,
                           **{"server.host": "127.0.0.1", "quota.windows": BOT_QUOTA,
                              "precoro.document_types": [DOC_TYPE], "precoro.request_timeout_seconds": 5,
                              "scheduler.tick_seconds": 1.0, "scheduler.min_poll_interval_seconds": 60})
    config = workdir / "bot.yaml"
    config.write_text(yaml.safe_dump(raw))
    store = Store.open(database_url)
    bot = None
    try:
        t = time.monotonic()
        await seed(args.approvers, precoro, servers[0].url, slack, servers[1].url, store, Vault([("k1", key)]))
        print(f"seeded {args.approvers} approvers in {time.monotonic() - t:.1f} s", file=sys.stderr)
        bot = BotProcess(config, port, workdir / "bot.log")
        await bot.ready()
        print(f"bot pid {bot.proc.pid}", file=sys.stderr)
        await asyncio.sleep(args.settle)  # the scheduler loads the approvers and plans
        idle_cpu = cpu_seconds(bot.proc.pid)
        await asyncio.sleep(5.0)
        idle_cpu = (cpu_seconds(bot.proc.pid) - idle_cpu) / 5.0
        idle = memory(bot.proc.pid)
        targets = sorted(slack.messages.values(), key=lambda m: m["channel"])
        count = min(len(targets), int(args.rate * args.seconds))
        capture = CapturingDriver(bot.url, signing_secret, slack, TEAM)
        for message in targets[:count]:
            await capture.click(message["channel"][1:], message, messages.ACTION_APPROVE)  # DM "D" + user id
        print(f"clicking {count} times at {args.rate}/s", file=sys.stderr)
        cpu_before, own_before = cpu_seconds(bot.proc.pid), cpu_seconds(os.getpid())
        sampler = asyncio.create_task(sample_cpu(bot.proc.pid))
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            fired = pool.submit(fire, capture.events_url, signing_secret, capture.bodies, args.rate, capture.timeout)
            lat_s, statuses, started, window = await asyncio.wrap_future(fired)
        clicked = time.time()
        sampler.cancel()
        busy, cpu = memory(bot.proc.pid), cpu_seconds(bot.proc.pid) - cpu_before
        own = cpu_seconds(os.getpid()) - own_before
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            with store.engine.connect() as conn:
                done = [row.updated_at for row in conn.execute(
                    decisions.select().where(decisions.c.state == "done"))]
            if len(done) >= count:
                break
            await asyncio.sleep(0.5)
        after = memory(bot.proc.pid)
        posts = [r for r in precoro.requests if r.method == "POST"]
        in_window = sum(1 for at in done if at <= clicked)
        lat = [x * 1000 for x in lat_s]
        rows = [
            ("approvers registered", f"{args.approvers}"),
            ("clicks sent", f"{len(lat)} in {window:.1f} s ({len(lat) / window:.1f}/s), all answered by "
                            f"+{clicked - started:.1f} s; "
                            f"answers {_answers(statuses)}"),
            ("Precoro latency", f"{args.latency * 1000:.0f} ms per request"),
            ("ack latency p50 / p95 / p99 / max", f"{pct(lat, 50):.0f} / {pct(lat, 95):.0f} / {pct(lat, 99):.0f} / "
                                                  f"{max(lat):.0f} ms (mean {statistics.mean(lat):.0f})"),
            ("decisions done", f"{len(done)} of {count}; {in_window} while clicking "
                               f"({in_window / window:.1f}/s); all by +{max(done, default=clicked) - started:.1f} s "
                               f"({len(done) / max(1e-9, max(done, default=clicked) - started):.1f}/s)"),
            ("bot CPU idle (scheduler ticks)", f"{idle_cpu * 100:.0f} % of a core"),
            ("bot CPU while clicking", f"{cpu:.1f} s in {clicked - started:.1f} s "
                                       f"({cpu / (clicked - started) * 100:.0f} % of a core; "
                                       f"{cpu / max(1, len(lat)) * 1000:.1f} ms per click)"),
            ("this process's CPU (Slack, Precoro)", f"{own:.1f} s ({own / (clicked - started) * 100:.0f} % of a core)"),
            ("Precoro POSTs / 429s", f"{len(posts)} / {precoro.too_many()}"),
            ("bot memory idle (VmRSS / VmHWM)", f"{idle['VmRSS'] / 1024:.0f} / {idle['VmHWM'] / 1024:.0f} MB"),
            ("bot memory end of clicks", f"{busy['VmRSS'] / 1024:.0f} / {busy['VmHWM'] / 1024:.0f} MB"),
            ("bot memory drained", f"{after['VmRSS'] / 1024:.0f} / {after['VmHWM'] / 1024:.0f} MB"),
        ]
        print("| measure | value |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        ok = pct(lat, 99) < 300 and after["VmHWM"] < 150 * 1024 and len(done) == count and not precoro.too_many()
        return 0 if ok else 1
    finally:
        if bot is not None:
            bot.stop()
            print(f"bot log: {bot.log}", file=sys.stderr)
        store.close()
        for server in reversed(servers):
            server.stop()


def _answers(statuses: list[int]) -> str:
    return ", ".join(f"{n} x {'timeout' if status == 0 else status}" for status, n in sorted(Counter(statuses).items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="clicks per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long clicks arrive")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds Precoro takes per request")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between start-up and the first click")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the decisions to finish")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
