"""usage ledger: a tenant's usage per day, provider and model, kept when messages are deleted

Revision ID: 0002
Revises: 0001

Filled from the assistant messages already stored; usage of messages deleted before this
revision (erased users, retention) cannot be recovered.
"""
from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY = ("tenant_id", "day", "provider", "model", "user_id")


def upgrade() -> None:
    ledger = op.create_table(
        "usage_ledger",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("turns", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("prompt_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_usage_ledger_user", "usage_ledger", ["user_id"])
    messages = sa.table("messages", sa.column("conversation_id"), sa.column("role"), sa.column("provider"), sa.column("model"),
                        sa.column("prompt_tokens"), sa.column("completion_tokens"), sa.column("created_at", sa.DateTime(timezone=True)))
    conversations = sa.table("conversations", sa.column("id"), sa.column("user_id"), sa.column("tenant_id"))
    query = (sa.select(conversations.c.tenant_id, conversations.c.user_id, messages.c.created_at, messages.c.provider,
                       messages.c.model, messages.c.prompt_tokens, messages.c.completion_tokens)
             .join(conversations, conversations.c.id == messages.c.conversation_id).where(messages.c.role == "assistant"))
    # Summed here rather than in SQL: the UTC day of a timestamp is spelt differently on each backend.
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for tenant_id, user_id, created_at, provider, model, prompt, completion in op.get_bind().execute(query):
        if isinstance(created_at, str):  # SQLite without a declared type hands back text
            created_at = datetime.fromisoformat(created_at)
        moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at.astimezone(UTC)
        row = totals[(tenant_id or "", moment.date(), provider or "", model or "", user_id)]
        row[0] += 1
        row[1] += prompt or 0
        row[2] += completion or 0
    if totals:
        op.bulk_insert(ledger, [dict(zip(KEY, key), turns=t, prompt_tokens=p, completion_tokens=c) for key, (t, p, c) in totals.items()])


def downgrade() -> None:
    op.drop_table("usage_ledger")
