"""A self-hosting admin's first hour (issue 16): the CLI answers with one line and an exit code,
never a traceback; a clean stop exits 0; `--version`; the sandbox works as the README says.

Most of these run `python -m bot` as its own process: exit codes, stderr and signals are what an
admin or a supervisor sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
import yaml

from bot.config import ConfigError, parse_config
from bot.vault import generate_key
from precoro_devkit.emulator.process import BotProcess, free_port
from precoro_devkit.emulator.stack import stack_raw_config
from tests.support.paths import ROOT


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def write_config(tmp_path: Path, database_url: str | None = None, **overrides: object) -> Path:
    raw = stack_raw_config(precoro_url="http://127.0.0.1:9", slack_url="http://127.0.0.1:9",
                           database_url=database_url or f"sqlite:///{tmp_path / 'bot.db'}",
                           signing_secret="s" * 32, key=generate_key(), **{"server.host": "127.0.0.1", **overrides})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def unreachable_postgres() -> str:
    return f"postgresql://bot:hunter2-secret@127.0.0.1:{free_port()}/bot"


# --- version and help ---------------------------------------------------------------------------


def test_version_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"precoro-bot {version}"


def test_help_documents_every_exit_code() -> None:
    out = cli("--help").stdout
    assert "exit codes:" in out
    for code, words in ((0, "stopped cleanly"), (2, "config"), (3, "database"), (4, "port in use")):
        assert any(line.strip().startswith(f"{code} ") and words in line for line in out.splitlines()), code
    readme = (ROOT / "README.md").read_text()
    for code in range(5):
        assert f"| {code} |" in readme


# --- storage.url --------------------------------------------------------------------------------


def test_storage_url_takes_only_sqlite_or_postgresql(tmp_path: Path) -> None:
    raw = stack_raw_config(precoro_url="http://127.0.0.1:9", slack_url="http://127.0.0.1:9", database_url="x",
                           signing_secret="s", key=generate_key())
    for url in ("mysql://root@db/bot", "mongodb://db", "precoro-bot.db", "sqlite://relative.db"):
        raw["storage"]["url"] = url
        with pytest.raises(ConfigError) as caught:
            parse_config(raw, env={})
        assert caught.value.key == "storage.url"
    for url in ("sqlite:///bot.db", "sqlite:////data/bot.db", "postgresql://u@h/db", "postgres://u@h/db"):
        raw["storage"]["url"] = url
        assert parse_config(raw, env={}).storage_url == url

    config = write_config(tmp_path, "mysql://root:pw@db/bot")
    for command in ("check-config", "serve", "status"):
        done = cli(command, "--config", str(config))
        assert done.returncode == 2, (command, done.stderr)
        line = one_line(done.stderr)
        assert "storage.url" in line and "postgresql://" in line and "pw" not in line


# --- the database -------------------------------------------------------------------------------


def test_check_config_connects_to_the_database_and_says_so(tmp_path: Path, database_url: str) -> None:
    from bot.store import Store

    Store.open(database_url).close()  # a database that exists
    done = cli("check-config", "--config", str(write_config(tmp_path, database_url)))
    assert done.returncode == 0, done.stderr
    assert "reachable" in done.stdout


def test_check_config_fails_fast_on_an_unreachable_database(tmp_path: Path) -> None:
    started = time.monotonic()
    done = cli("check-config", "--config", str(write_config(tmp_path, unreachable_postgres())))
    assert done.returncode == 3
    line = one_line(done.stderr)
    assert "cannot use the database at storage.url (postgresql://bot:***@127.0.0.1" in line
    assert "hunter2" not in done.stderr + done.stdout
    assert time.monotonic() - started < 20

    missing_folder = write_config(tmp_path, f"sqlite:///{tmp_path / 'no' / 'such' / 'bot.db'}")
    done = cli("check-config", "--config", str(missing_folder))
    assert done.returncode == 3 and "does not exist or is not writable" in one_line(done.stderr)


def test_serve_and_status_on_an_unreachable_database_are_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, unreachable_postgres(), **{"logging.format": "json"})
    serve = cli("serve", "--config", str(config), "--port", str(free_port()))
    assert serve.returncode == 3
    entry = json.loads(one_line(serve.stderr))
    assert entry["level"] == "CRITICAL" and "cannot use the database at storage.url" in entry["message"]
    assert "hunter2" not in serve.stderr
    status = cli("status", "--config", str(config))
    assert status.returncode == 3 and "cannot use the database" in one_line(status.stderr)


def test_status_with_a_malformed_key_is_a_config_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, **{"encryption.keys": [{"id": "k1", "key": "not-a-real-key"}]})
    done = cli("status", "--config", str(config))
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert "encryption.keys" in line and "not-a-real-key" not in line


# --- listening and stopping ---------------------------------------------------------------------


def test_a_port_in_use_is_one_json_line_before_anything_serves(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, **{"logging.format": "json", "server.port": port})
        done = cli("serve", "--config", str(config))
        for local in ("sandbox", "emulator"):
            other = cli(local, "--port", str(port))
            assert other.returncode == 4, other.stderr
            assert one_line(other.stderr).startswith(f"cannot listen on 127.0.0.1:{port}: the port is in use")
    assert done.returncode == 4
    entry = json.loads(one_line(done.stderr))
    assert entry["message"].startswith(f"cannot listen on 127.0.0.1:{port}: the port is in use")
    assert "server.port" in entry["message"]
    assert "serving" not in done.stderr + done.stdout


def test_sigterm_stops_cleanly_with_exit_0_and_healthcheck_follows_the_configured_port(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, **{"server.port": port})
    bot = BotProcess(config, port, tmp_path / "bot.log")
    try:
        asyncio.run(bot.ready())
        healthy = cli("healthcheck", "--config", str(config))
        assert healthy.returncode == 0 and f":{port}/healthz" in healthy.stdout
        bot.proc.send_signal(signal.SIGTERM)
        assert bot.proc.wait(30) == 0, (tmp_path / "bot.log").read_text()
    finally:
        bot.stop()
    log = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log and "serving 1 company" in log
    unhealthy = cli("healthcheck", "--config", str(config))
    assert unhealthy.returncode == 1 and "unhealthy" in one_line(unhealthy.stderr)


# --- packaging: Docker, compose, pins, license ----------------------------------------------------


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_keeps_data_checks_the_configured_port_and_caches_dependencies() -> None:
    lines = dockerfile()
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    assert any(line.startswith("VOLUME") and "/data" in line for line in final)
    env = " ".join(line for line in final if line.startswith("ENV "))
    assert "PRECORO_BOT_STORAGE_URL=sqlite:////data/" in env
    [health] = [line for line in final if line.startswith("HEALTHCHECK")]
    assert '"precoro-bot", "healthcheck", "--config", "/app/config.yaml"' in health and "3000" not in health
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    labels = " ".join(line for line in final if line.startswith("LABEL"))
    for key in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert "Apache-2.0" in labels
    # Dependencies are installed, pinned by constraints.txt, before the code is copied in.
    copy_code = next(i for i, line in enumerate(lines) if line.startswith("COPY") and " bot " in f"{line} ")
    copy_pins = next(i for i, line in enumerate(lines) if line.startswith("COPY") and "constraints.txt" in line)
    install_deps = next(i for i, line in enumerate(lines) if line.startswith("RUN") and "-c constraints.txt" in line)
    assert copy_pins < install_deps < copy_code


def test_compose_brings_up_the_bot_with_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"bot", "postgres"}
    bot, postgres = services["bot"], services["postgres"]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "healthcheck" in " ".join(bot["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    named = {str(v).split(":")[0] for v in postgres["volumes"]}
    assert named <= set(compose["volumes"])
    assert bot["environment"]["PRECORO_BOT_STORAGE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in bot["environment"]["PRECORO_BOT_STORAGE_URL"]
    example = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    assert "${PRECORO_BOT_STORAGE_URL" in example["storage"]["url"]  # the same config file works in both


def _requirement_names(specs: list[str]) -> set[str]:
    from packaging.requirements import Requirement

    return {Requirement(s).name.lower().replace("_", "-") for s in specs}


def test_versions_are_pinned_by_one_constraints_file_that_tests_ci_and_docker_use() -> None:
    from importlib.metadata import version

    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"not pinned: {line}"
            pins[name.lower().replace("_", "-")] = pinned
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(project["dependencies"]) | _requirement_names(project["optional-dependencies"]["test"])
    assert wanted <= set(pins), wanted - set(pins)
    for name, pinned in pins.items():  # the suite runs on exactly what is pinned
        assert version(name) == pinned, name
    assert "-c constraints.txt" in (ROOT / "scripts" / "test").read_text()
    assert "-c constraints.txt" in (ROOT / "scripts" / "serve").read_text()
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
    assert any("-c constraints.txt" in line for line in dockerfile())


def test_license_and_package_metadata() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["readme"] == "README.md"
    assert project["authors"] and project["maintainers"]
    assert project["urls"]
    assert "License :: OSI Approved :: Apache Software License" not in project["classifiers"]  # SPDX instead
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in project["classifiers"])


# --- the sandbox --------------------------------------------------------------------------------


async def _until(fn, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await fn()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError


def test_sandbox_add_a_document_and_click_approve(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "sandbox", "--port", str(port)], stdout=out,
                                stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    page = f"http://127.0.0.1:{port}"

    async def flow() -> None:
        async with httpx.AsyncClient(base_url=page, timeout=10) as http:
            async def state() -> dict | None:
                assert proc.poll() is None, log.read_text()
                try:
                    answer = await http.get("/api/state")
                except httpx.HTTPError:
                    return None
                return answer.json() if answer.status_code == 200 else None

            await _until(state)
            assert "<button" in (await http.get("/")).text
            added = (await http.post("/api/documents", json={"approver": "bob", "amount": "42.00"})).json()
            idn = added["idn"]

            async def dm() -> dict | None:
                bob = next(u for u in (await state() or {}).get("users", []) if u["name"] == "bob")
                return next((m for m in bob["messages"] if any(idn in line for line in m["lines"])), None)

            message = await _until(dm)
            assert any(b["action_id"] == "precoro_approve" for b in message["buttons"])
            clicked = await http.post("/api/click", json={"user": "bob", "channel": message["channel"],
                                                          "ts": message["ts"], "action_id": "precoro_approve"})
            assert clicked.json() == {"status": 200}

            async def approved() -> dict | None:
                current = await state() or {}
                return next((r for r in current.get("precoro_writes", [])
                             if idn in r["path"] and r["path"].endswith("/approve")), None)

            post = await _until(approved)
            bob_token = next(u["token"] for u in (await state())["users"] if u["name"] == "bob")
            assert (post["method"], post["status"], post["token"]) == ("POST", 200, bob_token)
            await _until(lambda: _shows_approved(state, idn))

    try:
        asyncio.run(flow())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = log.read_text()
    assert f"open http://127.0.0.1:{port}/" in out and "Traceback" not in out


async def _shows_approved(state, idn: str) -> bool:  # type: ignore[no-untyped-def]
    current = await state() or {}
    bob = next(u for u in current.get("users", []) if u["name"] == "bob")
    return any(any(idn in line for line in m["lines"]) and any("Approved by" in line for line in m["lines"])
               for m in bob["messages"])
