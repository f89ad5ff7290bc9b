from llm_orchestrator.providers.base import StopSequences
from llm_orchestrator.resilience import BreakerState, CircuitBreaker, backoff_delay


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now = 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # one trial
    assert not breaker.allow()  # and only one
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED and breaker.allow()


def test_success_resets_the_consecutive_count():
    breaker = CircuitBreaker(threshold=2, cooldown=1, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_backoff_is_bounded_full_jitter():
    assert backoff_delay(0, 0.5, 4, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 4, rng=lambda: 1.0) == 4.0
    assert backoff_delay(10, 0.5, 4, rng=lambda: 0.5) == 2.0
    assert backoff_delay(2, 0.5, 4, rng=lambda: 0.0) == 0.0


def test_stop_sequences_cut_across_chunk_boundaries():
    stops = StopSequences(("END",))
    out = stops.feed("hello E") + stops.feed("N") + stops.feed("D and more")
    assert out == "hello " and stops.stopped


def test_stop_sequences_pass_text_through_without_stops():
    stops = StopSequences(())
    assert stops.feed("abc") == "abc" and stops.flush() == ""
