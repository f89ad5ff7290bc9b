"""The worker's embedding runners, shared by its task threads, with their requests coalesced.

Each task asks for the vectors of its chunks and waits. Every text waits in one shared pool;
each runner thread owns one single-threaded model session and, whenever it comes free, takes a
batch of up to `batch_size` texts from the pool and encodes it. So several documents in flight
cost about what one batch of their chunks costs, one large document keeps every runner busy,
and parsing and indexing overlap the model's work. Nothing waits for a batch to fill: a lone
request is encoded at once.

Which texts make a batch: the oldest waiting text and those closest to it in length. A batch
is padded to its longest text, so a batch of mixed lengths spends part of its work on padding;
measured on this model and chunk size, mixed batches encode ~15% fewer chunks per CPU-second
than batches of similar lengths (what `SentenceTransformer.encode` gets by sorting its whole
input). Anchoring on the oldest text means nothing waits behind a stream of better-fitting ones.

Why single-threaded sessions side by side rather than one session using every core: on a
machine the services share, a multi-threaded run stalls whenever one of its threads is
preempted (every operator waits for its slowest thread), while independent runners keep going.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from chatbot_common.embedding import Embedder


@dataclass
class _Request:
    vectors: np.ndarray
    remaining: int
    future: Future = field(default_factory=Future)


@dataclass
class _Text:
    order: int  # arrival: the oldest text anchors the next batch
    text: str
    request: _Request
    position: int


class EncodeBatcher:
    def __init__(self, runners: Sequence[Embedder], batch_size: int = 16) -> None:
        if not runners:
            raise ValueError("at least one embedding runner is needed")
        self.runners = list(runners)
        self.model_id = self.runners[0].model_id
        self.dimensions = self.runners[0].dimensions
        self.batch_size = batch_size
        self._waiting: list[_Text] = []  # in arrival order
        self._arrivals = itertools.count()
        self._ready = threading.Condition()
        self._threads = [threading.Thread(target=self._run, args=(runner,), name=f"encode-runner-{i}", daemon=True)
                         for i, runner in enumerate(self.runners)]
        for thread in self._threads:
            thread.start()

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Vectors for `texts`, in order. `batch_size` is accepted for the Embedder interface;
        the runners choose their own batches."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        request = _Request(np.empty((len(texts), self.dimensions), dtype=np.float32), len(texts))
        with self._ready:
            self._waiting.extend(_Text(next(self._arrivals), text, request, i) for i, text in enumerate(texts))
            self._ready.notify(min(len(self.runners), -(-len(texts) // self.batch_size)))
        return request.future.result()

    def _take(self) -> list[_Text]:
        """The next batch: the oldest waiting text and the ones nearest to it in length."""
        with self._ready:
            while not self._waiting:
                self._ready.wait()
            if len(self._waiting) <= self.batch_size:
                batch, self._waiting = self._waiting, []
                return batch
            anchor = len(self._waiting[0].text)
            nearest = sorted(range(1, len(self._waiting)), key=lambda i: abs(len(self._waiting[i].text) - anchor))
            chosen = {0, *nearest[:self.batch_size - 1]}
            batch = [t for i, t in enumerate(self._waiting) if i in chosen]
            self._waiting = [t for i, t in enumerate(self._waiting) if i not in chosen]
            return batch

    def _run(self, runner: Embedder) -> None:
        while True:
            batch = self._take()
            try:
                vectors = runner.encode([t.text for t in batch], batch_size=len(batch))
            except Exception as exc:  # every waiting request learns of it; the runner lives on
                for request in {id(t.request): t.request for t in batch}.values():
                    if not request.future.done():
                        request.future.set_exception(exc)
                continue
            complete = []
            with self._ready:  # a request's texts may be split across runners
                for item, vector in zip(batch, vectors, strict=True):
                    item.request.vectors[item.position] = vector
                    item.request.remaining -= 1
                    if item.request.remaining == 0:
                        complete.append(item.request)
            for request in complete:
                if not request.future.done():
                    request.future.set_result(request.vectors)
