"""The real bot between a Precoro emulator and a Slack stand-in, all on loopback.

Used by the end-to-end tests and by `precoro-bot demo`: nothing inside the bot is faked; it
only talks to local servers instead of Slack and Precoro.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config import Config, parse_config
from bot.runtime import Runtime
from bot.server import create_app
from bot.vault import generate_key
from precoro_devkit.emulator.precoro import EmUser, PrecoroEmulator, seed_demo
from precoro_devkit.emulator.process import BotProcess, free_port
from precoro_devkit.emulator.serve import RunningServer, serve_in_thread
from precoro_devkit.emulator.slack import SlackDriver, SlackStandIn
from precoro_devkit.emulator.socket_mode import SocketDriver, SocketModeStandIn

ADMIN = "U0ADMIN"
SLACK_USERS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}
TEAM = "T0TEAM"
METRICS_TOKEN = "stack-metrics-token-0123456789abcdef"  # /metrics and detailed /readyz (Bearer)
APP_TOKEN = "xapp-1-A0APP-1000000000001-0123456789abcdef"  # the app-level token of Socket Mode stacks

# Precoro's rules on a faster clock: the 1 s spacing and the 60 s duplicate rule shrunk, and the
# hour and day budgets raised so that a test sees a poll within a second. The real numbers are
# exercised by the quota unit tests and the simulation.
FAST_EMULATOR = {"windows": ((0.2, 1), (3600.0, 150_000), (86400.0, 3_000_000)), "duplicate_get_seconds": 3.0}
FAST_QUOTA = {
    "windows": [{"seconds": 0.2, "limit": 1}, {"seconds": 3600, "limit": 150_000, "reserve": 100},
                {"seconds": 86400, "limit": 3_000_000, "reserve": 200}],
    "duplicate_get_seconds": 3.0,
    "margin_seconds": 0.05,
}


def stack_config(*, precoro_url: str, slack_url: str, database_url: str, signing_secret: str,
                 key: str, **overrides: Any) -> Config:
    raw = stack_raw_config(precoro_url=precoro_url, slack_url=slack_url, database_url=database_url,
                           signing_secret=signing_secret, key=key, **overrides)
    return parse_config(raw, env={})


def stack_raw_config(*, precoro_url: str, slack_url: str, database_url: str, signing_secret: str,
                     key: str, **overrides: Any) -> dict[str, Any]:
    """The stack's config as a YAML-ready mapping (for a bot run as its own process);
    `overrides` are `section.name=value`."""
    raw: dict[str, Any] = {
        "slack": {"signing_secret": signing_secret, "bot_token": "xoxb-test", "admins": [ADMIN],
                  "api_url": f"{slack_url}/api/"},
        "precoro": {"id": "acme", "base_url": precoro_url, "web_url": "https://app.precoro.test",
                    "document_types": ["purchaseorders", "invoices"], "request_timeout_seconds": 3},
        "quota": {**FAST_QUOTA, "interactive_wait_seconds": 3},
        "storage": {"url": database_url},
        "encryption": {"keys": [{"id": "k1", "key": key}]},
        "scheduler": {"tick_seconds": 0.1, "min_poll_interval_seconds": 0.5},
        "server": {"metrics_token": METRICS_TOKEN},
    }
    for dotted, value in overrides.items():
        if "." not in dotted:  # a top-level key (dangerously_allow_http for an in-process host)
            raw[dotted] = value
            continue
        section, name = dotted.split(".", 1)
        raw.setdefault(section, {})[name] = value
    if raw["precoro"].get("companies"):  # several companies: the single company's keys go (a strict config
        for name in ("id", "base_url", "web_url", "document_types"):  # refuses them beside a list)
            raw["precoro"].pop(name, None)
    for company in raw["precoro"].get("companies") or []:  # several companies: all on the one emulator
        company.setdefault("base_url", precoro_url)
        company.setdefault("web_url", "https://app.precoro.test")
    return raw


@dataclass
class LocalStack:
    precoro: PrecoroEmulator
    slack: SlackStandIn
    driver: SlackDriver
    runtime: Runtime
    users: dict[str, EmUser]
    signing_secret: str = field(repr=False)
    key: str = field(repr=False)
    servers: list[RunningServer] = field(default_factory=list)
    socket: SocketModeStandIn | None = None  # with socket_mode: Slack's websocket side

    @property
    def bot_url(self) -> str:
        return self.servers[-1].url

    @classmethod
    def start(cls, database_url: str, *, emulator: dict[str, Any] | None = None, socket_mode: bool = False,
              **overrides: Any) -> LocalStack:
        """`socket_mode`: Slack reaches the bot over a Socket Mode stand-in instead of signed HTTP
        posts (the driver is a SocketDriver; the bot's HTTP server still serves health and webhooks)."""
        precoro = PrecoroEmulator(**{**FAST_EMULATOR, **(emulator or {})})
        users = seed_demo(precoro)
        slack, servers = _serve_stand_ins(precoro, users)
        socket = None
        if socket_mode:
            socket = SocketModeStandIn().start()
            socket.attach(slack, APP_TOKEN)
            overrides = {"slack.socket_mode": True, "slack.app_token": APP_TOKEN, **overrides}
        signing_secret, key = secrets.token_hex(16), generate_key()
        config = stack_config(precoro_url=servers[0].url, slack_url=servers[1].url, database_url=database_url,
                              signing_secret=signing_secret, key=key, **overrides)
        runtime = Runtime.build(config)
        runtime.tokens.confirm_after = 0.5  # a refused token is confirmed "a little later" on the fast clock
        servers.append(serve_in_thread(create_app(runtime)))
        driver: SlackDriver = SlackDriver(servers[2].url, signing_secret, slack, team_id=TEAM)
        if socket is not None:
            driver = SocketDriver(socket, slack, team_id=TEAM)
        return cls(precoro, slack, driver, runtime, users, signing_secret, key, servers, socket)

    def stop(self) -> None:
        """The bot first (its shutdown may still answer clicks through the stand-ins), then the
        stand-ins together."""
        self.servers[-1].stop()
        _stop_together(self.servers[:-1])
        if self.socket is not None:
            self.socket.stop()

    async def run_reminders(self, now: float) -> int:
        """Run the bot's reminder job once at `now`, in the bot's own event loop."""
        return int(await self.servers[-1].call(self.runtime.reminders.run_due(now)))

    def token_of(self, name: str) -> str:
        return self.users[name].token

    async def register(self, name: str) -> None:
        """The admin registers an approver in one line (the form path has its own tests)."""
        user = self.users[name]
        await self.driver.slash_command(ADMIN, f"register <@{SLACK_USERS[name]}> {user.email} {user.token}")
        await self.slack.wait_for(lambda: self.runtime.store.approvers.find("acme", TEAM, SLACK_USERS[name]))


def _serve_stand_ins(precoro: PrecoroEmulator, users: dict[str, EmUser]) -> tuple[SlackStandIn, list[RunningServer]]:
    """Serve the emulator and a Slack stand-in that knows the approvers named in SLACK_USERS and the admin."""
    slack = SlackStandIn(bot_token="xoxb-test", team_id=TEAM)
    for name, user_id in SLACK_USERS.items():
        if name in users:
            slack.add_user(user_id, users[name].name, users[name].email)
    slack.add_user(ADMIN, "Dana Admin", "admin@example.com")
    servers = [serve_in_thread(precoro.app), serve_in_thread(slack.app)]
    slack.base_url = servers[1].url
    return slack, servers


def _stop_together(servers: list[RunningServer]) -> None:
    """Ask every server to exit at once, then wait for each: uvicorn notices within its 0.1 s tick,
    so the stand-ins go down in one tick instead of one each."""
    for server in servers:
        server.server.should_exit = True
    for server in reversed(servers):
        server.stop()


@dataclass
class ProcessStack:
    """The emulator and the Slack stand-in on loopback, and a config file for bots run as their own
    processes (`spawn`): for SIGKILL, SIGTERM and several replicas on one database."""

    precoro: PrecoroEmulator
    slack: SlackStandIn
    users: dict[str, EmUser]
    config: Path
    signing_secret: str = field(repr=False)
    servers: list[RunningServer] = field(default_factory=list)

    @classmethod
    def start(cls, precoro: PrecoroEmulator, users: dict[str, EmUser], database_url: str, directory: Path,
              **overrides: Any) -> ProcessStack:
        slack, servers = _serve_stand_ins(precoro, users)
        signing_secret = secrets.token_hex(16)
        raw = stack_raw_config(precoro_url=servers[0].url, slack_url=servers[1].url, database_url=database_url,
                               signing_secret=signing_secret, key=generate_key(),
                               **{"server.host": "127.0.0.1", **overrides})
        config = directory / "bot.yaml"
        config.write_text(yaml.safe_dump(raw))
        return cls(precoro, slack, users, config, signing_secret, servers)

    def spawn(self, name: str = "bot", port: int | None = None) -> tuple[BotProcess, SlackDriver]:
        """A new `precoro-bot serve` process (logging to `<name>.log`) and a driver signing for it."""
        port = port or free_port()
        bot = BotProcess(self.config, port, self.config.parent / f"{name}.log")
        return bot, SlackDriver(bot.url, self.signing_secret, self.slack, team_id=TEAM)

    def stop(self) -> None:
        _stop_together(self.servers)
