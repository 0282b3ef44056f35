"""The migrations build exactly the tables ``schema.py`` declares, and the head row's right
edge is always the edge of the stored tree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, update

from ledger.entry import Actor
from ledger.merkle import CompactRange
from ledger.store.schema import log_head, metadata
from ledger.store.sql import AppendRequest, SqlLedger, edge_bytes

ACTOR = Actor("officer-1", "licensing_officer")


def test_migrations_match_the_declared_schema(ledger: SqlLedger) -> None:
    with ledger.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def stored_edge(ledger: SqlLedger) -> tuple[int, bytes | None]:
    with ledger.engine.connect() as conn:
        size, edge = conn.execute(select(log_head.c.tree_size, log_head.c.edge)).one()
    return int(size), None if edge is None else bytes(edge)


def test_the_head_keeps_the_right_edge(ledger: SqlLedger) -> None:
    for n in range(0, 700, 233):
        ledger.append_batch(
            [AppendRequest(f"k/{i}", "case-1", "note", ACTOR) for i in range(n, n + 233)]
        )
        ledger.append(AppendRequest(f"one/{n}", None, "note", ACTOR))
        size, edge = stored_edge(ledger)
        with ledger.engine.connect() as conn:
            assert edge == edge_bytes(conn, size)
        assert edge is not None and len(edge) == 32 * size.bit_count()


def test_a_head_without_an_edge_is_rebuilt_from_tiles(ledger: SqlLedger) -> None:
    """A head written before migration 0004 (edge NULL): the append reads the tiles."""
    ledger.append_batch([AppendRequest(f"k/{i}", "case-1", "note", ACTOR) for i in range(300)])
    with ledger.engine.begin() as conn:
        conn.execute(update(log_head).values(edge=None))
    result = ledger.append(AppendRequest("k/300", "case-1", "note", ACTOR))
    size, edge = stored_edge(ledger)
    assert size == 301 and result.checkpoint.checkpoint.size == 301
    assert edge is not None
    tree = CompactRange.from_reader(ledger.hash_reader(301), 301)
    assert result.checkpoint.checkpoint.root_hash == tree.root()
