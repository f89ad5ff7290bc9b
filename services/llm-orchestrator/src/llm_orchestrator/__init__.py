"""llm-orchestrator: provider registry, model aliases, fallback, retries, circuit breakers."""
