"""One embedding model shared by the worker's task threads, with their requests coalesced.

Each task asks for the vectors of its own few chunks; a single thread runs the model on
everything queued at that moment as one batch, so several small documents in flight cost about
what one batch of their chunks costs, and their parsing and indexing overlap the model's work.
There is no waiting for a batch to fill: a lone request is encoded at once.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np

from chatbot_common.embedding import Embedder


class EncodeBatcher:
    def __init__(self, embedder: Embedder, max_batch: int = 64) -> None:
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.max_batch = max_batch
        self._requests: queue.Queue[tuple[list[str], Future]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="encode-batcher", daemon=True)
        self._thread.start()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dimensions), dtype=np.float32)
        future: Future = Future()
        self._requests.put((texts, future))
        return future.result()

    def _run(self) -> None:
        while True:
            pending = [self._requests.get()]
            size = len(pending[0][0])
            while size < self.max_batch:
                try:
                    item = self._requests.get_nowait()
                except queue.Empty:
                    break
                pending.append(item)
                size += len(item[0])
            texts = [text for batch, _ in pending for text in batch]
            try:
                vectors = self.embedder.encode(texts, batch_size=max(len(texts), 1))
            except Exception as exc:  # every waiting task learns of it; the thread lives on
                for _, future in pending:
                    future.set_exception(exc)
                continue
            start = 0
            for batch, future in pending:
                future.set_result(vectors[start:start + len(batch)])
                start += len(batch)
