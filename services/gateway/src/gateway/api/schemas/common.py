"""Shapes shared by several features."""

from __future__ import annotations

from pydantic import BaseModel

from chatbot.common.v1 import common_pb2


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


def pagination(p: common_pb2.PageInfo) -> Pagination:
    return Pagination(total=p.total, limit=p.limit, offset=p.offset, has_more=p.has_more)


def page_of(total: int, limit: int, offset: int, count: int) -> Pagination:
    """A page of `count` rows read from the gateway's own tables."""
    return Pagination(total=total, limit=limit, offset=offset, has_more=offset + count < total)
