"""conversation: conversations, messages, the usage ledger and retention purges, and the chat
turn: persist the user's message first, assemble history and rag's passages within the model's
token budget, stream the answer from the llm-orchestrator, and persist it with usage and
citations, also when the client left or the provider failed.

Owns its tables (`repository.py`, `models.py`, `migrations/`); no other service reads them.
Must not: call a model provider (the llm-orchestrator does), read vectors (rag does), or know
HTTP and SSE (the gateway does). `servicer.py` maps proto to the domain modules and back.
"""
