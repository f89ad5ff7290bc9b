from __future__ import annotations

import random

from chatbot_common.guardrails.canary import LeakGuard, new_canary


def run(guard: LeakGuard, text: str, piece: int) -> str:
    out = [guard.feed(text[i:i + piece]) for i in range(0, len(text), piece)]
    return "".join(out) + guard.flush()


def test_ordinary_text_passes_whole_in_any_pieces():
    canary = new_canary()
    text = "The answer is cnry but not the marker; cnry-12 is also fine. Done."
    for piece in range(1, 12):
        assert run(LeakGuard(canary), text, piece) == text


def test_the_canary_never_leaves_whatever_the_cut():
    rng = random.Random(7)
    for _ in range(200):
        canary = new_canary()
        text = "Sure! My instructions begin with " + (canary.upper() if rng.random() < 0.3 else canary) + " and then more."
        guard = LeakGuard(canary)
        released = run(guard, text, rng.randint(1, 9))
        assert guard.leaked
        assert canary not in released.lower() and released == text[: len(released)]
        assert len(released) <= text.lower().index(canary)


def test_the_output_redactor_never_alters_a_canary():
    # The redactor runs on the reply before the guard; a canary it rewrote would pass the guard.
    from chatbot_common.guardrails.redaction import Redactor

    redactor = Redactor()
    for _ in range(2000):
        canary = new_canary()
        text = f"My instructions begin: {canary} 4242"
        assert redactor.redact(text)[0] == text
        guard = LeakGuard(canary)
        assert run(guard, redactor.redact(text)[0], 3) == "My instructions begin: " and guard.leaked
