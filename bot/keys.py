"""The stored tokens against the configured keys: the startup check and `rotate-keys`.

Both only read and re-encrypt ciphertexts; no token is ever printed, logged or returned.
Rotation is safe while the service runs: each row is replaced with a compare-and-set, so a token
registered (or rotated by another run) meanwhile is never overwritten; such a row is re-read and
tried again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.store.approvers import Approver, ApproverRepo
from bot.vault import Vault, VaultError, owner_binding

_CAS_TRIES = 3


@dataclass(frozen=True)
class KeyProblem:
    """An approver whose stored token the configured keys cannot decrypt."""

    approver_id: int
    company: str
    slack_user_id: str
    key_id: str  # the key id the ciphertext names ("?" when unreadable)
    problem: str


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0  # already under the newest key
    changed_meanwhile: int = 0  # re-registered while we worked: left as registered
    problems: list[KeyProblem] = field(default_factory=list)
    rotated_by_company: Counter[str] = field(default_factory=Counter)


def _binding(approver: Approver) -> bytes:
    return owner_binding(approver.company, approver.team_id, approver.slack_user_id)


def _problem(vault: Vault, approver: Approver) -> KeyProblem | None:
    ciphertext = approver.token_ciphertext
    try:
        key_id = vault.key_id_of(ciphertext)
    except VaultError as exc:
        return KeyProblem(approver.id, approver.company, approver.slack_user_id, "?", str(exc))
    if key_id not in vault.key_ids:
        return KeyProblem(approver.id, approver.company, approver.slack_user_id, key_id,
                          f"key {key_id!r} is not configured")
    try:
        vault.decrypt(ciphertext, binding=_binding(approver))
    except VaultError as exc:
        return KeyProblem(approver.id, approver.company, approver.slack_user_id, key_id, str(exc))
    return None


def check_stored_tokens(repo: ApproverRepo, vault: Vault) -> list[KeyProblem]:
    """Every approver whose token would fail to decrypt (missing key id, wrong key, tampering)."""
    return [p for a in repo.list() if (p := _problem(vault, a)) is not None]


def describe(problems: list[KeyProblem], limit: int = 20, *, workspaces: Sequence[str] = ()) -> str:
    """A message for the operator: what is wrong, for whom, and what to do (`workspaces`: Slack
    workspaces whose stored bot token does not decrypt)."""
    missing = sorted({p.key_id for p in problems if "not configured" in p.problem})
    lines = [f"{len(problems) + len(workspaces)} stored token(s) cannot be decrypted with the configured "
             "encryption.keys:"]
    lines += [f"  approver {p.approver_id} ({p.company}, Slack user {p.slack_user_id}): {p.problem}"
              for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  and {len(problems) - limit} more")
    lines += [f"  the Slack bot token of workspace {team}" for team in workspaces[:limit]]
    if missing:
        lines.append(f"Add the missing key(s) {', '.join(repr(k) for k in missing)} back to encryption.keys "
                     "(the first key encrypts, every listed key decrypts), then run `precoro-bot rotate-keys`.")
    lines.append("A key with the right id but the wrong value also shows here: restore its value, or remove "
                 "those approvers and register them again.")
    return "\n".join(lines)


def rotate_all(repo: ApproverRepo, vault: Vault) -> RotationReport:
    """Re-encrypt every stored token under the vault's current (first) key."""
    report = RotationReport()
    for approver in repo.list():
        for _ in range(_CAS_TRIES):
            try:
                if not vault.needs_rotation(approver.token_ciphertext):
                    report.current += 1
                    break
                new = vault.rotate(approver.token_ciphertext, binding=_binding(approver))
            except VaultError:
                report.problems.append(_problem(vault, approver) or KeyProblem(
                    approver.id, approver.company, approver.slack_user_id, "?", "does not decrypt"))
                break
            if repo.replace_ciphertext(approver.id, approver.token_ciphertext, new):
                report.rotated += 1
                report.rotated_by_company[approver.company] += 1
                break
            fresh = repo.get(approver.id)  # re-registered or removed meanwhile: look again
            if fresh is None:
                break
            approver = fresh
        else:
            report.changed_meanwhile += 1
    return report
