"""The worker's embedding runners, shared by its task threads, with their requests coalesced.

Each task asks for the vectors of its own few chunks. The texts are cut into slices of at most
`slice_size` and queued; each runner thread owns one single-threaded model session and encodes
whatever is queued when it comes free, up to one slice's worth, as one batch. So several small
documents in flight cost about what one batch of their chunks costs, one large document keeps
every runner busy, and parsing and indexing overlap the model's work. Nothing waits for a batch
to fill: a lone request is encoded at once.

Why single-threaded sessions side by side rather than one session using every core: on a
machine the services share, a multi-threaded run stalls whenever one of its threads is
preempted (every operator waits for its slowest thread), while independent runners keep going.
Measured on 2 cores (bench/results/ingestion.md): two one-thread runners encode ~7% more chunks
per CPU-second than one two-thread session when idle, and lose far less to a busy neighbour.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import numpy as np

from chatbot_common.embedding import Embedder


class EncodeBatcher:
    def __init__(self, runners: Sequence[Embedder], slice_size: int = 16) -> None:
        if not runners:
            raise ValueError("at least one embedding runner is needed")
        self.runners = list(runners)
        self.model_id = self.runners[0].model_id
        self.dimensions = self.runners[0].dimensions
        self.slice_size = slice_size
        self._requests: queue.Queue[tuple[list[str], Future]] = queue.Queue()
        self._threads = [threading.Thread(target=self._run, args=(runner,), name=f"encode-runner-{i}", daemon=True)
                         for i, runner in enumerate(self.runners)]
        for thread in self._threads:
            thread.start()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Vectors for `texts`, in order. `batch_size` is accepted for the Embedder interface;
        the runners choose their own batches."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        futures = []
        for first in range(0, len(texts), self.slice_size):
            future: Future = Future()
            self._requests.put((texts[first:first + self.slice_size], future))
            futures.append(future)
        parts = [future.result() for future in futures]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, runner: Embedder) -> None:
        while True:
            pending = [self._requests.get()]
            size = len(pending[0][0])
            while size < self.slice_size:
                try:
                    item = self._requests.get_nowait()
                except queue.Empty:
                    break
                pending.append(item)
                size += len(item[0])
            texts = [text for batch, _ in pending for text in batch]
            try:
                vectors = runner.encode(texts, batch_size=len(texts))
            except Exception as exc:  # every waiting task learns of it; the runner lives on
                for _, future in pending:
                    future.set_exception(exc)
                continue
            start = 0
            for batch, future in pending:
                future.set_result(vectors[start:start + len(batch)])
                start += len(batch)
