"""Config loading: defaults, `${ENV}` secrets, and errors that name the exact key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import DEFAULT_SLACK_API_URL, ConfigError, load_config, parse_config
from bot.precoro import api
from bot.quota.ledger import QuotaPolicy, Window
from tests.support.config import BOT_TOKEN, KEY, SIGNING_SECRET, minimal, with_

SECRETS = (SIGNING_SECRET, BOT_TOKEN, KEY)


def error_for(raw: Any, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env or {})
    return info.value


def test_minimal_config_gets_documented_defaults() -> None:
    config = parse_config(minimal(), {})

    assert config.slack.signing_secret == SIGNING_SECRET
    assert config.slack.bot_token == BOT_TOKEN
    assert config.slack.admins == ("U012ABCDEF",)
    assert config.slack.api_url == DEFAULT_SLACK_API_URL == "https://slack.com/api/"
    assert [(k.id, k.key) for k in config.encryption_keys] == [("k1", KEY)]
    assert config.storage_url == "sqlite:///precoro-bot.db"
    assert (config.host, config.port) == ("0.0.0.0", 3000)
    assert config.tick_seconds == 5.0
    assert config.lease_seconds == 30.0
    assert config.min_poll_interval_seconds == 60.0
    assert config.request_timeout_seconds == 20.0
    assert config.interactive_wait_seconds == 10.0
    assert config.log_level == "INFO"

    (company,) = config.companies
    assert company.id == "default"
    assert company.base_url == "https://api.precoro.com"
    assert company.web_url == "https://app.precoro.com"
    assert company.document_types == api.DEFAULT_DOCUMENT_TYPES
    assert company.quota == QuotaPolicy(share=0.8)  # Precoro's windows, the bot uses 80% of them
    assert config.company("default") is company
    with pytest.raises(KeyError):
        config.company("other")


def test_us_region_base_url_defaults_to_us_web_url() -> None:
    config = parse_config(with_("precoro.base_url", "https://api.precoro.us/"), {})
    assert config.companies[0].base_url == "https://api.precoro.us"
    assert config.companies[0].web_url == "https://app.precoro.us"


def test_env_references_are_substituted() -> None:
    raw = minimal()
    raw["slack"]["signing_secret"] = "${SIGNING}"
    raw["slack"]["bot_token"] = "xoxb-${TOKEN_TAIL}"
    raw["storage"] = {"url": "${DB_URL:-sqlite:///fallback.db}"}
    raw["server"] = {"host": "${HOST:-127.0.0.1}"}

    config = parse_config(raw, {"SIGNING": "from-env", "TOKEN_TAIL": "abc", "HOST": "10.0.0.1"})

    assert config.slack.signing_secret == "from-env"
    assert config.slack.bot_token == "xoxb-abc"
    assert config.storage_url == "sqlite:///fallback.db"  # unset: the default
    assert config.host == "10.0.0.1"  # set: the default is ignored


def test_env_default_may_be_empty_and_set_empty_var_wins() -> None:
    raw = with_("server.host", "${HOST:-}x")
    assert parse_config(raw, {}).host == "x"
    raw = with_("storage.url", "${DB:-sqlite:///d.db}")
    with pytest.raises(ConfigError) as info:
        parse_config(raw, {"DB": ""})  # set but empty: used, then rejected as missing
    assert info.value.key == "storage.url"


def test_missing_env_var_names_the_key_and_variable() -> None:
    raw = with_("slack.signing_secret", "${SLACK_SIGNING_SECRET}")
    error = error_for(raw)
    assert error.key == "slack.signing_secret"
    assert "SLACK_SIGNING_SECRET" in str(error)
    assert str(error).startswith("slack.signing_secret: ")


def test_missing_env_var_inside_a_list_names_the_index() -> None:
    raw = minimal()
    raw["encryption"]["keys"].append({"id": "k2", "key": "${OLD_KEY}"})
    assert error_for(raw).key == "encryption.keys[1].key"


def test_parse_config_reads_os_environ_when_env_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRECORO_TEST_SIGNING", "from-os-environ")
    config = parse_config(with_("slack.signing_secret", "${PRECORO_TEST_SIGNING}"))
    assert config.slack.signing_secret == "from-os-environ"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (with_("slack.admins", ["U012ABCDEF", "bob"]), "slack.admins[1]"),
        (with_("slack.admins", ["u012abcdef"]), "slack.admins[0]"),
        (with_("slack.bot_token", "xoxp-user-token"), "slack.bot_token"),
        (with_("slack.bot_token", ""), "slack.bot_token"),
        (with_("slack.signing_secret", None), "slack.signing_secret"),
        (with_("slack.api_url", "slack.com/api"), "slack.api_url"),
        (with_("precoro.document_types", ["invoices", "bills"]), "precoro.document_types[1]"),
        (with_("precoro.document_types", []), "precoro.document_types"),
        (with_("precoro.base_url", "api.precoro.com"), "precoro.base_url"),
        (with_("precoro.base_url", "ftp://api.precoro.com"), "precoro.base_url"),
        (with_("precoro.web_url", "app.precoro.com"), "precoro.web_url"),
        (with_("precoro.id", "Acme Corp"), "precoro.id"),
        (with_("precoro.request_timeout_seconds", 0), "precoro.request_timeout_seconds"),
        (with_("scheduler.tick_seconds", -1), "scheduler.tick_seconds"),
        (with_("scheduler.tick_seconds", "fast"), "scheduler.tick_seconds"),
        (with_("scheduler.tick_seconds", True), "scheduler.tick_seconds"),
        (with_("scheduler.lease_seconds", 5), "scheduler.lease_seconds"),  # not two ticks of 5 s
        (with_("server.port", 70000), "server.port"),
        (with_("server.port", -1), "server.port"),
        (with_("server.port", 80.5), "server.port"),
        (with_("logging.level", "LOUD"), "logging.level"),
        (with_("encryption.keys", []), "encryption.keys"),
        (with_("encryption.keys", [{"id": "k1"}]), "encryption.keys[0].key"),
        (with_("encryption.keys", [{"id": "k1", "key": KEY}, {"id": "k1", "key": KEY}]), "encryption.keys[1].id"),
        (with_("slack", "not a mapping"), "slack"),
        (
            with_("quota.windows", [{"seconds": 1, "limit": 1}, {"seconds": 60, "limit": 9, "reserve": 9}]),
            "quota.windows[1].reserve",
        ),
        (
            with_("quota.windows", [{"seconds": 1, "limit": 1}, {"seconds": 60, "limit": 9, "reserve": 15}]),
            "quota.windows[1].reserve",
        ),
        (with_("quota.windows", [{"seconds": 1, "limit": 1, "reserve": 1}]), "quota.windows[0].reserve"),
        (with_("quota.windows", [{"seconds": 1, "limit": 0}]), "quota.windows[0].limit"),
        (with_("quota.windows", []), "quota.windows"),
    ],
)
def test_invalid_value_names_its_exact_key(raw: dict[str, Any], key: str) -> None:
    error = error_for(raw)
    assert error.key == key
    assert str(error).startswith(f"{key}: ")


def test_unknown_document_type_lists_the_known_ones() -> None:
    error = error_for(with_("precoro.document_types", ["invoices", "bills"]))
    assert "'bills'" in str(error)
    assert "purchaseorders" in str(error)


def test_quota_override_is_applied() -> None:
    raw = with_("quota", {
        "windows": [{"seconds": 1, "limit": 1}, {"seconds": 3600, "limit": 900, "reserve": 50}],
        "duplicate_get_seconds": 30,
        "interactive_wait_seconds": 4,
    })
    config = parse_config(raw, {})
    policy = config.companies[0].quota
    assert policy.windows == (Window(1, 1, 0), Window(3600, 900, 50))
    assert policy.duplicate_get_seconds == 30
    assert policy.margin_seconds == QuotaPolicy().margin_seconds
    assert config.interactive_wait_seconds == 4


def test_companies_list_with_per_company_quota_override() -> None:
    raw = minimal()
    del raw["slack"]["admins"]
    raw["quota"] = {"windows": [{"seconds": 1, "limit": 1}, {"seconds": 3600, "limit": 1000, "reserve": 100}]}
    raw["precoro"] = {
        "companies": [
            {"id": "acme", "base_url": "https://api.precoro.com", "document_types": "invoices, expenses",
             "slack_teams": ["T0ACME"], "admins": ["U0ACME"]},
            {
                "id": "globex", "slack_teams": "T0GLOBEX, E0GRID", "workspace_admins": True,
                "base_url": "https://api.precoro.us",
                "quota": {"windows": [{"seconds": 1, "limit": 1}, {"seconds": 60, "limit": 10, "reserve": 2}],
                          "margin_seconds": 1},
            },
        ]
    }
    config = parse_config(raw, {})

    acme, globex = config.companies
    assert acme.id == "acme"
    assert acme.document_types == ("invoices", "expenses")
    assert acme.quota.windows == (Window(1, 1), Window(3600, 1000, 100))  # the top-level quota
    assert globex.id == "globex"
    assert globex.web_url == "https://app.precoro.us"
    assert globex.document_types == api.DEFAULT_DOCUMENT_TYPES
    assert globex.quota.windows == (Window(1, 1), Window(60, 10, 2))  # its own override
    assert globex.quota.margin_seconds == 1
    assert config.company("globex") is globex


def test_companies_errors_name_the_company_index() -> None:
    raw = with_("precoro", {"companies": [
        {"id": "acme"},
        {"id": "globex", "document_types": ["invoices", "nope"]},
    ]})
    assert error_for(raw).key == "precoro.companies[1].document_types[1]"

    raw = with_("precoro", {"companies": [{"id": "acme"}, {"id": "acme"}]})
    assert error_for(raw).key == "precoro.companies"

    raw = with_("precoro", {"companies": []})
    assert error_for(raw).key == "precoro.companies"

    raw = with_("precoro", {"companies": [{"id": "acme", "quota": {"windows": [
        {"seconds": 1, "limit": 1}, {"seconds": 60, "limit": 5, "reserve": 5}]}}]})
    assert error_for(raw).key == "precoro.companies[0].quota.windows[1].reserve"


def test_load_config_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "slack:\n"
        "  signing_secret: ${SIGNING}\n"
        "  bot_token: ${BOT_TOKEN}\n"
        "  admins: [U012ABCDEF, W0123456]\n"
        "precoro:\n"
        "  base_url: https://api.precoro.com\n"
        "encryption:\n"
        "  keys:\n"
        "    - id: k1\n"
        "      key: ${KEY}\n"
        "server:\n"
        "  port: 8080\n",
        encoding="utf-8",
    )
    config = load_config(path, {"SIGNING": SIGNING_SECRET, "BOT_TOKEN": BOT_TOKEN, "KEY": KEY})
    assert config.slack.signing_secret == SIGNING_SECRET
    assert config.slack.admins == ("U012ABCDEF", "W0123456")
    assert config.encryption_keys[0].key == KEY
    assert config.port == 8080


def test_malformed_yaml_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("slack:\n  admins: [U012ABCDEF\n  bot_token: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.key == "(file)"
    assert "line 3, column 12" in str(info.value)


def test_malformed_yaml_does_not_echo_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = f"slack:\n  bot_token: {BOT_TOKEN}\n  signing_secret: '{SIGNING_SECRET}\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert "line" in str(info.value)
    for secret in SECRETS:
        assert secret not in str(info.value)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing, {})
    assert info.value.key == "(file)"
    assert str(missing) in str(info.value)

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {})  # a directory
    assert info.value.key == "(file)"


def test_empty_file_reports_the_first_missing_key(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert info.value.key.startswith("slack.")


def test_top_level_must_be_a_mapping() -> None:
    assert error_for(["a", "list"]).key == "(top level)"


@pytest.mark.parametrize(
    "raw",
    [
        with_("slack.bot_token", "xoxp-" + SIGNING_SECRET),
        with_("slack.admins", ["nobody"]),
        with_("precoro.base_url", "nope"),
        with_("server.port", 99999),
        with_("encryption.keys", [{"id": "k1", "key": KEY}, {"id": "k1", "key": KEY}]),
        with_("quota.windows", [{"seconds": 1, "limit": 2, "reserve": 2}]),
        with_("logging.level", "LOUD"),
    ],
)
def test_error_messages_never_contain_secrets(raw: dict[str, Any]) -> None:
    error = error_for(raw)
    for secret in SECRETS:
        assert secret not in str(error)
        assert secret not in repr(error)


def test_non_xoxb_token_is_not_echoed() -> None:
    error = error_for(with_("slack.bot_token", "xoxp-9999-user-token-value"))
    assert "xoxp-9999-user-token-value" not in str(error)


def test_env_error_does_not_reveal_other_env_values() -> None:
    raw = with_("slack.signing_secret", "${SIGNING}")
    raw["slack"]["bot_token"] = "${MISSING_TOKEN}"
    error = error_for(raw, {"SIGNING": SIGNING_SECRET})
    assert error.key == "slack.bot_token"
    assert SIGNING_SECRET not in str(error)


def test_repr_of_config_hides_secrets() -> None:
    config = parse_config(minimal(), {})
    for text in (repr(config), str(config), repr(config.slack), repr(config.encryption_keys)):
        for secret in SECRETS:
            assert secret not in text
    assert "U012ABCDEF" in repr(config)  # the repr is still useful
    assert "k1" in repr(config.encryption_keys)


def test_oauth_mode_needs_no_bot_token_and_hides_its_secret() -> None:
    raw = with_("slack.oauth", {"client_id": "123.456", "client_secret": "oauth-secret-value"})
    del raw["slack"]["bot_token"]
    raw["precoro"]["slack_teams"] = ["T0ACME"]
    config = parse_config(raw, {})
    assert config.slack.bot_token is None and config.slack.oauth is not None
    assert config.slack.oauth.client_id == "123.456" and "commands" in config.slack.oauth.scopes
    assert "oauth-secret-value" not in repr(config)


def test_oauth_errors_name_their_key() -> None:
    missing = with_("slack.oauth", {"client_id": "123.456"})
    assert error_for(missing).key == "slack.oauth.client_secret"
    bad_url = with_("slack.oauth", {"client_id": "1", "client_secret": "s", "authorize_url": "slack.com/authorize"})
    assert error_for(bad_url).key == "slack.oauth.authorize_url"


def test_webhook_secret_must_be_long_and_url_safe_and_stays_hidden() -> None:
    secret = "s3cr3t-" * 5
    config = parse_config(with_("precoro.webhook_secret", secret), {})
    assert config.companies[0].webhook_secret == secret and secret not in repr(config)
    for bad in ("short", "has spaces in it and is long enough", "slash/in/it/and/long/enough/yes"):
        assert error_for(with_("precoro.webhook_secret", bad)).key == "precoro.webhook_secret"


# --- tenancy: each company belongs to its workspace(s) ---------------------------------------------

def two_companies(**extra: Any) -> dict[str, Any]:
    raw = minimal()
    del raw["slack"]["admins"]
    raw["precoro"] = {"companies": [{"id": "acme", "slack_teams": ["T0ACME"], "admins": ["U0ACME"]},
                                    {"id": "globex", "slack_teams": ["T0GLOBEX"], "admins": ["U0GLOBEX"]}]}
    raw["slack"].update(extra)
    return raw


def test_a_single_workspace_config_keeps_working() -> None:
    config = parse_config(minimal(), {})
    [company] = config.companies
    assert company.admins == ("U012ABCDEF",), "slack.admins are the one company's admins"
    assert company.slack_teams == () and config.slack.operators == ()


def test_each_company_names_its_workspaces_and_admins() -> None:
    config = parse_config(two_companies(operators=["U0HOST"]), {})
    acme, globex = config.companies
    assert (acme.slack_teams, acme.admins) == (("T0ACME",), ("U0ACME",))
    assert (globex.slack_teams, globex.admins) == (("T0GLOBEX",), ("U0GLOBEX",))
    assert config.slack.operators == ("U0HOST",)
    assert not acme.workspace_admins and acme.webhook_hints_per_minute == 120


@pytest.mark.parametrize(("raw", "key"), [
    (two_companies(admins=["U0ADMIN"]), "slack.admins"),
    ({**two_companies(), "precoro": {"companies": [{"id": "acme", "slack_teams": ["T0ACME"]}, {"id": "globex"}]}},
     "precoro.companies[1].slack_teams"),
    ({**two_companies(), "precoro": {"companies": [{"id": "acme", "slack_teams": ["acme-team"]}]}},
     "precoro.companies[0].slack_teams[0]"),
    ({**two_companies(), "precoro": {"companies": [{"id": "acme", "slack_teams": ["T0A"], "admins": ["x"]}]}},
     "precoro.companies[0].admins[0]"),
    (with_("slack.operators", ["nobody"]), "slack.operators[0]"),
    (with_("slack.oauth", {"client_id": "1.2", "client_secret": "s"}), "precoro.slack_teams"),
    (with_("server.metrics_port", 3000), "server.metrics_port"),
    (with_("server.metrics_token", "short"), "server.metrics_token"),
])
def test_tenancy_errors_name_the_key(raw: dict[str, Any], key: str) -> None:
    error = error_for(raw)
    assert error.key == key, str(error)


def test_oauth_mode_needs_slack_teams_even_for_one_company() -> None:
    raw = with_("slack.oauth", {"client_id": "1.2", "client_secret": "s"})
    raw["precoro"]["slack_teams"] = ["T0ACME"]
    config = parse_config(raw, {})
    assert config.companies[0].slack_teams == ("T0ACME",)
    assert config.companies[0].admins == ("U012ABCDEF",)


def test_metrics_port_and_token() -> None:
    raw = with_("server", {"metrics_port": 9100, "metrics_token": "m" * 32})
    config = parse_config(raw, {})
    assert (config.metrics_port, config.metrics_token) == (9100, "m" * 32)
    assert "m" * 32 not in repr(config)
