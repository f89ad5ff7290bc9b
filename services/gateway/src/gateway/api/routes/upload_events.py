"""Batch ingestion from storage events (`gateway.uploads.events`): a signed batch of
object-created events under the configured ingest directory, each file enqueued like an upload."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from pydantic import ValidationError

from chatbot_common.errors import AppError, ErrorCode
from gateway.api.deps import SessionsDep, SettingsDep, UploadsDep
from gateway.api.schemas.documents import uploaded_out
from gateway.api.schemas.upload_events import EventBatch, EventBatchOut, EventResult
from gateway.uploads import events

router = APIRouter(tags=["documents"])


@router.post("/ingest/events", status_code=status.HTTP_202_ACCEPTED, response_model=EventBatchOut,
             summary="Signed batch of object-created events under the ingest directory")
async def upload_events(
    request: Request,
    settings: SettingsDep,
    uploads: UploadsDep,
    factory: SessionsDep,
    x_signature: Annotated[str | None, Header()] = None,
    x_timestamp: Annotated[str | None, Header()] = None,
) -> EventBatchOut:
    if settings.upload_event_secret is None or settings.ingest_dir is None or not settings.upload_event_owner_email:
        raise AppError(ErrorCode.NOT_FOUND, "upload events are not enabled on this gateway")
    body = await request.body()
    events.check_signature(settings.upload_event_secret.get_secret_value(), settings.upload_event_max_age_seconds,
                           x_signature, x_timestamp, body)
    try:
        batch = EventBatch.model_validate_json(body)
    except ValidationError as exc:
        raise AppError(ErrorCode.VALIDATION_ERROR, "invalid event batch",
                       {"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()[:20]]}) from None
    outcomes = await events.ingest(
        uploads, factory, owner_email=settings.upload_event_owner_email, root=settings.ingest_dir,
        max_bytes=settings.max_upload_bytes, request_id=request.state.request_id,
        objects=[events.StoredObject(e.key, e.collection, e.visibility) for e in batch.events],
    )
    results = [EventResult(key=o.key, error=o.error,
                           document=uploaded_out(o.registered.document, o.registered.created) if o.registered else None)
               for o in outcomes]
    accepted = sum(1 for r in results if r.document)
    return EventBatchOut(accepted=accepted, rejected=len(results) - accepted, results=results)
