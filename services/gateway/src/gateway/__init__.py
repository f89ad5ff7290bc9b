"""gateway: the fleet's public HTTP front. REST `/api/v1`, the OpenAI-compatible `/v1`, SSE;
who is calling and what they may do (`identity/`), rate limits and token budgets (`limits/`),
uploads into the blob store and the ingestion queue (`uploads/`), a user's export and erasure
(`privacy`), tenant administration, and the audit log.

Owns the gateway's tables (accounts, sessions, API keys, tenants, audit entries); no other
service reads them. Must not: keep conversations, messages or documents (it asks the
conversation and rag services over gRPC), call a model provider itself, or run SQL in a route:
a route (`api/`) parses, calls the one module that owns the behaviour, and shapes the response.
"""

__version__ = "0.1.0"
