"""Request rates, concurrent streams, tokens per minute and token budgets, shared by every
gateway replica through Redis (or held in-process for the embedded default)."""
