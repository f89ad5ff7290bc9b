"""The worker's shared embedding runners with the real model: requests from many task threads
at once come back complete, in order and equal to encoding them alone; a failing batch fails
only its own requests and the runners keep serving."""

import random
import threading

import numpy as np
import pytest

from chatbot_common.embedding import EmbeddingSettings, embedding_runners
from ingest_worker.batching import EncodeBatcher

pytestmark = pytest.mark.contract  # loads the ONNX embedding model

SUBJECTS = ["The cafeteria", "Our Berlin office", "The payroll team", "A contractor", "The security desk", "Every laptop",
            "The travel policy", "Parental leave", "The quarterly report", "A vendor invoice", "The parking garage"]
PREDICATES = ["opens at eight in the morning", "needs a manager's approval", "is reviewed every spring",
              "must be returned within thirty days", "is paid on the last Friday", "closes during public holidays",
              "requires two forms of identification", "is archived for seven years"]


@pytest.fixture(scope="module")
def runners():
    return embedding_runners(2, EmbeddingSettings())


def requests_of(sizes: list[int]) -> list[list[str]]:
    """Requests of distinct statements, each repeated to a length from a few words to a few
    hundred, so the runners' batches have a choice of lengths."""
    rng = random.Random(3)
    statements = [f"{s} {p}." for s in SUBJECTS for p in PREDICATES]
    rng.shuffle(statements)
    assert sum(sizes) <= len(statements)
    texts = iter(" ".join([statement] * rng.choice([1, 3, 8, 20])) for statement in statements)
    return [[next(texts) for _ in range(size)] for size in sizes]


def test_concurrent_requests_get_their_own_vectors_in_order(runners):
    batcher = EncodeBatcher(runners, batch_size=8)
    requests = requests_of([1, 5, 17, 30, 2, 9, 20, 1])
    results: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        results[i] = batcher.encode(requests[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results) == list(range(len(requests)))
    for i, request in enumerate(requests):
        alone = runners[0].encode(request)
        assert results[i].shape == (len(request), batcher.dimensions)
        # Batched with other requests' texts, each vector is its own text's: closest to that
        # text encoded alone (not equal: int8 activations are quantised per batch, so a vector
        # moves slightly with its batch's company; measured ≥ 0.985 cosine).
        similarity = results[i] @ alone.T
        assert (similarity.argmax(axis=1) == np.arange(len(request))).all()
        assert np.diag(similarity).min() > 0.97, (i, np.diag(similarity).min())
    assert batcher.encode([]).shape == (0, batcher.dimensions)


def test_a_failing_batch_fails_its_requests_and_the_runners_keep_serving(runners):
    batcher = EncodeBatcher(runners, batch_size=8)
    with pytest.raises(Exception):
        batcher.encode([None])  # type: ignore[list-item]  # the tokenizer refuses it
    vectors = batcher.encode(["the hotel limit in Berlin", "passwords have fourteen characters"])
    assert vectors.shape == (2, batcher.dimensions)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)

