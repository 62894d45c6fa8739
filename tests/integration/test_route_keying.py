"""The plan when Precoro keys duplicate GETs by route, discovery's URL variants, per-type cursors
and the config key that names the reading (issue 15)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config
from bot.precoro import api
from bot.quota.gate import get_key
from bot.quota.ledger import Lane, QuotaPolicy, Spend
from bot.store import Store
from bot.sync import discovery_urls, route_keying
from bot.vault import generate_key

TYPES = ("purchaseorders", "invoices")
POLICY = QuotaPolicy()
NOW = 1_736_150_000.0


def list_read(path: str, at: float) -> Spend:
    return Spend(at, Lane.POLL, get_key(api.list_path(path), []))


def test_a_poll_waits_while_a_list_path_was_read_within_the_minute() -> None:
    assert route_keying.poll_room([], TYPES, POLICY, NOW, discovery_due=None, last_poll=NOW - 100) == 1
    recent = [list_read("invoices", NOW - 59)]
    assert route_keying.poll_room(recent, TYPES, POLICY, NOW, discovery_due=None, last_poll=NOW - 100) == 0
    old = [list_read("invoices", NOW - 61)]
    assert route_keying.poll_room(old, TYPES, POLICY, NOW, discovery_due=None, last_poll=NOW - 100) == 1
    # A document's own path is another route: it does not hold the lists back.
    doc = [Spend(NOW - 1, Lane.INTERACTIVE, get_key(api.document_path("invoices", "INV-1"), []))]
    assert route_keying.poll_room(doc, TYPES, POLICY, NOW, discovery_due=None, last_poll=NOW - 100) == 1


def test_discovery_goes_first_unless_the_safety_net_starved() -> None:
    soon, later = (30.0, 2), (120.0, 2)
    assert route_keying.poll_room([], TYPES, POLICY, NOW, discovery_due=soon, last_poll=NOW - 100) == 0
    assert route_keying.poll_room([], TYPES, POLICY, NOW, discovery_due=later, last_poll=NOW - 100) == 1
    starved = NOW - route_keying.SAFETY_NET_SECONDS
    assert route_keying.poll_room([], TYPES, POLICY, NOW, discovery_due=soon, last_poll=starved) == 1


def test_a_retried_discovery_read_has_urls_other_than_the_last_one() -> None:
    variants = discovery_urls.filter_variants(NOW)
    since = {dict(v)[api.MODIFIED_SINCE_PARAM] for v in variants}
    assert len(since) == discovery_urls.NUDGE_SECONDS + 1  # one a second further back each
    assert dict(variants[0])[api.MODIFIED_SINCE_PARAM] == api.format_modified_since(
        NOW - discovery_urls.OVERLAP_SECONDS)
    assert discovery_urls.filter_variants(None) == [[(api.STATUS_PARAM, str(api.STATUS_PENDING))]]


def test_each_type_keeps_its_own_cursor(database_url: str) -> None:
    store = Store.open(database_url, inline=True)
    try:
        store.discovery.set_approver("acme", 7, by="U1", now=NOW)
        assert store.discovery.save_run("acme", 7, cursor=None, unregistered={}, now=NOW,
                                        type_cursors={"purchaseorders": NOW})
        settings = store.discovery.get("acme")
        assert settings is not None
        assert settings.cursor_for("purchaseorders") == NOW and settings.cursor_for("invoices") is None
        store.discovery.save_run("acme", 7, cursor=NOW + 100, unregistered={}, now=NOW + 100,
                                 type_cursors={"invoices": NOW + 100})
        settings = store.discovery.get("acme")
        assert settings is not None
        assert settings.cursor_for("purchaseorders") == NOW and settings.cursor_for("invoices") == NOW + 100
        assert not store.discovery.save_run("acme", 8, cursor=None, unregistered={}, now=NOW,
                                            type_cursors={"invoices": NOW + 200})  # someone else's run
        store.discovery.set_approver("acme", 8, by="U1", now=NOW + 300)  # a new approver reads in full
        settings = store.discovery.get("acme")
        assert settings is not None and settings.type_cursors == {} and settings.cursor is None
    finally:
        store.close()


def _config(**quota: object) -> dict[str, object]:
    return {"slack": {"signing_secret": "s", "bot_token": "xoxb-1", "admins": ["U012ABCDEF"]},
            "precoro": {"id": "acme", "base_url": "https://api.precoro.test", "web_url": "https://app.precoro.test"},
            "storage": {"url": "sqlite:///:memory:"}, "encryption": {"keys": [{"id": "k", "key": generate_key()}]},
            "quota": quota}


def test_the_config_names_the_reading_the_bot_plans_for() -> None:
    assert parse_config(_config(), env={}).companies[0].quota.duplicate_keying == "company"
    assert parse_config(_config(duplicate_keying="route"), env={}).companies[0].quota.duplicate_keying == "route"
    with pytest.raises(ConfigError, match="duplicate_keying: must be one of token, company, route"):
        parse_config(_config(duplicate_keying="path"), env={})
