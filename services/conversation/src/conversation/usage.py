"""Money in the usage ledger: the orchestrator prices each answer (a USD decimal string, empty
when the model has no price) and this service stores it as an integer of picodollars
(10^-12 USD), so sums in SQL stay exact on SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

PICO = Decimal(10) ** 12


def to_pico(cost: str) -> int | None:
    """The wire's decimal string as picodollars; None for an unknown (or unreadable) cost."""
    if not cost:
        return None
    try:
        value = Decimal(cost)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return int((value * PICO).to_integral_value(ROUND_HALF_EVEN))


def from_pico(pico: int | None) -> str:
    """Picodollars as the wire's decimal string ("" for unknown)."""
    if pico is None:
        return ""
    text = format((Decimal(pico) / PICO).normalize(), "f")
    return "0" if text in ("0", "-0") else text
