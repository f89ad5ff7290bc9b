"""Prefixed, random, URL-safe identifiers (`conv_…`, `msg_…`, `usr_…`)."""

from __future__ import annotations

import re
import uuid

_ID_BODY = r"[0-9a-f]{32}"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def id_pattern(prefix: str) -> str:
    return rf"^{prefix}_{_ID_BODY}$"


def is_valid_id(value: str, prefix: str) -> bool:
    return re.fullmatch(id_pattern(prefix), value) is not None
