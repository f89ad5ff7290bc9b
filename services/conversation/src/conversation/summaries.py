"""Summary memory and titles, written in the background by a cheap model (the embedded one by
default: `memory_model`/`memory_provider`), never on a turn's path.

Where this runs, and why here rather than as a Celery task on the ingest-worker: the work is
one gRPC call to the orchestrator and two small writes to this service's own tables. Here it
needs no new RPC to hand a conversation's messages to another service and take a summary back
(each service owns its tables), no broker hop, and it never queues behind document ingestion
(the worker's queue, where one large upload holds every thread for minutes). What a Celery task
would add, durability across a restart, is not needed: nothing is lost when a job is, because
the state lives in the conversation row (`summary_through_id`, `title_source`) and the next turn
that finds the history over its trigger schedules the same work again. The cost stays off the
hot path: a turn schedules a job and returns; the job waits on the model, not on the event loop.

Correctness without locks across replicas:
- idempotent: a summary is stored only if the conversation's summary is still the one it was
  written from (compare-and-set on `summary_through_id`), so two replicas folding the same
  turns store one result, and a job that runs twice folds nothing the second time;
- branches: a summary covers a prefix of the branch shown; it is stored only if its last message
  still lies on the branch shown at that moment, so a branch the person left is never
  summarised into the conversation; a turn on another branch ignores a summary that is not on
  its own path (conversation.turn), and the next job summarises the branch shown from scratch;
- a generated title replaces only a title taken from the first message (`title_source`), never
  one the person gave.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import regex
from prometheus_client import Counter, Histogram

from chatbot_common.errors import AppError
from conversation.context_window import Budget
from conversation.llm import Completion, GenerateOptions, LlmClient
from conversation.models import Conversation, Message
from conversation.repository import Repository, usage_tally
from conversation.settings import ConversationSettings
from conversation.tokenizers import Counters
from conversation.usage import to_pico

log = logging.getLogger(__name__)

JOBS = Counter("conversation_memory_jobs_total", "Background summaries and titles by kind and outcome", ["kind", "outcome"])
JOB_SECONDS = Histogram("conversation_memory_job_seconds", "Time a background summary or title took", ["kind"],
                        buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160))

SUMMARY_SYSTEM = "You summarise conversations between a user and an assistant, briefly and factually."
SUMMARY_PROMPT = (
    "Summary so far:\n{previous}\n\nNew messages:\n{messages}\n\n"
    "Write the updated summary of the whole conversation in at most {words} words. Keep names, numbers, "
    "decisions and what the user wants. Reply with the summary only."
)
TITLE_SYSTEM = "You name conversations."
TITLE_PROMPT = "Write a title of at most six words for this conversation. Reply with the title only.\n\nUser: {question}\nAssistant: {answer}"
# A message's text in a summary prompt is cut to this many characters (one long paste must not
# crowd out the rest of the fold).
MESSAGE_CHARS = 1500
_TITLE_NOISE = regex.compile(r"^(?:title\s*:\s*)|[*_#`\"“”'‘’]+", regex.IGNORECASE)


def eligible(messages: list[Message]) -> list[Message]:
    """The messages that make up the conversation's history (what a turn sends the model)."""
    return [m for m in messages if m.role in ("user", "assistant") and m.content and m.finish_reason != "error"]


def clean_title(text: str, max_chars: int) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = " ".join(_TITLE_NOISE.sub("", line).split()).strip(" .:;,-")
    if len(line) > max_chars:
        line = line[:max_chars].rsplit(" ", 1)[0] or line[:max_chars]
    return line


class BackgroundWork:
    """Schedules summaries and titles and runs them, a few at a time. One job per conversation
    and kind: asked again while it runs, it runs once more when done (the turns that came in
    meanwhile are then folded too)."""

    def __init__(self, repo: Repository, llm: LlmClient, counters: Counters, settings: ConversationSettings) -> None:
        self._repo = repo
        self._llm = llm
        self._counters = counters
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.background_concurrency)
        self._running: dict[tuple[str, str], asyncio.Task] = {}
        self._again: set[tuple[str, str]] = set()

    def summarise_later(self, conversation_id: str, keep_tokens: int = 0) -> None:
        """`keep_tokens`: how much verbatim history to leave after the fold (the turn knows the
        allowance); at least `summary_keep_messages` messages stay whatever their size."""
        if self._settings.summary_enabled:
            self._schedule(("summary", conversation_id), lambda: self.summarise(conversation_id, keep_tokens))

    def title_later(self, conversation_id: str) -> None:
        if self._settings.auto_titles:
            self._schedule(("title", conversation_id), lambda: self.title(conversation_id))

    def _schedule(self, key: tuple[str, str], job: Callable[[], Awaitable[None]]) -> None:
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._run(key, job))

    async def _run(self, key: tuple[str, str], job: Callable[[], Awaitable[None]]) -> None:
        kind = key[0]
        try:
            while True:
                self._again.discard(key)
                started = time.monotonic()
                async with self._slots:
                    try:
                        await job()
                        JOBS.labels(kind, "done").inc()
                    except AppError as exc:
                        # The model was busy or down: the next turn over the trigger asks again.
                        JOBS.labels(kind, "failed").inc()
                        log.warning("background memory job failed", extra={"kind": kind, "code": exc.code.value})
                    except Exception:
                        JOBS.labels(kind, "failed").inc()
                        log.exception("background memory job failed", extra={"kind": kind})
                JOB_SECONDS.labels(kind).observe(time.monotonic() - started)
                if key not in self._again:
                    break
        finally:
            self._running.pop(key, None)

    async def idle(self) -> None:
        """Waits until no job is running or scheduled (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    def _options(self, max_tokens: int, conv: Conversation) -> GenerateOptions:
        # On the conversation's owner and tenant, so its tokens count where theirs do; never
        # cacheable (a summary or a title must be of this conversation).
        return GenerateOptions(self._settings.memory_model, self._settings.memory_provider, 0.2, max_tokens, "", conv.user_id,
                               tenant_id=conv.tenant_id, cacheable=False)

    async def _record(self, kind: str, conv: Conversation, reply: Completion) -> None:
        """The call's tokens and cost go to the usage ledger on the conversation's owner and
        tenant, marked with what they were for, whether or not what it wrote is kept. A
        conversation erased meanwhile leaves them to the tenant's unnamed rows, as erasure does."""
        tally = usage_tally(reply.prompt_tokens, reply.completion_tokens, reply.cached_prompt_tokens, to_pico(reply.cost), False)
        owner = conv.user_id if await self._repo.conversation(conv.id) is not None else ""
        await self._repo.record_usage(conv.tenant_id, owner, reply.provider, reply.model, tally, kind)

    async def summarise(self, conversation_id: str, keep_tokens: int = 0) -> None:
        """Folds the older turns of the branch shown into the running summary, leaving the newest
        ones verbatim (`keep_tokens` of them, and at least `summary_keep_messages`), in as many
        model calls as the memory model's window needs. Folding down to well under the trigger
        means one summary every few turns, not one per turn."""
        settings = self._settings
        facts = await self._llm.model(settings.memory_model, settings.memory_provider)
        counter, exact = self._counters.for_model(facts)
        budget = Budget(facts.context_window, settings.summary_max_tokens, 0.0 if exact else settings.estimate_margin)
        while True:
            conv = await self._repo.conversation(conversation_id)
            if conv is None or not conv.current_message_id:
                return
            # Read back to the last summary's message at most: what it covers is folded already.
            branch = await self._repo.branch(conv.id, conv.current_message_id, stop_at=conv.summary_through_id)
            ids = [m.id for m in branch]
            start = ids.index(conv.summary_through_id) + 1 if conv.summary_through_id in ids else 0
            # A summary of another branch is not this branch's: start again from its first message.
            previous, covered = (conv.summary, conv.summary_messages) if start else ("", 0)
            pending = eligible(branch[start:])
            keep = _kept(pending, keep_tokens, settings.summary_keep_messages)
            fold = pending[:len(pending) - keep]
            if not fold:
                return
            lines = [f"{'User' if m.role == 'user' else 'Assistant'}: {' '.join(m.content.split())[:MESSAGE_CHARS]}" for m in fold]
            frame = SUMMARY_PROMPT.format(previous=previous or "(none yet)", messages="", words=settings.summary_max_tokens * 2 // 3)
            fixed, *counts = counter.count([SUMMARY_SYSTEM + frame, *lines])
            room = budget.input_limit - budget.cost(fixed)
            taken = used = 0
            for count in counts:
                if used + count + 1 > room and taken:
                    break
                used += count + 1
                taken += 1
            chunk = fold[:taken]
            prompt = SUMMARY_PROMPT.format(previous=previous or "(none yet)", messages="\n".join(lines[:taken]),
                                           words=settings.summary_max_tokens * 2 // 3)
            reply = await self._llm.complete([("system", SUMMARY_SYSTEM), ("user", prompt)], self._options(settings.summary_max_tokens, conv),
                                             settings.memory_timeout_seconds)
            await self._record("summary", conv, reply)
            text = reply.text.strip() or _fallback(previous, chunk)
            through = chunk[-1].id
            # Messages the fold skipped (failed answers) count as covered too: they lie before `through`.
            messages = covered + ids.index(through) + 1 - start
            stored = await self._repo.store_summary(conv.id, conv.summary_through_id, through, text, messages, reply.model)
            log.info("conversation summary", extra={"stored": stored, "messages": messages, "folded": len(chunk), "model": reply.model})
            if not stored or taken == len(fold):
                return

    async def title(self, conversation_id: str) -> None:
        conv = await self._repo.conversation(conversation_id)
        if conv is None or conv.title_source != "first_message" or not conv.current_message_id:
            return
        first = eligible(await self._repo.branch(conv.id, conv.current_message_id))[:2]
        if [m.role for m in first] != ["user", "assistant"]:
            return
        prompt = TITLE_PROMPT.format(question=first[0].content[:500], answer=first[1].content[:500])
        reply = await self._llm.complete([("system", TITLE_SYSTEM), ("user", prompt)], self._options(self._settings.title_max_tokens, conv),
                                         self._settings.memory_timeout_seconds)
        await self._record("title", conv, reply)
        title = clean_title(reply.text, self._settings.title_length)
        if title:
            await self._repo.set_generated_title(conv.id, title)


def _kept(pending: list[Message], keep_tokens: int, keep_messages: int) -> int:
    """How many of the newest messages stay verbatim: those within `keep_tokens` (their stored
    counts), and at least `keep_messages`."""
    kept = used = 0
    for message in reversed(pending):
        used += message.token_count + 7  # the template's overhead per message, as in the budget
        if used > keep_tokens:
            break
        kept += 1
    return min(len(pending), max(kept, keep_messages))


def _fallback(previous: str, chunk: list[Message]) -> str:
    """The model wrote nothing: keep what the person asked, so the fold is not lost."""
    asked = "; ".join(" ".join(m.content.split())[:120] for m in chunk if m.role == "user")
    return f"{previous}\nThe user also asked: {asked}".strip()
