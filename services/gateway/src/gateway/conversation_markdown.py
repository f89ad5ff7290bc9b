"""A conversation as a Markdown document, for people to keep or share: the title, then each
message under its author, with its model and sources. The text is the stored text (already
redacted where the guardrails redacted it); nothing else about the account is included."""

from __future__ import annotations

from datetime import UTC

from chatbot.conversation.v1 import conversation_pb2 as pb
from chatbot_common.timeutil import iso

_AUTHORS = {"user": "You", "assistant": "Assistant", "system": "System"}


def _line(text: str) -> str:
    return " ".join(text.split())


def to_markdown(conversation: pb.Conversation, messages: list[pb.Message]) -> str:
    out = [f"# {_line(conversation.title) or 'Conversation'}", "",
           f"_Exported conversation {conversation.id}, started {iso(conversation.created_at.ToDatetime(tzinfo=UTC))}._", ""]
    for m in messages:
        heading = _AUTHORS.get(m.role, m.role)
        if m.role == "assistant" and m.model:
            heading += f" ({m.provider}:{m.model})" if m.provider else f" ({m.model})"
        out += [f"## {heading}", "", f"<sub>{iso(m.created_at.ToDatetime(tzinfo=UTC))}</sub>", "", m.content or "_(no text)_", ""]
        if m.error_code:
            out += [f"> The answer failed: {m.error_code}.", ""]
        if m.citations:
            out += ["Sources:", ""]
            out += [f"{c.number}. {_line(c.title) or c.document_id}" + (f", {_line(c.section)}" if c.section else "")
                    + (f", page {c.page}" if c.page else "") for c in m.citations]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def file_name(conversation: pb.Conversation) -> str:
    """A safe download name from the title (letters, digits, dashes)."""
    stem = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in conversation.title.lower())
    stem = "-".join(part for part in stem.split("-") if part)[:60] or conversation.id
    return f"{stem}.md"
