"""Two real server processes on one PostgreSQL database, one of them killed mid-run.

Both replicas serve Slack (registrations, clicks) and retry due decisions; per-company leases
decide which of them polls. The one holding the lease is killed with SIGKILL: the other takes the
company over within a lease period. Throughout: no 429 from Precoro, every document posted once to
each of its approvers, every click carried out by exactly one POST with the clicker's own token
(also when the same click reaches both replicas at once), and no message shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.precoro import api
from bot.runtime import Runtime
from bot.slack import messages
from bot.store import Store
from precoro_devkit.emulator.precoro import EmDocument, EmUser, PrecoroEmulator
from precoro_devkit.emulator.process import BotProcess
from precoro_devkit.emulator.slack import SlackDriver, SlackStandIn, dm_channel
from precoro_devkit.emulator.stack import ADMIN, FAST_EMULATOR, METRICS_TOKEN, SLACK_USERS, ProcessStack
from precoro_devkit.sim.run import Simulation
from precoro_devkit.sim.scenario import Arrival, Scenario
from tests.support.slack import approve_ref, open_messages

COMPANY = "acme"
LEASE_SECONDS = 2.0
NAMES = ("alice", "bob", "carol")


class Replica:
    def __init__(self, name: str, process: BotProcess, driver: SlackDriver) -> None:
        self.name, self.process, self.driver = name, process, driver
        self.id = ""

    async def learn_id(self) -> None:
        async with httpx.AsyncClient() as http:
            self.id = (await http.get(f"{self.process.url}/readyz",
                                      headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).json()["replica"]


class Clicker:
    """Clicks Approve on every open document message, each once, on the replicas alive; every
    third click goes to two replicas at once (a Slack retry landing elsewhere)."""

    def __init__(self, slack: SlackStandIn, replicas: list[Replica]) -> None:
        self.slack, self.alive = slack, list(replicas)
        self.clicked: dict[str, str] = {}  # message ref -> clicker
        self.doubled = 0
        self.answers: list[int] = []

    async def run(self) -> None:
        while True:
            for name in NAMES:
                user = SLACK_USERS[name]
                for message in open_messages(self.slack, user):
                    ref = approve_ref(message)
                    if ref in self.clicked:
                        continue
                    self.clicked[ref] = user
                    n = len(self.clicked)
                    targets = self.alive if n % 3 == 0 and len(self.alive) > 1 else [self.alive[n % len(self.alive)]]
                    self.doubled += len(targets) > 1
                    sent = await asyncio.gather(*(r.driver.click(user, message, messages.ACTION_APPROVE)
                                                  for r in targets))
                    self.answers += [a.status_code for a in sent]
            await asyncio.sleep(0.05)


@pytest.mark.asyncio
@pytest.mark.postgres
async def test_two_replicas_one_killed(postgres_schema_url: str, tmp_path: Path) -> None:
    precoro = PrecoroEmulator(**FAST_EMULATOR)
    creator = precoro.add_user(COMPANY, "Dana Admin", "admin@example.com", "acme-admin-token", is_admin=True)
    users: dict[str, EmUser] = {
        name: precoro.add_user(COMPANY, name.title(), f"{name}@example.com", f"acme-{name}-token") for name in NAMES}
    world = ProcessStack.start(precoro, {**users, "admin": creator}, postgres_schema_url, tmp_path,
                               **{"scheduler.lease_seconds": LEASE_SECONDS, "precoro.request_timeout_seconds": 2,
                                  "quota.interactive_wait_seconds": 1})
    slack = world.slack
    replicas = [Replica(name, *world.spawn(name)) for name in ("a", "b")]
    store = Store.open(postgres_schema_url)
    clicker = Clicker(slack, replicas)
    clicking: asyncio.Task[None] | None = None
    docs: list[EmDocument] = []
    try:
        await asyncio.gather(*(r.process.ready() for r in replicas))
        await asyncio.gather(*(r.learn_id() for r in replicas))
        for i, name in enumerate(NAMES):  # registrations reach either replica
            user = users[name]
            answer = await replicas[i % 2].driver.slash_command(
                ADMIN, f"register <@{SLACK_USERS[name]}> {user.email} {user.token}")
            assert answer.status_code == 200
        await slack.wait_for(lambda: len(store.approvers.list(COMPANY)) == len(NAMES), timeout=10)
        clicking = asyncio.create_task(clicker.run())

        def chain(i: int) -> list[list[str]]:  # one approver; every fourth document: Alice, then Bob
            return [[NAMES[i % 3]]] if i % 4 else [["alice"], ["bob"]]

        async def create(count: int, first: int) -> None:
            for i in range(first, first + count):
                docs.append(precoro.add_document(COMPANY, "purchaseorders" if i % 2 else "invoices", creator.id,
                                                 [[users[n].id for n in step] for step in chain(i)],
                                                 sum=f"{100 + i}.00"))
                await asyncio.sleep(0.3)

        def settled() -> bool:  # Precoro, Slack and the bot's own records all show every click done
            return (all(d.status == api.STATUS_APPROVED for d in docs)
                    and not any(open_messages(slack, SLACK_USERS[n]) for n in NAMES)
                    and all(getattr(store.messages.get(int(ref)), "state", "") == "approved"
                            for ref in list(clicker.clicked)))

        await create(8, 0)
        await slack.wait_for(settled, timeout=20)

        holder = store.leases.holder(COMPANY, time.time())
        victim = next(r for r in replicas if r.id == holder)
        survivor = next(r for r in replicas if r is not victim)
        clicker.alive = [survivor]
        victim.process.kill()  # no click of it in flight: everything so far is decided and recorded
        killed_at = time.time()
        first_after = len(docs)
        creating = asyncio.create_task(create(6, first_after))
        await slack.wait_for(lambda: store.leases.holder(COMPANY, time.time()) == survivor.id, timeout=10)
        took_over_in = time.time() - killed_at
        await creating
        first_doc, owner = docs[first_after], SLACK_USERS[chain(first_after)[0][0]]
        # A request the victim left in flight holds the company's spacing window until it would
        # have timed out (the ledger cannot know it ended): the first poll may wait that long.
        posted = await slack.wait_for(lambda: next(
            (c for c in slack.calls_to("chat.postMessage")
             if c.args.get("channel") == owner and first_doc.idn in (c.args.get("text") or "")), None), timeout=30)
        await slack.wait_for(settled, timeout=30)
        clicking.cancel()

        # No 429, and every document was approved in Precoro.
        assert precoro.too_many() == 0
        assert all(d.status == api.STATUS_APPROVED for d in docs)
        # Every document posted exactly once to each approver whose turn came, and shown once.
        slack_of = {u.id: SLACK_USERS[name] for name, u in users.items()}
        expected = Counter((slack_of[uid], d.idn) for d in docs for step in d.steps for uid in step.approver_ids)
        posts = [c for c in slack.calls_to("chat.postMessage") if c.error is None and c.args.get("blocks")]
        got = Counter((c.args["channel"], next(d.idn for d in docs if d.idn in c.args.get("text", ""))) for c in posts)
        assert got == expected
        for name in NAMES:  # and each shown once: one message per document in the approver's DMs
            shown = [next(d.idn for d in docs if d.idn in m.get("text", ""))
                     for m in slack.messages_in(dm_channel(SLACK_USERS[name])) if m.get("blocks")]
            assert Counter(shown) == Counter({idn: n for (user, idn), n in expected.items()
                                              if user == SLACK_USERS[name]})
        # Every click: exactly one POST, the clicker's own token, carried out.
        token_of = {SLACK_USERS[name]: users[name].token for name in NAMES}
        writes = [r for r in precoro.requests if r.method == "POST"]
        assert len(clicker.clicked) == sum(expected.values())
        for ref, user in clicker.clicked.items():
            message = store.messages.get(int(ref))
            assert message is not None and message.state == "approved", message
            sent = [w for w in writes if w.path == f"/{message.doc_type}/{message.idn}/approve"
                    and w.token == token_of[user]]
            assert len(sent) == 1 and sent[0].applied, (user, message.idn, sent)
        assert len(writes) == len(clicker.clicked)
        assert set(clicker.answers) == {200} and clicker.doubled >= 2
        # The survivor took the company over within a lease period (plus a tick).
        assert took_over_in < LEASE_SECONDS + 1.0, took_over_in
        print(f"\nreplicas: {len(docs)} documents, {len(clicker.clicked)} clicks ({clicker.doubled} to both replicas), "
              f"{len(writes)} POSTs, 0 x 429; replica {victim.name} killed holding the lease, {survivor.name} "
              f"took it over {took_over_in:.1f} s later and posted a new document {posted.at - killed_at:.1f} s later")
    finally:
        if clicking is not None:
            clicking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clicking
        for r in replicas:
            r.process.stop()
        store.close()
        world.stop()


# --- many companies, two schedulers in one process (virtual time, one SQLite file) -------------------


def test_two_schedulers_share_ten_companies_through_the_leases(tmp_path: Path) -> None:
    """Two replicas' schedulers on one database and one Precoro, ten companies: every company is
    polled by one replica at a time (the other, ticking too, polls none of it); when the holder
    dies (stops renewing) the other takes every company over once the leases run out, and when
    that one stops gracefully (releasing) the first, back, takes them over at its next claim. Every
    document is posted once to its approver and Precoro answers no 429."""
    companies = 10
    sim = Simulation(Scenario("leases", 3, docs_per_day=0.0, warmup_days=0.0, days=0.0, tail_days=0.0),
                     tmp_path, companies)
    clock, lease = sim.clock, sim.config.lease_seconds
    polls: list[tuple[str, str, float]] = []  # (replica, company, when)
    alive: dict[str, bool] = {}

    def replica(name: str) -> Runtime:
        rt = sim._build()
        poll = rt.poller.poll

        async def recorded(approver: Any) -> Any:
            polls.append((name, approver.company, clock.now()))
            return await poll(approver)

        rt.poller.poll = recorded  # type: ignore[method-assign]
        return rt

    async def ticking(name: str, rt: Runtime) -> None:
        alive[name] = True
        while alive[name]:
            await rt.scheduler.tick()
            await clock.sleep(sim.config.tick_seconds)

    def arrive() -> None:  # one document for approver 1 of every company
        for tenant in sim.tenants:
            sim._arrive(tenant, Arrival(clock.now(), 1, "invoices"))

    async def posted_all(limit: float) -> None:
        deadline = clock.now() + limit
        while {k for k in sim.arrived} - {(p.user_id, p.doc_type, p.idn) for p in sim.sink.posts}:
            assert clock.now() < deadline, "documents not posted in time"
            await clock.sleep(1.0)

    def polled(since: float, until: float) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for name, company, at in polls:
            if since <= at < until:
                out.setdefault(name, set()).add(company)
        return out

    async def main() -> None:
        a = sim.rt = replica("a")
        sim._seed()
        b = replica("b")
        tasks = [asyncio.create_task(ticking("a", a))]
        await clock.sleep(1.0)
        tasks.append(asyncio.create_task(ticking("b", b)))  # both tick from now on
        arrive()
        await posted_all(120.0)
        await clock.sleep(2 * lease)
        both_alive = polled(0.0, clock.now())
        assert both_alive == {"a": {t.id for t in sim.tenants}}  # "b" ticked all along and polled nothing

        alive["a"] = False  # "a" dies: no release, its leases run out
        await tasks[0]
        died = clock.now()
        arrive()
        await posted_all(lease + 120.0)
        after = polled(died, clock.now())
        assert after == {"b": {t.id for t in sim.tenants}}
        taken_at = min(at for name, _, at in polls if name == "b")
        assert taken_at >= died + lease * 0.5  # not before "a"'s lease ran out (renewed every third of it)

        a2 = replica("a2")  # "a" is back (a new process); "b" stops gracefully and hands over at once
        tasks.append(asyncio.create_task(ticking("a2", a2)))
        alive["b"] = False
        await tasks[1]
        await b.scheduler.stop(timeout=5.0)
        stopped = clock.now()
        await clock.sleep(lease / 3 + 2 * sim.config.tick_seconds)  # a2's next claim
        arrive()
        await posted_all(120.0)
        assert polled(stopped, clock.now()) == {"a2": {t.id for t in sim.tenants}}
        alive["a2"] = False
        await tasks[2]
        for rt in (a, b, a2):
            await rt.aclose()

    clock.run(main())
    keys = Counter((p.user_id, p.doc_type, p.idn) for p in sim.sink.posts)
    assert len(keys) == 3 * companies and set(keys.values()) == {1}  # every document posted once
    assert sim.emulator.too_many() == 0
