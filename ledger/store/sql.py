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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Insert,
    Select,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from ledger.canonical import canonicalize
from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.commitments import Opening, commit_fields
from ledger.entry import ZERO_HASH, Actor, Entry, build_body, check_name, format_time, parse_entry
from ledger.errors import IdempotencyConflict, LedgerError, MalformedInput, UnknownKey
from ledger.keys import LOG_KEY_ROTATE, KeyRegistry, log_key_rotate_data
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
    log_head,
    openings,
    statement_nonces,
    tree_nodes,
)
from ledger.tiles import ENTRIES, TILE_HEIGHT, TILE_WIDTH, TileHashReader, TileId

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
        return hashlib.sha256(
            canonicalize(
                {
                    "case_id": self.case_id,
                    "event": self.event,
                    "actor": self.actor.to_json(),
                    "from_state": self.from_state,
                    "to_state": self.to_state,
                    "statement": self.statement,
                    "data": self.data,
                    "confidential": self.confidential,
                }
            )
        ).digest()

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
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=120000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front; readers keep a deferred snapshot.
            immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


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
_HEAD_FOR_UPDATE = select(log_head).where(log_head.c.id == 1).with_for_update()
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
_UPDATE_HEAD = update(log_head).where(log_head.c.id == 1)  # SET from the parameters
_LATEST_NOTE = select(checkpoints.c.note).order_by(checkpoints.c.tree_size.desc()).limit(1)
_BODY_AT = select(entries.c.body).where(entries.c.seq == bindparam("seq"))

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


def _driver_rows(conn: Connection, stmt: Select[Any], params: dict[str, Any]) -> list[Any]:
    """Run one of this module's read-only statements straight on the DBAPI cursor of ``conn``.

    A proof reads several tiles of a few hundred rows, and SQLAlchemy's execution and result
    machinery costs as much as the database's work there. The rows are the driver's (bytes
    for binary columns, as SQLAlchemy returns them); errors are raised as conn.execute does.
    """
    sql, order, defaults = _compiled_for(conn, stmt)
    values = {**defaults, **params}  # e.g. a LIMIT's own bound value
    args = tuple(values[k] for k in order) if order is not None else values
    if not conn.in_transaction():
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


def _driver_insert(conn: Connection, stmt: Insert, rows: list[dict[str, Any]]) -> None:
    """Insert rows (each with every column of ``stmt``'s table) on the DBAPI cursor.

    Appends insert a thousand entries a batch; SQLAlchemy's per-row parameter processing costs
    more than SQLite's insert. Errors are raised as conn.execute raises them.
    """
    sql, order, _ = _compiled_for(conn, stmt)
    args = [tuple(row[k] for k in order) for row in rows] if order is not None else rows
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, args)
    except BaseException as exc:
        conn._handle_dbapi_exception(exc, sql, args, cursor, None)
    cursor.close()


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


class SqlLedger:
    """The ledger store. Appends need a :class:`Signer`; reads do not."""

    def __init__(self, engine: Engine, signer: Signer | None = None) -> None:
        self.engine = engine
        self.signer = signer
        self._registry = KeyRegistry()
        self._registry_seq = -1  # registry folded through this seq
        self._edge: CompactRange | None = None
        self._edge_head = ZERO_HASH
        self._pinned: Connection | None = None
        self._upper_nodes: dict[tuple[int, int], bytes] = {}  # see TileHashReader

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
        for r in requests:
            r.check()
        try:
            with write_transaction(self.engine) as conn:
                return self._append_locked(conn, signer, list(requests))
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
        with write_transaction(self.engine) as conn:
            result = self._append_locked(conn, old, [request], rotate_to=new_signer)
        self.signer = new_signer
        return result

    def _append_locked(
        self,
        conn: Connection,
        signer: Signer,
        requests: list[AppendRequest],
        rotate_to: Signer | None = None,
    ) -> AppendResult:
        # (1) lock the head
        head = conn.execute(_HEAD_FOR_UPDATE).first()
        if head is None:
            raise LedgerError("the ledger is not initialised: run `dozvil ledger init`")
        if head.log_vkey != signer.verifier.vkey:
            raise UnknownKey(
                f"log key {signer.verifier.vkey} is not the log's current key {head.log_vkey}"
            )
        size = int(head.tree_size)
        prev = bytes(head.head_leaf_hash)

        # (2) idempotency
        hashes = [r.content_hash() for r in requests]
        existing = self._existing(conn, [r.idempotency_key for r in requests])
        results: list[Entry | None] = []
        replayed: list[bool] = []
        fresh: list[tuple[int, AppendRequest, bytes]] = []
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
                fresh.append((i, r, h))

        if not fresh:
            return AppendResult([e for e in results if e is not None], self._latest(conn), replayed)

        # (3) statements
        time = format_time(datetime.now(UTC))
        self._check_statements(conn, [r for _, r, _ in fresh], time)

        # (4) build the entries and the tree nodes
        edge = self._load_edge(conn, size, prev)
        case_heads = self._case_heads(conn, [r.case_id for _, r, _ in fresh if r.case_id])
        rows: list[dict[str, Any]] = []
        node_rows: list[dict[str, Any]] = []
        opening_rows: list[dict[str, Any]] = []
        nonce_rows: list[dict[str, Any]] = []
        built: dict[str, Entry] = {}
        for _, r, h in fresh:
            seq = size + len(rows)
            case_prev = None
            if r.case_id is not None:
                case_prev = case_heads[r.case_id]
            commitments, opened = commit_fields(r.confidential)
            body = build_body(
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
                commitments=commitments,
                data=r.data,
            )
            entry = parse_entry(body)
            leaf = edge.append_leaf(body)
            for level, index, node in edge.finished:
                if level and level % TILE_HEIGHT == 0:
                    node_rows.append({"level": level, "idx": index, "hash": node})
            rows.append(
                {
                    "seq": seq,
                    "idempotency_key": r.idempotency_key,
                    "request_hash": h,
                    "case_id": r.case_id,
                    "event": r.event,
                    "body": body,
                    "leaf_hash": leaf,
                }
            )
            opening_rows.extend(
                {"seq": seq, "field": name, "opening": json.dumps(o.to_json())}
                for name, o in opened.items()
            )
            if r.statement is not None:
                inner = r.statement["statement"]
                nonce_rows.append({"issuer": inner["issuer"], "nonce": inner["nonce"], "seq": seq})
            if r.case_id is not None:
                case_heads[r.case_id] = leaf
            prev = leaf
            built[r.idempotency_key] = entry
        _driver_insert(conn, _INSERT_ENTRIES, rows)
        if node_rows:
            _driver_insert(conn, _INSERT_NODES, node_rows)
        if opening_rows:
            conn.execute(_INSERT_OPENINGS, opening_rows)
        if nonce_rows:
            conn.execute(_INSERT_NONCES, nonce_rows)

        # (5) sign the checkpoint that covers the new entries
        new_size = size + len(rows)
        cp = Checkpoint(head.origin, new_size, edge.root())
        note = sign_checkpoint(cp, [signer])
        new_vkey = head.log_vkey
        if rotate_to is not None:
            note = add_signatures(note, [rotate_to])
            new_vkey = rotate_to.verifier.vkey
        conn.execute(_INSERT_CHECKPOINT, {"tree_size": new_size, "note": note})
        conn.execute(
            _UPDATE_HEAD, {"tree_size": new_size, "head_leaf_hash": prev, "log_vkey": new_vkey}
        )
        self._edge, self._edge_head = edge.tree, prev

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
            row = conn.execute(
                select(statement_nonces.c.seq).where(
                    statement_nonces.c.issuer == issuer, statement_nonces.c.nonce == nonce
                )
            ).first()
            return row is not None

        for r in signed:
            if r.statement is None or r.case_id is None:
                raise MalformedInput("a statement must belong to a case")
            stmt = verify_statement(
                r.statement, registry, case_id=r.case_id, step=r.event, at=at, seen_nonce=seen
            )
            in_batch.add((stmt.issuer, stmt.nonce))

    def _registry_at_head(self, conn: Connection) -> KeyRegistry:
        """Fold the key-registry entries added since the last call into the cached registry."""
        rows = conn.execute(
            select(entries.c.body)
            .where(entries.c.case_id.is_(None), entries.c.seq > self._registry_seq)
            .order_by(entries.c.seq)
        )
        for (body,) in rows:
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

    def _load_edge(self, conn: Connection, size: int, head_leaf: bytes) -> _Edge:
        cached = self._edge
        if cached is not None and cached.size == size and self._edge_head == head_leaf:
            tree = CompactRange(cached.size, list(cached.hashes))
        else:
            tree = CompactRange.from_reader(TileHashReader(_ConnTiles(conn), size), size)
        return _Edge(tree)

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

    def _proof_reader(self, conn: Connection, size: int) -> TileHashReader:
        return TileHashReader(_ConnTiles(conn), size, self._upper_nodes)

    def root(self, size: int) -> bytes:
        with self.connection() as conn:
            return root_hash(self._proof_reader(conn, size), size)

    def inclusion_proof(self, seq: int, size: int) -> list[bytes]:
        with self.connection() as conn:
            return inclusion_proof(self._proof_reader(conn, size), seq, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        with self.connection() as conn:
            return consistency_proof(self._proof_reader(conn, new_size), old_size, new_size)


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
