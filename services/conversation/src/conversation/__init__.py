"""conversation: conversations, messages, the usage ledger and retention purges, and the chat
turn: persist the user's message first, assemble history and rag's passages within the model's
token budget, stream the answer from the llm-orchestrator, and persist it with usage and
citations, also when the client left or the provider failed. Memory: the context window's
split and per-model token counts (`context_window.py`, `tokenizers.py`), running summaries and
titles written in the background (`summaries.py`), user memory (`user_memory.py`,
`memory_store.py`).

Owns its tables (`repository.py`, `memory_store.py`, `models.py`, `migrations/`); no other service reads them.
Must not: call a model provider (the llm-orchestrator does), read vectors (rag does), or know
HTTP and SSE (the gateway does). `servicer.py` maps proto to the domain modules and back.
"""
