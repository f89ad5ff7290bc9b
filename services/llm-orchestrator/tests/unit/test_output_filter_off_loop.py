"""Long text is redacted off the event loop: a long run of digits held and let go, or a whole
long answer, costs tens of milliseconds to scan, and on the loop it stalled every other stream
(an attack found 20 kB of fullwidth digits holding another user's 11-character reply for 4 s).
Asserted by where the work runs, not by timing: the real filter, noting the thread each long
text is looked at on, never sees the loop's thread, and gives what it gives in place."""

from __future__ import annotations

import threading

from chatbot_common.guardrails.redaction import OFF_LOOP_CHARS, Redactor, StreamRedactor
from llm_orchestrator import output_filter


class WatchedRedactor(Redactor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []  # (thread, length) of each text redacted

    def redact(self, text: str, *, partial: bool = False):
        self.seen.append((threading.get_ident(), len(text)))
        return super().redact(text, partial=partial)


class WatchedStream(StreamRedactor):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__(redactor)
        self.looks: list[tuple[int, int]] = []  # (thread, length) of each held text looked at

    def _hold_from(self, text: str, **kinds) -> int:
        self.looks.append((threading.get_ident(), len(text)))
        return super()._hold_from(text, **kinds)


ANSWER = "Numbers: " + "\uff11 " * 5000 + "and a card 4111 1111 1111 1111 today. " + "Short words follow. " * 20


async def test_long_holds_and_long_answers_are_filtered_off_the_loop():
    loop_thread = threading.get_ident()
    redactor = WatchedRedactor()
    stream = WatchedStream(redactor)
    out = [await output_filter.feed(stream, ANSWER[k:k + 4]) for k in range(0, len(ANSWER), 4)]
    out.append(await output_filter.flush(stream))
    whole, found = await output_filter.redact(redactor, ANSWER)

    long_work = [t for t, n in redactor.seen + stream.looks if n > OFF_LOOP_CHARS]
    assert long_work and loop_thread not in long_work
    short_work = [t for t, n in redactor.seen + stream.looks if n <= 64]
    assert short_work and set(short_work) == {loop_thread}  # ordinary text stays on the loop
    in_place = StreamRedactor(Redactor())
    expected = "".join(in_place.feed(ANSWER[k:k + 4]) for k in range(0, len(ANSWER), 4)) + in_place.flush()
    assert "".join(out) == expected and whole == Redactor().redact(ANSWER)[0]
    assert "4111" not in "".join(out) and "4111" not in whole and found["CARD"] == 1
