import numpy as np
import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from rag.retrieval import Question, boost_phrases, fuse, keyword_coverage, query_phrases, snippet
from rag.settings import RagSettings
from rag.sparse import SparseEncoder
from rag.store import StoredHit, point_id

HOTELS = "Hotel rooms in London cost at most 250 EUR per night."
FLIGHTS = "Flights shorter than six hours are booked in economy class."
BADGES = "Visitor badges go back to reception by six in the evening."


def test_a_short_text_is_its_own_snippet_with_whitespace_collapsed():
    assert snippet("  Hotel   limits\n in London ", "hotel", 100) == "Hotel limits in London"


def test_a_long_text_is_cut_around_the_query_words_at_word_boundaries():
    text = " ".join(["filler"] * 60 + ["the", "hotel", "limit", "is", "250", "EUR"] + ["filler"] * 60)
    cut = snippet(text, "What is the hotel limit?", 80)
    assert "hotel limit is 250 EUR" in cut
    assert cut.startswith("… ") and cut.endswith(" …")
    assert all(word in ("…", "filler", "the", "hotel", "limit", "is", "250", "EUR") for word in cut.split())


async def indexed(parts):
    """Alice: a private travel document in 'travel' and a document shared with her tenant; Eve: her own."""
    travel = await parts.index(await parts.upload(parts.alice, "travel", collection="travel"), [HOTELS, FLIGHTS])
    shared = await parts.index(await parts.upload(parts.alice, "shared", visibility="tenant"), [BADGES])
    eves = await parts.index(await parts.upload(parts.eve, "eve's"), [HOTELS])
    return travel, shared, eves


async def test_each_caller_finds_only_what_they_may_read(parts):
    travel, shared, eves = await indexed(parts)

    async def readable(reader, **kw):
        # No threshold: every passage the filter lets through comes back, however weak.
        found = await parts.search.search(reader, Question("hotel rooms in London", threshold=-1.0, **kw))
        return found.searchable_documents, {p.payload["document_id"] for p in found.passages}

    assert await readable(parts.alice) == (2, {travel.id, shared.id})
    assert await readable(parts.bob) == (1, {shared.id})  # Alice's private document stays hers
    assert await readable(parts.eve) == (1, {eves.id})  # another tenant: nothing shared
    assert await readable(parts.alice, collections=("travel",)) == (2, {travel.id})
    assert await readable(parts.alice, collections=("other",)) == (2, set())
    assert await readable(parts.alice, document_ids=(shared.id,)) == (2, {shared.id})
    assert await readable(parts.bob, document_ids=(travel.id,)) == (1, set())


async def test_weak_matches_are_dropped_and_a_lower_threshold_keeps_them(parts):
    travel, _, _ = await indexed(parts)
    question = "Flights shorter than six hours"
    strong = (await parts.search.search(parts.alice, Question(question, hybrid=False))).passages
    assert [p.id for p in strong] == [point_id(travel.id, 1)]
    assert strong[0].score >= parts.settings.score_threshold
    assert strong[0].score == pytest.approx(strong[0].rank_score)  # dense only: ranked by the cosine itself
    everything = (await parts.search.search(parts.alice, Question(question, threshold=-1.0, hybrid=False))).passages
    assert len(everything) == 3 and everything[0].id == strong[0].id
    assert [p.rank_score for p in everything] == sorted((p.rank_score for p in everything), reverse=True)


async def test_hybrid_hits_are_ordered_by_the_fused_rank_and_keep_their_cosine(parts):
    travel, _, _ = await indexed(parts)
    hits = (await parts.search.search(parts.alice, Question("economy flights", threshold=-1.0))).passages
    assert hits[0].id == point_id(travel.id, 1)
    assert hits[0].rank_score == pytest.approx(1.0)  # best on both sides: half of each, relative to the best
    assert all(0 <= p.rank_score <= 1 + 1e-6 for p in hits)
    assert [p.rank_score for p in hits] == sorted((p.rank_score for p in hits), reverse=True)
    dense = (await parts.search.search(parts.alice, Question("economy flights", threshold=-1.0, hybrid=False))).passages
    assert {p.id: round(p.score, 5) for p in hits} == {p.id: round(p.score, 5) for p in dense}


async def test_the_same_passage_in_two_documents_is_shown_once(parts):
    await parts.index(await parts.upload(parts.alice, "original"), [HOTELS])
    await parts.index(await parts.upload(parts.alice, "copy with other bytes"), [HOTELS.upper() + "  "])
    found = await parts.search.search(parts.alice, Question("hotel rooms London"))
    assert found.searchable_documents == 2 and len(found.passages) == 1


async def test_a_caller_with_nothing_searchable_gets_an_empty_answer_without_a_query(parts):
    found = await parts.search.search(parts.bob, Question("anything"))
    assert (found.passages, found.searchable_documents, found.took_ms) == ([], 0, 0)
    assert parts.model_loads == []  # not even waited for


@pytest.mark.parametrize(("question", "message"), [
    (Question("   "), "query must not be empty"),
    (Question("x", top_k=51), "top_k must be 1..50"),
    (Question("x", document_ids=("../etc",)), "malformed document id"),
])
async def test_bad_questions_are_refused(parts, question, message):
    with pytest.raises(AppError) as info:
        await parts.search.search(parts.alice, question)
    assert info.value.code == ErrorCode.VALIDATION_ERROR and info.value.message == message


async def test_a_citation_opens_only_for_a_reader_of_an_indexed_document(parts):
    travel, _, _ = await indexed(parts)
    chunk_id, payload = await parts.search.chunk(parts.alice, travel.id, point_id(travel.id, 0).upper())
    assert chunk_id == point_id(travel.id, 0) and payload["text"] == HOTELS
    queued = await parts.upload(parts.alice, "not indexed yet")
    for reader, document_id, chunk in ((parts.bob, travel.id, point_id(travel.id, 0)),
                                       (parts.alice, queued.id, point_id(queued.id, 0)),
                                       (parts.alice, travel.id, point_id(new_id("doc"), 0))):
        with pytest.raises(AppError) as info:
            await parts.search.chunk(reader, document_id, chunk)
        assert info.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(AppError) as info:
        await parts.search.chunk(parts.alice, travel.id, "not-a-uuid")
    assert info.value.code == ErrorCode.VALIDATION_ERROR


async def test_rank_fusion_in_the_store_is_still_available(parts):
    travel, _, _ = await indexed(parts)
    parts.settings.fusion = "rrf"
    hits = (await parts.search.search(parts.alice, Question("economy flights", threshold=-1.0))).passages
    assert hits[0].id == point_id(travel.id, 1)
    assert all(0 < p.rank_score <= 2 / parts.settings.rrf_k + 1e-6 for p in hits)  # reciprocal ranks, not similarities


def hit(pid: str, score: float, vector) -> StoredHit:
    v = np.asarray(vector, dtype=np.float32)
    return StoredHit(pid, score, {"text": pid}, v / np.linalg.norm(v))


@pytest.mark.parametrize("dense_weight", [0.5, RagSettings.model_fields["dense_weight"].default])
def test_dense_near_duplicates_do_not_bury_the_exact_keyword_match(dense_weight):
    """45 logbook nights alike in meaning: their dense order is noise (int8 kernels differ by
    CPU); the night the words single out wins by the keyword margin, whatever that order, also
    at the default dense weight (above half)."""
    query = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    rng = np.random.default_rng(7)
    for _ in range(20):
        noise = rng.normal(0, 0.01, size=(45, 3))
        nights = [hit(f"night-{n}", 0.0, [1.0, 0.3 + noise[n, 0], 0.2 + noise[n, 1]]) for n in range(45)]
        dense_hits = sorted(nights, key=lambda h: -float(np.dot(query, h.dense)))
        keyword = [hit("night-44", 9.0, nights[44].dense), hit("night-4", 4.0, nights[4].dense),
                   hit("night-12", 3.5, nights[12].dense)]
        fused, relative = fuse(query, dense_hits, keyword, dense_weight)
        assert fused[0].id == "night-44"
        assert relative == {"night-44": 1.0, "night-4": pytest.approx(4 / 9), "night-12": pytest.approx(3.5 / 9)}


def test_fusion_without_keyword_hits_is_the_dense_order():
    query = np.array([1.0, 0.0], dtype=np.float32)
    dense_hits = [hit("a", 0.0, [1.0, 0.1]), hit("b", 0.0, [1.0, 1.0]), hit("c", 0.0, [0.0, 1.0])]
    fused, relative = fuse(query, dense_hits, [], 0.5)
    assert [h.id for h in fused] == ["a", "b", "c"] and relative == {}
    assert fuse(query, [], [], 0.5) == ([], {})


async def test_a_strong_keyword_match_is_kept_below_the_threshold_only_when_the_question_is_on_topic(parts):
    """A line of code or a table row shares the question's rare words, not its meaning: kept when
    another passage shows the question is about these documents, never on its own."""
    doc = await parts.index(await parts.upload(parts.alice, "config"), [
        "The gateway limits requests per minute for every user and answers 429 when the limit is reached.",
        "GATEWAY_RPM_LIMIT=120 GATEWAY_BURST=30 GATEWAY_WINDOW=60 GATEWAY_REDIS=redis://cache:6379/0"])
    parts.settings.score_threshold = 0.35
    question = "How many requests per minute does the gateway allow (GATEWAY_RPM_LIMIT)?"
    texts = ["The gateway limits requests per minute for every user and answers 429 when the limit is reached.",
             "GATEWAY_RPM_LIMIT=120 GATEWAY_BURST=30 GATEWAY_WINDOW=60 GATEWAY_REDIS=redis://cache:6379/0"]
    cosines = (parts.embedder.encode([question]) @ parts.embedder.encode(texts).T)[0]
    assert cosines[0] >= 0.35 > cosines[1]  # the configuration line alone would be dropped as weak
    found = {p.id for p in (await parts.search.search(parts.alice, Question(question))).passages}
    assert found == {point_id(doc.id, 0), point_id(doc.id, 1)}
    parts.settings.keyword_keep = 1.01  # the rule off: only the threshold
    found = {p.id for p in (await parts.search.search(parts.alice, Question(question))).passages}
    assert found == {point_id(doc.id, 0)}
    parts.settings.keyword_keep = 0.5
    parts.settings.score_threshold = 0.9  # no passage is close in meaning: the question is off topic
    assert (await parts.search.search(parts.alice, Question(question))).passages == []


def test_a_passage_holding_the_questions_words_together_is_lifted():
    """'JWT secret key' stands together in `jwt_secret_key`; a passage that has the three words
    apart gets nothing from the phrase, one that has them in a name gets the whole weight."""
    assert query_phrases("How long must the JWT secret key be?") == {("jwt", "secret"), ("secret", "key"), ("long", "must")}
    together = StoredHit("together", 0.5, {"text": "jwt_secret_key: SecretStr = Field(..., min_length=32)"})
    apart = StoredHit("apart", 0.6, {"text": "The key is secret; a JWT is signed with it."})
    section = StoredHit("section", 0.48, {"text": "min_length=32", "section": "Settings > JWT secret key"})
    boosted = boost_phrases("How long must the JWT secret key be?", [apart, section, together], 0.2)
    assert [h.id for h in boosted] == ["together", "section", "apart"]
    assert boosted[0].rank_score == pytest.approx(0.5 + 0.2 * 2 / 3)
    assert boost_phrases("hotels", [apart], 0.2)[0].rank_score == 0.6  # one word: no pair, no change


def test_keyword_coverage_is_the_share_of_the_question_terms_the_best_keyword_match_holds():
    """A question worded unlike its evidence meets a few of its common words in some passage; a
    question quoting a name meets most of its terms in the passage that holds it."""
    encoder = SparseEncoder()

    def coverage(question: str, *passages: tuple[str, str, float]) -> float:
        hits = [StoredHit(text, score, {"text": text, "section": section}) for text, section, score in passages]
        return keyword_coverage(encoder, encoder.query(question)[0], hits)

    paraphrase = "What does the guide advise about putting several queries to the user in a single reply?"
    noise = ("Query rewriting expands a user query into several queries before retrieval.", "Advanced RAG", 7.0)
    assert coverage(paraphrase, noise, ("Ask one question at a time.", "Best Practices", 1.0)) < 0.4
    exact = "Which setting holds GATEWAY_RPM_LIMIT for the gateway?"
    config = ("GATEWAY_RPM_LIMIT=120 GATEWAY_BURST=30", "Gateway settings", 9.0)
    assert coverage(exact, config, noise) >= 0.6
    assert coverage(exact) == 0.0 and keyword_coverage(encoder, [], [StoredHit("x", 1.0, {"text": "x"})]) == 0.0


async def test_when_the_keyword_side_matches_little_of_the_question_hybrid_follows_the_dense_side(parts):
    travel, _, _ = await indexed(parts)
    parts.settings.phrase_weight = 0.0
    parts.settings.weak_keyword_coverage = 1.01  # every question's best keyword match counts as weak
    parts.settings.weak_keyword_dense_weight = 1.0
    question = Question("economy flights hotel rooms", threshold=-1.0)
    hybrid = (await parts.search.search(parts.alice, question)).passages
    dense = (await parts.search.search(parts.alice, Question(question.text, threshold=-1.0, hybrid=False))).passages
    assert [p.id for p in hybrid] == [p.id for p in dense]
    assert [p.rank_score for p in hybrid] == pytest.approx([p.score / dense[0].score for p in dense])
    parts.settings.weak_keyword_coverage = 0.0  # the rule off: the keyword side weighs in again
    mixed = (await parts.search.search(parts.alice, question)).passages
    assert [p.rank_score for p in mixed] != pytest.approx([p.score / dense[0].score for p in dense])
