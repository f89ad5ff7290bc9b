"""Offset pagination as every service's list RPCs take and answer it."""

from __future__ import annotations

from dataclasses import dataclass

from chatbot.common.v1 import common_pb2
from chatbot_common.errors import AppError, ErrorCode

MAX_PAGE = 100


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


def page_from_pb(page: common_pb2.PageRequest, default: int, maximum: int = MAX_PAGE) -> Page:
    limit = page.limit or default
    if not 1 <= limit <= maximum or page.offset < 0:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"limit must be 1..{maximum} and offset >= 0")
    return Page(limit, page.offset)


def page_info(page: Page, total: int) -> common_pb2.PageInfo:
    return common_pb2.PageInfo(total=total, limit=page.limit, offset=page.offset, has_more=page.offset + page.limit < total)
