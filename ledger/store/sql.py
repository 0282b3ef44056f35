"""The ledger in a SQL database (SQLite or PostgreSQL) through SQLAlchemy 2.

Life of an append (all in one transaction, so nothing is ever half-written):

1. **Lock the head.** SQLite takes the database write lock with ``BEGIN IMMEDIATE``;
   PostgreSQL locks the single ``log_head`` row ``FOR UPDATE``. Writers in any number of
   processes queue here, so ``seq`` and ``prev`` are assigned by exactly one writer at a time
   and the chain never forks.
2. **Idempotency.** A request whose key is already in the log returns the stored entry if its
   content hash matches, and raises :class:`IdempotencyConflict` if not; nothing is written.
3. **Check statements** against the actor key registry as it stands at the head, and their
   nonces against every nonce the log has seen.
4. **Build** each entry body (RFC 8785), its leaf hash, the per-case chain, and the new tree
   nodes at levels 8, 16, ... (the tlog-tiles rows above level 0).
5. **Sign** a checkpoint of the new size with the log key and store it.
6. **Commit**, and return the entries with the checkpoint that covers them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time as _time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Select,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from ledger.canonical import canonicalize
from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.commitments import Opening, commit_fields
from ledger.entry import (
    ZERO_HASH,
    Actor,
    BodyTemplate,
    Entry,
    check_name,
    format_time,
    parse_entry,
)
from ledger.errors import (
    IdempotencyConflict,
    LedgerError,
    MalformedInput,
    UnknownKey,
    VerificationFailed,
)
from ledger.keys import (
    LOG_KEY_ROTATE,
    REGISTRY_EVENTS,
    KeyRegistry,
    log_key_rotate_data,
)
from ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
)
from ledger.note import Signer, add_signatures
from ledger.statements import verify_statement
from ledger.store.schema import (
    checkpoints,
    entries,
    leaf_tiles,
    log_head,
    openings,
    statement_nonces,
    tree_nodes,
)
from ledger.tiles import ENTRIES, TILE_HEIGHT, TILE_WIDTH, TileHashReader, TileId, tile_path

_MIGRATIONS = Path(__file__).parent / "migrations"
_IN_CHUNK = 500  # bound on bound parameters in one IN (...) list
_WRITE_OPTION = "dozvil_write"
_SETUP_LOCK = 0x646F7A76696C  # "dozvil": the advisory lock that serializes set-up


@dataclass(frozen=True)
class AppendRequest:
    """One entry to append. ``confidential`` values are committed, never stored in the body."""

    idempotency_key: str
    case_id: str | None
    event: str
    actor: Actor
    from_state: str | None = None
    to_state: str | None = None
    statement: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    confidential: dict[str, Any] = field(default_factory=dict)

    def content_hash(self) -> bytes:
        """SHA-256 of everything but the key: equal requests are retries of each other."""
        return self.prepare().content_hash

    def prepare(self) -> _Prepared:
        """Check the request and do every part of the append that does not depend on the log's
        head — canonical field bytes, salted commitments, content hash — before the lock."""
        self.check()
        commitments, opened = commit_fields(self.confidential)
        template = BodyTemplate.of(
            case_id=self.case_id,
            event=self.event,
            from_state=self.from_state,
            to_state=self.to_state,
            actor=self.actor,
            statement=self.statement,
            idempotency_key=self.idempotency_key,
            commitments=commitments,
            data=self.data,
        )
        # The canonical JSON of {actor, case_id, confidential, data, event, from_state,
        # statement, to_state} (keys in RFC 8785 order), spliced from the template's fields.
        content = b"".join(
            (
                b'{"actor":',
                template.actor,
                b',"case_id":',
                template.case_id,
                b',"confidential":',
                canonicalize(self.confidential) if self.confidential else b"{}",
                b',"data":',
                template.data,
                b',"event":',
                template.event,
                b',"from_state":',
                template.from_state,
                b',"statement":',
                template.statement,
                b',"to_state":',
                template.to_state,
                b"}",
            )
        )
        return _Prepared(self, template, hashlib.sha256(content).digest(), commitments, opened)

    def check(self) -> None:
        if not self.idempotency_key or len(self.idempotency_key) > 512:
            raise MalformedInput("idempotency key must be 1-512 characters")
        if self.case_id is not None:
            check_name("case id", self.case_id)
        check_name("event", self.event)
        check_name("actor id", self.actor.id)
        check_name("role", self.actor.role)
        for state in (self.from_state, self.to_state):
            if state is not None:
                check_name("state", state)
        if not isinstance(self.data, dict):
            raise MalformedInput("entry data must be a JSON object")
        overlap = self.data.keys() & self.confidential.keys()
        if overlap:
            raise MalformedInput(f"fields {sorted(overlap)} are both public and confidential")


@dataclass(slots=True)
class _Prepared:
    """A checked request with its body template, content hash and commitments."""

    request: AppendRequest
    template: BodyTemplate
    content_hash: bytes
    commitments: dict[str, str]
    openings: dict[str, Opening]


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint and the signed note that carries it."""

    checkpoint: Checkpoint
    note: str


@dataclass(frozen=True)
class AppendResult:
    """The entries of one append (in request order) and the checkpoint that covers them."""

    entries: list[Entry]
    checkpoint: SignedCheckpoint
    replayed: list[bool]


def make_engine(url: str) -> Engine:
    """An engine with the settings the ledger relies on.

    SQLite: WAL journal, ``synchronous=FULL`` (each commit is durable), a long busy timeout,
    and ``BEGIN IMMEDIATE`` so that a writer holds the write lock from its first read of the
    head. PostgreSQL: the default READ COMMITTED isolation; appends lock the head row.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 120})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
            _set_wal(cur)
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front; readers keep a deferred snapshot.
            immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
            sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
            cursor = conn.connection.cursor()  # the driver itself: a few µs, not tens
            try:
                cursor.execute(sql)
            except BaseException as exc:
                conn._handle_dbapi_exception(exc, sql, (), cursor, None)
            finally:
                cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # No pool_pre_ping: it costs every checkout a round trip (a tenth of an append). After a
    # server restart the first use of each stale pooled connection fails instead, the pool
    # drops it, and the caller's retry (an activity's, an operator's) gets a fresh one.
    return create_engine(url, pool_recycle=3600)


_SQLITE_BUSY_MS = 120_000


def _set_wal(cursor: Any) -> None:
    """Switch a SQLite database to WAL. The switch needs the database to itself and SQLite
    does not call the busy handler for it, so processes opening a new database together
    retry here (for as long as the busy timeout) instead of failing with "locked"."""
    deadline = _time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or _time.monotonic() > deadline:
                raise
            _time.sleep(0.005)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that may write: on SQLite it starts with ``BEGIN IMMEDIATE``."""
    with engine.connect().execution_options(**{_WRITE_OPTION: True}) as conn, conn.begin():
        yield conn


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    with write_transaction(engine) as conn:
        _migrate(conn)


def _migrate(conn: Connection) -> None:
    """Alembic ``upgrade head`` inside the caller's transaction. On PostgreSQL it first takes
    a transaction-scoped advisory lock, so servers that start together migrate one at a time
    (SQLite's ``BEGIN IMMEDIATE`` already serializes them)."""
    from alembic import command  # imported here: only set-up pays for Alembic
    from alembic.config import Config

    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK})
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


# Statements of the append path, built once (building a statement costs more than running it).
_HEAD_FOR_UPDATE = (
    select(
        log_head.c.origin,
        log_head.c.tree_size,
        log_head.c.head_leaf_hash,
        log_head.c.log_vkey,
        log_head.c.edge,
    )
    .where(log_head.c.id == 1)
    .with_for_update()
)
_EXISTING = select(entries.c.idempotency_key, entries.c.seq, entries.c.request_hash).where(
    entries.c.idempotency_key.in_(bindparam("keys", expanding=True))
)
_EXISTING_ONE = select(entries.c.idempotency_key, entries.c.seq, entries.c.request_hash).where(
    entries.c.idempotency_key == bindparam("key")
)
_INSERT_ENTRIES = insert(entries)
_INSERT_NODES = insert(tree_nodes)
_INSERT_OPENINGS = insert(openings)
_INSERT_NONCES = insert(statement_nonces)
_INSERT_CHECKPOINT = insert(checkpoints)
_UPDATE_HEAD_TO = (
    update(log_head)
    .where(log_head.c.id == 1)
    .values(
        tree_size=bindparam("tree_size"),
        head_leaf_hash=bindparam("head_leaf_hash"),
        log_vkey=bindparam("log_vkey"),
        edge=bindparam("edge"),
    )
)
_LATEST_NOTE = select(checkpoints.c.note).order_by(checkpoints.c.tree_size.desc()).limit(1)
_BODY_AT = select(entries.c.body).where(entries.c.seq == bindparam("seq"))
_NONCE_SEEN = select(statement_nonces.c.seq).where(
    statement_nonces.c.issuer == bindparam("issuer"), statement_nonces.c.nonce == bindparam("nonce")
)
_LOG_LEVEL_AFTER = (
    select(entries.c.body)
    .where(entries.c.case_id.is_(None), entries.c.seq > bindparam("after"))
    .order_by(entries.c.seq)
)

# The last entry of each of some cases: one index range per case.
_CASE_HEADS = select(entries.c.case_id, entries.c.leaf_hash).where(
    entries.c.seq.in_(
        select(func.max(entries.c.seq))
        .where(entries.c.case_id.in_(bindparam("cases", expanding=True)))
        .group_by(entries.c.case_id)
        .scalar_subquery()
    )
)

_CASE_HEAD_ONE = (
    select(entries.c.case_id, entries.c.leaf_hash)
    .where(entries.c.case_id == bindparam("case_id"))
    .order_by(entries.c.seq.desc())
    .limit(1)
)

# Tile reads, built once (building a statement costs more than running it).
_LEAF_TILE = (
    select(entries.c.leaf_hash)
    .where(entries.c.seq >= bindparam("start"), entries.c.seq < bindparam("end"))
    .order_by(entries.c.seq)
)
_NODE_TILE = (
    select(tree_nodes.c.hash)
    .where(
        tree_nodes.c.level == bindparam("level"),
        tree_nodes.c.idx >= bindparam("start"),
        tree_nodes.c.idx < bindparam("end"),
    )
    .order_by(tree_nodes.c.idx)
)


_compiled: dict[tuple[str, str, int], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _compiled_for(
    conn: Connection, stmt: Executable
) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """SQL of one of this module's statements for the connection's dialect (compiled once),
    the order of its positional parameters (None: named) and its own bound values."""
    dialect = conn.dialect
    key = (dialect.name, dialect.paramstyle, id(stmt))
    found = _compiled.get(key)
    if found is None:
        compiled = stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _compiled[key] = (compiled.string, order, dict(compiled.params))
    return found


def _driver_rows(
    conn: Connection, stmt: Select[Any], params: dict[str, Any], *, begin: bool = True
) -> list[Any]:
    """Run one of this module's read-only statements straight on the DBAPI cursor of ``conn``.

    A proof reads several tiles of a few hundred rows, and SQLAlchemy's execution and result
    machinery costs as much as the database's work there. The rows are the driver's (bytes
    for binary columns, as SQLAlchemy returns them); errors are raised as conn.execute does.

    ``begin=False`` opens no transaction when none is open: proofs read only complete,
    immutable rows, each statement whole, so SQLite runs each in autocommit (one BEGIN and
    ROLLBACK a proof fewer); PostgreSQL's driver opens one, which closing the connection
    rolls back.
    """
    sql, order, defaults = _compiled_for(conn, stmt)
    values = {**defaults, **params}  # e.g. a LIMIT's own bound value
    args = tuple(values[k] for k in order) if order is not None else values
    if begin and not conn.in_transaction():
        conn.begin()  # as conn.execute would (autobegin): the reads share its transaction
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, args)
        rows = list(cursor.fetchall())
    except BaseException as exc:
        # Exactly as conn.execute: wrapped in sqlalchemy.exc.*, disconnects invalidated.
        conn._handle_dbapi_exception(exc, sql, args, cursor, None)
    cursor.close()
    return rows


@dataclass(frozen=True, slots=True)
class _Step:
    """One statement of a :func:`_driver_batch`; a list of parameter sets runs it for each."""

    stmt: Executable
    params: dict[str, Any] | list[dict[str, Any]]


def _returns_rows(step: _Step) -> bool:
    return isinstance(step.stmt, Select)


def _driver_batch(conn: Connection, steps: list[_Step]) -> list[list[Any]]:
    """Run statements in order on the DBAPI connection of ``conn`` and return each one's rows
    (empty for a statement without any).

    On PostgreSQL they go in one psycopg pipeline: one network round trip for all of them, the
    server still running each in turn — under READ COMMITTED each with its own snapshot, so a
    read that follows ``SELECT ... FOR UPDATE`` sees what was committed before the lock was
    granted. Errors are raised as conn.execute raises them.
    """
    if not conn.in_transaction():
        conn.begin()
    pipelined = conn.dialect.name == "postgresql"
    pipeline: AbstractContextManager[Any] = (
        conn.connection.dbapi_connection.pipeline()  # type: ignore[union-attr]
        if pipelined
        else nullcontext()
    )
    cursors: list[Any] = []
    results: list[list[Any]] = []
    sql: str = ""
    args: Any = None
    try:
        with pipeline:
            for step in steps:
                sql, order, defaults = _compiled_for(conn, step.stmt)
                cursor = conn.connection.cursor()
                cursors.append(cursor)
                if isinstance(step.params, list):
                    args = (
                        [tuple(row[k] for k in order) for row in step.params]
                        if order is not None
                        else step.params
                    )
                    cursor.executemany(sql, args)
                else:
                    values = {**defaults, **step.params}
                    args = tuple(values[k] for k in order) if order is not None else values
                    cursor.execute(sql, args)
                if not pipelined:
                    results.append(list(cursor.fetchall()) if _returns_rows(step) else [])
            if pipelined:  # the first fetch sends the pipeline and waits for every result
                results = [
                    list(c.fetchall()) if _returns_rows(step) else []
                    for c, step in zip(cursors, steps, strict=True)
                ]
    except BaseException as exc:
        conn._handle_dbapi_exception(exc, sql, args, cursors[-1] if cursors else None, None)
    finally:
        for cursor in cursors:
            cursor.close()
    return results


class _ConnTiles:
    """Reads hash tiles from the tables inside an open connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def read_tile(self, tile: TileId) -> list[bytes]:
        start = tile.index * TILE_WIDTH
        end = start + tile.width
        if tile.level == 0:
            rows = _driver_rows(self._conn, _LEAF_TILE, {"start": start, "end": end})
        else:
            level = tile.level * TILE_HEIGHT
            rows = _driver_rows(
                self._conn, _NODE_TILE, {"level": level, "start": start, "end": end}
            )
        # Stored order, gaps closed up, as read_bundle returns the bodies: a deleted row then
        # shows as entries out of place (a `sequence` fault), the same as in an export.
        return [bytes(h) for (h,) in rows]


# -- proofs ---------------------------------------------------------------------------------
#
# A complete tile (256 hashes of tree level 8 * L) never changes, nor does any node above it up
# to level 8 * L + 8. Roots and proofs take their nodes from such *tile trees*: the tile's 256
# hashes, then the 128, 64, ..., 1 nodes above them (511 hashes in one bytes object), so that a
# node is a slice, not a fold. Level-0 trees are stored (``leaf_tiles``: appends write them,
# migration 0002 filled them in); the upper ones are folded once from ``tree_nodes`` and kept
# by the SqlLedger. The last tile of each level, not complete yet, is kept as far as it goes
# (its complete nodes, level by level) and read again when a proof needs more of it.
# Verification and export never come here: they read ``entries`` and ``tree_nodes`` through
# ``read_tile``.

_TREE_HASHES = 2 * TILE_WIDTH - 1
_TREE_BYTES = 32 * _TREE_HASHES
_TREE_OFFSET = tuple(2 * TILE_WIDTH - (2 * TILE_WIDTH >> r) for r in range(TILE_HEIGHT + 1))
"""Where tree level ``r`` above the tile (0: its own hashes, 8: its root) starts in the tree."""
_LEAF_TREES = 1024  # level-0 trees kept in memory, most recently used: 16 MiB
_UPPER_TREES = 1024  # trees of level 1 and up (one per 65,536 entries): 16 MiB
_TAILS = 64  # incomplete tiles kept (the log has one a level)

_LEAF_ROWS = (
    select(entries.c.seq, entries.c.leaf_hash)
    .where(entries.c.seq >= bindparam("start"), entries.c.seq < bindparam("end"))
    .order_by(entries.c.seq)
)
_NODE_ROWS = (
    select(tree_nodes.c.idx, tree_nodes.c.hash)
    .where(
        tree_nodes.c.level == bindparam("level"),
        tree_nodes.c.idx >= bindparam("start"),
        tree_nodes.c.idx < bindparam("end"),
    )
    .order_by(tree_nodes.c.idx)
)
_LEAF_TREE = select(leaf_tiles.c.nodes).where(leaf_tiles.c.idx == bindparam("idx"))
_INSERT_LEAF_TILES = insert(leaf_tiles)


def tile_tree(hashes: Sequence[bytes]) -> bytes:
    """The tree of a complete tile: its 256 hashes, then each level above them, to its root."""
    if len(hashes) != TILE_WIDTH:
        raise MalformedInput(f"a tile tree needs {TILE_WIDTH} hashes, not {len(hashes)}")
    sha256 = hashlib.sha256
    row = list(hashes)
    out = list(row)
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row), 2)]
        out += row
    return b"".join(out)


def leaf_tile_rows(
    conn: Connection, finished: Sequence[tuple[int, int, bytes]]
) -> list[dict[str, Any]]:
    """The ``leaf_tiles`` rows of the level-0 tiles that one append completed.

    ``finished`` holds the ``(level, index, hash)`` items of every ``CompactRange.append`` of
    the append (those of levels 0 to 8 suffice), in any order. A tile the append filled on its
    own is assembled from them, with no hashing; one that an earlier append began reads its
    leaf hashes back from ``entries``, so call this after inserting the append's entries, then
    ``_INSERT_LEAF_TILES`` if there are rows.
    """
    done = [index for level, index, _ in finished if level == TILE_HEIGHT]
    if not done:
        return []
    nodes = {(level, index): h for level, index, h in finished if level <= TILE_HEIGHT}
    rows: list[dict[str, Any]] = []
    for n in done:
        try:
            tree = b"".join(
                [
                    nodes[r, i]
                    for r in range(TILE_HEIGHT + 1)
                    for i in range(n << (TILE_HEIGHT - r), (n + 1) << (TILE_HEIGHT - r))
                ]
            )
        except KeyError:  # begun by an earlier append
            start = n * TILE_WIDTH
            got = _driver_rows(conn, _LEAF_TILE, {"start": start, "end": start + TILE_WIDTH})
            tree = tile_tree([bytes(h) for (h,) in got])
        rows.append({"idx": n, "nodes": tree})
    return rows


def backfill_leaf_tiles(conn: Connection) -> None:
    """Write the ``leaf_tiles`` row of every complete tile of ``entries`` that has none."""
    top = conn.execute(select(func.max(entries.c.seq))).scalar()
    if top is None:
        return
    have = set(conn.execute(select(leaf_tiles.c.idx)).scalars())
    chunk = 64 * TILE_WIDTH
    for start in range(0, (int(top) + 1) // TILE_WIDTH * TILE_WIDTH, chunk):
        tiles: dict[int, list[bytes]] = {}
        for seq, h in conn.execute(_LEAF_ROWS, {"start": start, "end": start + chunk}):
            tiles.setdefault(int(seq) // TILE_WIDTH, []).append(bytes(h))
        rows = [
            {"idx": n, "nodes": tile_tree(hashes)}
            for n, hashes in tiles.items()
            if len(hashes) == TILE_WIDTH and n not in have  # a tile with a gap stays out
        ]
        if rows:
            conn.execute(_INSERT_LEAF_TILES, rows)


class _TileTrees:
    """The tile trees of complete tiles that proofs have read, shared by the proofs of one
    :class:`SqlLedger` (and its threads): upper levels up to ``_UPPER_TREES`` of them, level 0
    the ``_LEAF_TREES`` most recently used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leaf: OrderedDict[int, bytes] = OrderedDict()
        self._upper: dict[tuple[int, int], bytes] = {}
        self._tails: dict[tuple[int, int], list[list[bytes]]] = {}

    def tail(self, tile_level: int, n: int) -> list[list[bytes]] | None:
        """The complete nodes of an incomplete tile as far as it was read (see _levels)."""
        return self._tails.get((tile_level, n))

    def put_tail(self, tile_level: int, n: int, levels: list[list[bytes]]) -> None:
        with self._lock:
            if len(self._tails) >= _TAILS:
                del self._tails[next(iter(self._tails))]
            self._tails[tile_level, n] = levels

    def get(self, tile_level: int, n: int) -> bytes | None:
        if tile_level:
            return self._upper.get((tile_level, n))
        tree = self._leaf.get(n)
        if tree is not None:
            with self._lock:
                if n in self._leaf:  # unless another thread evicted it meanwhile
                    self._leaf.move_to_end(n)
        return tree

    def put(self, tile_level: int, n: int, tree: bytes) -> None:
        with self._lock:
            self._tails.pop((tile_level, n), None)
            if tile_level:
                if len(self._upper) >= _UPPER_TREES:
                    del self._upper[next(iter(self._upper))]
                self._upper[tile_level, n] = tree
            else:
                self._leaf[n] = tree
                if len(self._leaf) > _LEAF_TREES:
                    self._leaf.popitem(last=False)


class _ProofHashes:
    """The :class:`ledger.merkle.HashReader` of roots and proofs: nodes from tile trees.

    Returns exactly what :class:`TileHashReader` over the same tables returns, and refuses what
    it refuses (a node beyond ``size``, a tile with rows missing); reads in one connection.
    """

    def __init__(
        self, conn: Connection, size: int, trees: _TileTrees, stored_leaf_trees: bool
    ) -> None:
        self._conn = conn
        self._size = size
        self._trees = trees
        self._stored = stored_leaf_trees
        self._partial: dict[tuple[int, int], list[list[bytes]]] = {}

    def read_nodes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        out: list[bytes] = []
        size = self._size
        for level, index in nodes:
            if level < 0 or index < 0 or (index + 1) << level > size:  # never asked by proofs
                reader = TileHashReader(_ConnTiles(self._conn), size)
                out += reader.read_nodes([(level, index)])  # refuses as it always did
                continue
            tile_level, r = divmod(level, TILE_HEIGHT)
            n, i = divmod(index, TILE_WIDTH >> r)
            tree = self._tree(tile_level, n)
            if tree is not None:
                at = (_TREE_OFFSET[r] + i) * 32
                out.append(tree[at : at + 32])
            else:
                out.append(self._partial[tile_level, n][r][i])
        return out

    def _tree(self, tile_level: int, n: int) -> bytes | None:
        """The tree of tile ``n`` of ``tile_level`` if that tile is complete in the log; else
        None, with the complete nodes of the part of it that ``size`` covers (at least) in
        ``_partial``."""
        trees = self._trees
        tree = trees.get(tile_level, n)
        if tree is not None or (tile_level, n) in self._partial:
            return tree
        start = n * TILE_WIDTH
        width = min(TILE_WIDTH, (self._size >> (TILE_HEIGHT * tile_level)) - start)
        tail = trees.tail(tile_level, n)
        if tail is not None and len(tail[0]) >= width:
            self._partial[tile_level, n] = tail
            return None
        conn = self._conn
        if tile_level == 0:
            if self._stored:
                row = _driver_rows(conn, _LEAF_TREE, {"idx": n}, begin=False)
                if row:
                    tree = bytes(row[0][0])
                    if len(tree) != _TREE_BYTES:
                        raise MalformedInput(f"leaf tile tree {n} is {len(tree)} bytes")
                    self._trees.put(0, n, tree)
                    return tree
            params = {"start": start, "end": start + TILE_WIDTH}
            rows = _driver_rows(conn, _LEAF_ROWS, params, begin=False)
        else:
            params = {"level": tile_level * TILE_HEIGHT, "start": start, "end": start + TILE_WIDTH}
            rows = _driver_rows(conn, _NODE_ROWS, params, begin=False)
        if len(rows) == TILE_WIDTH:  # 256 distinct keys in a range of 256: the tile is whole
            tree = tile_tree([bytes(h) for _, h in rows])
            self._trees.put(tile_level, n, tree)
            return tree
        # Not complete in the log. The hashes this size covers, in stored order with gaps closed
        # up, refused if any is missing, as TileHashReader reads and refuses them; kept for the
        # next proofs if there is no gap (rows are never changed, only added).
        whole = all(k == start + j for j, (k, _) in enumerate(rows))
        hashes = [bytes(h) for k, h in rows if whole or k < start + width]
        if len(hashes) < width:
            tile = TileId(tile_level, n, width)
            raise MalformedInput(f"{tile_path(tile)} holds {len(hashes)} hashes, want {width}")
        levels = self._partial[tile_level, n] = _levels(hashes)
        if whole:
            trees.put_tail(tile_level, n, levels)
        return None


def _levels(hashes: list[bytes]) -> list[list[bytes]]:
    """The complete nodes over a run of hashes: ``levels[r][i]`` is the node over hashes
    ``i * 2**r`` to ``(i + 1) * 2**r - 1`` (RFC 9162 node hashes)."""
    sha256 = hashlib.sha256
    levels = [hashes]
    row = hashes
    while len(row) > 1:
        row = [sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        levels.append(row)
    return levels


class SqlLedger:
    """The ledger store. Appends need a :class:`Signer`; reads do not."""

    def __init__(self, engine: Engine, signer: Signer | None = None) -> None:
        self.engine = engine
        self.signer = signer
        self._registry = KeyRegistry()
        self._registry_seq = -1  # registry folded through this seq
        self._pinned: Connection | None = None
        self._trees = _TileTrees()  # see _ProofHashes
        self._leaf_tiles: bool | None = None  # is there a leaf_tiles table (migration 0002)?
        # Threads of this process append one at a time and hand over here, at once, rather
        # than in the database, where SQLite's busy handler sleeps up to 100 ms between tries.
        self._writer = threading.Lock()

    @classmethod
    def open(cls, url: str, signer: Signer | None = None) -> SqlLedger:
        return cls(make_engine(url), signer)

    @contextmanager
    def snapshot(self) -> Iterator[SqlLedger]:
        """A read-only view of the ledger as of one moment, for verification and export.

        Every read goes through one transaction (REPEATABLE READ on PostgreSQL, one read
        transaction on SQLite's WAL), so appends committed meanwhile are invisible: the latest
        checkpoint, the entries and the published checkpoints all agree.
        """
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                view = SqlLedger(self.engine)
                view._pinned = conn
                yield view

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for reads: the snapshot's own inside :meth:`snapshot`."""
        if self._pinned is not None:
            yield self._pinned
            return
        with self.engine.connect() as conn:
            yield conn

    # -- set-up -------------------------------------------------------------------------

    def init(self, origin: str) -> SignedCheckpoint:
        """Create the schema and the empty log (size 0, signed); idempotent for the same key."""
        signer = self._require_signer()
        if not origin or "\n" in origin:
            raise MalformedInput("origin must be one non-empty line")
        with write_transaction(self.engine) as conn:
            _migrate(conn)
            head = conn.execute(select(log_head).where(log_head.c.id == 1)).first()
            if head is not None:
                if head.origin != origin:
                    raise MalformedInput(
                        f"log already initialised with origin {head.origin!r}, not {origin!r}"
                    )
                return self._latest(conn)
            conn.execute(
                insert(log_head).values(
                    id=1,
                    origin=origin,
                    tree_size=0,
                    head_leaf_hash=ZERO_HASH,
                    log_vkey=signer.verifier.vkey,
                    edge=b"",
                )
            )
            cp = Checkpoint(origin, 0, EMPTY_ROOT)
            note = sign_checkpoint(cp, [signer])
            conn.execute(insert(checkpoints).values(tree_size=0, note=note))
            return SignedCheckpoint(cp, note)

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise UnknownKey("this ledger was opened without the log's signing key")
        return self.signer

    # -- appends ------------------------------------------------------------------------

    def append(self, request: AppendRequest) -> AppendResult:
        """Append one entry (see the module docstring for the steps)."""
        return self.append_batch([request])

    def append_batch(self, requests: Sequence[AppendRequest]) -> AppendResult:
        """Append several entries in one transaction, covered by one checkpoint."""
        signer = self._require_signer()
        if not requests:
            raise MalformedInput("append needs at least one request")
        prepared = [r.prepare() for r in requests]
        try:
            with self._writer, write_transaction(self.engine) as conn:
                return self._append_locked(conn, signer, prepared)
        except IntegrityError as exc:  # only reachable if the head lock was bypassed
            raise LedgerError(f"append refused by the database: {exc.orig}") from exc

    def rotate_log_key(self, new_signer: Signer, actor: Actor) -> AppendResult:
        """Append a ``log_key.rotate`` entry alone; its checkpoint is signed by both keys."""
        old = self._require_signer()
        request = AppendRequest(
            idempotency_key=f"log_key.rotate/{new_signer.verifier.vkey}",
            case_id=None,
            event=LOG_KEY_ROTATE,
            actor=actor,
            data=log_key_rotate_data(old.verifier.vkey, new_signer.verifier.vkey),
        )
        prepared = [request.prepare()]
        with self._writer, write_transaction(self.engine) as conn:
            result = self._append_locked(conn, old, prepared, rotate_to=new_signer)
        self.signer = new_signer
        return result

    def _append_locked(
        self,
        conn: Connection,
        signer: Signer,
        prepared: list[_Prepared],
        rotate_to: Signer | None = None,
    ) -> AppendResult:
        requests = [p.request for p in prepared]
        # (1) lock the head; a single append reads its key and case head in the same round trip
        single = prepared[0].request if len(prepared) == 1 else None
        steps = [_Step(_HEAD_FOR_UPDATE, {})]
        if single is not None:
            steps.append(_Step(_EXISTING_ONE, {"key": single.idempotency_key}))
            if single.case_id is not None:
                steps.append(_Step(_CASE_HEAD_ONE, {"case_id": single.case_id}))
        found = _driver_batch(conn, steps)
        if not found[0]:
            raise LedgerError("the ledger is not initialised: run `dozvil ledger init`")
        origin, tree_size, head_leaf, log_vkey, stored_edge = found[0][0]
        if log_vkey != signer.verifier.vkey:
            raise UnknownKey(
                f"log key {signer.verifier.vkey} is not the log's current key {log_vkey}"
            )
        size = int(tree_size)
        prev = bytes(head_leaf)

        # (2) idempotency
        hashes = [p.content_hash for p in prepared]
        existing: dict[str, tuple[int, bytes]]
        known_heads: dict[str, bytes | None] | None = None
        if single is not None:
            existing = {key: (int(seq), bytes(h)) for key, seq, h in found[1]}
            if single.case_id is not None:
                known_heads = {single.case_id: bytes(found[2][0][1]) if found[2] else None}
        else:
            existing = self._existing(conn, [r.idempotency_key for r in requests])
        results: list[Entry | None] = []
        replayed: list[bool] = []
        fresh: list[_Prepared] = []
        batch_keys: dict[str, bytes] = {}
        for i, (r, h) in enumerate(zip(requests, hashes, strict=True)):
            known = existing.get(r.idempotency_key)
            earlier = batch_keys.get(r.idempotency_key)
            if known is not None:
                if known[1] != h:
                    raise IdempotencyConflict(
                        f"idempotency key {r.idempotency_key!r} was used by entry {known[0]} "
                        "with different content; nothing was written"
                    )
                results.append(self._entry_at(conn, known[0]))
                replayed.append(True)
            elif earlier is not None:
                if earlier != h:
                    raise IdempotencyConflict(
                        f"idempotency key {r.idempotency_key!r} appears twice in the batch "
                        "with different content; nothing was written"
                    )
                results.append(None)  # filled in below from the first occurrence
                replayed.append(True)
            else:
                batch_keys[r.idempotency_key] = h
                results.append(None)
                replayed.append(False)
                fresh.append(prepared[i])

        if not fresh:
            return AppendResult([e for e in results if e is not None], self._latest(conn), replayed)

        # (3) statements
        time = format_time(datetime.now(UTC))
        self._check_statements(conn, [p.request for p in fresh], time)

        # (4) build the entries and the tree nodes
        edge = _load_edge(conn, size, stored_edge)
        case_heads = known_heads
        if case_heads is None:
            case_heads = self._case_heads(
                conn, [p.request.case_id for p in fresh if p.request.case_id]
            )
        rows: list[dict[str, Any]] = []
        node_rows: list[dict[str, Any]] = []
        tile_nodes: list[tuple[int, int, bytes]] = []  # levels 0-8: complete level-0 tiles
        opening_rows: list[dict[str, Any]] = []
        nonce_rows: list[dict[str, Any]] = []
        built: dict[str, Entry] = {}
        for p in fresh:
            r = p.request
            seq = size + len(rows)
            case_prev = None
            if r.case_id is not None:
                case_prev = case_heads[r.case_id]
            body = p.template.fill(seq=seq, prev=prev, case_prev=case_prev, time=time)
            leaf = edge.append_leaf(body)
            for level, index, node in edge.finished:
                if level <= TILE_HEIGHT:
                    tile_nodes.append((level, index, node))
                if level and level % TILE_HEIGHT == 0:
                    node_rows.append({"level": level, "idx": index, "hash": node})
            rows.append(
                {
                    "seq": seq,
                    "idempotency_key": r.idempotency_key,
                    "request_hash": p.content_hash,
                    "case_id": r.case_id,
                    "event": r.event,
                    "body": body,
                    "leaf_hash": leaf,
                }
            )
            opening_rows.extend(
                {"seq": seq, "field": name, "opening": json.dumps(o.to_json())}
                for name, o in p.openings.items()
            )
            if r.statement is not None:
                inner = r.statement["statement"]
                nonce_rows.append({"issuer": inner["issuer"], "nonce": inner["nonce"], "seq": seq})
            if p.template.exact:  # the body holds exactly these values: no need to parse it
                built[r.idempotency_key] = Entry(
                    body=body,
                    seq=seq,
                    prev=prev,
                    case_prev=case_prev,
                    time=time,
                    case_id=r.case_id,
                    event=r.event,
                    from_state=r.from_state,
                    to_state=r.to_state,
                    actor=r.actor,
                    statement=r.statement,
                    idempotency_key=r.idempotency_key,
                    commitments=p.commitments,
                    data=r.data,
                )
            else:
                built[r.idempotency_key] = parse_entry(body)
            if r.case_id is not None:
                case_heads[r.case_id] = leaf
            prev = leaf

        self._check_key_registry(conn, [built[p.request.idempotency_key] for p in fresh])

        # (5) sign the checkpoint that covers the new entries; write it all in one round trip
        new_size = size + len(rows)
        cp = Checkpoint(origin, new_size, edge.root())
        note = sign_checkpoint(cp, [signer])
        new_vkey = log_vkey
        if rotate_to is not None:
            note = add_signatures(note, [rotate_to])
            new_vkey = rotate_to.verifier.vkey
        writes = [_Step(_INSERT_ENTRIES, rows)]
        for stmt, batch in (
            (_INSERT_NODES, node_rows),
            (_INSERT_OPENINGS, opening_rows),
            (_INSERT_NONCES, nonce_rows),
        ):
            if batch:
                writes.append(_Step(stmt, batch))
        writes.append(_Step(_INSERT_CHECKPOINT, {"tree_size": new_size, "note": note}))
        writes.append(
            _Step(
                _UPDATE_HEAD_TO,
                {
                    "tree_size": new_size,
                    "head_leaf_hash": prev,
                    "log_vkey": new_vkey,
                    "edge": b"".join(edge.tree.hashes),
                },
            )
        )
        _driver_batch(conn, writes)
        # A level-0 tile this append completed, stored whole for proofs (after the entries:
        # a tile an earlier append began is read back from them).
        tile_rows = leaf_tile_rows(conn, tile_nodes)
        if tile_rows:
            _driver_batch(conn, [_Step(_INSERT_LEAF_TILES, tile_rows)])

        final = [
            e if e is not None else built[r.idempotency_key]
            for e, r in zip(results, requests, strict=True)
        ]
        return AppendResult(final, SignedCheckpoint(cp, note), replayed)

    def _existing(self, conn: Connection, keys: list[str]) -> dict[str, tuple[int, bytes]]:
        found: dict[str, tuple[int, bytes]] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), _IN_CHUNK):
            chunk = unique[i : i + _IN_CHUNK]
            rows: Iterable[Any]
            if len(chunk) == 1:  # a single append: the plain statement, run by the driver
                rows = _driver_rows(conn, _EXISTING_ONE, {"key": chunk[0]})
            else:
                rows = conn.execute(_EXISTING, {"keys": chunk})
            for key, seq, h in rows:
                found[key] = (int(seq), bytes(h))
        return found

    def _check_statements(self, conn: Connection, requests: list[AppendRequest], time: str) -> None:
        signed = [r for r in requests if r.statement is not None]
        if not signed:
            return
        registry = self._registry_at_head(conn)
        at = datetime.fromisoformat(time.replace("Z", "+00:00"))
        in_batch: set[tuple[str, str]] = set()

        def seen(issuer: str, nonce: str) -> bool:
            if (issuer, nonce) in in_batch:
                return True
            return bool(_driver_rows(conn, _NONCE_SEEN, {"issuer": issuer, "nonce": nonce}))

        for r in signed:
            if r.statement is None or r.case_id is None:
                raise MalformedInput("a statement must belong to a case")
            stmt = verify_statement(
                r.statement, registry, case_id=r.case_id, step=r.event, at=at, seen_nonce=seen
            )
            in_batch.add((stmt.issuer, stmt.nonce))

    def _check_key_registry(self, conn: Connection, entries: list[Entry]) -> None:
        """Key-registry entries must fold onto the registry at the head as verification will
        fold them: a rotation or revocation of a revoked, unknown or another actor's key, or a
        key registered twice, is refused before anything is written (else the log would fail
        its own verification, and every later statement with it)."""
        changes = [e for e in entries if e.event in REGISTRY_EVENTS]
        if not changes:
            return
        trial = self._registry_at_head(conn).copy()
        for entry in changes:
            try:
                trial.apply(entry)
            except VerificationFailed as exc:
                raise MalformedInput(f"{exc.detail}; nothing was written") from exc

    def _registry_at_head(self, conn: Connection) -> KeyRegistry:
        """Fold the key-registry entries added since the last call into the cached registry."""
        for (body,) in _driver_rows(conn, _LOG_LEVEL_AFTER, {"after": self._registry_seq}):
            entry = parse_entry(bytes(body))
            self._registry.apply(entry)
            self._registry_seq = entry.seq
        return self._registry

    def _case_heads(self, conn: Connection, case_ids: list[str]) -> dict[str, bytes | None]:
        """The leaf hash of each case's last entry (None for a new case), in a query a chunk."""
        heads: dict[str, bytes | None] = {}
        unique = list(dict.fromkeys(case_ids))
        for i in range(0, len(unique), _IN_CHUNK):
            chunk = unique[i : i + _IN_CHUNK]
            heads.update(dict.fromkeys(chunk))
            rows: Iterable[Any]
            if len(chunk) == 1:  # a single append: the plain statement, run by the driver
                rows = _driver_rows(conn, _CASE_HEAD_ONE, {"case_id": chunk[0]})
            else:
                rows = conn.execute(_CASE_HEADS, {"cases": chunk})
            for case_id, leaf in rows:
                heads[case_id] = bytes(leaf)
        return heads

    # -- reads --------------------------------------------------------------------------

    def _latest(self, conn: Connection) -> SignedCheckpoint:
        row = conn.execute(_LATEST_NOTE).first()
        if row is None:
            raise LedgerError("the ledger has no checkpoint: run `dozvil ledger init`")
        return SignedCheckpoint(parse_checkpoint(_note_body(row[0])), row[0])

    def _entry_at(self, conn: Connection, seq: int) -> Entry:
        row = conn.execute(_BODY_AT, {"seq": seq}).first()
        if row is None:
            raise MalformedInput(f"entry {seq} does not exist")
        return parse_entry(bytes(row[0]))

    def origin(self) -> str:
        with self.connection() as conn:
            row = conn.execute(select(log_head.c.origin)).first()
        if row is None:
            raise LedgerError("the ledger is not initialised: run `dozvil ledger init`")
        return str(row[0])

    def latest_checkpoint(self) -> SignedCheckpoint:
        with self.connection() as conn:
            return self._latest(conn)

    def latest_checkpoint_note(self) -> str:
        return self.latest_checkpoint().note

    def checkpoint_notes(self) -> Iterator[str]:
        """Every published checkpoint note, in increasing tree size."""
        with self.connection() as conn:
            for (note,) in conn.execute(
                select(checkpoints.c.note).order_by(checkpoints.c.tree_size)
            ).yield_per(1000):
                yield str(note)

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        with self.connection() as conn:
            row = conn.execute(
                select(checkpoints.c.note).where(checkpoints.c.tree_size == size)
            ).first()
        if row is None:
            raise MalformedInput(f"no checkpoint was published at tree size {size}")
        return SignedCheckpoint(parse_checkpoint(_note_body(row[0])), row[0])

    def entry(self, seq: int) -> Entry:
        with self.connection() as conn:
            return self._entry_at(conn, seq)

    def stored_entry_count(self) -> int:
        with self.connection() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())

    def read_tile(self, tile: TileId) -> list[bytes]:
        with self.connection() as conn:
            return _ConnTiles(conn).read_tile(tile)

    def read_bundle(self, tile: TileId) -> list[bytes]:
        """Entry bodies of ``tile`` (an entry bundle), in stored order; missing rows are absent."""
        if tile.level != ENTRIES:
            raise MalformedInput(f"{tile} is not an entry bundle")
        start = tile.index * TILE_WIDTH
        with self.connection() as conn:
            rows = conn.execute(
                select(entries.c.body)
                .where(entries.c.seq >= start, entries.c.seq < start + tile.width)
                .order_by(entries.c.seq)
            )
            return [bytes(b) for (b,) in rows]

    def case_seqs(self, case_id: str | None) -> list[int]:
        """Seqs of one case's entries (``None``: the log-level entries), in order."""
        cond = entries.c.case_id.is_(None) if case_id is None else entries.c.case_id == case_id
        with self.connection() as conn:
            return [
                int(s)
                for (s,) in conn.execute(select(entries.c.seq).where(cond).order_by(entries.c.seq))
            ]

    def case_ids(self) -> Iterator[str]:
        with self.connection() as conn:
            for (c,) in conn.execute(
                select(entries.c.case_id)
                .where(entries.c.case_id.is_not(None))
                .distinct()
                .order_by(entries.c.case_id)
            ):
                yield str(c)

    def openings(self, seq: int) -> dict[str, Opening]:
        with self.connection() as conn:
            rows = conn.execute(
                select(openings.c.field, openings.c.opening).where(openings.c.seq == seq)
            )
            return {f: Opening.from_json(json.loads(o)) for f, o in rows}

    def stored_openings(self) -> Iterator[tuple[int, str, Opening]]:
        """Every stored opening, ordered by seq (the database holds all of them)."""
        with self.connection() as conn:
            rows = conn.execute(
                select(openings.c.seq, openings.c.field, openings.c.opening).order_by(
                    openings.c.seq, openings.c.field
                )
            ).yield_per(1000)
            for seq, name, opening in rows:
                yield int(seq), str(name), Opening.from_json(json.loads(opening))

    def hash_reader(self, size: int) -> TileHashReader:
        return TileHashReader(self, size)

    # Roots and proofs read their tiles through one connection.

    def _proof_reader(self, conn: Connection, size: int) -> _ProofHashes:
        if self._leaf_tiles is None:
            self._leaf_tiles = inspect(conn).has_table(leaf_tiles.name)
        return _ProofHashes(conn, size, self._trees, self._leaf_tiles)

    def root(self, size: int) -> bytes:
        with self.connection() as conn:
            return root_hash(self._proof_reader(conn, size), size)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        with self.connection() as conn:
            return inclusion_proof(self._proof_reader(conn, size), seq, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self.connection() as conn:
            return consistency_proof(self._proof_reader(conn, new_size), old_size, new_size)


def _load_edge(conn: Connection, size: int, stored: bytes | None) -> _Edge:
    """The right edge as the head row stores it (read with the lock: no tile reads), or, for a
    head written before the column existed, rebuilt from the tiles."""
    if stored is not None:
        data = bytes(stored)
        hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
        if len(hashes) != size.bit_count() or len(data) % 32:
            raise LedgerError(
                f"the stored right edge holds {len(data)} bytes, want {32 * size.bit_count()} "
                f"for a tree of {size}"
            )
        return _Edge(CompactRange(size, hashes))
    return _Edge(CompactRange.from_reader(TileHashReader(_ConnTiles(conn), size), size))


def edge_bytes(conn: Connection, size: int) -> bytes:
    """The right edge of the stored tree of ``size`` leaves, read from its tiles."""
    return b"".join(CompactRange.from_reader(TileHashReader(_ConnTiles(conn), size), size).hashes)


class _Edge:
    """The tree's right edge during one append, remembering the nodes each leaf finished."""

    def __init__(self, tree: CompactRange) -> None:
        self.tree = tree
        self.finished: list[tuple[int, int, bytes]] = []

    @property
    def size(self) -> int:
        return self.tree.size

    def append_leaf(self, body: bytes) -> bytes:
        leaf = leaf_hash(body)
        self.finished = self.tree.append(leaf)
        return leaf

    def root(self) -> bytes:
        return self.tree.root()


def _note_body(note: str) -> str:
    """The signed text of a note (everything before the blank line)."""
    text, sep, _ = note.partition("\n\n")
    if not sep:
        raise MalformedInput("stored checkpoint is not a signed note")
    return text + "\n"
