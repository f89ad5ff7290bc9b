"""The agent loop: model steps and tool calls until a final answer, within the run's bounds,
pausing before a sensitive tool runs until a person decides."""
