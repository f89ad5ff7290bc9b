"""The `python -m <service>` entrypoint shared by every gRPC service: configure logging, run
`serve` on uvloop (`python -m <service> migrate` runs the service's migrations instead).

A service's `__main__` calls `load_settings` first, before it imports its server, so a bad
value stops the process at once with one line naming the variable, and no traceback."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError

from chatbot_common.logging import configure_logging
from chatbot_common.settings import ServiceSettings, configuration_errors

S = TypeVar("S", bound=ServiceSettings)


def load_settings(settings_cls: type[S]) -> S:
    """Every setting of the service, read and checked once; on a bad value the process ends
    (exit 2) with one line per problem on stderr, and no traceback."""
    try:
        return settings_cls()
    except (ValidationError, SettingsError) as exc:
        for line in configuration_errors(exc, settings_cls):
            print(f"invalid configuration: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def run_service(
    name: str,
    settings: S,
    serve: Callable[[S], Awaitable[None]],
    migrate: Callable[[S], None] | None = None,
) -> None:
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
