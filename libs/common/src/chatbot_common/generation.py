"""What every service calls the parts of a generation it relays: defined once for the fleet."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModelSelected:
    """The provider and model actually answering (after aliases, fallback and retries): the
    orchestrator's router decides it, the conversation stores it, the gateway shows it."""

    provider: str
    model: str
