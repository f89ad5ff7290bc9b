"""llm-orchestrator: every call to a language model. The provider registry (`providers/`, one
translator per provider, the embedded GGUF model included), model aliases and fallback chains,
retries and circuit breakers (`router.py`, `resilience.py`), token counting (`tokens.py`),
streaming, and the output filter every answer passes.

Owns no tables and no conversation state: each request carries its messages.
Must not: store or read conversations, documents or vectors, or know about HTTP; `servicer.py`
maps proto to the router and back.
"""
