"""Secrets the orchestrator keeps in its database (MCP servers' credentials), encrypted at rest
with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`).

The key comes from LLM_SECRETS_KEY: one or more Fernet keys, comma-separated, newest first; the
newest encrypts, every one decrypts, so keys rotate without rewriting rows at once. The embedded
default (development, no key configured) makes a key file under var/ readable by its owner
only; staging and production refuse to start without a configured key (settings)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsUnreadable(Exception):
    """A stored secret no configured key decrypts (the key was changed without the old one kept)."""


def check_keys(value: str) -> None:
    """Raises ValueError (without the value) unless every comma-separated part is a Fernet key."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        raise ValueError("LLM_SECRETS_KEY: empty")
    for part in parts:
        try:
            Fernet(part)
        except (ValueError, TypeError):
            raise ValueError("LLM_SECRETS_KEY: not a Fernet key (32 url-safe base64-encoded bytes)") from None


def key_file_key(path: Path) -> str:
    """The embedded default's key: read from `path`, or created there (mode 0600) by the first
    process that starts; processes starting at once agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return path.read_text().strip()


class SecretBox:
    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(part.strip()) for part in keys.split(",") if part.strip()])

    def seal(self, value: dict[str, str]) -> str:
        return self._fernet.encrypt(orjson.dumps(value)).decode()

    def open(self, token: str) -> dict[str, str]:
        if not token:
            return {}
        try:
            return orjson.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretsUnreadable("stored credentials cannot be decrypted with the configured LLM_SECRETS_KEY") from None


def open_box(configured: str | None, var_dir: Path) -> SecretBox:
    return SecretBox(configured if configured else key_file_key(var_dir / "llm" / "secrets.key"))
