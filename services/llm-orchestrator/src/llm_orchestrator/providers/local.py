"""The embedded default: a GGUF model run in-process by llama-cpp-python.

One llama context serves one request at a time. Requests wait in a FIFO queue (an
asyncio.Lock wakes waiters in arrival order) and generation runs on a dedicated thread,
so the event loop keeps serving other streams while tokens are produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import codecs
import logging
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chatbot_common.errors import ProviderErrorKind
from llm_orchestrator.providers.base import (
    ChatMessage,
    Delta,
    End,
    GenParams,
    ModelSpec,
    ProviderError,
    StopSequences,
    ToolCall,
    Usage,
)
from llm_orchestrator.providers.constrained import Constraint, as_template_messages, constraint, read_call

log = logging.getLogger(__name__)


class _Cancelled(Exception):
    pass


class _TokenPipe:
    """From the llama thread to the event loop. Text that arrives while the consumer is busy or
    throttled is joined into one delta, and the loop is woken once per batch, not per token."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._text: list[str] = []
        self._calls: list[ToolCall] = []
        self._final: End | BaseException | None = None
        self._ready = asyncio.Event()
        self._finished = asyncio.Event()  # cuts a throttling pause short: the end goes out at once
        self._signalled = False

    def put(self, item: Delta | ToolCall | End | BaseException) -> None:  # on the llama thread
        with self._lock:
            if isinstance(item, Delta):
                self._text.append(item.text)
            elif isinstance(item, ToolCall):
                self._calls.append(item)
            else:
                self._final = item
                self._loop.call_soon_threadsafe(self._finished.set)
            if self._signalled:
                return
            self._signalled = True
        self._loop.call_soon_threadsafe(self._ready.set)

    def _take(self) -> tuple[str, list[ToolCall], End | BaseException | None]:
        with self._lock:
            text, calls, final = "".join(self._text), list(self._calls), self._final
            self._text.clear()
            self._calls.clear()
            self._signalled = False
            self._ready.clear()
        return text, calls, final

    async def items(self, interval: float) -> AsyncIterator[Delta | ToolCall | End]:
        last = None
        while True:
            await self._ready.wait()
            if last is not None and self._final is None:
                pause = last + interval - self._loop.time()
                if pause > 0:
                    with contextlib.suppress(TimeoutError):  # let a few more tokens join this delta
                        await asyncio.wait_for(self._finished.wait(), pause)
            text, calls, final = self._take()
            if text:
                yield Delta(text)
                last = self._loop.time()
            for call in calls:
                yield call
            if isinstance(final, BaseException):
                raise final
            if final is not None:
                yield final
                return


class LocalProvider:
    name = "local"

    def __init__(
        self, model_path: Path, model_name: str, n_ctx: int, threads: int | None, max_queue: int, default_max_tokens: int,
        stream_interval: float = 0.02,
    ) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._model_name = model_name
        self._llama = Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=threads or max(1, os.cpu_count() or 1),
            verbose=False,
        )
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{model_path} carries no chat template")
        eos_id, bos_id = self._llama.token_eos(), self._llama.token_bos()
        piece = lambda tok: self._llama._model.token_get_text(tok) if tok >= 0 else ""  # noqa: E731
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=piece(eos_id), bos_token=piece(bos_id))
        self._end_tokens = {t for t in (eos_id, self._llama._model.token_eot()) if t >= 0}
        self._add_bos = self._llama._model.add_bos_token()
        self._n_ctx = self._llama.n_ctx()
        self._default_max_tokens = default_max_tokens
        self._max_queue = max_queue
        self._stream_interval = stream_interval
        self._waiting = 0
        self._turn = asyncio.Lock()  # FIFO: waiters are woken in arrival order
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._grammars: dict[str, object] = {}  # compiled llama grammars by their text (the tools of an agent repeat)

    def models(self) -> list[ModelSpec]:
        return [ModelSpec(self._model_name, self._n_ctx)]

    def _grammar(self, text: str):
        from llama_cpp import LlamaGrammar

        if text not in self._grammars:
            if len(self._grammars) >= 64:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    async def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | ToolCall | End]:
        shape = constraint(params)  # a schema it cannot hold to is refused before the queue
        if self._waiting >= self._max_queue:
            raise ProviderError(ProviderErrorKind.RATE_LIMITED, "the local model's queue is full", retry_after=1.0)
        self._waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self._waiting -= 1
        loop = asyncio.get_running_loop()
        pipe = _TokenPipe(loop)
        cancel = threading.Event()
        job = loop.run_in_executor(self._executor, self._generate, messages, params, shape, pipe.put, cancel)
        # The context is released only once the thread is done with it, even after a cancel.
        job.add_done_callback(lambda _f: self._turn.release())
        try:
            async for item in pipe.items(self._stream_interval):
                yield item
        finally:
            cancel.set()

    def _generate(self, messages: list[ChatMessage], params: GenParams, shape: Constraint, emit, cancel: threading.Event) -> None:
        try:
            formatted = self._formatter(messages=as_template_messages(messages, params))
            prompt = self._llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=self._add_bos, special=True)
            max_tokens = params.max_tokens or self._default_max_tokens
            room = self._n_ctx - len(prompt)
            if room <= 0:
                emit(ProviderError(ProviderErrorKind.INVALID_REQUEST, f"prompt of {len(prompt)} tokens exceeds the context window of {self._n_ctx}"))
                return
            max_tokens = min(max_tokens, room)
            if params.seed is not None:
                self._llama.set_seed(params.seed)
            # The template's own end marker is a special token, caught by id below; only the
            # caller's stop strings need the text filter (which holds back a few characters).
            stops = StopSequences(tuple(params.stop))
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            produced = 0
            finish = "length"
            # A call is read whole at the end; in "auto", held back only once it starts with `{`.
            held: list[str] | None = [] if shape.mode == "call" else None
            decided = False
            grammar = self._grammar(shape.grammar) if shape.grammar else None
            for token in self._llama.generate(
                prompt,
                temp=0.7 if params.temperature is None else params.temperature,
                top_p=0.95 if params.top_p is None else params.top_p,
                top_k=40,
                # Repeats are the shape of JSON (quotes, braces): no penalty while it is constrained.
                repeat_penalty=1.0 if grammar is not None else 1.1,
                reset=True,
                grammar=grammar,
            ):
                if cancel.is_set():
                    finish = "cancelled"
                    break
                if token in self._end_tokens:
                    finish = "stop"
                    break
                produced += 1
                text = stops.feed(decoder.decode(self._llama.detokenize([token], special=False)))
                if shape.mode == "auto" and not decided and text:
                    decided = True  # the grammar's choice is made by the first character
                    held = [] if text.startswith("{") else None
                if text and held is not None:
                    held.append(text)
                elif text:
                    emit(Delta(text))
                if stops.stopped:
                    finish = "stop"
                    break
                if produced >= max_tokens:
                    break
            if finish != "cancelled" and not stops.stopped:
                tail = stops.feed(decoder.decode(b"", final=True))
                tail += "" if stops.stopped else stops.flush()
                if tail and held is not None:
                    held.append(tail)
                elif tail:
                    emit(Delta(tail))
            if held is not None and finish != "cancelled":
                call = read_call("".join(held))
                if call is not None:
                    emit(call)
                    finish = "tool_calls"
                elif held:
                    emit(Delta("".join(held)))  # cut short before the call was whole
            emit(End(finish, Usage(prompt_tokens=len(prompt), completion_tokens=produced)))
        except BaseException as exc:  # reaches the caller as the stream's error
            log.exception("local generation failed")
            emit(ProviderError(ProviderErrorKind.UNAVAILABLE, f"local model failed: {type(exc).__name__}") if not isinstance(exc, ProviderError) else exc)

    async def aclose(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llama.close()
