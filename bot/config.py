"""Load and validate the YAML config; `${ENV}` references keep secrets out of the file.

Every error names the exact key that is wrong (`precoro.companies[0].base_url: ...`), and no
error message ever repeats a secret's value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any

import yaml

from bot.precoro import api
from bot.quota.ledger import QuotaPolicy, Window

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_COMPANY_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_SLACK_TEAM = re.compile(r"^[TE][A-Z0-9]{2,}$")


class ConfigError(ValueError):
    """A config problem, always naming the key at fault."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


DEFAULT_SCOPES = ("chat:write", "commands", "users:read", "users:read.email", "im:write")


@dataclass(frozen=True)
class OAuthConfig:
    """Several workspaces: Slack's install flow (`/slack/install`) instead of one bot token."""

    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    authorize_url: str = "https://slack.com/oauth/v2/authorize"


@dataclass(frozen=True)
class SlackConfig:
    signing_secret: str = field(repr=False)
    bot_token: str | None = field(repr=False)  # None with `oauth`: each workspace's token is stored
    admins: tuple[str, ...]
    api_url: str = DEFAULT_SLACK_API_URL
    oauth: OAuthConfig | None = None
    # Host operators: see and steer every company from any bound workspace. Never the default;
    # a customer's admins are listed under their company.
    operators: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompanyConfig:
    id: str
    base_url: str
    web_url: str
    document_types: tuple[str, ...]
    quota: QuotaPolicy
    discovery_user: str = ""  # Slack user id of the default discovery approver ("" for none)
    # Precoro webhooks POST to /precoro/webhooks/<id>/<secret> ("" for none): the secret path is
    # their only authentication, Precoro does not sign them.
    webhook_secret: str = field(default="", repr=False)
    # The Slack workspaces (team ids, or an Enterprise Grid org id E...) allowed to use this
    # company; () only in single-workspace mode (one bot token, one company): that token's workspace.
    slack_teams: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()  # Slack user ids (of those workspaces) who administer this company
    # Also let the workspace's own Slack admins and owners (users.info is_admin/is_owner) administer it.
    workspace_admins: bool = False
    webhook_hints_per_minute: int = 120  # Precoro webhooks taken per minute; more are refused (429)


@dataclass(frozen=True)
class EncryptionKey:
    id: str
    key: str = field(repr=False)


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class ReminderConfig:
    """When approvers are reminded of waiting documents, in each approver's own time zone."""

    enabled: bool = True
    after_working_hours: float = 4.0  # first reminder once a document waited this long (working time)
    repeat_working_hours: float = 8.0  # then again after this much more; 0: only once
    workday_start: time = time(9, 0)
    workday_end: time = time(18, 0)
    working_days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday is 0
    snooze_hours: tuple[float, ...] = (2.0,)  # the "Remind me in N h" buttons
    digest: bool = False  # a morning digest of everything pending
    digest_at: time = time(9, 0)
    check_seconds: float = 60.0  # how often reminders and digests are looked for


@dataclass(frozen=True)
class Config:
    slack: SlackConfig
    companies: tuple[CompanyConfig, ...]
    encryption_keys: tuple[EncryptionKey, ...]
    storage_url: str = field(default="sqlite:///precoro-bot.db", repr=False)  # may hold a password
    storage_timeout_seconds: float = 8.0  # the longest any database wait may take (then: "try again")
    host: str = "0.0.0.0"
    port: int = 3000
    # /metrics and the detail of /readyz: on this internal port (0: none) and/or with this bearer
    # token on the public port; with neither they are not served at all.
    metrics_port: int = 0
    metrics_token: str = field(default="", repr=False)
    tick_seconds: float = 5.0
    min_poll_interval_seconds: float = 60.0
    lease_seconds: float = 30.0  # how long a replica's claim to poll a company lasts unrenewed
    request_timeout_seconds: float = 20.0
    interactive_wait_seconds: float = 10.0
    log_level: str = "INFO"
    log_json: bool = False
    reminders: ReminderConfig = field(default_factory=ReminderConfig)

    def company(self, company_id: str) -> CompanyConfig:
        for company in self.companies:
            if company.id == company_id:
                return company
        raise KeyError(company_id)


# --- reading helpers ---------------------------------------------------------------------------


def _substitute(value: Any, key: str, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, f"{key}.{k}" if key else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(key, f"environment variable {name} is not set")

    return _ENV_REF.sub(replace, value)


class _Section:
    """Typed access to one mapping of the config, with the key path for errors."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path or "(top level)", "must be a mapping")
        self.data: dict[str, Any] = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def section(self, name: str) -> _Section:
        return _Section(self.data.get(name), self.key(name))

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name, default)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigError(self.key(name), "is required")
        if not isinstance(value, str | int | float):
            raise ConfigError(self.key(name), "must be a string")
        return str(value).strip()

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.key(name), f"must be a number, got {type(value).__name__}")
        if value < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}")
        return float(value)

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.data.get(name, list(default))
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(self.key(name), "must be a list of strings")
        return tuple(v.strip() for v in value)


def _url(section: _Section, name: str, default: str | None = None) -> str:
    value = section.text(name, default)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ConfigError(section.key(name), "must be an http(s) URL")
    return value.rstrip("/")


def _quota(section: _Section, base: QuotaPolicy) -> QuotaPolicy:
    windows = base.windows
    if "windows" in section.data:
        raw = section.data["windows"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(section.key("windows"), "must be a non-empty list")
        parsed = []
        for i, item in enumerate(raw):
            window = _Section(item, f"{section.key('windows')}[{i}]")
            limit = int(window.number("limit", 0, minimum=1))
            reserve = int(window.number("reserve", 0))
            if reserve >= limit:
                raise ConfigError(window.key("reserve"), f"must be below the limit ({limit})")
            parsed.append(Window(window.number("seconds", 0, minimum=0.001), limit, reserve))
        windows = tuple(parsed)
    return QuotaPolicy(
        windows=windows,
        duplicate_get_seconds=section.number("duplicate_get_seconds", base.duplicate_get_seconds),
        margin_seconds=section.number("margin_seconds", base.margin_seconds),
    )


def _company(section: _Section, quota: QuotaPolicy) -> CompanyConfig:
    company_id = section.text("id", "default")
    if not _COMPANY_ID.match(company_id):
        raise ConfigError(section.key("id"), "must be lower-case letters, digits, - or _ (at most 40)")
    types = section.strings("document_types", api.DEFAULT_DOCUMENT_TYPES)
    for i, doc_type in enumerate(types):
        if doc_type not in api.DOCUMENT_TYPES:
            known = ", ".join(api.DOCUMENT_TYPES)
            raise ConfigError(f"{section.key('document_types')}[{i}]", f"unknown type {doc_type!r}; known: {known}")
    if not types:
        raise ConfigError(section.key("document_types"), "must name at least one document type")
    discovery_user = section.data.get("discovery_user") or ""
    if not isinstance(discovery_user, str) or (discovery_user and not re.match(r"^[UW][A-Z0-9]{2,}$", discovery_user)):
        raise ConfigError(section.key("discovery_user"), "must be a Slack user id (like U012ABCDEF)")
    base_url = _url(section, "base_url", "https://api.precoro.com")
    webhook_secret = section.data.get("webhook_secret") or ""
    if not isinstance(webhook_secret, str) or (webhook_secret and not re.match(r"^[A-Za-z0-9_=-]{24,}$",
                                                                                 webhook_secret)):
        raise ConfigError(section.key("webhook_secret"), "must be at least 24 letters, digits, - or _ "
                          "(precoro-bot gen-key makes one)")
    default_web = "https://app.precoro.us" if base_url.endswith(".us") else "https://app.precoro.com"
    teams = section.strings("slack_teams")
    for i, team in enumerate(teams):
        if not _SLACK_TEAM.match(team):
            raise ConfigError(f"{section.key('slack_teams')}[{i}]",
                              f"{team!r} is not a Slack team id (T...) or Enterprise Grid org id (E...)")
    return CompanyConfig(
        id=company_id,
        base_url=base_url,
        web_url=_url(section, "web_url", default_web),
        document_types=types,
        quota=_quota(section.section("quota"), quota),
        discovery_user=discovery_user,
        webhook_secret=webhook_secret,
        slack_teams=teams,
        admins=_user_ids(section, "admins"),
        workspace_admins=_flag(section, "workspace_admins", False),
        webhook_hints_per_minute=int(section.number("webhook_hints_per_minute", 120, minimum=1)),
    )


def _user_ids(section: _Section, name: str) -> tuple[str, ...]:
    users = section.strings(name)
    for i, user in enumerate(users):
        if not _SLACK_USER.match(user):
            raise ConfigError(f"{section.key(name)}[{i}]", f"{user!r} is not a Slack user id (like U012ABCDEF)")
    return users


def _bind_workspaces(companies: tuple[CompanyConfig, ...], admins: tuple[str, ...], oauth: bool,
                     single: bool) -> tuple[CompanyConfig, ...]:
    """Each company belongs to its workspace(s). An old single-workspace config (one company, one
    bot token) keeps working: `slack.admins` are that company's admins and no `slack_teams` means
    the bot token's own workspace. With OAuth or several companies every company names its
    workspaces, and `slack.admins` would be ambiguous (use each company's `admins`)."""
    if admins and len(companies) > 1:
        raise ConfigError("slack.admins", "with several companies, list each company's admins under it "
                          "(precoro.companies[i].admins); host operators go in slack.operators")
    bound = []
    for i, company in enumerate(companies):
        key = f"precoro.companies[{i}]" if not single else "precoro"
        if not company.slack_teams and (oauth or len(companies) > 1):
            why = "in OAuth mode" if oauth else "with several companies"
            raise ConfigError(f"{key}.slack_teams", f"is required {why}: the Slack team id(s) (T...) allowed "
                              "to use this company")
        if admins:
            company = replace(company, admins=tuple(dict.fromkeys((*admins, *company.admins))))
        bound.append(company)
    return tuple(bound)


def _flag(section: _Section, name: str, default: bool) -> bool:
    value = section.data.get(name, default)
    if not isinstance(value, bool):
        raise ConfigError(section.key(name), "must be true or false")
    return value


def _clock_time(section: _Section, name: str, default: time) -> time:
    value = section.data.get(name, default)
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML 1.1 reads an unquoted 18:00 as 1080 (base 60)
    match = re.match(r"^([01]?\d|2[0-3]):([0-5]\d)$", value.strip()) if isinstance(value, str) else None
    if not match:
        raise ConfigError(section.key(name), "must be a time of day like \"09:00\" (24-hour, quoted)")
    return time(int(match.group(1)), int(match.group(2)))


def _reminders(section: _Section) -> ReminderConfig:
    base = ReminderConfig()
    workday = section.section("workday")
    start = _clock_time(workday, "start", base.workday_start)
    end = _clock_time(workday, "end", base.workday_end)
    if end <= start:
        raise ConfigError(workday.key("end"), f"must be later than workday.start ({start:%H:%M})")
    days = []
    for i, day in enumerate(section.strings("working_days", WEEKDAYS[:5])):
        if day.lower()[:3] not in WEEKDAYS:
            raise ConfigError(f"{section.key('working_days')}[{i}]",
                              f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
        days.append(WEEKDAYS.index(day.lower()[:3]))
    if not days:
        raise ConfigError(section.key("working_days"), "must name at least one day")
    raw_snooze = section.data.get("snooze_hours", list(base.snooze_hours))
    if not isinstance(raw_snooze, list) or not 1 <= len(raw_snooze) <= 3:
        raise ConfigError(section.key("snooze_hours"), "must be a list of 1 to 3 numbers of hours, like [2, 24]")
    snooze = []
    for i, hours in enumerate(raw_snooze):
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 14:
            raise ConfigError(f"{section.key('snooze_hours')}[{i}]", "must be a number of hours above 0 (at most 336)")
        snooze.append(float(hours))
    digest = section.section("digest")
    return ReminderConfig(
        enabled=_flag(section, "enabled", base.enabled),
        after_working_hours=section.number("after_working_hours", base.after_working_hours, minimum=0.25),
        repeat_working_hours=section.number("repeat_working_hours", base.repeat_working_hours),
        workday_start=start,
        workday_end=end,
        working_days=tuple(sorted(set(days))),
        snooze_hours=tuple(snooze),
        digest=_flag(digest, "enabled", base.digest),
        digest_at=_clock_time(digest, "at", base.digest_at),
        check_seconds=section.number("check_seconds", base.check_seconds, minimum=1.0),
    )


_STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def _storage_url(storage: _Section) -> str:
    """SQLite (one process) or PostgreSQL (replicas) only: the store's SQL, locks and migrations
    are written for those two, and no other driver is installed (a mysql:// URL would otherwise
    fail at start-up with a missing-module traceback)."""
    url = storage.text("url", "sqlite:///precoro-bot.db")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _STORAGE_SCHEMES:
        shown = f"a {scheme}:// URL" if scheme else "not a database URL"
        raise ConfigError(storage.key("url"), f"{shown}; use sqlite:///path/to/file.db (one process) or "
                          "postgresql://user@host:5432/db (several replicas)")
    if scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise ConfigError(storage.key("url"), "a SQLite URL names a file: sqlite:///relative.db or "
                          "sqlite:////absolute/path.db")
    return url


def parse_config(raw: Any, env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-loaded YAML document; raises ConfigError naming the key."""
    top = _Section(_substitute(raw, "", os.environ if env is None else env), "")

    slack = top.section("slack")
    admins = _user_ids(slack, "admins")
    oauth = None
    if slack.data.get("oauth") is not None:
        section = slack.section("oauth")
        oauth = OAuthConfig(client_id=section.text("client_id"), client_secret=section.text("client_secret"),
                            scopes=section.strings("scopes", DEFAULT_SCOPES),
                            authorize_url=_url(section, "authorize_url", OAuthConfig.authorize_url))
    bot_token = None
    if oauth is None or slack.data.get("bot_token"):
        bot_token = slack.text("bot_token")
        if not bot_token.startswith("xoxb-"):
            raise ConfigError("slack.bot_token", "must be a bot token (starts with xoxb-)")
    slack_config = SlackConfig(
        signing_secret=slack.text("signing_secret"),
        bot_token=bot_token,
        admins=admins,
        api_url=_url(slack, "api_url", DEFAULT_SLACK_API_URL) + "/",
        oauth=oauth,
        operators=_user_ids(slack, "operators"),
    )

    quota = _quota(top.section("quota"), QuotaPolicy())
    precoro = top.section("precoro")
    if "companies" in precoro.data:
        raw_companies = precoro.data["companies"]
        if not isinstance(raw_companies, list) or not raw_companies:
            raise ConfigError("precoro.companies", "must be a non-empty list")
        companies = tuple(
            _company(_Section(c, f"precoro.companies[{i}]"), quota) for i, c in enumerate(raw_companies)
        )
    else:
        companies = (_company(precoro, quota),)
    ids = [c.id for c in companies]
    if len(set(ids)) != len(ids):
        raise ConfigError("precoro.companies", "company ids must be unique")
    companies = _bind_workspaces(companies, admins, oauth is not None, "companies" not in precoro.data)

    encryption = top.section("encryption")
    raw_keys = encryption.data.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ConfigError("encryption.keys", "must list at least one key (make one with `precoro-bot gen-key`)")
    keys = []
    for i, item in enumerate(raw_keys):
        entry = _Section(item, f"encryption.keys[{i}]")
        keys.append(EncryptionKey(id=entry.text("id"), key=entry.text("key")))
    for i, key in enumerate(keys):
        if key.id in {k.id for k in keys[:i]}:
            raise ConfigError(f"encryption.keys[{i}].id", f"duplicate key id {key.id!r}")

    storage = top.section("storage")
    server = top.section("server")
    scheduler = top.section("scheduler")
    port = server.number("port", 3000, minimum=0)
    tick = scheduler.number("tick_seconds", 5.0, minimum=0.05)
    if port != int(port) or port > 65535:
        raise ConfigError("server.port", "must be a whole number from 0 to 65535")
    metrics_port = server.number("metrics_port", 0, minimum=0)
    if metrics_port != int(metrics_port) or metrics_port > 65535 or (metrics_port and metrics_port == port):
        raise ConfigError("server.metrics_port", "must be a whole number from 1 to 65535, not server.port")
    metrics_token = str(server.data.get("metrics_token") or "")
    if metrics_token and len(metrics_token) < 24:
        raise ConfigError("server.metrics_token", "must be at least 24 characters (precoro-bot gen-key makes one)")
    log_level = top.section("logging").text("level", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("logging.level", "must be DEBUG, INFO, WARNING or ERROR")
    return Config(
        slack=slack_config,
        companies=companies,
        encryption_keys=tuple(keys),
        storage_url=_storage_url(storage),
        storage_timeout_seconds=storage.number("timeout_seconds", 8.0, minimum=0.5),
        host=server.text("host", "0.0.0.0"),
        port=int(port),
        metrics_port=int(metrics_port),
        metrics_token=metrics_token,
        tick_seconds=tick,
        min_poll_interval_seconds=scheduler.number("min_poll_interval_seconds", 60.0, minimum=0.1),
        # renewed every tick: a lease of several ticks survives a slow one, and a lost replica's
        # companies are taken over after at most this long
        lease_seconds=scheduler.number("lease_seconds", max(30.0, 6 * tick), minimum=2 * tick),
        request_timeout_seconds=precoro.number("request_timeout_seconds", 20.0, minimum=0.1),
        interactive_wait_seconds=top.section("quota").number("interactive_wait_seconds", 10.0),
        log_level=log_level,
        log_json=top.section("logging").text("format", "text").lower() == "json",
        reminders=_reminders(top.section("reminders")),
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError("(file)", f"is not valid YAML at {where}") from None
    return parse_config(raw, env)
