"""The datamarking character of spotlighted sources (Hines et al., 2024): the conversation
service joins the words of retrieved text with it so the model can tell quoted data from
instructions, and the llm-orchestrator turns it back into spaces in every reply *before* the
output filter, so a number copied from a marked source ("4111ˆ1111ˆ1111ˆ1111") is redacted like
any other (it is the modifier letter circumflex, U+02C6, which prose all but never uses)."""

from __future__ import annotations

MARK = "\u02c6"


def unmark(text: str) -> str:
    return text.replace(MARK, " ") if MARK in text else text
