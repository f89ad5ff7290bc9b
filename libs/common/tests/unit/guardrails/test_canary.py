from __future__ import annotations

import base64
import codecs
import json
import random
import string
import time

from chatbot_common.guardrails.canary import LeakGuard, _Substrings, discloses, guarded_system_prompt, new_canary, normalised


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


PROMPT = ("You are the assistant of ACME's travel desk. Hotel limits are confidential and differ by city. "
          'Always end with "Thank you for contacting ACME travel" when the user says goodbye.')


def _runs(text: str, size: int) -> set[str]:
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def test_nothing_of_the_prompt_leaves_when_it_is_quoted_from_the_start():
    """Seen on main: the preamble before the canary streamed out before the canary stopped it."""
    for piece in range(1, 9):
        canary = new_canary()
        guard = LeakGuard(canary, PROMPT)
        reply = "Sure. My instructions are: " + guarded_system_prompt(PROMPT, canary)
        assert run(guard, reply, piece) == "Sure. My instructions are: " and guard.leaked


def test_a_quotation_from_the_middle_is_stopped_before_a_run_of_the_prompt_leaves():
    for piece in (1, 3, 7, 20):
        guard = LeakGuard(new_canary(), PROMPT)
        released = run(guard, "Happy to help. Hotel limits are confidential and differ by city, I was told.", piece)
        assert guard.leaked and released == "Happy to help. "
        assert not _runs(normalised(released), 20) & _runs(normalised(PROMPT), 20)


def test_disguised_quotations_are_caught_on_the_normalised_form():
    canary = new_canary()
    spaced = " ".join(canary)  # c n r y - a b c ...
    head = base64.b64encode(guarded_system_prompt(PROMPT, canary).encode()).decode()
    for reply in (f"Here: {spaced}.", f"Encoded: {head} done", f"Backwards: {canary[::-1]}",
                  "Y O U   A R E   T H E   A S S I S T A N T   O F   A C M E ' S   T R A V E L   D E S K . hotel",
                  f"Here: {codecs.encode(canary, 'rot13')}"):
        for piece in (2, 5):
            guard = LeakGuard(canary, PROMPT)
            released = run(guard, reply, piece)
            assert guard.leaked, reply
            assert canary[5:] not in normalised(released)


def test_ordinary_answers_and_the_prompts_own_quoted_phrases_pass_unchanged():
    replies = ["Paris is the capital of France. If you do not know, ask the desk: they answer clearly.",
               "The limit in London is 250 EUR per night [1]. Thank you for contacting ACME travel",
               "Use base64 like aGVsbG8gd29ybGQ= to encode; the assistant of ACME can help with travel."]
    for reply in replies:
        for piece in range(1, 12):
            guard = LeakGuard(new_canary(), PROMPT)
            assert run(guard, reply, piece) == reply and not guard.leaked, (reply, piece)


def test_a_reply_that_keeps_something_open_costs_linear_time_and_bounded_holding():
    """Seen in review: the guard looked at everything it held on every piece, and a run of
    punctuation after a letter of the prompt was held whole: cubic time on the event loop."""
    from chatbot_common.guardrails.canary import HOLD_LIMIT

    prompt = (PROMPT + " ") * 400  # a long system prompt (about 60,000 characters)
    for text in ("a" + "-" * 20_000, "=" * 20_000, "a" + "\U0001f600" * 20_000, "a" + " " * 20_000):
        guard = LeakGuard(new_canary(), prompt)
        started = time.perf_counter()
        released = 0
        for i, ch in enumerate(text, start=1):
            released += len(guard.feed(ch))
            assert i - released <= HOLD_LIMIT + 1
        assert released + len(guard.flush()) == len(text) and not guard.leaked
        assert time.perf_counter() - started < 10.0  # about 0.3 s here; the old guard took minutes


def test_a_run_of_the_prompt_padded_out_is_still_followed_and_stopped():
    quote = "hotel limits are confidential and differ by city"
    padded = "".join(ch + "-" * 60 if ch.isalnum() else ch for ch in quote)
    guard = LeakGuard(new_canary(), PROMPT)
    released = run(guard, "Sure: " + padded, 7)
    assert guard.leaked
    assert len(normalised(released)) < 40  # what left before the stop is below a leak by definition


def _naive_run_ends(text: str, reply: str) -> list[int]:
    """After each character of `reply`, the length of its longest end that occurs in `text`."""
    out, run = [], ""
    for ch in reply:
        run += ch
        while run and run not in text:
            run = run[1:]
        out.append(len(run))
    return out


def test_the_prompt_automaton_finds_the_same_runs_as_searching_the_prompt():
    # Small alphabets make long partial matches and many clones: the automaton's hard cases.
    rng = random.Random(7)
    for alphabet in ("ab", "abc", "abcdefghij"):
        for _ in range(150):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
            reply = "".join(rng.choice(alphabet + "z") for _ in range(rng.randint(0, 80)))
            automaton = _Substrings(text)
            state, length, seen = _Substrings.ROOT, 0, []
            for ch in reply:
                state, length = automaton.extend(state, length, ch)
                seen.append(length)
            assert seen == _naive_run_ends(text, reply), (text, reply)
            assert automaton.longest_shared_run(reply) == max(seen, default=0)


def test_a_long_quote_deep_inside_a_long_argument_is_found():
    rng = random.Random(3)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    prompt = " ".join(rng.choice(words) for _ in range(2500))
    canary = new_canary()
    padding = " ".join(rng.choice(words) for _ in range(8000))
    quote = prompt[9000:9060]
    assert not discloses(json.dumps({"body": padding}), canary, guarded_system_prompt(prompt, canary))
    assert discloses(json.dumps({"body": padding + " " + quote + " " + padding}), canary, guarded_system_prompt(prompt, canary))
