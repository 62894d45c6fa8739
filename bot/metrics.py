"""`/metrics` in Prometheus format, following its naming and type rules.

Two kinds of numbers, kept apart on purpose:

- **Levels read at scrape time** (gauges), from the database, so every replica reports the same
  company-wide truth: quota use and limits per window, the requests of the last day by lane and
  status (`precoro_requests_in_window{window="86400"}`: a windowed count is a level that goes down
  as old requests leave the window, so it is a gauge named as one, not a counter), and the
  decision outbox's depth (`precoro_outbox_pending` by state). The scrape is rendered in a worker
  thread and cached (`bot.ops.CachedRender`), never on the event loop.
- **Events observed in-process as they happen** (counters and histograms, whose values and
  buckets only grow): decisions by outcome when they finish, the detection delay when a document
  is first posted, Slack's acknowledgement time, Slack API errors. They are this replica's own:
  with several replicas, sum them over replicas (`sum without (instance)`); a restart resets them,
  which `rate()` handles.

The process's own `process_*` and `python_*` collectors are registered too (a custom registry
does not have them by default).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.config import CompanyConfig
from bot.precoro.models import parse_time
from bot.quota.gate import Clock
from bot.store import Store
from bot.store.decisions import DONE, FAILED, PENDING, SENDING
from bot.store.schema import decisions, quota_spends

DELAY_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0)
# Slack wants an answer within 3 s; the buckets resolve the range that matters around it.
ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
DAY = 86400.0
PER_REPLICA = " (this replica's own count since it started: sum over replicas)"


class DatabaseCollector(Collector):
    """The gauges read from the database at each (cached, off-loop) render."""

    def __init__(self, store: Store, clock: Clock, companies: tuple[CompanyConfig, ...]) -> None:
        self.store = store
        self.clock = clock
        self.companies = companies

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self.clock.now()
        used = GaugeMetricFamily("precoro_quota_used", "Precoro requests spent in each quota window (a level)",
                                 labels=["company", "window_seconds"])
        limit = GaugeMetricFamily("precoro_quota_limit", "Precoro quota limit of each window",
                                  labels=["company", "window_seconds"])
        in_window = GaugeMetricFamily("precoro_requests_in_window",
                                      "Precoro requests in the trailing window by lane and status (a level: "
                                      "requests leave the window as it slides)",
                                      labels=["company", "window", "lane", "status"])
        outbox = GaugeMetricFamily("precoro_outbox_pending",
                                   "Decisions in the outbox not finished yet, by state (pending: waiting for "
                                   "an attempt; sending: an attempt holds it)", labels=["company", "state"])
        with self.store.engine.connect() as conn:
            for company in self.companies:
                for window in company.quota.windows:
                    since = (quota_spends.c.company == company.id) & (quota_spends.c.at >= now - window.seconds)
                    n = conn.execute(select(func.count()).where(since)).scalar_one()
                    used.add_metric([company.id, f"{window.seconds:g}"], n)
                    limit.add_metric([company.id, f"{window.seconds:g}"], window.limit)
                for lane, status, n in conn.execute(
                    select(quota_spends.c.lane, quota_spends.c.status, func.count())
                    .where((quota_spends.c.company == company.id) & (quota_spends.c.at >= now - DAY))
                    .group_by(quota_spends.c.lane, quota_spends.c.status)
                ):
                    in_window.add_metric([company.id, f"{DAY:g}", lane, str(status) if status is not None else "none"],
                                         n)
            depth = {(c.id, state): 0 for c in self.companies for state in (PENDING, SENDING)}
            for company, state, n in conn.execute(
                select(decisions.c.company, decisions.c.state, func.count())
                .where(decisions.c.state.in_((PENDING, SENDING)))
                .group_by(decisions.c.company, decisions.c.state)
            ):
                depth[(company, state)] = n
        for (company, state), n in sorted(depth.items()):
            outbox.add_metric([company, state], n)
        yield used
        yield limit
        yield in_window
        yield outbox


def decision_outcome(state: str, outcome: str) -> str:
    """A finished decision's outcome as a small fixed set: approved, rejected, gone (Precoro no
    longer waits for the approver) or failed (the detail is in the audit log)."""
    if state == DONE:
        return outcome if outcome in ("approved", "rejected") else "done"
    if state == FAILED and outcome.startswith("not waiting"):
        return "gone"
    return "failed"


def detection_delay(document: Mapping[str, Any], seen_at: float) -> float | None:
    """Seconds from a document's last change in Precoro to the bot first seeing it waiting."""
    changed = parse_time(document.get("updateDate") or document.get("createDate"))
    return None if changed is None else max(0.0, seen_at - changed.timestamp())


class Metrics:
    def __init__(self, store: Store, clock: Clock, companies: tuple[CompanyConfig, ...]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DatabaseCollector(store, clock, companies))
        for collector in (ProcessCollector, PlatformCollector, GCCollector):  # process_* and python_*
            collector(registry=self.registry)
        self.slack_errors = Counter("slack_api_errors", "Slack Web API calls that failed" + PER_REPLICA,
                                    ["method", "error"], registry=self.registry)
        self.decisions = Counter("precoro_decisions", "Decisions finished, by action and outcome" + PER_REPLICA,
                                 ["company", "action", "outcome"], registry=self.registry)
        self.detection = Histogram("precoro_detection_delay_seconds",
                                   "From a document's last change in Precoro to the bot first posting it, observed "
                                   "when posted" + PER_REPLICA, ["company"], buckets=DELAY_BUCKETS,
                                   registry=self.registry)
        self.slack_ack = Histogram("precoro_slack_ack_seconds",
                                   "Time to answer a Slack request (Slack's deadline is 3 s), from the handler's "
                                   "start until its response is returned" + PER_REPLICA, buckets=ACK_BUCKETS,
                                   registry=self.registry)

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method, error).inc()

    def decision_finished(self, company: str, action: str, state: str, outcome: str) -> None:
        self.decisions.labels(company, action, decision_outcome(state, outcome)).inc()

    def document_posted(self, company: str, document: Mapping[str, Any], first_seen_at: float) -> None:
        delay = detection_delay(document, first_seen_at)
        if delay is not None:
            self.detection.labels(company).observe(delay)

    def slack_acknowledged(self, seconds: float) -> None:
        self.slack_ack.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
