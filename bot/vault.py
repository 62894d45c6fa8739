"""Encrypt approvers' Precoro tokens at rest.

AES-256-GCM with a fresh 96-bit nonce per encryption. A ciphertext reads
`v1.<key id>.<base64url(nonce || ciphertext+tag)>`; the key id lets several keys live side by
side during a rotation. The associated data binds a token to its owner (company, Slack team,
Slack user): a ciphertext copied onto another approver's row does not decrypt. Like Fernet,
every failure is one exception type whose message never contains key or plaintext material.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12


class VaultError(Exception):
    """A token could not be encrypted or decrypted (wrong key, tampering, wrong owner, bad key)."""


def generate_key() -> str:
    """A new random 256-bit key, base64url-encoded, for the config's `encryption.keys`."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def owner_binding(company: str, team_id: str, user_id: str) -> bytes:
    """The associated data that ties a token to its owner."""
    return f"precoro-token|{company}|{team_id}|{user_id}".encode()


def _decode_key(key_id: str, encoded: str) -> AESGCM:
    try:
        raw = base64.b64decode(encoded.encode("ascii") + b"=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise VaultError(f"encryption key {key_id!r} is not valid base64") from None
    if len(raw) != 32:
        raise VaultError(f"encryption key {key_id!r} must be 32 bytes (use `precoro-bot gen-key`)")
    return AESGCM(raw)


class Vault:
    """Keys by id; the first one encrypts, every one decrypts."""

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        self._keys: dict[str, AESGCM] = {}
        for key_id, encoded in keys:
            if not key_id or "." in key_id:
                raise VaultError(f"encryption key id {key_id!r} must be non-empty and contain no '.'")
            self._keys[key_id] = _decode_key(key_id, encoded)
        if not self._keys:
            raise VaultError("no encryption key configured")
        self.current_key_id = next(iter(self._keys))

    def encrypt(self, plaintext: str, *, binding: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext.encode("utf-8"), binding)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{_VERSION}.{self.current_key_id}.{body}"

    def decrypt(self, ciphertext: str, *, binding: bytes) -> str:
        version, key_id, body = self._split(ciphertext)
        aead = self._keys.get(key_id)
        if version != _VERSION or aead is None:
            raise VaultError(f"no key {key_id!r} to decrypt this token (was the key removed from the config?)")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plaintext = aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], binding)
        except (InvalidTag, binascii.Error, ValueError, UnicodeEncodeError):
            raise VaultError("token does not decrypt: tampered, or bound to another owner") from None
        return plaintext.decode("utf-8")

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The configured key ids, the current (encrypting) one first."""
        return tuple(self._keys)

    def key_id_of(self, ciphertext: str) -> str:
        return self._split(ciphertext)[1]

    def needs_rotation(self, ciphertext: str) -> bool:
        return self.key_id_of(ciphertext) != self.current_key_id

    def rotate(self, ciphertext: str, *, binding: bytes) -> str:
        """Re-encrypt under the current key (a no-op cost if it already is)."""
        if not self.needs_rotation(ciphertext):
            return ciphertext
        return self.encrypt(self.decrypt(ciphertext, binding=binding), binding=binding)

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, str, str]:
        parts = ciphertext.split(".", 2) if isinstance(ciphertext, str) else []
        if len(parts) != 3:
            raise VaultError("not a vault ciphertext")
        return parts[0], parts[1], parts[2]
