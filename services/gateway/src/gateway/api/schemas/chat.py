"""Shapes of a chat turn's pieces that other features show too (a stored message carries its citations)."""

from __future__ import annotations

from pydantic import BaseModel

from chatbot.common.v1 import common_pb2


class CitationOut(BaseModel):
    number: int
    document_id: str
    chunk_id: str
    title: str
    section: str
    page: int | None
    snippet: str
    score: float


def citation_out(c: common_pb2.Citation) -> CitationOut:
    return CitationOut(number=c.number, document_id=c.document_id, chunk_id=c.chunk_id, title=c.title, section=c.section,
                       page=c.page or None, snippet=c.snippet, score=round(c.score, 4))
