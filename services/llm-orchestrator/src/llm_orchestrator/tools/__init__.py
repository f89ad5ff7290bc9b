"""Tools the agent loop may call: built-in ones (knowledge base, calculator, SQL, HTTP) and
those of the MCP servers a tenant registered, all behind one interface (`tools.base.Tool`)."""
