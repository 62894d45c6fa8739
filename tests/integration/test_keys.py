"""Encryption keys against the stored tokens: `rotate-keys`, and the startup check of `serve` and
`check-config` (a missing or wrong key is a clear error before anything runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from bot.keys import check_stored_tokens, rotate_all
from bot.store import Store
from bot.store.approvers import ApproverRepo
from bot.vault import Vault, generate_key, owner_binding
from precoro_devkit.emulator.stack import stack_raw_config
from tests.support.paths import ROOT

K1, K2 = generate_key(), generate_key()
TOKENS = {"U0ALICE": "acme-alice-token-1234", "U0BOB": "acme-bob-token-5678"}
NOW = 1_700_000_000.0


def register(store: Store, vault: Vault) -> None:
    for user, token in TOKENS.items():
        store.approvers.upsert(company="acme", team_id="T0TEAM", slack_user_id=user, email=f"{user}@example.com",
                               token_ciphertext=vault.encrypt(token, binding=owner_binding("acme", "T0TEAM", user)),
                               registered_by="U0ADMIN", now=NOW)


def config_file(tmp_path: Path, database_url: str, keys: list[tuple[str, str]]) -> Path:
    raw: dict[str, Any] = stack_raw_config(precoro_url="http://127.0.0.1:9", slack_url="http://127.0.0.1:9",
                                           database_url=database_url, signing_secret="s" * 32, key=K1)
    raw["encryption"] = {"keys": [{"id": i, "key": k} for i, k in keys]}
    path = tmp_path / f"config-{'-'.join(i for i, _ in keys)}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def key_ids(store: Store) -> list[str]:
    return sorted(a.token_ciphertext.split(".")[1] for a in store.approvers.list())


def test_rotate_keys_reencrypts_everything_under_the_first_key(store: Store, database_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    register(store, Vault([("k1", K1)]))
    both = config_file(tmp_path, database_url, [("k2", K2), ("k1", K1)])

    assert main(["rotate-keys", "--config", str(both)]) == 0
    out = capsys.readouterr().out
    assert "2 token(s) re-encrypted under key 'k2'; 0 already under it" in out
    assert key_ids(store) == ["k2", "k2"]
    new = Vault([("k2", K2)])
    for a in store.approvers.list():
        assert new.decrypt(a.token_ciphertext, binding=owner_binding("acme", "T0TEAM", a.slack_user_id)) == \
            TOKENS[a.slack_user_id]
    assert main(["rotate-keys", "--config", str(both)]) == 0
    assert "0 token(s) re-encrypted under key 'k2'; 2 already under it" in capsys.readouterr().out
    assert [e.action for e in store.audit.recent("acme")] == ["token.rekey"]
    # Only the new key left: everything still reads.
    assert main(["check-config", "--config", str(config_file(tmp_path, database_url, [("k2", K2)]))]) == 0
    out = capsys.readouterr().out
    assert "every stored token decrypts" in out and not any(t in out for t in TOKENS.values())


def test_a_missing_key_is_a_clear_error_naming_the_approvers(store: Store, database_url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    register(store, Vault([("k1", K1)]))
    only_new = config_file(tmp_path, database_url, [("k2", K2)])
    assert main(["check-config", "--config", str(only_new)]) == 2
    err = capsys.readouterr().err
    assert "2 stored token(s) cannot be decrypted" in err
    assert "Slack user U0ALICE" in err and "Slack user U0BOB" in err and "'k1'" in err
    assert not any(t in err for t in TOKENS.values()) and K1 not in err and K2 not in err

    wrong_value = config_file(tmp_path, database_url, [("k1", K2)])  # right id, wrong key
    assert main(["check-config", "--config", str(wrong_value)]) == 2
    assert "does not decrypt" in capsys.readouterr().err

    serve = subprocess.run([sys.executable, "-m", "bot", "serve", "--config", str(only_new), "--port", "1"],
                           capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert serve.returncode == 2
    assert "cannot start: encryption.keys: 2 stored token(s) cannot be decrypted" in serve.stderr
    assert "Traceback" not in serve.stderr and not any(t in serve.stderr for t in TOKENS.values())


def test_rotation_never_overwrites_a_token_registered_meanwhile(store: Store) -> None:
    register(store, Vault([("k1", K1)]))
    vault = Vault([("k2", K2), ("k1", K1)])
    repo = store.approvers
    real_replace = repo.replace_ciphertext
    raced: list[int] = []

    class Racing(ApproverRepo):
        def replace_ciphertext(self, approver_id: int, old: str, new: str) -> bool:
            if not raced:  # an admin registers a new token for this approver right now
                raced.append(approver_id)
                approver = repo.get(approver_id)
                assert approver is not None
                repo.upsert(company="acme", team_id="T0TEAM", slack_user_id=approver.slack_user_id,
                            email=approver.email, registered_by="U0ADMIN", now=NOW + 1,
                            token_ciphertext=vault.encrypt("fresh-token-000000", binding=owner_binding(
                                "acme", "T0TEAM", approver.slack_user_id)))
            return real_replace(approver_id, old, new)

    report = rotate_all(Racing(store.engine), vault)
    assert (report.rotated, report.current, report.problems) == (1, 1, [])
    raced_approver = repo.get(raced[0])
    assert raced_approver is not None
    binding = owner_binding("acme", "T0TEAM", raced_approver.slack_user_id)
    assert vault.decrypt(raced_approver.token_ciphertext, binding=binding) == "fresh-token-000000"
    assert check_stored_tokens(repo, Vault([("k2", K2)])) == []


def test_status_command_prints_each_window_and_every_approver(store: Store, database_url: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`precoro-bot status` (in this file for its config helper): the operator's view of the quota."""
    register(store, Vault([("k1", K1)]))
    store.approvers.mark_polled(store.approvers.list()[0].id, NOW, 0)
    assert main(["status", "--config", str(config_file(tmp_path, database_url, [("k1", K1)]))]) == 0
    out = capsys.readouterr().out
    assert "company acme (planner: adaptive)" in out
    assert "window 1 h: 0 of 150000 requests used, 100 kept for clicks" in out
    assert "window 24 h: 0 of 3000000 requests used, 200 kept for clicks" in out
    assert "2 active approver(s), next poll first:" in out
    for user in TOKENS:
        assert f"{user} {user}@example.com: every " in out
    assert "last never" in out and "last 2023-11-14 22:13:20 UTC" in out
