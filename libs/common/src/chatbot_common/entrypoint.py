"""The `python -m <service>` entrypoint shared by every gRPC service:
read settings (failing fast on bad config), configure logging, run `serve` on uvloop.
`python -m <service> migrate` runs the service's migrations instead, where it has any."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

from chatbot_common.logging import configure_logging
from chatbot_common.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def load_settings(settings_cls: type[S]) -> S:
    try:
        return settings_cls()
    except ValidationError as exc:
        # Print which variables are wrong, never their values (they may be secrets).
        lines = [f"  {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        print(f"invalid configuration for {settings_cls.__name__}:\n" + "\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def run_service(
    name: str,
    settings_cls: type[S],
    serve: Callable[[S], Awaitable[None]],
    migrate: Callable[[S], None] | None = None,
) -> None:
    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, settings.log_json)
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "migrate":
        if migrate is None:
            print(f"{name} has no database to migrate", file=sys.stderr)
            return
        migrate(settings)
        return
    if command != "serve":
        print(f"usage: python -m {name.replace('-', '_')} [serve|migrate]", file=sys.stderr)
        raise SystemExit(2)
    import uvloop

    from chatbot_common.tracing import configure_tracing, shutdown_tracing

    configure_tracing(name, settings.traces_file)
    try:
        uvloop.run(serve(settings))
    finally:
        shutdown_tracing()
