from __future__ import annotations

from pathlib import Path

from chatbot.rag.v1 import rag_pb2, rag_pb2_grpc
from chatbot_common import db
from chatbot_common.embedding import EmbeddingSettings
from chatbot_common.grpc_server import GrpcService, serve_grpc
from rag.documents import Documents
from rag.indexing import Indexer
from rag.registry import Registry
from rag.resources import Resources
from rag.retrieval import Search
from rag.servicer import RagServicer
from rag.settings import RagSettings

SERVICE_NAME = rag_pb2.DESCRIPTOR.services_by_name["RagService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: RagSettings) -> None:
    db.upgrade_to_head(MIGRATIONS, db.normalize_url(settings.database_url))


def build_service(settings: RagSettings, embedding: EmbeddingSettings | None = None) -> GrpcService:
    engine = db.create_engine(settings.database_url, pool_size=settings.database_pool_size)
    resources = Resources(settings, embedding)
    registry = Registry(db.session_factory(engine))
    servicer = RagServicer(Documents(registry, resources), Indexer(registry, resources), Search(registry, resources, settings))

    async def ready() -> bool:
        return await db.ping(engine) and await resources.loaded()

    async def close() -> None:
        await resources.close()
        await engine.dispose()

    return GrpcService(
        full_names=[SERVICE_NAME],
        register=lambda server: rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, server),
        readiness=ready,
        on_shutdown=[close],
    )


async def serve(settings: RagSettings) -> None:
    await serve_grpc(build_service(settings), settings)
