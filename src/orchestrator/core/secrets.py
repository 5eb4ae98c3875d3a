"""Secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the server's secret.

Each sealed value is bound to where it belongs (`context`, e.g. `credential:SERVER:USER`)
as associated data, so a row copied onto another user or server does not open. One box
per purpose (`info`): MCP secrets and model connections' API keys use different keys.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from orchestrator.core.errors import OrchestratorError

_VERSION = "v1."
MCP_INFO = b"orchestrator mcp secrets v1"


class SecretUnreadable(OrchestratorError):
    """A stored secret does not open (SECRET_KEY changed, or the row was tampered with)."""

    status_code = 409
    code = "secret_unreadable"


class SecretBox:
    """Seals and opens small JSON documents."""

    def __init__(
        self, secret_key: str, *, info: bytes = MCP_INFO, label: str = "MCP secret"
    ) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            secret_key.encode("utf-8")
        )
        self._aead = AESGCM(key)
        self._label = label

    def seal(self, value: dict[str, Any], context: str) -> str:
        """Encrypt `value` for `context`."""
        nonce = os.urandom(12)
        data = json.dumps(value, separators=(",", ":")).encode("utf-8")
        sealed = self._aead.encrypt(nonce, data, context.encode("utf-8"))
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, context: str) -> dict[str, Any]:
        """Decrypt a value sealed for `context`; `SecretUnreadable` otherwise."""
        try:
            if not token.startswith(_VERSION):
                raise ValueError("unknown format")
            raw = base64.urlsafe_b64decode(token[len(_VERSION) :])
            data = self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8"))
            value = json.loads(data)
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable(
                f"a stored {self._label} cannot be decrypted (was SECRET_KEY changed?); "
                "set it again"
            ) from exc
        if not isinstance(value, dict):
            raise SecretUnreadable(f"a stored {self._label} is malformed; set it again")
        return value
