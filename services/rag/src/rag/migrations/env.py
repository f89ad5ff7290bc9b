from chatbot_common.db import run_env_migrations
from rag.models import Base

run_env_migrations(Base.metadata, version_table="alembic_version_rag")
