"""usage cost: each answer's cost (picodollars, unknown allowed), cached prompt tokens and how it
was served (semantic cache, routing); the ledger sums cost, cached prompt tokens, unpriced turns
and cache hits

Revision ID: 0006
Revises: 0005

Answers stored before this revision have no recorded price: they count as unpriced turns, so
no report shows their cost as zero.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("cached_prompt_tokens", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cost_pico_usd", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("served", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("usage_ledger") as batch:
        batch.add_column(sa.Column("cached_prompt_tokens", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cost_pico_usd", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("unpriced_turns", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("cache_hits", sa.BigInteger(), nullable=False, server_default="0"))
    ledger = sa.table("usage_ledger", sa.column("turns", sa.BigInteger), sa.column("unpriced_turns", sa.BigInteger))
    op.execute(ledger.update().values(unpriced_turns=ledger.c.turns))


def downgrade() -> None:
    with op.batch_alter_table("usage_ledger") as batch:
        for column in ("cache_hits", "unpriced_turns", "cost_pico_usd", "cached_prompt_tokens"):
            batch.drop_column(column)
    with op.batch_alter_table("messages") as batch:
        for column in ("served", "cost_pico_usd", "cached_prompt_tokens"):
            batch.drop_column(column)
