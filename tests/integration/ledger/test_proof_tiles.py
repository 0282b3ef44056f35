"""Proofs served from tile trees (``leaf_tiles`` and the store's in-memory trees) are exactly
the proofs folded from the plain tile reads, whatever the state of ``leaf_tiles``."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select

from ledger.entry import Actor
from ledger.errors import MalformedInput
from ledger.merkle import CompactRange, consistency_proof, inclusion_proof, leaf_hash, root_hash
from ledger.note import Signer
from ledger.store.schema import entries, leaf_tiles, tree_nodes
from ledger.store.sql import (
    AppendRequest,
    SqlLedger,
    _ConnTiles,
    backfill_leaf_tiles,
    leaf_tile_rows,
)
from ledger.tiles import TILE_HEIGHT, TileHashReader
from tests.conftest import ORIGIN

ACTOR = Actor("op-1", "officer")
N = 3 * 256 + 77


def request(n: int) -> AppendRequest:
    return AppendRequest(f"k/{n}", f"case-{n % 7}", "submit", ACTOR, data={"n": n})


def append(ledger: SqlLedger, start: int, end: int, batch: int) -> None:
    for i in range(start, end, batch):
        ledger.append_batch([request(n) for n in range(i, min(end, i + batch))])


def check(ledger: SqlLedger, n: int, rng: random.Random, count: int = 150) -> None:
    """Proofs and roots of ``ledger`` equal those of a TileHashReader over the same tables."""
    edges = [s for s in (1, 255, 256, 257, 511, 512, n - 1) if 0 < s < n]
    sizes = [*edges, n, *(rng.randint(1, n) for _ in range(count))]
    with ledger.engine.connect() as conn:
        for size in sizes:
            ref = TileHashReader(_ConnTiles(conn), size)
            seq, old = rng.randrange(size), rng.randint(0, size)
            assert ledger.inclusion_proof(seq, size) == inclusion_proof(ref, seq, size)
            assert ledger.consistency_proof(old, size) == consistency_proof(ref, old, size)
            assert ledger.root(size) == root_hash(ref, size)


def stored_tiles(ledger: SqlLedger) -> list[tuple[int, bytes]]:
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(leaf_tiles.c.idx, leaf_tiles.c.nodes).order_by(leaf_tiles.c.idx))
        return [(int(i), bytes(b)) for i, b in rows]


def test_proofs_with_and_without_leaf_tiles(db_url: str, log_signer: Signer) -> None:
    ledger = SqlLedger.open(db_url, log_signer)
    ledger.init(ORIGIN)
    append(ledger, 0, N, 300)  # batches that straddle tiles
    rng = random.Random(1)
    with ledger.engine.begin() as conn:
        conn.execute(delete(leaf_tiles))
    check(SqlLedger(ledger.engine), N, rng)  # no stored trees: folded from entries
    with ledger.engine.begin() as conn:
        backfill_leaf_tiles(conn)
    assert [i for i, _ in stored_tiles(ledger)] == [0, 1, 2]
    check(SqlLedger(ledger.engine), N, rng)  # stored trees
    check(ledger, N, rng)  # a store whose caches are warm
    ledger.engine.dispose()


def test_leaf_tile_rows_are_the_backfilled_rows(db_url: str, log_signer: Signer) -> None:
    ledger = SqlLedger.open(db_url, log_signer)
    ledger.init(ORIGIN)
    append(ledger, 0, N, 1000)
    with ledger.engine.begin() as conn:
        conn.execute(delete(leaf_tiles))
        backfill_leaf_tiles(conn)
        leaves = [leaf_hash(bytes(b)) for (b,) in conn.execute(select(entries.c.body))]
        edge = CompactRange()
        whole: list[tuple[int, int, bytes]] = []
        pieces: list[dict[str, object]] = []
        for start in range(0, N, 100):  # as appends of 100 would call it
            finished: list[tuple[int, int, bytes]] = []
            for leaf in leaves[start : start + 100]:
                finished += edge.append(leaf)
            whole += finished
            pieces += leaf_tile_rows(conn, finished)
        one = leaf_tile_rows(conn, whole)
    want = [{"idx": i, "nodes": b} for i, b in stored_tiles(ledger)]
    assert len(want) == 3
    assert one == want
    assert pieces == want
    ledger.engine.dispose()


@pytest.mark.parametrize("batch", [1, 100, 1000])
def test_appends_store_each_completed_tile(db_url: str, log_signer: Signer, batch: int) -> None:
    """Single and batched appends write the ``leaf_tiles`` row of every tile they complete,
    byte for byte the row the migration's backfill computes from ``entries``."""
    ledger = SqlLedger.open(db_url, log_signer)
    ledger.init(ORIGIN)
    end = 2 * 256 + 3 if batch == 1 else N
    append(ledger, 0, end, batch)
    written = stored_tiles(ledger)
    assert [i for i, _ in written] == list(range(end // 256))
    with ledger.engine.begin() as conn:
        conn.execute(delete(leaf_tiles))
        backfill_leaf_tiles(conn)
    assert stored_tiles(ledger) == written
    ledger.engine.dispose()


def test_a_growing_log(db_url: str, log_signer: Signer) -> None:
    ledger = SqlLedger.open(db_url, log_signer)
    ledger.init(ORIGIN)
    rng = random.Random(2)
    size = 0
    while size < 600:
        step = rng.choice([1, 5, 37, 120])
        append(ledger, size, size + step, 1000)
        size += step
        check(ledger, size, rng, 10)  # the last tile, kept from earlier proofs, has grown
    ledger.engine.dispose()


def test_a_missing_row_is_refused_as_before(tmp_path: Path, log_signer: Signer) -> None:
    ledger = SqlLedger.open(f"sqlite:///{tmp_path / 'l.db'}", log_signer)
    ledger.init(ORIGIN)
    append(ledger, 0, 300, 1000)
    with ledger.engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.seq == 280))
    fresh = SqlLedger(ledger.engine)
    with ledger.engine.connect() as conn, pytest.raises(MalformedInput) as want:
        inclusion_proof(TileHashReader(_ConnTiles(conn), 290), 3, 290)
    with pytest.raises(MalformedInput) as got:
        fresh.inclusion_proof(3, 290)
    assert str(got.value) == str(want.value)
    assert fresh.inclusion_proof(3, 270) == ledger.inclusion_proof(3, 270)
    ledger.engine.dispose()


def test_upper_tile_trees(tmp_path: Path, log_signer: Signer) -> None:
    """A log past one complete level-1 tile (65,536 entries), written straight to the tables."""
    n = (1 << 16) + 700
    ledger = SqlLedger.open(f"sqlite:///{tmp_path / 'l.db'}", log_signer)
    ledger.init(ORIGIN)
    edge = CompactRange()
    rows, nodes, low = [], [], []
    for seq in range(n):
        body = b'{"seq":%d}' % seq
        leaf = leaf_hash(body)
        for level, index, node in edge.append(leaf):
            if level and level % TILE_HEIGHT == 0:
                nodes.append({"level": level, "idx": index, "hash": node})
            if level <= TILE_HEIGHT:
                low.append((level, index, node))
        rows.append(
            {
                "seq": seq,
                "idempotency_key": f"k{seq}",
                "request_hash": bytes(32),
                "case_id": None,
                "event": "e",
                "body": body,
                "leaf_hash": leaf,
            }
        )
    with ledger.engine.begin() as conn:
        conn.execute(insert(entries), rows)
        conn.execute(insert(tree_nodes), nodes)
        conn.execute(insert(leaf_tiles), leaf_tile_rows(conn, low))
    check(ledger, n, random.Random(3), 300)
    ledger.engine.dispose()
