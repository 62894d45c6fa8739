"""The modules of `bot/` import each other one way, in layers (`bot/features/__init__.py`):

- no cycle, counting imports made only for type checking (`if TYPE_CHECKING:`), since those still
  tie two modules together for a reader and a refactor. The runtime builds the services; the
  services never import the runtime;
- the engine (`bot.precoro`, `bot.quota`, `bot.store`, `bot.sync` and the pure helpers they use)
  never imports a feature (`bot.features`) nor the Slack app and its listeners;
- the platform (`bot.slack`) never imports a feature, except `bot.slack.app`, which registers
  their listeners;
- a feature imports another feature only through its `service` module;
- a feature's listeners never import `bot.store`, never reach a `.store`, never take the Runtime.

Feature code not yet in `bot/features` is listed in `NOT_YET_MOVED`, which may only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import ROOT


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of `root/bot` and the modules of `bot/` it imports (any import statement)."""
    modules: dict[str, tuple[Path, bool]] = {}
    for path in (root / "bot").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if package else parts)] = (path, package)

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        here = name if package else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            found |= {t for t in map(resolve, targets) if t and t != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


ENGINE = ("bot.precoro", "bot.quota", "bot.store", "bot.sync")
HELPERS = {"bot.config", "bot.config_schema", "bot.logs", "bot.redact", "bot.vault"}  # pure, used by the engine
PLATFORM = "bot.slack"
FEATURES = "bot.features"
APP = "bot.slack.app"  # the one platform module that imports features: it registers their listeners
TOOLING = ("bot.doctor",)  # checks, no layer of the bot (the dev kit is its own package: devkit/)

# Arrows from the engine up into the platform that are still there: the poller, discovery and the
# adaptations post through the notifier and render with `bot.slack.messages`. May only shrink.
ENGINE_TO_PLATFORM = {
    ("bot.sync.adapt", "bot.slack.messages"),
    ("bot.sync.adapt", "bot.slack.notifier"),
    ("bot.sync.discovery", "bot.slack.messages"),
    ("bot.sync.discovery", "bot.slack.notifier"),
    ("bot.sync.poller", "bot.slack.messages"),
    ("bot.sync.poller", "bot.slack.notifier"),
}

# Feature code still where it was before `bot/features` (module: the feature it goes to). Each
# entry must still exist: move a module, then delete its entry. May only shrink.
NOT_YET_MOVED = {
    # approvals: the pure amount rule and the amount texts (the platform's notifier and the Home use them)
    "bot.amounts": "approvals",
    "bot.slack.messages.amounts": "approvals",
    # connect: tokens and stored keys (the engine's sync takes TokenService as bot.sync.tokens.ApproverTokens;
    # keys is the CLI's rotation)
    "bot.tokens": "connect",
    "bot.check_turns": "connect",
    "bot.keys": "connect",
}


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _arrows(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported), without the arrow to a package when one of its modules is imported
    (`from bot.slack import messages` is an arrow to `bot.slack.messages`)."""
    return {(a, b) for a, targets in graph.items() for b in targets
            if not any(t.startswith(b + ".") for t in targets)}


def _feature(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if _under(module, FEATURES) and len(parts) > 2 else None


def _engine(module: str) -> bool:
    return _under(module, *ENGINE) or module in HELPERS


def test_the_lists_only_shrink() -> None:
    graph = import_graph(ROOT)
    assert sorted(m for m in NOT_YET_MOVED if m not in graph) == []  # moved: delete the entry
    assert sorted(m for m in NOT_YET_MOVED if _under(m, FEATURES)) == []
    assert sorted(ENGINE_TO_PLATFORM - _arrows(graph)) == []  # gone: delete the entry


def test_the_engine_imports_no_feature_and_no_slack_app() -> None:
    graph = import_graph(ROOT)
    listeners = {m for m in graph if m.endswith(".listeners") or m == APP}
    wrong = sorted((a, b) for a, b in _arrows(graph) if _engine(a) and not _engine(b) and (
        _under(b, FEATURES) or b in listeners or (_under(b, PLATFORM) and (a, b) not in ENGINE_TO_PLATFORM)
        or (not _under(b, PLATFORM) and b not in NOT_YET_MOVED)))
    assert wrong == []


def test_the_platform_imports_no_feature() -> None:
    graph = import_graph(ROOT)
    wrong = sorted((a, b) for a, b in _arrows(graph) if _under(a, PLATFORM) and a != APP and _under(b, FEATURES))
    assert wrong == []


def test_a_feature_uses_another_only_through_its_service() -> None:
    graph = import_graph(ROOT)
    wrong = sorted((a, b) for a, b in _arrows(graph) if _feature(a) and _feature(b) and _feature(a) != _feature(b)
                   and b not in (f"{FEATURES}.{_feature(b)}", f"{FEATURES}.{_feature(b)}.service"))
    assert wrong == []


def test_a_feature_folder_has_its_roles() -> None:
    """Each feature says what it is; its listeners take its own service, never the Runtime, and
    never reach the store; its rules and messages do no I/O."""
    graph = import_graph(ROOT)
    features = {_feature(m) for m in graph if _feature(m)}
    assert "away" in features  # the walk found the features
    for name in sorted(features):
        package = f"{FEATURES}.{name}"
        assert ast.get_docstring(ast.parse((ROOT / "bot" / "features" / name / "__init__.py").read_text())), package
        modules = [m for m in graph if _under(m, package) and m != package]
        for listeners in (m for m in modules if m.endswith("listeners")):  # listeners.py, history_listeners.py
            assert sorted(b for b in graph[listeners] if _under(b, "bot.store", "bot.runtime")) == [], listeners
            tree = ast.parse((ROOT / (listeners.replace(".", "/") + ".py")).read_text())
            reaches = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"]
            assert reaches == [], f"{listeners} reaches the store on lines {reaches}"
            registers = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "register"]
            assert len(registers) == 1 and [a.arg for a in registers[0].args.args] == ["app", "service"], listeners
        for pure in (m for m in modules if m.endswith(("rules", "messages"))):
            io = sorted(b for b in graph[pure] if b.endswith((".service", ".notifier", ".client"))
                        or _under(b, "bot.runtime", "bot.store.engine"))
            assert io == [], pure


def test_listeners_outside_the_features_are_not_yet_moved() -> None:
    """A module of the platform with Bolt listeners (`register(app, …)`) is feature code still to move."""
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "bot" / "slack").rglob("*.py")}
    listening = sorted(m for m, path in modules.items() if m != APP and m not in NOT_YET_MOVED
                       and "def register(app" in path.read_text())
    assert modules and listening == []


def test_bot_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    assert "bot.runtime" in graph and "bot.slack.messages.document" in graph  # the walk found the code
    assert cycles(graph) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
