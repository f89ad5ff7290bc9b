"""usage kind: the ledger tells answers (chat) apart from the background calls that write
summaries and titles, so reports can show them apart

Revision ID: 0007
Revises: 0006

Rows from before this revision are answers (`chat`): summaries and titles were not recorded.
The primary key gains the kind.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KEY = ["tenant_id", "day", "provider", "model", "user_id"]
AMOUNTS = ["turns", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cost_pico_usd", "unpriced_turns", "cache_hits"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("usage_ledger", sa.Column("kind", sa.String(16), nullable=False, server_default="chat"))
        op.drop_constraint("usage_ledger_pkey", "usage_ledger", type_="primary")
        op.create_primary_key("usage_ledger_pkey", "usage_ledger", [*KEY, "kind"])
    else:
        _rebuild(with_kind=True)


def downgrade() -> None:
    ledger = sa.table("usage_ledger", sa.column("kind", sa.String))
    op.execute(ledger.delete().where(ledger.c.kind != "chat"))
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("usage_ledger_pkey", "usage_ledger", type_="primary")
        op.create_primary_key("usage_ledger_pkey", "usage_ledger", KEY)
        op.drop_column("usage_ledger", "kind")
    else:
        _rebuild(with_kind=False)


def _rebuild(with_kind: bool) -> None:
    """SQLite cannot change a primary key: the table is built again under the new key and its
    rows copied over (in the migration's transaction)."""
    key = [*KEY, "kind"] if with_kind else KEY
    types = {"tenant_id": sa.String(64), "day": sa.Date(), "provider": sa.String(64), "model": sa.String(200),
             "user_id": sa.String(64), "kind": sa.String(16)}
    op.create_table(
        "usage_ledger_rebuilt",
        *(sa.Column(name, types[name], nullable=False, **({"server_default": "chat"} if name == "kind" else {})) for name in key),
        *(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in AMOUNTS),
        sa.PrimaryKeyConstraint(*key, name="usage_ledger_pkey"),
    )
    copied = ", ".join([*KEY, *AMOUNTS])
    op.execute(f"INSERT INTO usage_ledger_rebuilt ({copied}) SELECT {copied} FROM usage_ledger")
    op.drop_index("ix_usage_ledger_user", table_name="usage_ledger")
    op.drop_table("usage_ledger")
    op.rename_table("usage_ledger_rebuilt", "usage_ledger")
    op.create_index("ix_usage_ledger_user", "usage_ledger", ["user_id"])
