"""The pieces of conversation memory that need no server: the window's split, what counts as a
fact to remember, a generated title's clean-up, and which tokenizer counts for which model."""

import pytest

from chatbot_common.tokens import ByteEstimate
from conversation.context_window import Budget, fit_newest, history_allowance, needs_summary, share
from conversation.llm import ModelFacts
from conversation.summaries import clean_title
from conversation.models import Message
from conversation.tokenizers import CL100K, Counters
from conversation.turn import FINISH_ERROR, unsummarised_history
from conversation.user_memory import facts_in


def test_memory_takes_its_share_capped():
    assert share(free=4000, cap=600, fraction=0.25) == 600
    assert share(free=1000, cap=600, fraction=0.25) == 250
    assert share(free=-5, cap=600, fraction=0.25) == 0


def test_history_takes_the_rest_capped_when_a_cap_is_set():
    assert history_allowance(3000, 0) == 3000
    assert history_allowance(3000, 400) == 400
    assert history_allowance(200, 400) == 200


def test_newest_items_fit_first():
    budget = Budget(10_000, 0)
    # each item costs tokens + 6 (template) + 1
    kept, used = fit_newest(budget, 60, [50, 10, 20, 10])
    assert (kept, used) == (2, 17 + 27)  # the last two (10 and 20), not the 50 before them


def test_summary_triggers_at_its_share_of_the_allowance():
    assert not needs_summary(79, 100, 0.8)
    assert needs_summary(80, 100, 0.8)
    assert not needs_summary(500, 0, 0.8)  # no room for history at all: nothing to summarise into


@pytest.mark.parametrize(("message", "facts"), [
    ("Remember that I work in the Berlin office.", ["I work in the Berlin office"]),
    ("please remember: my manager is Ana", ["My manager is Ana"]),
    ("Could you remember that I prefer metric units? Thanks!", ["I prefer metric units"]),
    ("Keep in mind that I use Linux. What's a good editor?", ["I use Linux"]),
    ("Do you remember what I said?", []),
    ("Remember when we met in Rome?", []),
    ("Remember that day?", []),
    ("I remember that my first car was red.", []),
    ("What is the capital of France?", []),
    ("remember this", []),
])
def test_facts_are_what_the_person_plainly_asks_to_remember(message, facts):
    assert facts_in(message) == facts


def test_an_overlong_fact_is_not_taken():
    assert facts_in("Remember that " + "x" * 600) == []


@pytest.mark.parametrize(("raw", "title"), [
    ('Title: "Planning a garden"\nMore text', "Planning a garden"),
    ("**Paris trip.**", "Paris trip"),
    ("   \n  ", ""),
    ("A title that is far too long to be kept whole by the clean up", "A title that is far too long to be kept"),
])
def test_generated_titles_are_cleaned(raw, title):
    assert clean_title(raw, 40) == title


def test_openai_models_are_counted_with_tiktoken():
    counters = Counters(ByteEstimate())
    counter, exact = counters.for_model(ModelFacts(128_000, "", ("openai:gpt-4",)))
    assert counter.name == CL100K and exact
    # "Hello world" is two cl100k tokens; the byte estimate would say 4.
    assert counter.count(["Hello world", "<|endoftext|>"])[0] == 2
    # gpt-4o uses o200k_base: cl100k counts are then an estimate (the margin applies).
    counter, exact = counters.for_model(ModelFacts(128_000, "", ("openai:gpt-4o-mini",)))
    assert counter.name == CL100K and not exact
    # A chain that may end on another provider is estimated with the default counter.
    counter, exact = counters.for_model(ModelFacts(8192, "", ("openai:gpt-4", "anthropic:claude-3-5-haiku-latest")))
    assert counter is counters.default and not exact


def test_the_catalogue_names_the_exact_tokenizer():
    counters = Counters(ByteEstimate())
    counter, exact = counters.for_model(ModelFacts(2048, ByteEstimate.name, ("local:smollm2-135m-instruct",)))
    assert counter is counters.default and exact


def test_a_fold_leaves_the_newest_messages_within_their_share_and_never_fewer_than_the_minimum():
    from conversation.models import Message
    from conversation.summaries import _kept

    messages = [Message(id=str(i), role="user", content="x", token_count=13) for i in range(10)]  # 20 each with overhead
    assert _kept(messages, keep_tokens=100, keep_messages=2) == 5
    assert _kept(messages, keep_tokens=10, keep_messages=2) == 2
    assert _kept(messages[:1], keep_tokens=10, keep_messages=4) == 1


class _CountingEstimate(ByteEstimate):
    """The byte estimate, remembering every text it was asked to count."""

    def __init__(self) -> None:
        self.counted: list[str] = []

    def count(self, texts):
        self.counted += texts
        return super().count(texts)


async def test_a_turn_counts_only_the_newest_history_its_allowance_reaches(tmp_path):
    from conversation.models import Message
    from conversation.settings import ConversationSettings
    from conversation.turn import ChatTurn, TurnRequest

    estimate = _CountingEstimate()
    turn = ChatTurn(None, None, Counters(estimate), ConversationSettings(var_dir=tmp_path), TurnRequest("u", "t", "hi"))
    budget = Budget(10_000, 0)
    # 200 messages of 30 bytes (11 tokens, 18 with overhead): answers of an estimated model carry
    # no count of this counter and are counted again; questions carry theirs.
    history = [Message(id=str(i), role="user" if i % 2 == 0 else "assistant", content=f"{i:03d}" + "y" * 27,
                       token_count=11 if i % 2 == 0 else 999, token_counter=ByteEstimate.name if i % 2 == 0 else "")
               for i in range(200)]
    counts = await turn._newest_counts(budget, history, allowance=90)
    # Five messages fit in 90 tokens; the sixth passes the allowance (the summary trigger's answer).
    assert counts == [11] * 6 and fit_newest(budget, 90, counts) == (5, 90)
    assert estimate.counted == [m.content for m in history[184:] if m.token_counter == ""]  # the newest 16 only
    # With room for all of it, every message is counted, as before.
    estimate.counted.clear()
    assert await turn._newest_counts(budget, history, allowance=100_000) == [11] * 200
    assert len(estimate.counted) == 100


def _message(id_: str, role: str = "user", finish: str | None = None) -> Message:
    return Message(id=id_, conversation_id="c", role=role, content=f"text of {id_}", parent_id=None, finish_reason=finish or "", citations=[])


def test_history_after_the_summary_even_when_its_last_message_failed_since():
    q1, a1, q2, a2, q3 = (_message("q1"), _message("a1", "assistant"), _message("q2"), _message("a2", "assistant"), _message("q3"))
    used, history = unsummarised_history([a1, q2, a2, q3], "a1", "q3", 200)
    assert used and [m.id for m in history] == ["q2", "a2"]
    # a1 failed after it was summarised (a resumed run stopped): the summary still ends there.
    failed = _message("a1", "assistant", FINISH_ERROR)
    used, history = unsummarised_history([failed, q2, a2, q3], "a1", "q3", 200)
    assert used and [m.id for m in history] == ["q2", "a2"]
    # No summary, or one of another branch: the whole branch read is history, failed answers left out.
    assert unsummarised_history([q1, failed, q2, a2, q3], "", "q3", 200) == (False, [q1, q2, a2])
    assert unsummarised_history([q1, a1, q2, a2, q3], "elsewhere", "q3", 2) == (False, [q2, a2])
