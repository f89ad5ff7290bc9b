"""`python -m gateway [serve|migrate|keys list|keys rotate|keys retire KID]`."""

from __future__ import annotations

import sys
from pathlib import Path

from chatbot_common import db
from chatbot_common.entrypoint import load_settings
from chatbot_common.logging import configure_logging
from gateway.settings import GatewaySettings

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level, settings.log_json)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        db.upgrade_to_head(MIGRATIONS, db.normalize_url(settings.database_url))
        return
    if command == "keys":
        keys(settings, sys.argv[2:])
        return
    if command != "serve":
        print("usage: python -m gateway [serve|migrate|keys list|keys rotate|keys retire KID]", file=sys.stderr)
        raise SystemExit(2)
    import uvicorn

    from chatbot_common.tracing import configure_tracing, shutdown_tracing
    from gateway.app import create_app

    configure_tracing("gateway", settings.traces_file)

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    shutdown_tracing()


def keys(settings: GatewaySettings, args: list[str]) -> None:
    """Signing-key rotation: `rotate` adds a key that signs from now on (older ones still
    verify until retired); `retire KID` removes one; `list` shows them, newest last."""
    from gateway.keys import KeyRing

    action = args[0] if args else "list"
    if action == "rotate":
        try:
            key = KeyRing(settings.jwt_keys_dir, create=False).rotate()
        except ValueError:  # no key yet: this is the first
            key = KeyRing(settings.jwt_keys_dir, create=True).active
        print(f"active key: {key.kid}")
        return
    ring = KeyRing(settings.jwt_keys_dir, create=False)
    if action == "retire" and len(args) == 2:
        print("retired" if ring.retire(args[1]) else "not retired (unknown, or the only key)")
        return
    active = ring.active.kid
    for jwk in ring.jwks()["keys"]:
        print(jwk["kid"] + ("  (active)" if jwk["kid"] == active else ""))


if __name__ == "__main__":
    main()
