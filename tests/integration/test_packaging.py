"""The service's wheel holds the service only, the dev kit's wheel holds the kit (issue 24), and the
service runs with the kit not installed. Builds the two wheels with pip (a few seconds each)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT

# The source trees' build-system: setuptools>=77 (PEP 639 license metadata).
SETUPTOOLS_MIN = (77,)


def _setuptools_builds_here() -> bool:
    """Whether this environment's setuptools can build the project itself (then no isolated build)."""
    try:
        from importlib.metadata import version

        return tuple(int(part) for part in version("setuptools").split(".")[:1]) >= SETUPTOOLS_MIN
    except Exception:
        return False


SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".hypothesis", ".ruff_cache", "test-artifacts", "*.db", "*.sqlite*")


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel pip builds from a copy of `source` (so no build/ or egg-info left there, none stale used).

    With --no-build-isolation when this environment's setuptools is new enough (offline); else pip
    builds in isolation and fetches the [build-system] requirements, as `pip install -e .` does."""
    tree = out / "source"
    shutil.copytree(source, tree, ignore=SKIP)
    isolation = ["--no-build-isolation"] if _setuptools_builds_here() else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps",
                           *isolation, "-w", str(out), str(tree)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    return wheel


def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


@pytest.fixture(scope="module")
def service_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(ROOT, tmp_path_factory.mktemp("service-wheel"))


def test_the_service_wheel_holds_bot_and_none_of_the_dev_kit(service_wheel: Path) -> None:
    inside = names(service_wheel)
    assert "bot/cli.py" in inside and "bot/__main__.py" in inside
    kit = [name for name in inside
           if "devkit" in name
           or any(part in ("emulator", "sim", "sandbox.py", "sandbox.html", "demo.py") for part in name.split("/"))]
    assert not kit, kit
    tops = {name.split("/")[0] for name in inside}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"bot"}, tops


def test_the_service_wheel_does_not_require_the_kit(service_wheel: Path) -> None:
    required = requirements(service_wheel)
    assert any(r.startswith("slack-bolt") for r in required), required
    assert not [r for r in required if "devkit" in r], required


def test_the_kit_wheel_holds_the_kit_and_its_page_and_requires_the_bot(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT / "devkit", tmp_path)
    inside = names(wheel)
    for name in ("precoro_devkit/__init__.py", "precoro_devkit/sandbox.py", "precoro_devkit/sandbox.html",
                 "precoro_devkit/demo.py", "precoro_devkit/emulator/stack.py", "precoro_devkit/sim/main.py",
                 "precoro_devkit/emulator/blockkit_rules.py"):
        assert name in inside, name
    assert not [name for name in inside if name.startswith("bot/")]
    assert requirements(wheel) == ["precoro-bot"]


BLOCK_THE_KIT = """
import sys
class NoKit:
    def find_spec(self, name, path=None, target=None):
        if name == "precoro_devkit" or name.startswith("precoro_devkit."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoKit())
"""


def _without_the_kit(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_THE_KIT + code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_every_module_of_the_service_imports_without_the_kit() -> None:
    done = _without_the_kit("""
import importlib, pkgutil, bot
names = [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.") if m.name != "bot.__main__"]  # runs the CLI
for name in names:
    importlib.import_module(name)
assert not [n for n in sys.modules if n.startswith("precoro_devkit")]
print(len(names))
""")
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) > 50


def test_precoro_bot_demo_without_the_kit_prints_the_install_hint_and_exits_2() -> None:
    done = _without_the_kit("from bot.cli import main\nsys.argv = ['precoro-bot', 'demo']\n"
                            "raise SystemExit(main())")
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line == ("precoro-bot demo: needs the dev kit (precoro_devkit), which is not installed; "
                    "from a checkout of the repository: pip install -e ./devkit")
