"""The caller's own account: who they are, their usage, their data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MeOut(BaseModel):
    id: str
    email: str
    tenant_id: str
    tenant_name: str
    role: str
    permissions: list[str]
    api_key_id: str | None


class LimitUsage(BaseModel):
    used: int
    limit: int


class UsageOut(BaseModel):
    limits: dict[str, LimitUsage]


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(None, min_length=1, max_length=256,
                                 description="your password, to confirm (accounts of an external identity provider need none)")


class ErasureReport(BaseModel):
    user_id: str
    removed: dict[str, dict]
