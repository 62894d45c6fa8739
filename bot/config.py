"""Load and validate the YAML config; `${ENV}` references keep secrets out of the file.

Every error names the exact key that is wrong (`precoro.companies[0].base_url: ...`), and no
error message ever repeats a secret's value. The config is strict: a key it does not know is an
error with a did-you-mean (`bot/config_schema.py` lists the keys), and every problem is reported at
once, one line each, so an admin fixes the file in one pass rather than one error per run.

The config may also come from `PRECORO_BOT__*` environment variables (on top of the file, or
alone: `load_config(None)`); see `bot/config_schema.py` for the naming.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from bot import config_schema
from bot.config_schema import CONFIG_FILE_VARIABLE, ENV_PREFIX, env_name
from bot.precoro import api
from bot.quota.ledger import QuotaPolicy, Window
from bot.quota.share import DEFAULT_SHARE

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

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        return (self,)


class ConfigErrors(ConfigError):
    """Several config problems at once: `str()` is one line each; `key` is the first one's."""

    def __init__(self, errors: list[ConfigError]) -> None:
        ValueError.__init__(self, "\n".join(str(e) for e in errors))
        self.key = errors[0].key
        self._errors = tuple(errors)

    @property
    def errors(self) -> tuple[ConfigError, ...]:
        return self._errors


_T = TypeVar("_T")


class _Problems:
    """Collects every problem instead of stopping at the first. `get` reads one value and, if it
    is wrong, notes why and goes on with a fallback; the config is only built when none was noted.
    A section that is not a mapping is one problem, not one more for each key inside it."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self.broken: list[str] = []

    def add(self, error: ConfigError) -> None:
        for one in error.errors:
            if any(one.key == b or one.key.startswith((f"{b}.", f"{b}[")) for b in self.broken):
                continue
            if str(one) not in {str(e) for e in self.errors}:
                self.errors.append(one)

    def get(self, read: Callable[[], _T], fallback: _T) -> _T:
        try:
            return read()
        except ConfigError as error:
            self.add(error)
            return fallback

    def section(self, parent: _Section, name: str) -> _Section:
        try:
            return parent.section(name)
        except ConfigError as error:
            self.add(error)
            self.broken.append(error.key)
            return _Section({}, error.key)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


# The bot scopes of slack-app-manifest.yaml: chat:write (post and update DMs; a DM to a user id
# needs no im:write), commands (/precoro), users:read (users.info: time zone, admin flags) and
# users:read.email (the profile email that registration checks). tests/test_slack_conventions.py
# checks them against the Slack methods the code calls.
DEFAULT_SCOPES = ("chat:write", "commands", "users:read", "users:read.email")


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
    # Socket Mode: Slack's requests arrive over a websocket the bot opens with this app-level token
    # (xapp-...), so no public URL is needed; /slack/events is then not served.
    socket_mode: bool = False
    app_token: str | None = field(default=None, repr=False)


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
    # Who may connect an approver's Precoro key: "admin" (only `/precoro register`), "self" (each
    # approver with `/precoro connect`) or "self-with-approval" (self, active once an admin approves).
    connect_policy: str = "admin"
    # Amount rules: (currency, limit) pairs; approving a document above its currency's limit asks
    # the approver to type the amount or the document number (`bot/amounts.py`). A currency with
    # no pair is unaffected.
    confirm_above: tuple[tuple[str, Decimal], ...] = ()
    # Requesters (a document's creator, matched by email) hear by DM that it was approved, rejected
    # or sent back; each can mute it. Off unless the company opts in.
    notify_requesters: bool = False
    # A channel id for finance: one line per final decision and per document waiting longer than
    # `finance_waiting_hours` working hours (0: no waiting lines), at or above `finance_min_amount`,
    # threaded per document. Working hours are `reminders`' workday in `finance_timezone`.
    finance_channel: str = ""
    finance_waiting_hours: float = 0.0
    finance_min_amount: float = 0.0
    finance_timezone: str = "UTC"


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
    # Plain http:// to Precoro or Slack at a host that is not this machine: tokens in clear.
    dangerously_allow_http: bool = False

    def company(self, company_id: str) -> CompanyConfig:
        for company in self.companies:
            if company.id == company_id:
                return company
        raise KeyError(company_id)


# --- reading helpers ---------------------------------------------------------------------------


def _substitute(value: Any, key: str, env: Mapping[str, str], problems: _Problems | None = None) -> Any:
    """`${NAME}` and `${NAME:-default}` replaced from `env`. An unset one is noted (with `problems`)
    and its value left out, so only that key is reported, not every key after it."""
    if isinstance(value, dict):
        return {k: _substitute(v, f"{key}.{k}" if key else str(k), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{key}[{i}]", env, problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if problems is not None:
        try:
            return _substitute(value, key, env)
        except ConfigError as error:
            problems.add(error)
            problems.broken.append(key)
            return None

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


LOOPBACK_NAMES = ("localhost",)
ALLOW_HTTP_KEY = "dangerously_allow_http"


def _is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 and localhost: this machine (the emulators, a tunnel's local end)."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(section: _Section, name: str, default: str | None = None, *, allow_http: bool = True) -> str:
    """An http(s) URL. With `allow_http=False` (Precoro and Slack: every request carries a token)
    plain http is refused unless the host is this machine or `dangerously_allow_http: true`."""
    value = section.text(name, default)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ConfigError(section.key(name), "must be an http(s) URL")
    if not allow_http and value.lower().startswith("http://"):
        try:
            host = urlsplit(value).hostname
        except ValueError:
            host = None
        if not _is_loopback(host):
            raise ConfigError(section.key(name), "must be an https:// URL (over http:// tokens travel in clear); "
                              "http:// is only for this machine (127.0.0.1, ::1, localhost) or with "
                              f"{ALLOW_HTTP_KEY}: true at the top of the config")
    return value.rstrip("/")


def _window(item: Any, key: str, problems: _Problems) -> Window | None:
    try:
        window = _Section(item, key)
    except ConfigError as error:
        problems.add(error)
        return None
    limit = problems.get(lambda: int(window.number("limit", 0, minimum=1)), None)
    reserve = problems.get(lambda: int(window.number("reserve", 0)), None)
    seconds = problems.get(lambda: window.number("seconds", 0, minimum=0.001), None)
    if limit is not None and reserve is not None and reserve >= limit:
        problems.add(ConfigError(window.key("reserve"), f"must be below the limit ({limit})"))
        return None
    if limit is None or reserve is None or seconds is None:
        return None
    return Window(seconds, limit, reserve)


def _quota(section: _Section, base: QuotaPolicy, problems: _Problems) -> QuotaPolicy:
    windows = base.windows
    if "windows" in section.data:
        raw = section.data["windows"]
        if not isinstance(raw, list) or not raw:
            problems.add(ConfigError(section.key("windows"), "must be a non-empty list"))
        else:
            parsed = [_window(item, f"{section.key('windows')}[{i}]", problems) for i, item in enumerate(raw)]
            windows = tuple(w for w in parsed if w is not None) or windows
    return QuotaPolicy(
        windows=windows,
        duplicate_get_seconds=problems.get(
            lambda: section.number("duplicate_get_seconds", base.duplicate_get_seconds), base.duplicate_get_seconds),
        margin_seconds=problems.get(lambda: section.number("margin_seconds", base.margin_seconds),
                                    base.margin_seconds),
        duplicate_keying=problems.get(lambda: _keying(section, base.duplicate_keying), base.duplicate_keying),
        share=problems.get(lambda: _share(section, base.share), base.share),
    )


DUPLICATE_KEYINGS = ("token", "company", "route")


def _keying(section: _Section, default: str) -> str:
    value = section.text("duplicate_keying", default)
    if value not in DUPLICATE_KEYINGS:
        raise ConfigError(section.key("duplicate_keying"), f"must be one of {', '.join(DUPLICATE_KEYINGS)}")
    return value


def _share(section: _Section, default: float) -> float:
    """`quota.share`: the fraction of each Precoro window (a minute or more) the bot may use."""
    value = section.number("share", default, minimum=0.01)
    if value > 1.0:
        raise ConfigError(section.key("share"), "must be at most 1 (the whole of Precoro's windows)")
    return value


def _company_id(section: _Section) -> str:
    company_id = section.text("id", "default")
    if not _COMPANY_ID.match(company_id):
        raise ConfigError(section.key("id"), "must be lower-case letters, digits, - or _ (at most 40)")
    return company_id


def _document_types(section: _Section) -> tuple[str, ...]:
    types = section.strings("document_types", api.DEFAULT_DOCUMENT_TYPES)
    for i, doc_type in enumerate(types):
        if doc_type not in api.DOCUMENT_TYPES:
            known = ", ".join(api.DOCUMENT_TYPES)
            raise ConfigError(f"{section.key('document_types')}[{i}]", f"unknown type {doc_type!r}; known: {known}")
    if not types:
        raise ConfigError(section.key("document_types"), "must name at least one document type")
    return types


def _discovery_user(section: _Section) -> str:
    discovery_user = section.data.get("discovery_user") or ""
    if not isinstance(discovery_user, str) or (discovery_user and not re.match(r"^[UW][A-Z0-9]{2,}$", discovery_user)):
        raise ConfigError(section.key("discovery_user"), "must be a Slack user id (like U012ABCDEF)")
    return discovery_user


def _webhook_secret(section: _Section) -> str:
    webhook_secret = section.data.get("webhook_secret") or ""
    if not isinstance(webhook_secret, str) or (webhook_secret and not re.match(r"^[A-Za-z0-9_=-]{24,}$",
                                                                                 webhook_secret)):
        raise ConfigError(section.key("webhook_secret"), "must be at least 24 letters, digits, - or _ "
                          "(precoro-bot gen-key makes one)")
    return webhook_secret


def _slack_teams(section: _Section) -> tuple[str, ...]:
    teams = section.strings("slack_teams")
    for i, team in enumerate(teams):
        if not _SLACK_TEAM.match(team):
            raise ConfigError(f"{section.key('slack_teams')}[{i}]",
                              f"{team!r} is not a Slack team id (T...) or Enterprise Grid org id (E...)")
    return teams


def _company(section: _Section, quota: QuotaPolicy, problems: _Problems, allow_http: bool) -> CompanyConfig:
    """One company; a wrong key is noted and its default stands in, so the others are checked too."""
    get = problems.get
    base_url = get(lambda: _url(section, "base_url", "https://api.precoro.com", allow_http=allow_http),
                   "https://api.precoro.com")
    default_web = "https://app.precoro.us" if base_url.endswith(".us") else "https://app.precoro.com"
    return CompanyConfig(
        id=get(lambda: _company_id(section), section.path),  # the path: never a false duplicate
        base_url=base_url,
        web_url=get(lambda: _url(section, "web_url", default_web, allow_http=allow_http), default_web),
        document_types=get(lambda: _document_types(section), api.DEFAULT_DOCUMENT_TYPES),
        quota=_quota(problems.section(section, "quota"), quota, problems),
        discovery_user=get(lambda: _discovery_user(section), ""),
        webhook_secret=get(lambda: _webhook_secret(section), ""),
        slack_teams=get(lambda: _slack_teams(section), ("T0",)),  # a fallback that asks for nothing more
        admins=get(lambda: _user_ids(section, "admins"), ("U0",)),
        workspace_admins=get(lambda: _flag(section, "workspace_admins", False), False),
        webhook_hints_per_minute=get(lambda: int(section.number("webhook_hints_per_minute", 120, minimum=1)), 120),
        connect_policy=get(lambda: _connect_policy(section), "admin"),
        confirm_above=get(lambda: _confirm_above(section), ()),
        notify_requesters=get(lambda: _flag(section, "notify_requesters", False), False),
        finance_channel=get(lambda: _finance_channel(section), ""),
        finance_waiting_hours=get(lambda: section.number("finance_waiting_hours", 0.0), 0.0),
        finance_min_amount=get(lambda: section.number("finance_min_amount", 0.0), 0.0),
        finance_timezone=get(lambda: _timezone(section, "finance_timezone"), "UTC"),
    )


CONNECT_POLICIES = ("admin", "self", "self-with-approval")


def _connect_policy(section: _Section) -> str:
    value = section.data.get("connect_policy", "admin")
    if value not in CONNECT_POLICIES:
        raise ConfigError(section.key("connect_policy"), "must be one of " + ", ".join(CONNECT_POLICIES))
    return str(value)


_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _confirm_above(section: _Section) -> tuple[tuple[str, Decimal], ...]:
    """`confirm_above: {EUR: 10000, USD: 12000}`: ISO currency codes to positive amounts."""
    raw = section.data.get("confirm_above") or {}
    if not isinstance(raw, dict):
        raise ConfigError(section.key("confirm_above"), "must map currency codes to amounts, like {EUR: 10000}")
    rules = []
    for code, limit in raw.items():
        key = f"{section.key('confirm_above')}.{code}"
        if not isinstance(code, str) or not _CURRENCY.match(code.strip().upper()):
            raise ConfigError(key, "must be a three-letter currency code (EUR, USD, ...)")
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0 or limit != limit \
                or limit == float("inf"):
            raise ConfigError(key, "must be a positive amount")
        rules.append((code.strip().upper(), Decimal(str(limit))))
    return tuple(sorted(rules))


def _finance_channel(section: _Section) -> str:
    channel = section.data.get("finance_channel") or ""
    if not isinstance(channel, str) or (channel and not re.match(r"^[CG][A-Z0-9]{2,}$", channel)):
        raise ConfigError(section.key("finance_channel"), "must be a Slack channel id (like C012ABCDEF); "
                          "invite the bot to that channel")
    return channel


def _timezone(section: _Section, name: str) -> str:
    value = section.data.get(name) or "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(section.key(name), f"{value!r} is not a time zone name (like Europe/Berlin)") from None
    return str(value)


def _user_ids(section: _Section, name: str) -> tuple[str, ...]:
    users = section.strings(name)
    for i, user in enumerate(users):
        if not _SLACK_USER.match(user):
            raise ConfigError(f"{section.key(name)}[{i}]", f"{user!r} is not a Slack user id (like U012ABCDEF)")
    return users


def _bind_workspaces(companies: tuple[CompanyConfig, ...], admins: tuple[str, ...], oauth: bool,
                     single: bool, problems: _Problems) -> tuple[CompanyConfig, ...]:
    """Each company belongs to its workspace(s). An old single-workspace config (one company, one
    bot token) keeps working: `slack.admins` are that company's admins and no `slack_teams` means
    the bot token's own workspace. With OAuth or several companies every company names its
    workspaces, and `slack.admins` would be ambiguous (use each company's `admins`).

    A company nobody can administer (no admins of its own, no `slack.admins` for the one company,
    no `workspace_admins: true`) is refused: nobody could register its approvers, and the
    deployment would look fine until its first user asked."""
    if admins and len(companies) > 1:
        problems.add(ConfigError("slack.admins", "with several companies, list each company's admins under it "
                                 "(precoro.companies[i].admins); host operators go in slack.operators"))
    bound = []
    for i, company in enumerate(companies):
        key = f"precoro.companies[{i}]" if not single else "precoro"
        if not company.slack_teams and (oauth or len(companies) > 1):
            why = "in OAuth mode" if oauth else "with several companies"
            problems.add(ConfigError(f"{key}.slack_teams", f"is required {why}: the Slack team id(s) (T...) "
                                     "allowed to use this company"))
        if admins and len(companies) == 1:
            company = replace(company, admins=tuple(dict.fromkeys((*admins, *company.admins))))
        bound.append(company)
    for i, company in enumerate(bound):
        key = f"precoro.companies[{i}]" if not single else "precoro"
        if not company.admins and not company.workspace_admins:
            where = "slack.admins or " if single else ""
            problems.add(ConfigError(f"{key}.admins", f"nobody can administer this company: list its admins' "
                                     f"Slack user ids ({where}{key}.admins), or set {key}.workspace_admins: true"))
        elif not company.admins and company.connect_policy == "self-with-approval":
            # The connection requests are DMed to the listed admins: Slack's own admins cannot be listed.
            problems.add(ConfigError(f"{key}.connect_policy", "self-with-approval needs listed admins to ask "
                                     f"({key}.admins): nobody would see the connection requests"))
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


def _reminders(section: _Section, problems: _Problems) -> ReminderConfig:
    base = ReminderConfig()
    get = problems.get
    workday = problems.section(section, "workday")
    start = get(lambda: _clock_time(workday, "start", base.workday_start), base.workday_start)
    end = get(lambda: _clock_time(workday, "end", base.workday_end), base.workday_end)
    if end <= start:
        problems.add(ConfigError(workday.key("end"), f"must be later than workday.start ({start:%H:%M})"))
    digest = problems.section(section, "digest")
    return ReminderConfig(
        enabled=get(lambda: _flag(section, "enabled", base.enabled), base.enabled),
        after_working_hours=get(lambda: section.number("after_working_hours", base.after_working_hours,
                                                       minimum=0.25), base.after_working_hours),
        repeat_working_hours=get(lambda: section.number("repeat_working_hours", base.repeat_working_hours),
                                 base.repeat_working_hours),
        workday_start=start,
        workday_end=end,
        working_days=get(lambda: _working_days(section), base.working_days),
        snooze_hours=get(lambda: _snooze_hours(section, base.snooze_hours), base.snooze_hours),
        digest=get(lambda: _flag(digest, "enabled", base.digest), base.digest),
        digest_at=get(lambda: _clock_time(digest, "at", base.digest_at), base.digest_at),
        check_seconds=get(lambda: section.number("check_seconds", base.check_seconds, minimum=1.0),
                          base.check_seconds),
    )


def _working_days(section: _Section) -> tuple[int, ...]:
    days = []
    for i, day in enumerate(section.strings("working_days", WEEKDAYS[:5])):
        if day.lower()[:3] not in WEEKDAYS:
            raise ConfigError(f"{section.key('working_days')}[{i}]",
                              f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
        days.append(WEEKDAYS.index(day.lower()[:3]))
    if not days:
        raise ConfigError(section.key("working_days"), "must name at least one day")
    return tuple(sorted(set(days)))


def _snooze_hours(section: _Section, default: tuple[float, ...]) -> tuple[float, ...]:
    raw_snooze = section.data.get("snooze_hours", list(default))
    if not isinstance(raw_snooze, list) or not 1 <= len(raw_snooze) <= 3:
        raise ConfigError(section.key("snooze_hours"), "must be a list of 1 to 3 numbers of hours, like [2, 24]")
    snooze = []
    for i, hours in enumerate(raw_snooze):
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 14:
            raise ConfigError(f"{section.key('snooze_hours')}[{i}]", "must be a number of hours above 0 (at most 336)")
        snooze.append(float(hours))
    return tuple(snooze)


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


def _bot_token(slack: _Section, oauth: bool) -> str | None:
    if oauth and not slack.data.get("bot_token"):
        return None
    bot_token = slack.text("bot_token")
    if not bot_token.startswith("xoxb-"):
        raise ConfigError("slack.bot_token", "must be a bot token (starts with xoxb-)")
    return bot_token


# An app-level token: xapp-, a version digit, the app id, a number and a hex secret, dash-separated.
_APP_TOKEN = re.compile(r"xapp-[0-9]+-[A-Z0-9]+-[0-9]+-[A-Za-z0-9]+")


def _app_token(slack: _Section, socket_mode: bool) -> str | None:
    """The app-level token Socket Mode connects with; refused without socket_mode (it would be
    ignored) and never repeated in an error."""
    if not socket_mode:
        if slack.data.get("app_token"):
            raise ConfigError(slack.key("app_token"), "is only used with slack.socket_mode: true (set that, or "
                              "remove the token)")
        return None
    if not slack.data.get("app_token"):
        raise ConfigError(slack.key("app_token"), "is required with slack.socket_mode: true (the app-level token, "
                          "xapp-...; Basic Information > App-Level Tokens, scope connections:write)")
    app_token = slack.text("app_token")
    if app_token.startswith("xoxb-") or app_token.startswith("xoxp-"):
        raise ConfigError(slack.key("app_token"), "is a bot or user token; Socket Mode needs the app-level token "
                          "(starts with xapp-; Basic Information > App-Level Tokens, scope connections:write)")
    if not _APP_TOKEN.fullmatch(app_token):
        raise ConfigError(slack.key("app_token"), "must be an app-level token (xapp-1-A...-...; Basic Information > "
                          "App-Level Tokens, scope connections:write)")
    return app_token


def _oauth(slack: _Section, problems: _Problems) -> OAuthConfig | None:
    if slack.data.get("oauth") is None:
        return None
    section = problems.section(slack, "oauth")
    get = problems.get
    return OAuthConfig(client_id=get(lambda: section.text("client_id"), ""),
                       client_secret=get(lambda: section.text("client_secret"), ""),
                       scopes=get(lambda: section.strings("scopes", DEFAULT_SCOPES), DEFAULT_SCOPES),
                       authorize_url=get(lambda: _url(section, "authorize_url", OAuthConfig.authorize_url),
                                         OAuthConfig.authorize_url))


def _companies(precoro: _Section, quota: QuotaPolicy, problems: _Problems,
               allow_http: bool) -> tuple[CompanyConfig, ...]:
    if "companies" not in precoro.data:
        return (_company(precoro, quota, problems, allow_http),)
    raw_companies = precoro.data["companies"]
    if not isinstance(raw_companies, list) or not raw_companies:
        problems.add(ConfigError("precoro.companies", "must be a non-empty list"))
        return ()
    companies = []
    for i, raw in enumerate(raw_companies):
        section = problems.get(lambda raw=raw, i=i: _Section(raw, f"precoro.companies[{i}]"), None)
        if section is not None:
            companies.append(_company(section, quota, problems, allow_http))
    ids = [c.id for c in companies]
    if len(set(ids)) != len(ids):
        problems.add(ConfigError("precoro.companies", "company ids must be unique"))
    return tuple(companies)


def _encryption_keys(encryption: _Section, problems: _Problems) -> tuple[EncryptionKey, ...]:
    raw_keys = encryption.data.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        problems.add(ConfigError("encryption.keys", "must list at least one key (make one with "
                                 "`precoro-bot gen-key`)"))
        return ()
    keys: list[EncryptionKey] = []
    for i, item in enumerate(raw_keys):
        entry = problems.get(lambda item=item, i=i: _Section(item, f"encryption.keys[{i}]"), None)
        if entry is None:
            continue
        key_id = problems.get(lambda entry=entry: entry.text("id"), "")
        if key_id and key_id in {k.id for k in keys}:
            problems.add(ConfigError(f"encryption.keys[{i}].id", f"duplicate key id {key_id!r}"))
        keys.append(EncryptionKey(id=key_id, key=problems.get(lambda entry=entry: entry.text("key"), "")))
    return tuple(keys)


def _port(server: _Section, name: str, default: int, port: int | None = None) -> int:
    value = server.number(name, default, minimum=0)
    if port is None and (value != int(value) or value > 65535):
        raise ConfigError(server.key(name), "must be a whole number from 0 to 65535")
    if port is not None and (value != int(value) or value > 65535 or (value and value == port)):
        raise ConfigError(server.key(name), "must be a whole number from 1 to 65535, not server.port")
    return int(value)


def _metrics_token(server: _Section) -> str:
    metrics_token = str(server.data.get("metrics_token") or "")
    if metrics_token and len(metrics_token) < 24:
        raise ConfigError(server.key("metrics_token"), "must be at least 24 characters (precoro-bot gen-key makes one)")
    return metrics_token


def _log_level(logging: _Section) -> str:
    log_level = logging.text("level", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(logging.key("level"), "must be DEBUG, INFO, WARNING or ERROR")
    return log_level


def _log_json(logging: _Section) -> bool:
    """`text` or `json`: a typo (`jsn`) used to mean text, and a log collector got no JSON."""
    log_format = logging.text("format", "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError(logging.key("format"), "must be text or json")
    return log_format == "json"


def _from_environment(raw: Any, env: Mapping[str, str], problems: _Problems) -> Any:
    """The file's mapping with the `PRECORO_BOT__*` variables on top (see `bot/config_schema.py`)."""
    tree, env_problems = config_schema.env_tree(env)
    for problem in env_problems:
        problems.add(ConfigError(problem.variable, problem.problem))
    if not tree:
        return raw
    if raw is None:
        raw = {}
    return config_schema.overlay(raw, tree) if isinstance(raw, dict) else raw


def parse_config(raw: Any, env: Mapping[str, str] | None = None, *, env_only: bool = False) -> Config:
    """Validate an already-loaded YAML document (`PRECORO_BOT__*` variables in `env` on top);
    raises ConfigError naming the key (ConfigErrors, one line each, when there are several)."""
    env = os.environ if env is None else env
    problems = _Problems()
    raw = _substitute(raw, "", env, problems)
    raw = _from_environment(raw, env, problems)
    for key, problem in config_schema.unknown_keys(raw):
        problems.add(ConfigError(key, problem))
    try:
        top = _Section(raw, "")
    except ConfigError as error:
        raise error from None
    get = problems.get
    allow_http = get(lambda: _flag(top, ALLOW_HTTP_KEY, False), True)  # wrong: its own error, not every URL's

    slack = problems.section(top, "slack")
    admins = get(lambda: _user_ids(slack, "admins"), ("U0",))
    if slack.path in problems.broken:
        admins = ("U0",)  # unknown, not absent: "nobody can administer" would be a cascade
    oauth = _oauth(slack, problems)
    socket_mode = get(lambda: _flag(slack, "socket_mode", False), False)
    slack_config = SlackConfig(
        bot_token=get(lambda: _bot_token(slack, oauth is not None), None),
        # Socket Mode requests are not signed (the websocket is the bot's own, opened with the app token)
        signing_secret=get(lambda: "" if socket_mode and not slack.data.get("signing_secret")
                           else slack.text("signing_secret"), ""),
        admins=admins,
        api_url=get(lambda: _url(slack, "api_url", DEFAULT_SLACK_API_URL, allow_http=allow_http) + "/",
                    DEFAULT_SLACK_API_URL),
        oauth=oauth,
        operators=get(lambda: _user_ids(slack, "operators"), ()),
        socket_mode=socket_mode,
        app_token=get(lambda: _app_token(slack, socket_mode), None),
    )

    top_quota = problems.section(top, "quota")
    quota = _quota(top_quota, QuotaPolicy(share=DEFAULT_SHARE), problems)
    precoro = problems.section(top, "precoro")
    companies = _companies(precoro, quota, problems, allow_http)
    companies = _bind_workspaces(companies, admins, oauth is not None, "companies" not in precoro.data, problems)
    keys = _encryption_keys(problems.section(top, "encryption"), problems)

    storage = problems.section(top, "storage")
    server = problems.section(top, "server")
    scheduler = problems.section(top, "scheduler")
    logging = problems.section(top, "logging")
    port = get(lambda: _port(server, "port", 3000), 3000)
    tick = get(lambda: scheduler.number("tick_seconds", 5.0, minimum=0.05), 5.0)
    config = Config(
        slack=slack_config,
        companies=companies,
        encryption_keys=keys,
        storage_url=get(lambda: _storage_url(storage), ""),
        storage_timeout_seconds=get(lambda: storage.number("timeout_seconds", 8.0, minimum=0.5), 8.0),
        host=get(lambda: server.text("host", "0.0.0.0"), ""),
        port=port,
        metrics_port=get(lambda: _port(server, "metrics_port", 0, port), 0),
        metrics_token=get(lambda: _metrics_token(server), ""),
        tick_seconds=tick,
        min_poll_interval_seconds=get(lambda: scheduler.number("min_poll_interval_seconds", 60.0, minimum=0.1), 60.0),
        # renewed every tick: a lease of several ticks survives a slow one, and a lost replica's
        # companies are taken over after at most this long
        lease_seconds=get(lambda: scheduler.number("lease_seconds", max(30.0, 6 * tick), minimum=2 * tick), 30.0),
        request_timeout_seconds=get(lambda: precoro.number("request_timeout_seconds", 20.0, minimum=0.1), 20.0),
        interactive_wait_seconds=get(lambda: top_quota.number("interactive_wait_seconds", 10.0), 10.0),
        log_level=get(lambda: _log_level(logging), "INFO"),
        log_json=get(lambda: _log_json(logging), False),
        reminders=_reminders(problems.section(top, "reminders"), problems),
        dangerously_allow_http=allow_http is True and top.data.get(ALLOW_HTTP_KEY) is True,
    )
    if env_only:
        problems.errors = [_naming_the_variable(e) for e in problems.errors]
    problems.raise_any()
    return config


def _naming_the_variable(error: ConfigError) -> ConfigError:
    """In an env-only run a missing key is set with an environment variable: say which."""
    if error.key.startswith(ENV_PREFIX) or "is required" not in str(error):
        return error
    return ConfigError(error.key, f"{str(error).split(': ', 1)[1]} (set {env_name(error.key)})")


def config_path(given: str | None, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """Which config file a command reads: `--config`, else `PRECORO_BOT_CONFIG`, else ./config.yaml
    if there is one; None (an env-only run) when there is none but `PRECORO_BOT__*` variables are
    set. Otherwise "config.yaml", whose absence `load_config` then explains."""
    env = os.environ if env is None else env
    if given:
        return given
    if env.get(CONFIG_FILE_VARIABLE):
        return env[CONFIG_FILE_VARIABLE]
    if (Path.cwd() if cwd is None else cwd).joinpath("config.yaml").exists():
        return "config.yaml"
    if any(name.startswith(ENV_PREFIX) for name in env):
        return None
    return "config.yaml"


def config_source(path: str | Path | None) -> str:
    """How a command names where its config came from."""
    return str(path) if path is not None else f"the environment ({ENV_PREFIX}*)"


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file, or (`path` None) the `PRECORO_BOT__*` variables alone."""
    if path is None:
        return parse_config(None, env, env_only=True)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read {path}: {exc.strerror} (name the file with --config or "
                          f"{CONFIG_FILE_VARIABLE}, or set {ENV_PREFIX}* variables instead)") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader that refuses duplicate keys
    except _DuplicateKey as exc:
        raise ConfigError("(file)", str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError("(file)", f"is not valid YAML at {where}") from None
    return parse_config(raw, env)


class _DuplicateKey(ValueError):
    """A mapping names the same key twice (YAML itself would silently keep the last one)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: `port: 3917` followed by
    `port: 3000` is almost always a mistake, and which one wins is not what its writer meant."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(f"line {key_node.start_mark.line + 1}: the key {str(key)[:40]!r} is given twice "
                                    "in the same section (YAML would silently keep only the last)")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
