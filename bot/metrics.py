"""`/metrics` in Prometheus format.

Quota use, 429s, decisions and detection delays are read from the database at scrape time, so
every replica reports the same company-wide truth and nothing needs threading through the code.
Slack API errors are this process's own and are counted where they happen (the notifier).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.config import CompanyConfig
from bot.precoro.models import parse_time
from bot.quota.gate import Clock
from bot.store import Store
from bot.store.schema import decisions, posted_messages, quota_spends

DELAY_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0)
DAY = 86400.0


class DatabaseCollector(Collector):
    def __init__(self, store: Store, clock: Clock, companies: tuple[CompanyConfig, ...]) -> None:
        self.store = store
        self.clock = clock
        self.companies = companies

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        now = self.clock.now()
        used = GaugeMetricFamily("precoro_quota_used", "Precoro requests spent in each quota window",
                                 labels=["company", "window_seconds"])
        limit = GaugeMetricFamily("precoro_quota_limit", "Precoro quota limit of each window",
                                  labels=["company", "window_seconds"])
        statuses = GaugeMetricFamily("precoro_requests_last_day",
                                     "Precoro requests in the last 24 h by lane and status",
                                     labels=["company", "lane", "status"])
        engine = self.store.engine
        with engine.connect() as conn:
            for company in self.companies:
                for window in company.quota.windows:
                    in_window = (quota_spends.c.company == company.id) & (quota_spends.c.at >= now - window.seconds)
                    n = conn.execute(select(func.count()).where(in_window)).scalar_one()
                    used.add_metric([company.id, f"{window.seconds:g}"], n)
                    limit.add_metric([company.id, f"{window.seconds:g}"], window.limit)
                for lane, status, n in conn.execute(
                    select(quota_spends.c.lane, quota_spends.c.status, func.count())
                    .where((quota_spends.c.company == company.id) & (quota_spends.c.at >= now - DAY))
                    .group_by(quota_spends.c.lane, quota_spends.c.status)
                ):
                    statuses.add_metric([company.id, lane, str(status) if status is not None else "none"], n)
            outcomes = CounterMetricFamily("precoro_decisions", "Decisions by action, state and outcome",
                                           labels=["company", "action", "state", "outcome"])
            for company, action, state, outcome, n in conn.execute(
                select(decisions.c.company, decisions.c.action, decisions.c.state, decisions.c.outcome, func.count())
                .group_by(decisions.c.company, decisions.c.action, decisions.c.state, decisions.c.outcome)
            ):
                outcomes.add_metric([company, action, state, outcome or "-"], n)
            delays = conn.execute(
                select(posted_messages.c.company, posted_messages.c.first_seen_at, posted_messages.c.document)
                .where(posted_messages.c.first_seen_at >= now - DAY)
            ).all()
        yield used
        yield limit
        yield statuses
        yield outcomes
        yield _delay_histogram(delays)


def _delay_histogram(rows: list) -> HistogramMetricFamily:  # type: ignore[type-arg]
    """Seconds from a document's last change in Precoro to the bot first seeing it waiting."""
    by_company: dict[str, list[float]] = {}
    for company, seen_at, document in rows:
        try:
            raw = json.loads(document)
        except ValueError:
            continue
        changed = parse_time(raw.get("updateDate") or raw.get("createDate"))
        if changed is not None:
            by_company.setdefault(company, []).append(max(0.0, seen_at - changed.timestamp()))
    family = HistogramMetricFamily("precoro_detection_delay_seconds",
                                   "From a document's last change to the bot seeing it (last 24 h)", labels=["company"])
    for company, values in by_company.items():
        buckets = [(f"{b:g}", sum(1 for v in values if v <= b)) for b in DELAY_BUCKETS]
        buckets.append(("+Inf", len(values)))
        family.add_metric([company], buckets, sum(values))
    return family


class Metrics:
    def __init__(self, store: Store, clock: Clock, companies: tuple[CompanyConfig, ...]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DatabaseCollector(store, clock, companies))
        self.slack_errors = Counter("slack_api_errors", "Slack Web API calls that failed", ["method", "error"],
                                    registry=self.registry)

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method, error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
