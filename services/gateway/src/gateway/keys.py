"""Signing keys for the gateway's JWTs: Ed25519 (EdDSA), each with a `kid`, rotated.

Keys are PEM files named `<kid>.pem` in one directory: a Kubernetes Secret mounted into every
replica, or for the embedded default a folder under var/ where a first key is generated. The
newest key signs; every key in the folder verifies, so tokens signed before a rotation stay
valid until they expire. Public keys are published as a JWKS (`/.well-known/jwks.json`), so
other services verify tokens without the private key.
"""

from __future__ import annotations

import base64
import fcntl
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created: float

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    def jwk(self) -> dict:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
                "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def _new_kid() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + os.urandom(4).hex()


class KeyRing:
    RELOAD_SECONDS = 30.0

    def __init__(self, directory: Path, *, create: bool) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = 0.0
        self.reload()
        if not self._keys:
            if not create:
                raise ValueError(f"no signing key in {self.directory}: add one with `python -m gateway keys rotate`")
            # Several processes starting at once agree on one first key.
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(self.directory / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.reload()
                if not self._keys:
                    self.rotate()

    def reload(self) -> None:
        keys = {}
        if self.directory.is_dir():
            for path in self.directory.glob("*.pem"):
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(private, Ed25519PrivateKey):
                    raise ValueError(f"{path.name} is not an Ed25519 private key")
                keys[path.stem] = SigningKey(path.stem, private, path.stat().st_mtime)
        with self._lock:
            self._keys = keys
            self._loaded_at = time.monotonic()

    def rotate(self) -> SigningKey:
        """A new key that signs from now on; the older ones keep verifying."""
        key = SigningKey(_new_kid(), Ed25519PrivateKey.generate(), time.time())
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        path = self.directory / f"{key.kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        with self._lock:
            self._keys[key.kid] = key
        return key

    def retire(self, kid: str) -> bool:
        """Removes a key: tokens it signed stop verifying."""
        with self._lock:
            if kid not in self._keys or len(self._keys) == 1:
                return False
            del self._keys[kid]
        (self.directory / f"{kid}.pem").unlink(missing_ok=True)
        return True

    @property
    def active(self) -> SigningKey:
        with self._lock:
            return max(self._keys.values(), key=lambda k: (k.created, k.kid))

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at > self.RELOAD_SECONDS:
            self.reload()  # another replica (or an operator) may have rotated since
            key = self._keys.get(kid)
        return key.public if key else None

    def jwks(self) -> dict:
        with self._lock:
            return {"keys": [k.jwk() for k in sorted(self._keys.values(), key=lambda k: k.kid)]}
