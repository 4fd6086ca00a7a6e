"""Webhook signing secrets: made here, shown once in the Standard Webhooks form (`whsec_` + base64),
kept encrypted at rest with AES-256-GCM under a key derived (HKDF-SHA256) from the master secret, and
used to sign deliveries (`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.Protocol.KDF import HKDF

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
NONCE_BYTES = 12
_CONTEXT = b"credchain webhook secrets v1"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as a receiver configures it (Standard Webhooks: `whsec_<base64>`)."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def sign(secret: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header of one delivery."""
    mac = hmac.new(secret, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


@dataclass
class SecretBox:
    """Encrypts and decrypts subscription secrets with a key derived from the master secret; keeps
    the decrypted ones by ciphertext (per dispatcher or gateway process, never in a global)."""

    master_secret: str
    _key: bytes = field(init=False, repr=False)
    _plain: dict[str, bytes] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        key = HKDF(self.master_secret.encode(), 32, b"", SHA256, context=_CONTEXT)
        assert isinstance(key, bytes)
        self._key = key

    def encrypt(self, secret: bytes) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        data, tag = cipher.encrypt_and_digest(secret)
        return base64.b64encode(nonce + tag + data).decode("ascii")

    def decrypt(self, text: str) -> bytes:
        """The secret of `text` (ValueError if it was not encrypted under this master secret)."""
        plain = self._plain.get(text)
        if plain is None:
            raw = base64.b64decode(text)
            nonce, tag, data = raw[:NONCE_BYTES], raw[NONCE_BYTES : NONCE_BYTES + 16], raw[NONCE_BYTES + 16 :]
            cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
            plain = cipher.decrypt_and_verify(data, tag)
            if len(self._plain) > 10_000:
                self._plain.clear()
            self._plain[text] = plain
        return plain
