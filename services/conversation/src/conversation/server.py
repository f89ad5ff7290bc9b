from __future__ import annotations

from pathlib import Path

from chatbot.conversation.v1 import conversation_pb2, conversation_pb2_grpc
from chatbot_common import db
from chatbot_common.grpc_client import open_channel
from chatbot_common.grpc_server import GrpcService, serve_grpc
from chatbot_common.tokens import open_counter
from conversation.clients import GrpcAgentClient, GrpcLlmClient, GrpcRagClient
from conversation.evaluation_store import EvaluationStore
from conversation.memory_store import MemoryStore
from conversation.online_evaluation import CeleryEvaluationQueue, OnlineEvaluation
from conversation.repository import Repository
from conversation.run_store import RunStore
from conversation.servicer import ConversationServicer
from conversation.settings import ConversationSettings
from conversation.summaries import BackgroundWork
from conversation.tokenizers import Counters

SERVICE_NAME = conversation_pb2.DESCRIPTOR.services_by_name["ConversationService"].full_name
MIGRATIONS = Path(__file__).parent / "migrations"


def migrate(settings: ConversationSettings) -> None:
    db.upgrade_to_head(MIGRATIONS, db.normalize_url(settings.database_url))


def build_service(settings: ConversationSettings) -> GrpcService:
    engine = db.create_engine(settings.database_url, pool_size=settings.database_pool_size)
    llm_channel = open_channel(settings.llm_target)
    llm = GrpcLlmClient(llm_channel, settings.llm_call_timeout_seconds, settings.llm_timeout_seconds)
    rag_channel = open_channel(settings.rag_target)
    sources = GrpcRagClient(rag_channel, settings.rag_timeout_seconds)
    # The models' tokenizers, loaded here: a turn counts its tokens without a round trip.
    sessions = db.session_factory(engine)
    repo, counters = Repository(sessions), Counters(open_counter())
    background = BackgroundWork(repo, llm, counters, settings)
    # Online evaluation: sampled answers go to the worker as Celery tasks (no broker connection until the first).
    evaluations = OnlineEvaluation(EvaluationStore(sessions, settings.evaluation_default_share), CeleryEvaluationQueue(settings))
    servicer = ConversationServicer(repo, llm, counters, settings, sources, MemoryStore(sessions), background,
                                    evaluations=evaluations)
    servicer.agent = GrpcAgentClient(llm_channel, settings.llm_call_timeout_seconds, settings.llm_timeout_seconds)
    servicer.runs = RunStore(sessions)

    async def close() -> None:
        # Answers still being written (a turn stopped by the shutdown keeps what it wrote) are
        # waited for before the database closes; summaries and titles under way are dropped: the
        # next turn over the trigger asks again.
        await servicer.writes.drain(settings.shutdown_grace_seconds)
        await background.close()
        await evaluations.close()
        await llm_channel.close()
        await rag_channel.close()
        await engine.dispose()

    return GrpcService(
        full_names=[SERVICE_NAME],
        register=lambda server: conversation_pb2_grpc.add_ConversationServiceServicer_to_server(servicer, server),
        readiness=lambda: db.ping(engine),
        on_shutdown=[close],
    )


async def serve(settings: ConversationSettings) -> None:
    await serve_grpc(build_service(settings), settings)
