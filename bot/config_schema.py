"""The config's keys: which exist (anything else is an error with a did-you-mean), and how each is
spelt as an environment variable.

Why strict: a misspelt key (`loging:`, `scheduler.tick_second`) used to be ignored, so the admin's
setting silently did not apply while `check-config` said the file was valid. Every key the loader
reads is listed here; `bot/config.py` reads the values, this module only knows the names.

Environment variables: `PRECORO_BOT__` then the key path in capitals, sections joined by `__`, list
items by their index: `slack.signing_secret` is `PRECORO_BOT__SLACK__SIGNING_SECRET`,
`encryption.keys[0].key` is `PRECORO_BOT__ENCRYPTION__KEYS__0__KEY`. They override the file, or
make the whole config when there is no file (an env-only run, e.g. a container platform's secrets).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

ENV_PREFIX = "PRECORO_BOT__"
CONFIG_FILE_VARIABLE = "PRECORO_BOT_CONFIG"  # the config file's path when --config is not given

TEXT = "text"  # taken from the environment as it is (a secret "0123" stays "0123")
VALUE = "value"  # read as YAML from the environment: numbers, true/false, [2, 24], "a, b" lists

Schema = Any  # a leaf (TEXT or VALUE), [Schema] (a list of such items) or dict[str, Schema]

QUOTA: dict[str, Schema] = {
    "windows": [{"seconds": VALUE, "limit": VALUE, "reserve": VALUE}],
    "duplicate_get_seconds": VALUE,
    "margin_seconds": VALUE,
    "duplicate_keying": TEXT,
    "share": VALUE,
}
COMPANY: dict[str, Schema] = {
    "id": TEXT, "base_url": TEXT, "web_url": TEXT, "document_types": VALUE, "quota": QUOTA,
    "discovery_user": TEXT, "webhook_secret": TEXT, "slack_teams": VALUE, "admins": VALUE,
    "workspace_admins": VALUE, "webhook_hints_per_minute": VALUE, "connect_policy": TEXT,
    "confirm_above": VALUE,
    "notify_requesters": VALUE, "finance_channel": TEXT, "finance_waiting_hours": VALUE,
    "finance_min_amount": VALUE, "finance_timezone": TEXT,
}
SCHEMA: dict[str, Schema] = {
    "dangerously_allow_http": VALUE,
    "slack": {
        "signing_secret": TEXT, "bot_token": TEXT, "admins": VALUE, "operators": VALUE, "api_url": TEXT,
        "socket_mode": VALUE, "app_token": TEXT,
        "oauth": {"client_id": TEXT, "client_secret": TEXT, "scopes": VALUE, "authorize_url": TEXT},
    },
    "precoro": {**COMPANY, "request_timeout_seconds": VALUE, "companies": [COMPANY]},
    "quota": {**QUOTA, "interactive_wait_seconds": VALUE},
    "storage": {"url": TEXT, "timeout_seconds": VALUE},
    "encryption": {"keys": [{"id": TEXT, "key": TEXT}]},
    "server": {"host": TEXT, "port": VALUE, "metrics_port": VALUE, "metrics_token": TEXT},
    "scheduler": {"tick_seconds": VALUE, "min_poll_interval_seconds": VALUE, "lease_seconds": VALUE},
    "reminders": {
        "enabled": VALUE, "after_working_hours": VALUE, "repeat_working_hours": VALUE,
        "workday": {"start": VALUE, "end": VALUE}, "working_days": VALUE, "snooze_hours": VALUE,
        "digest": {"enabled": VALUE, "at": VALUE}, "check_seconds": VALUE,
    },
    "logging": {"level": TEXT, "format": TEXT},
}


def env_name(key: str) -> str:
    """`encryption.keys[0].key` -> `PRECORO_BOT__ENCRYPTION__KEYS__0__KEY`."""
    return ENV_PREFIX + key.replace("[", ".").replace("]", "").replace(".", "__").upper()


def _sections(schema: Schema = SCHEMA, path: str = "") -> Iterator[tuple[str, dict[str, Schema]]]:
    """Every mapping of the schema with its path (`precoro.companies[]` for a list's items)."""
    if isinstance(schema, list):
        yield from _sections(schema[0], f"{path}[]")
    elif isinstance(schema, dict):
        yield path, schema
        for name, sub in schema.items():
            yield from _sections(sub, f"{path}.{name}" if path else name)


def unknown_key_problem(name: str, known: Mapping[str, Schema], parent: str = "", *, env: bool = False) -> str:
    """What to say about the unknown key `name` among `known` (the keys of `parent`): the closest
    sibling, else the section it belongs to, else the keys known here. In env-only runs the
    suggestion is an environment variable's name."""
    def spell(key: str, sibling: bool) -> str:
        if env:
            return env_name(f"{parent}.{key}" if parent and sibling else key)
        return key

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {spell(close[0], True)}?"
    homes = [path for path, section in _sections() if name in section and section is not known]
    homes = [p for p in homes if not (p == "precoro" and "companies" in known)]
    if homes:
        where = homes[0].replace("[]", "[0]")
        return f"unknown key here; did you mean {spell(f'{where}.{name}' if where else name, False)}?"
    return f"unknown key (known here: {', '.join(known)})"


_KEY_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")


def unknown_keys(raw: Any, schema: Schema = SCHEMA, path: str = "") -> Iterator[tuple[str, str]]:
    """(key, problem) for every key of `raw` the schema does not know. Values of the wrong shape
    (a list where a mapping belongs) are left to the loader, which names them."""
    if isinstance(schema, list):
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                yield from unknown_keys(item, schema[0], f"{path}[{i}]")
        return
    if not isinstance(schema, dict) or not isinstance(raw, dict):
        return
    many = path == "precoro" and "companies" in raw
    for name, value in raw.items():
        shown = name if isinstance(name, str) and _KEY_LIKE.match(name) else "(a key that is not a name)"
        key = f"{path}.{shown}" if path else shown  # a mis-indented secret is not repeated
        if name not in schema:
            yield key, unknown_key_problem(str(name), schema, path)
        elif many and name not in ("companies", "request_timeout_seconds"):
            yield key, "with precoro.companies, set it under each of precoro.companies"
        else:
            yield from unknown_keys(value, schema[name], key)


class EnvProblem(ValueError):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(problem)
        self.variable = variable
        self.problem = problem


def env_tree(env: Mapping[str, str]) -> tuple[dict[str, Any], list[EnvProblem]]:
    """The config mapping the `PRECORO_BOT__*` variables spell, and what is wrong with any of them."""
    tree: dict[str, Any] = {}
    problems: list[EnvProblem] = []
    for variable in sorted(env):
        if not variable.startswith(ENV_PREFIX):
            continue
        try:
            _place(tree, variable, env[variable])
        except EnvProblem as problem:
            problems.append(problem)
    try:
        return _lists(tree, ENV_PREFIX.rstrip("_")), problems
    except EnvProblem as problem:
        return {}, [*problems, problem]


def _place(tree: dict[str, Any], variable: str, value: str) -> None:
    parts = variable[len(ENV_PREFIX):].split("__")
    node: Schema = SCHEMA
    target: dict[Any, Any] = tree
    spelt = ENV_PREFIX.rstrip("_")
    path = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        name: Any = part.lower()
        if isinstance(node, list):
            if not part.isdigit():
                raise EnvProblem(variable, f"{spelt} is a list: {spelt}__0__..., {spelt}__1__...")
            name, node = int(part), node[0]
            path = f"{path}[{name}]"
        elif isinstance(node, dict):
            if name not in node:
                raise EnvProblem(variable, unknown_key_problem(name, node, path, env=True))
            node = node[name]
            path = f"{path}.{name}" if path else name
        else:
            raise EnvProblem(variable, f"{spelt} is a single value, not a section")
        spelt = f"{spelt}__{part.upper()}"
        if last:
            if not isinstance(node, str):
                raise EnvProblem(variable, f"is a section: set {spelt}__<KEY> instead")
            target[name] = value if node == TEXT else _yaml_value(variable, value)
        else:
            target = target.setdefault(name, {})


def _yaml_value(variable: str, value: str) -> Any:
    try:
        return yaml.safe_load(value) if value.strip() else value
    except yaml.YAMLError:
        raise EnvProblem(variable, "is not a valid value (a number, true/false, a word or [a, b])") from None


def _lists(node: Any, spelt: str) -> Any:
    """Mappings keyed 0..n-1 (a list's items by index) become lists."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        if sorted(node) != list(range(len(node))):
            raise EnvProblem(f"{spelt}__{max(node)}", f"the items of {spelt} must be numbered 0, 1, 2, ... "
                                                      "without gaps")
        return [_lists(node[i], f"{spelt}__{i}") for i in range(len(node))]
    return {k: _lists(v, f"{spelt}__{str(k).upper()}") for k, v in node.items()}


def overlay(base: Any, over: Any) -> Any:
    """`base` (the file) with `over` (the environment) on top: mappings merged key by key, lists of
    mappings item by item, anything else replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = overlay(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(over, list) and all(isinstance(v, dict) for v in over):
        merged_list = list(base)
        for i, value in enumerate(over):
            if i < len(merged_list):
                merged_list[i] = overlay(merged_list[i], value)
            else:
                merged_list.append(value)
        return merged_list
    return over
