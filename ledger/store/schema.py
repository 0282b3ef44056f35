"""The ledger's tables (SQLAlchemy Core). Alembic migrations under ``migrations/`` create them.

``entries`` holds the canonical bodies and their leaf hashes (tree level 0). ``tree_nodes``
holds the hashes of complete subtrees at tree levels 8, 16, 24, ... — exactly the rows of the
tlog-tiles hash tiles above level 0 — so any node, root or proof is a few range reads away.
``leaf_tiles`` repeats each complete level-0 tile with its interior nodes, for proofs.
``log_head`` is a single row that every append locks, which serializes writers.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("origin", Text, nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("head_leaf_hash", LargeBinary(32), nullable=False),
    Column("log_vkey", Text, nullable=False),
    # The tree's right edge at tree_size: the hashes of its complete subtrees, largest first,
    # 32 bytes each (RFC 9162 compact range). Extending it is all an append needs of the tree.
    Column("edge", LargeBinary, nullable=True),
)

entries = Table(
    "entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("idempotency_key", String(512), nullable=False, unique=True),
    Column("request_hash", LargeBinary(32), nullable=False),
    Column("case_id", String(128), nullable=True),
    Column("event", String(128), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index("ix_entries_case_seq", "case_id", "seq"),
)

leaf_tiles = Table(
    "leaf_tiles",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("nodes", LargeBinary, nullable=False),
)
"""Each complete level-0 tile with every node above it: the 256 leaf hashes of entries
``256 * idx`` onwards, then the 128 hashes of tree level 1, ..., then the one of level 8
(511 hashes, 16,352 bytes). Derived from ``entries`` and read only to serve proofs, so that a
proof reads one row and folds nothing below level 8; verification never reads it."""

tree_nodes = Table(
    "tree_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)

statement_nonces = Table(
    "statement_nonces",
    metadata,
    Column("issuer", String(128), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

openings = Table(
    "openings",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("field", String(128), primary_key=True),
    Column("opening", Text, nullable=False),
)
