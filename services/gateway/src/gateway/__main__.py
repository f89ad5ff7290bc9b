"""`python -m gateway [serve|migrate]`."""

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
    if command != "serve":
        print("usage: python -m gateway [serve|migrate]", file=sys.stderr)
        raise SystemExit(2)
    import uvicorn

    from gateway.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )


if __name__ == "__main__":
    main()
