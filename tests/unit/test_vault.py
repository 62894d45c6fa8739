"""The token vault: AES-GCM bound to the token's owner, key ids, rotation, no secret in errors."""

from __future__ import annotations

import base64

import pytest

from bot.vault import Vault, VaultError, generate_key, owner_binding

TOKEN = "precoro-token-7d9e1f2a3b4c5d6e"
ALICE = owner_binding("acme", "T0001", "U0ALICE")
BOB = owner_binding("acme", "T0001", "U0BOB")
OLD_KEY = generate_key()
NEW_KEY = generate_key()


def test_round_trip() -> None:
    vault = Vault([("k1", OLD_KEY)])
    sealed = vault.encrypt(TOKEN, binding=ALICE)
    assert TOKEN not in sealed
    assert sealed.startswith("v1.k1.")
    assert vault.decrypt(sealed, binding=ALICE) == TOKEN


def test_round_trip_unicode_and_empty() -> None:
    vault = Vault([("k1", OLD_KEY)])
    for text in ("", "токен-ключ-✓"):
        assert vault.decrypt(vault.encrypt(text, binding=ALICE), binding=ALICE) == text


def test_each_encryption_uses_a_fresh_nonce() -> None:
    vault = Vault([("k1", OLD_KEY)])
    sealed = {vault.encrypt(TOKEN, binding=ALICE) for _ in range(20)}
    assert len(sealed) == 20
    assert all(vault.decrypt(s, binding=ALICE) == TOKEN for s in sealed)


@pytest.mark.parametrize(
    "other",
    [
        owner_binding("acme", "T0001", "U0BOB"),  # another user
        owner_binding("globex", "T0001", "U0ALICE"),  # another company
        owner_binding("acme", "T0002", "U0ALICE"),  # another Slack team
    ],
)
def test_ciphertext_moved_to_another_owner_does_not_decrypt(other: bytes) -> None:
    vault = Vault([("k1", OLD_KEY)])
    sealed = vault.encrypt(TOKEN, binding=ALICE)
    with pytest.raises(VaultError) as info:
        vault.decrypt(sealed, binding=other)
    assert TOKEN not in str(info.value)


def test_tampered_ciphertext_fails() -> None:
    vault = Vault([("k1", OLD_KEY)])
    sealed = vault.encrypt(TOKEN, binding=ALICE)
    prefix, body = sealed.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    for position in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[position] ^= 0x01
        tampered = f"{prefix}.{base64.urlsafe_b64encode(bytes(flipped)).decode()}"
        with pytest.raises(VaultError):
            vault.decrypt(tampered, binding=ALICE)


@pytest.mark.parametrize(
    "garbage",
    ["", "plain-token", "v1.k1", "v1.k1.!!!not-base64!!!", "v1.k1.AAAA", "v2.k1.AAAA"],
)
def test_malformed_ciphertext_fails_with_vault_error(garbage: str) -> None:
    with pytest.raises(VaultError):
        Vault([("k1", OLD_KEY)]).decrypt(garbage, binding=ALICE)


def test_unknown_key_id_names_the_key_id_but_not_the_key() -> None:
    sealed = Vault([("old", OLD_KEY)]).encrypt(TOKEN, binding=ALICE)
    with pytest.raises(VaultError) as info:
        Vault([("new", NEW_KEY)]).decrypt(sealed, binding=ALICE)
    message = str(info.value)
    assert "'old'" in message
    assert OLD_KEY not in message
    assert NEW_KEY not in message
    assert TOKEN not in message


def test_same_key_id_with_a_different_key_fails() -> None:
    sealed = Vault([("k1", OLD_KEY)]).encrypt(TOKEN, binding=ALICE)
    with pytest.raises(VaultError):
        Vault([("k1", NEW_KEY)]).decrypt(sealed, binding=ALICE)


def test_rotation_to_a_new_key() -> None:
    old_vault = Vault([("old", OLD_KEY)])
    sealed = old_vault.encrypt(TOKEN, binding=ALICE)

    both = Vault([("new", NEW_KEY), ("old", OLD_KEY)])
    assert both.current_key_id == "new"
    assert both.decrypt(sealed, binding=ALICE) == TOKEN
    assert both.needs_rotation(sealed)

    rotated = both.rotate(sealed, binding=ALICE)
    assert both.key_id_of(rotated) == "new"
    assert not both.needs_rotation(rotated)
    assert both.rotate(rotated, binding=ALICE) == rotated  # already current: unchanged

    new_only = Vault([("new", NEW_KEY)])
    assert new_only.decrypt(rotated, binding=ALICE) == TOKEN
    with pytest.raises(VaultError):
        new_only.decrypt(sealed, binding=ALICE)  # the old ciphertext needs the retired key


def test_rotation_keeps_the_owner_binding() -> None:
    sealed = Vault([("old", OLD_KEY)]).encrypt(TOKEN, binding=ALICE)
    both = Vault([("new", NEW_KEY), ("old", OLD_KEY)])
    with pytest.raises(VaultError):
        both.rotate(sealed, binding=BOB)
    rotated = both.rotate(sealed, binding=ALICE)
    with pytest.raises(VaultError):
        both.decrypt(rotated, binding=BOB)


def test_new_encryptions_use_the_first_key() -> None:
    vault = Vault([("new", NEW_KEY), ("old", OLD_KEY)])
    assert vault.key_id_of(vault.encrypt(TOKEN, binding=ALICE)) == "new"


@pytest.mark.parametrize(
    ("key_id", "key", "names"),
    [
        ("short", base64.urlsafe_b64encode(b"x" * 16).decode(), "32 bytes"),
        ("long", base64.urlsafe_b64encode(b"x" * 33).decode(), "32 bytes"),
        ("notb64", "this is *not* base64 at all!", "'notb64'"),  # invalid characters are dropped
        ("nonascii", "ключ" * 11, "base64"),
        ("a.b", generate_key(), "'.'"),
        ("", generate_key(), "non-empty"),
    ],
)
def test_bad_keys_raise_vault_error(key_id: str, key: str, names: str) -> None:
    with pytest.raises(VaultError) as info:
        Vault([(key_id, key)])
    assert names in str(info.value)
    assert key not in str(info.value)


def test_no_keys_raise_vault_error() -> None:
    with pytest.raises(VaultError):
        Vault([])


def test_vault_errors_never_contain_the_plaintext_token() -> None:
    vault = Vault([("k1", OLD_KEY)])
    sealed = vault.encrypt(TOKEN, binding=ALICE)
    failures = [
        lambda: vault.decrypt(sealed, binding=BOB),
        lambda: vault.decrypt(sealed[:-4], binding=ALICE),
        lambda: Vault([("k2", NEW_KEY)]).decrypt(sealed, binding=ALICE),
        lambda: vault.decrypt(TOKEN, binding=ALICE),  # a plaintext token stored by mistake
        lambda: Vault([("k2", NEW_KEY), ("k1", OLD_KEY)]).rotate(sealed, binding=BOB),
    ]
    for fail in failures:
        with pytest.raises(VaultError) as info:
            fail()
        assert TOKEN not in str(info.value)
        assert TOKEN not in repr(info.value)
        assert info.value.__cause__ is None or TOKEN not in str(info.value.__cause__)


def test_generate_key_gives_distinct_usable_32_byte_keys() -> None:
    key = generate_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_key() != key
    vault = Vault([("fresh", key)])
    assert vault.decrypt(vault.encrypt(TOKEN, binding=ALICE), binding=ALICE) == TOKEN


def test_unpadded_key_is_accepted() -> None:
    key = generate_key().rstrip("=")
    vault = Vault([("k", key)])
    assert vault.decrypt(vault.encrypt(TOKEN, binding=ALICE), binding=ALICE) == TOKEN
