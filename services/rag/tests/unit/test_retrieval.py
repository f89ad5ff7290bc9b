import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import new_id
from rag.retrieval import Question, snippet
from rag.store import point_id

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
    k = parts.settings.rrf_k
    assert all(0 < p.rank_score <= 2 / k + 1e-6 for p in hits)  # reciprocal ranks from two lists, not similarities
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
