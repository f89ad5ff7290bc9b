"""Who is calling and what they may do: roles and scopes, live account state, API keys."""
