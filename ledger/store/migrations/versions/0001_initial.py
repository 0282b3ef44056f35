"""The initial ledger schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("origin", sa.Text, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("head_leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("log_vkey", sa.Text, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idempotency_key", sa.String(512), nullable=False, unique=True),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=True),
        sa.Column("event", sa.String(128), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_entries_case_seq", "entries", ["case_id", "seq"])
    op.create_table(
        "tree_nodes",
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "statement_nonces",
        sa.Column("issuer", sa.String(128), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "openings",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("field", sa.String(128), primary_key=True),
        sa.Column("opening", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("openings", "statement_nonces", "checkpoints", "tree_nodes", "entries"):
        op.drop_table(name)
    op.drop_table("log_head")
