"""MCP clients: the servers a tenant's admins registered (`registry`), kept in the orchestrator's
tables (`store`), reached through the official `mcp` SDK (`connections`), and their allowed tools
offered to a run like built-in ones (`tools`)."""
