"""The dev kit (devkit/, the package precoro_devkit) is not part of the service (issue 24): no module of
`bot/` imports it when imported, only `bot/cli.py`'s dev commands do, inside the command, and without
the kit those commands say in one line how to install it and exit 2."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from bot import cli
from tests.support.paths import ROOT

KIT = "precoro_devkit"


def _kit_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, inside a function) of each import of the kit in the module at `path`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            nested.update(id(inner) for inner in ast.walk(node) if inner is not node)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")):
            names = [node.args[0].value]
        else:
            continue
        if any(name == KIT or name.startswith(f"{KIT}.") for name in names):
            found.append((node.lineno, id(node) in nested))
    return found


def test_no_module_of_bot_imports_the_devkit_at_import_time() -> None:
    modules = sorted((ROOT / "bot").rglob("*.py"))
    assert ROOT / "bot" / "cli.py" in modules
    wrong = [f"{path.relative_to(ROOT)}:{line}" + ("" if nested else " (module level)")
             for path in modules for line, nested in _kit_imports(path)
             if not nested or path != ROOT / "bot" / "cli.py"]
    assert not wrong, f"only bot/cli.py may import {KIT}, and only inside a command: {wrong}"


def test_the_check_sees_an_import_at_module_level(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(f"import os\nfrom {KIT}.emulator.stack import LocalStack\n\n\ndef f():\n"
                      f"    import {KIT}.sim\n    return __import__('{KIT}')\n")
    assert _kit_imports(module) == [(2, False), (6, True), (7, True)]


def test_the_cli_imports_the_kit_in_each_dev_command_only() -> None:
    path = ROOT / "bot" / "cli.py"
    tree = ast.parse(path.read_text())
    importing = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                 and any(isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(KIT)
                         for inner in ast.walk(node))}
    assert importing == {"cmd_demo", "cmd_emulator", "cmd_sandbox", "cmd_simulate", "_add_simulate"}


@pytest.fixture
def no_devkit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kit as if not installed: `import precoro_devkit...` raises ModuleNotFoundError."""
    for name in [n for n in sys.modules if n == KIT or n.startswith(f"{KIT}.")] or [KIT]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, KIT, None)


@pytest.mark.parametrize("argv", [["demo"], ["emulator"], ["sandbox", "--port", "1"], ["simulate"],
                                  ["simulate", "--scenario", "x", "--days", "2"]])
def test_a_dev_command_without_the_kit_says_how_to_install_it_and_exits_2(
        no_devkit: None, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"precoro-bot {argv[0]}: needs the dev kit")
    assert "pip install -e ./devkit" in line


def test_without_the_kit_the_other_commands_and_their_usage_errors_are_unchanged(
        no_devkit: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gen-key"]) == 0
    assert capsys.readouterr().out.strip()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["gen-key", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_with_the_kit_simulate_still_refuses_an_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["simulate", "--bogus"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_missing_module_that_is_not_the_kit_is_still_raised() -> None:
    with pytest.raises(ModuleNotFoundError):
        cli._devkit_missing("demo", ModuleNotFoundError("No module named 'yaml'", name="yaml"))
