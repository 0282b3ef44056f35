"""The ledger's tables (SQLAlchemy Core). Alembic migrations under ``migrations/`` create them.

``entries`` holds the canonical bodies and their leaf hashes (tree level 0). ``tree_nodes``
holds the hashes of complete subtrees at tree levels 8, 16, 24, ... — exactly the rows of the
tlog-tiles hash tiles above level 0 — so any node, root or proof is a few range reads away.
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
