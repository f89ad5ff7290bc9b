"""The shared embedding model with the real ONNX Runtime: every quantisation target loads
from the file its quantiser writes, and agrees with the default; runners are sized by the
cores the process may use."""

import os

import numpy as np
import pytest

from chatbot_common.embedding import Embedder, EmbeddingSettings, embedding_runners, quantised_file, usable_cpus

pytestmark = pytest.mark.contract  # loads the ONNX embedding model

TEXTS = ["The nightly hotel limit is 180 EUR in Berlin.", "Passwords must have at least fourteen characters."]


@pytest.mark.parametrize("target", ["avx2", "avx512"])
def test_every_quantisation_target_loads_and_agrees_with_the_default(target):
    settings = EmbeddingSettings(quantization=target)
    vectors = Embedder(settings).encode(TEXTS)
    assert (settings.cache_dir / "all-MiniLM-L6-v2-onnx" / "onnx" / quantised_file(target)).is_file()
    default = Embedder(EmbeddingSettings()).encode(TEXTS)
    assert np.sum(vectors * default, axis=1).min() > 0.97


def test_runners_default_to_the_usable_cores():
    cpus = usable_cpus()
    assert 1 <= cpus <= len(os.sched_getaffinity(0))
    runners = embedding_runners(0, EmbeddingSettings())
    assert len(runners) == cpus
    assert len({id(r) for r in runners}) == cpus  # separate sessions, not one shared
    one = embedding_runners(1, EmbeddingSettings(threads=2))
    assert len(one) == 1 and one[0].settings.threads == 2
