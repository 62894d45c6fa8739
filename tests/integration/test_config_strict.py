"""A strict config (issue 16, "a self-hosting admin's first hour"): every unknown key is an error
with a did-you-mean, every problem is reported at once (one line each, naming its key), the config
may come from the environment alone, Precoro and Slack are reached over https, and every company
has somebody who can administer it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, config_path, load_config, parse_config
from bot.vault import generate_key
from precoro_devkit.emulator.stack import stack_raw_config
from tests.support.config import BOT_TOKEN, KEY, SIGNING_SECRET, minimal, with_
from tests.support.paths import ROOT


def errors_for(raw: Any, env: dict[str, str] | None = None) -> dict[str, str]:
    """Every problem reported, as {key: problem}."""
    with pytest.raises(ConfigError) as info:
        parse_config(raw, env or {})
    lines = str(info.value).splitlines()
    found = dict(line.split(": ", 1) for line in lines)
    assert len(found) == len(lines), lines
    assert info.value.key == lines[0].split(": ", 1)[0]
    return found


# --- unknown keys ---------------------------------------------------------------------------------


def test_an_unknown_top_level_key_is_an_error_with_a_did_you_mean() -> None:
    raw = minimal()
    raw["loging"] = {"level": "DEBUG"}
    found = errors_for(raw)
    assert list(found) == ["loging"]
    assert "unknown key" in found["loging"] and "did you mean logging?" in found["loging"]


def test_an_unknown_nested_key_is_an_error_with_a_did_you_mean() -> None:
    found = errors_for(with_("scheduler.tick_second", 1))
    assert list(found) == ["scheduler.tick_second"]
    assert "did you mean tick_seconds?" in found["scheduler.tick_second"]

    raw = with_("precoro", {"companies": [{"id": "acme", "slack_teams": ["T0ACME"], "admins": ["U0ACME"],
                                           "base_ulr": "https://api.precoro.com"}]})
    del raw["slack"]["admins"]
    found = errors_for(raw)
    assert "did you mean base_url?" in found["precoro.companies[0].base_ulr"]


def test_a_key_in_the_wrong_section_says_where_it_belongs() -> None:
    found = errors_for(with_("server.tick_seconds", 1))
    assert "did you mean scheduler.tick_seconds?" in found["server.tick_seconds"]
    found = errors_for(with_("slack.zzz", 1))
    assert "known here:" in found["slack.zzz"] and "signing_secret" in found["slack.zzz"]


def test_company_keys_beside_a_companies_list_are_errors() -> None:
    raw = with_("precoro", {"base_url": "https://api.precoro.us", "companies": [
        {"id": "acme", "slack_teams": ["T0ACME"], "admins": ["U0ACME"]}]})
    del raw["slack"]["admins"]
    found = errors_for(raw)
    assert list(found) == ["precoro.base_url"]
    assert "under each of precoro.companies" in found["precoro.base_url"]


def test_an_unknown_key_that_is_a_pasted_secret_is_not_repeated() -> None:
    raw = minimal()
    raw["slack"][BOT_TOKEN] = None  # a token pasted one line too far left
    found = errors_for(raw)
    assert list(found) == ["slack.(a key that is not a name)"] and BOT_TOKEN not in str(found)


# --- every problem at once ------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_one_line_each() -> None:
    raw = with_("logging.format", "jsn")
    raw["loging"] = {}
    raw["slack"]["admins"] = ["bob"]
    raw["scheduler"] = {"tick_seconds": "fast", "tick_second": 1}
    raw["precoro"]["base_url"] = "api.precoro.com"
    raw["server"] = {"port": 70000}
    found = errors_for(raw)
    assert set(found) == {"loging", "scheduler.tick_second", "slack.admins[0]", "scheduler.tick_seconds",
                          "precoro.base_url", "server.port", "logging.format"}


def test_a_section_that_is_not_a_mapping_is_one_error_not_a_cascade() -> None:
    found = errors_for(with_("slack", "not a mapping"))
    assert list(found) == ["slack"]


def test_unset_environment_references_are_each_one_error_not_a_cascade() -> None:
    raw = with_("slack.signing_secret", "${SLACK_SIGNING_SECRET}")
    raw["encryption"]["keys"][0]["key"] = "${PRECORO_BOT_KEY}"
    found = errors_for(raw)
    assert list(found) == ["slack.signing_secret", "encryption.keys[0].key"]
    assert "SLACK_SIGNING_SECRET" in found["slack.signing_secret"]


def test_check_config_prints_every_problem_and_exits_2(tmp_path: Path) -> None:
    raw = stack_raw_config(precoro_url="http://127.0.0.1:9", slack_url="http://127.0.0.1:9",
                           database_url=f"sqlite:///{tmp_path / 'bot.db'}", signing_secret="s" * 32,
                           key=generate_key(), **{"logging.format": "jsn", "scheduler.tick_second": 1})
    raw["loging"] = {"level": "INFO"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    done = subprocess.run([sys.executable, "-m", "bot", "check-config", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert "Traceback" not in done.stderr and len(lines) == 3, lines
    for key in ("loging", "scheduler.tick_second", "logging.format"):
        assert any(line.startswith(f"config error in {path}: {key}: ") for line in lines), key


# --- logging.format -------------------------------------------------------------------------------


def test_logging_format_must_be_text_or_json() -> None:
    found = errors_for(with_("logging.format", "jsn"))
    assert list(found) == ["logging.format"] and "text or json" in found["logging.format"]
    assert parse_config(with_("logging.format", "json"), {}).log_json is True
    assert parse_config(with_("logging.format", "text"), {}).log_json is False


# --- https ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["precoro.base_url", "precoro.web_url", "slack.api_url"])
def test_plain_http_is_refused_for_precoro_and_slack(key: str) -> None:
    found = errors_for(with_(key, "http://api.example.com/"))
    assert list(found) == [key]
    assert "https" in found[key] and "dangerously_allow_http" in found[key]


@pytest.mark.parametrize("url", ["http://127.0.0.1:8081", "http://127.9.9.9", "http://[::1]:8081/",
                                 "http://localhost:8081"])
def test_plain_http_is_allowed_for_a_loopback_host(url: str) -> None:
    raw = with_("slack.api_url", f"{url}/api/", with_("precoro.base_url", url, with_("precoro.web_url", url)))
    config = parse_config(raw, {})
    assert config.companies[0].base_url == url.rstrip("/")


def test_plain_http_elsewhere_needs_the_loud_opt_out() -> None:
    raw = with_("precoro.base_url", "http://precoro.internal")
    raw["dangerously_allow_http"] = True
    assert parse_config(raw, {}).companies[0].base_url == "http://precoro.internal"
    raw["dangerously_allow_http"] = "yes"
    assert list(errors_for(raw)) == ["dangerously_allow_http"]


# --- who administers a company --------------------------------------------------------------------


def test_a_company_nobody_can_administer_is_an_error() -> None:
    raw = minimal()
    del raw["slack"]["admins"]
    found = errors_for(raw)
    assert list(found) == ["precoro.admins"]
    assert "workspace_admins" in found["precoro.admins"]

    raw = with_("precoro", {"companies": [{"id": "acme", "slack_teams": ["T0ACME"], "admins": ["U0ACME"]},
                                          {"id": "globex", "slack_teams": ["T0GLOBEX"]}]})
    del raw["slack"]["admins"]
    assert list(errors_for(raw)) == ["precoro.companies[1].admins"]

    raw["precoro"]["companies"][1]["workspace_admins"] = True
    assert parse_config(raw, {}).companies[1].workspace_admins


def test_connect_policy_is_one_of_three_and_approval_needs_listed_admins() -> None:
    assert parse_config(minimal(), {}).companies[0].connect_policy == "admin"  # today's behaviour by default
    for policy in ("admin", "self", "self-with-approval"):
        assert parse_config(with_("precoro.connect_policy", policy), {}).companies[0].connect_policy == policy
    found = errors_for(with_("precoro.connect_policy", "anyone"))
    assert list(found) == ["precoro.connect_policy"] and "self-with-approval" in found["precoro.connect_policy"]

    raw = with_("precoro", {"companies": [
        {"id": "acme", "slack_teams": ["T0ACME"], "workspace_admins": True, "connect_policy": "self-with-approval"},
        {"id": "globex", "slack_teams": ["T0GLOBEX"], "workspace_admins": True, "connect_policy": "self"}]})
    del raw["slack"]["admins"]
    assert list(errors_for(raw)) == ["precoro.companies[0].connect_policy"]  # nobody would see the requests


# --- where the config comes from ------------------------------------------------------------------

ENV_ONLY = {
    "PRECORO_BOT__SLACK__SIGNING_SECRET": SIGNING_SECRET,
    "PRECORO_BOT__SLACK__BOT_TOKEN": BOT_TOKEN,
    "PRECORO_BOT__SLACK__ADMINS": "U012ABCDEF, U0SECOND",
    "PRECORO_BOT__PRECORO__ID": "acme",
    "PRECORO_BOT__ENCRYPTION__KEYS__0__ID": "k1",
    "PRECORO_BOT__ENCRYPTION__KEYS__0__KEY": KEY,
    "PRECORO_BOT__SERVER__PORT": "8080",
    "PRECORO_BOT__REMINDERS__SNOOZE_HOURS": "[2, 24]",
    "PRECORO_BOT__LOGGING__FORMAT": "json",
}


def test_an_env_only_run_needs_no_file() -> None:
    config = load_config(None, ENV_ONLY)
    assert config.slack.signing_secret == SIGNING_SECRET and config.slack.bot_token == BOT_TOKEN
    assert config.slack.admins == ("U012ABCDEF", "U0SECOND")
    assert [(k.id, k.key) for k in config.encryption_keys] == [("k1", KEY)]
    assert config.companies[0].id == "acme" and config.companies[0].base_url == "https://api.precoro.com"
    assert (config.port, config.log_json, config.reminders.snooze_hours) == (8080, True, (2.0, 24.0))


def test_a_secret_from_the_environment_stays_text() -> None:
    config = load_config(None, {**ENV_ONLY, "PRECORO_BOT__SLACK__SIGNING_SECRET": "0123"})
    assert config.slack.signing_secret == "0123"


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(with_("server.port", 3000)))
    assert load_config(path, {"PRECORO_BOT__SERVER__PORT": "9000"}).port == 9000


def test_an_unknown_environment_variable_is_named_with_a_did_you_mean() -> None:
    found = errors_for(None, {**ENV_ONLY, "PRECORO_BOT__LOGING__LEVEL": "INFO",
                              "PRECORO_BOT__SCHEDULER__TICK_SECOND": "1"})
    assert "did you mean PRECORO_BOT__LOGGING?" in found["PRECORO_BOT__LOGING__LEVEL"]
    assert "did you mean PRECORO_BOT__SCHEDULER__TICK_SECONDS?" in found["PRECORO_BOT__SCHEDULER__TICK_SECOND"]


def test_a_missing_key_in_an_env_only_run_names_its_variable() -> None:
    env = {k: v for k, v in ENV_ONLY.items() if k != "PRECORO_BOT__SLACK__SIGNING_SECRET"}
    with pytest.raises(ConfigError) as info:
        load_config(None, env)
    assert info.value.key == "slack.signing_secret"
    assert "(set PRECORO_BOT__SLACK__SIGNING_SECRET)" in str(info.value)


def test_precoro_bot_config_names_the_file_when_no_config_is_given(tmp_path: Path) -> None:
    assert config_path("given.yaml", {"PRECORO_BOT_CONFIG": "env.yaml"}) == "given.yaml"
    assert config_path(None, {"PRECORO_BOT_CONFIG": "env.yaml"}) == "env.yaml"
    assert config_path(None, {"PRECORO_BOT__SLACK__BOT_TOKEN": "xoxb-1"}, cwd=tmp_path) is None  # env only
    assert config_path(None, {}, cwd=tmp_path) == "config.yaml"
    (tmp_path / "config.yaml").write_text("{}")
    assert config_path(None, {"PRECORO_BOT__SLACK__BOT_TOKEN": "xoxb-1"}, cwd=tmp_path) == "config.yaml"


def test_check_config_reads_precoro_bot_config_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "named.yaml"
    path.write_text(yaml.safe_dump(with_("logging.format", "jsn")))
    run = [sys.executable, "-m", "bot", "check-config"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PRECORO_BOT_CONFIG": str(path)}
    done = subprocess.run(run, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 2 and f"config error in {path}: logging.format: " in done.stderr, done.stderr

    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **ENV_ONLY,
           "PRECORO_BOT__STORAGE__URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    done = subprocess.run(run, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "the environment" in done.stdout and "acme" in done.stdout


def test_the_example_config_loads_under_the_strict_rules() -> None:
    config = load_config(ROOT / "config.example.yaml", {"SLACK_SIGNING_SECRET": SIGNING_SECRET,
                                                         "SLACK_BOT_TOKEN": BOT_TOKEN, "PRECORO_BOT_KEY": KEY})
    assert config.companies[0].id == "acme" and config.companies[0].admins == ("U012ABCDEF",)
    assert config.slack.api_url.startswith("https://") and not config.dangerously_allow_http


def test_a_key_given_twice_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    text = Path("config.example.yaml").read_text(encoding="utf-8").replace(
        "server:\n", "server:\n  port: 3917\n", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={"SLACK_SIGNING_SECRET": "s" * 32, "SLACK_BOT_TOKEN": "xoxb-1", "PRECORO_BOT_KEY": "k"})
    assert "'port' is given twice" in str(raised.value)
    assert f"line {text.splitlines().index('  port: 3000') + 1}" in str(raised.value)
