"""The tree's right edge kept in the head row (``log_head.edge``).

Revision ID: 0003
Revises: 0002

An append extends the edge it reads with the head lock instead of rebuilding it from tiles,
which, with several writer processes, each append had to do. The upgrade computes it once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ledger.store.sql import edge_bytes  # the one definition of the edge

    op.add_column("log_head", sa.Column("edge", sa.LargeBinary, nullable=True))
    conn = op.get_bind()
    head = conn.execute(sa.text("SELECT tree_size FROM log_head WHERE id = 1")).first()
    if head is not None:
        conn.execute(
            sa.text("UPDATE log_head SET edge = :edge WHERE id = 1"),
            {"edge": edge_bytes(conn, int(head[0]))},
        )


def downgrade() -> None:
    with op.batch_alter_table("log_head") as batch:
        batch.drop_column("edge")
