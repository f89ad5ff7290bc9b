"""A run against an earlier one: what improved and what regressed, per metric and per question,
and the gates a CI pipeline sets (`--fail-under`, `--max-regression`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Changes smaller than this are no change (float noise).
EPSILON = 1e-9


@dataclass
class Change:
    metric: str
    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    def verdict(self, tolerance: float = 0.0) -> str:
        d = self.delta
        if d is None:
            return "new" if self.before is None and self.after is not None else ("lost" if self.after is None and self.before is not None else "n/a")
        if d > tolerance + EPSILON:
            return "improved"
        if d < -(tolerance + EPSILON):
            return "regressed"
        return "same"


@dataclass
class Comparison:
    previous_created_at: str
    metrics: list[Change]
    # question id -> the changes of its metrics that moved
    improved: dict[str, list[Change]] = field(default_factory=dict)
    regressed: dict[str, list[Change]] = field(default_factory=dict)
    only_now: list[str] = field(default_factory=list)
    only_before: list[str] = field(default_factory=list)


def _means(run: dict[str, Any]) -> dict[str, float | None]:
    return {name: entry.get("mean") for name, entry in run.get("summary", {}).items()}


def compare(current: dict[str, Any], previous: dict[str, Any], tolerance: float = 0.0) -> Comparison:
    now, before = _means(current), _means(previous)
    metrics = [Change(name, before.get(name), now.get(name)) for name in dict.fromkeys([*now, *before])]
    result = Comparison(str(previous.get("created_at", "")), metrics)
    old = {row["id"]: row for row in previous.get("questions", [])}
    new = {row["id"]: row for row in current.get("questions", [])}
    result.only_now = [i for i in new if i not in old]
    result.only_before = [i for i in old if i not in new]
    for qid, row in new.items():
        if qid not in old:
            continue
        names = dict.fromkeys([*row.get("scores", {}), *old[qid].get("scores", {})])
        changes = [Change(n, old[qid]["scores"].get(n), row["scores"].get(n)) for n in names]
        up = [c for c in changes if c.verdict(tolerance) == "improved"]
        down = [c for c in changes if c.verdict(tolerance) == "regressed"]
        if up:
            result.improved[qid] = up
        if down:
            result.regressed[qid] = down
    return result


def parse_thresholds(items: list[str], option: str) -> dict[str, float]:
    """`metric=value` pairs; a bare value applies to every metric (key `*`)."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{option} {item!r}: expected metric=number") from None
        out[name if sep else "*"] = number
    return out


def gate(current: dict[str, Any], comparison: Comparison | None, fail_under: dict[str, float],
         max_regression: dict[str, float]) -> list[str]:
    """The reasons the run fails its gates (empty: it passes). A gate on a metric the run did not
    measure fails: a pipeline must not pass because the judge was down."""
    failures = []
    means = _means(current)
    for name, floor in fail_under.items():
        targets = list(means) if name == "*" else [name]
        for metric in targets:
            value = means.get(metric)
            if value is None:
                failures.append(f"{metric}: not measured (gate {floor:g})")
            elif value < floor:
                failures.append(f"{metric}: {value:.3f} is under {floor:g}")
    if max_regression and comparison is not None:
        for change in comparison.metrics:
            allowed = max_regression.get(change.metric, max_regression.get("*"))
            if allowed is None:
                continue
            if change.before is not None and change.after is None:
                failures.append(f"{change.metric}: measured before ({change.before:.3f}), not now")
            elif change.delta is not None and -change.delta > allowed + EPSILON:
                failures.append(f"{change.metric}: fell {-change.delta:.3f} ({change.before:.3f} -> {change.after:.3f}), "
                                f"more than {allowed:g}")
    return failures
