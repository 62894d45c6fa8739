"""`precoro-bot doctor`: with one real token, check every assumption the bot makes about Precoro.

`checks` holds the pure verdicts, `probe` the read-only request sequence (through the real client
and the company's quota ledger, so a running bot on the same database counts the requests),
`shapes` the value-free record of the answers (`--record FILE`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot import redact
from bot.config import CompanyConfig, Config
from bot.doctor import shapes
from bot.doctor.checks import WAITING_FALLBACK, Row, Verdict, verdicts
from bot.doctor.probe import Probe
from bot.precoro.client import Credentials, PrecoroClient
from bot.quota.gate import Clock, QuotaGate, SystemClock
from bot.store import Store
from bot.store.findings import FindingRepo
from bot.sync.adapt import DUPLICATE_KEYING, IGNORED, ROUTE, WAITING_FILTER


@dataclass(frozen=True)
class DoctorReport:
    rows: list[Row]
    requests: int

    @property
    def stop(self) -> bool:
        return any(r.stop for r in self.rows)

    @property
    def undecided(self) -> list[Row]:
        """Checks a 429 kept from an answer (another integration used the quota meanwhile)."""
        return [r for r in self.rows if r.blocked]

    @property
    def exit_code(self) -> int:
        """`precoro-bot doctor`'s: 1 when the bot cannot work here or a check stayed undecided."""
        return 1 if self.stop or self.undecided else 0


async def run_doctor(config: Config, company: CompanyConfig, cred: Credentials, *, store: Store,
                     record: str | Path | None = None, source: str = "precoro", clock: Clock | None = None,
                     http: httpx.AsyncClient | None = None,
                     say: Callable[[str], None] = lambda _: None) -> DoctorReport:
    """Probe, judge, remember what the running bot should know (route keying, an ignored
    `waitingForApprove`), record shapes."""
    redact.remember(cred.token)
    clock = clock or SystemClock()
    gate = QuotaGate(store.quota, {company.id: company.quota}, clock,
                     in_flight_timeout=config.request_timeout_seconds + 5.0, boundary=store.boundary)
    own_http = http is None
    http = http or httpx.AsyncClient(timeout=httpx.Timeout(config.request_timeout_seconds, connect=5.0))
    client = PrecoroClient(company.id, company.base_url, gate, http)  # URL keying: the probe tests it afresh
    probe = Probe(client, cred, company.document_types, say=say)
    try:
        observations = await probe.run()
    finally:
        if own_http:
            await http.aclose()
    rows = verdicts(dataclasses.replace(observations, web_url=company.web_url))
    if any(r.verdict is Verdict.REFUTED and r.assumption.startswith("Duplicate GETs are keyed by URL") for r in rows):
        await store.run(FindingRepo(store.engine).record, company.id, DUPLICATE_KEYING, ROUTE, source="doctor",
                        now=clock.now())
    if any(r.action == WAITING_FALLBACK for r in rows):
        await store.run(FindingRepo(store.engine).record, company.id, WAITING_FILTER, IGNORED, source="doctor",
                        now=clock.now())
    if record is not None:
        shapes.write(record, probe.shapes, source=source)
    return DoctorReport(rows, probe.sent)
