"""A document shared with its tenant after upload, or taken back, for the caller: through the rag
service, which owns the record and the vectors and applies the rule (the owner, or an admin of
the tenant; nobody reaches a document they cannot read), and audited either way."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker

from chatbot.rag.v1 import rag_pb2 as pb
from chatbot_common.errors import AppError, ErrorCode
from gateway import audit
from gateway.grpc_clients import Downstream, caller_of
from gateway.identity import roles
from gateway.security import Principal


async def set_shared(downstream: Downstream, sessions: async_sessionmaker, principal: Principal, document_id: str, shared: bool,
                     *, request: audit.Origin, timeout: float) -> pb.Document:
    """The document as it is now; searches see the change when this returns."""
    try:
        doc = await downstream.rag.SetDocumentVisibility(pb.SetDocumentVisibilityRequest(
            caller=caller_of(principal), document_id=document_id, visibility="tenant" if shared else "private",
            as_tenant_admin=principal.can(roles.ADMIN),
        ), timeout=timeout)
    except AppError as refused:
        if refused.code in (ErrorCode.PERMISSION_DENIED, ErrorCode.NOT_FOUND):
            await audit.write(sessions, audit.by(principal, "document.share", request, outcome="failure", target_type="document",
                                                 target_id=document_id, details={"shared": shared, "reason": refused.code.value}))
        raise
    details: dict = {"shared": shared}
    if doc.owner_id != principal.user_id:
        details["owner_id"] = doc.owner_id  # an admin acting on a colleague's document
    await audit.write(sessions, audit.by(principal, "document.share", request, target_type="document", target_id=document_id,
                                         details=details))
    return doc
