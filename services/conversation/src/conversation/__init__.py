"""conversation: conversations, messages, and the chat turn."""
