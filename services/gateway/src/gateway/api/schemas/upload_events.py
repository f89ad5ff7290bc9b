"""A signed batch of storage events (object created under the ingest directory) and its answer."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.api.schemas.documents import Collection, UploadedDocument


class ObjectCreated(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1, max_length=1024, description="path under the configured ingest directory")
    size: int | None = Field(None, ge=0)
    collection: Collection = "default"
    visibility: Literal["private", "tenant"] = "private"


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ObjectCreated] = Field(min_length=1, max_length=1000)


class EventResult(BaseModel):
    key: str
    document: UploadedDocument | None = None
    error: str | None = None


class EventBatchOut(BaseModel):
    accepted: int
    rejected: int
    results: list[EventResult]
