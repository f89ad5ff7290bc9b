from chatbot_common.db import run_env_migrations
from llm_orchestrator.models import Base

run_env_migrations(Base.metadata, version_table="alembic_version_llm")
