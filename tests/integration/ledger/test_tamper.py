"""Tamper classes: each fault is reported by the check that catches it, at the first bad entry.

Every test tampers with one log the way an attacker with write access would, then runs full
verification and asserts the :class:`VerificationFailed` it raises: ``check``, ``seq`` and the
message. A class that applies to both is run against the live database (``sqlite``,
``postgresql``: SQL ``UPDATE``/``DELETE``/``INSERT`` on the tables) and an offline export
(``export``: edits of the files of an ``export_log`` folder).

The base log (600 entries, built once per backend by the production append path)::

    seq 0          actor_key.register of actor "sbu"        checkpoint 1
    seq 1-255      case entries, cases UA-0 .. UA-4          checkpoint 256
    seq 256-260    review.security with a statement by sbu  checkpoint 261
    seq 261-599    case entries                              checkpoint 600 (the latest)

Tamper class                               check                 first bad entry
changed body byte (300)                    stored-hash           300
changed stored hash (300)                  stored-hash           300
changed tile (tree level 8 node 1)         tile                  511
deleted row (300)                          sequence              300
deleted row at the end of a bundle (255)   sequence              255
inserted row (forged at 300, rest shifted) sequence              301
swapped rows (300 and 400)                 sequence              300
tail truncated behind a checkpoint (590)   truncated             590
checkpoint signed by an unknown key        checkpoint-signature  599
forged statement (600)                     statement             600
statement by a revoked key (601)           statement             601
replayed statement nonce (600)             statement             600
entries beyond the latest checkpoint       unsigned-entries      600 (database only)
trusted checkpoint of a fork (size 300)    consistency           299
log shrank below a trusted checkpoint      consistency           256

The statement classes cannot be written through ``append``, which checks statements; they are
forged with ``forge.py`` (rows and checkpoints written directly with the log key).
The changed-tile class is also run on a 66,000-entry log, where ``tile/1/000`` is a full tile
and a level-2 tile exists.
"""

from __future__ import annotations

import gc
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, create_engine, delete, insert, select, text, update

from ledger.entry import Actor, format_time, parse_entry
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    actor_key_id,
    raw_public_key,
    register_data,
    revoke_data,
)
from ledger.merkle import leaf_hash
from ledger.note import Signer
from ledger.statements import sign_statement
from ledger.store.export import ExportBundleChecker, ExportSource, export_log
from ledger.store.schema import (
    checkpoints,
    entries,
    log_head,
    openings,
    statement_nonces,
    tree_nodes,
)
from ledger.store.sql import AppendRequest, SqlLedger, write_transaction
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH
from ledger.verify import LogSource, verify_entry, verify_log
from tests.conftest import NO_POSTGRES, ORIGIN, POSTGRES_URL, sqlite_url
from tests.integration.ledger import forge
from tests.integration.ledger.forge import Fault, check_fault, verification_fault

SIZE = 600
STATEMENTS = range(256, 261)
REGISTRAR = Actor("registrar", "registrar")
OFFICER = Actor("officer-1", "licensing_officer")
SBU = Actor("sbu", "security_service")
TABLES: tuple[Table, ...] = (entries, tree_nodes, checkpoints, log_head, statement_nonces, openings)

# --- the base logs -----------------------------------------------------------------------------


def submit(i: int) -> AppendRequest:
    return AppendRequest(
        idempotency_key=f"UA-{i % 5}/{i}",
        case_id=f"UA-{i % 5}",
        event="submit",
        actor=OFFICER,
        to_state="submitted",
        data={"n": i},
    )


def finding(key: Ed25519PrivateKey, case_id: str, *, nonce: str | None = None) -> dict[str, Any]:
    return sign_statement(
        key,
        issuer=SBU.id,
        case_id=case_id,
        step="review.security",
        finding={"result": "no-objection"},
        time=datetime.now(UTC),
        nonce=nonce,
    )


@dataclass
class BaseLog:
    """A base log in one database, with a snapshot of its tables to restore after a test."""

    ledger: SqlLedger
    signer: Signer
    sbu: Ed25519PrivateKey
    snapshot: dict[str, list[dict[str, Any]]]

    @classmethod
    def build(cls, url: str, signer: Signer) -> BaseLog:
        ledger = SqlLedger.open(url, signer)
        ledger.init(ORIGIN)
        sbu = Ed25519PrivateKey.generate()
        data = register_data(SBU.id, SBU.role, sbu.public_key())
        ledger.append(AppendRequest("register/sbu", None, ACTOR_KEY_REGISTER, REGISTRAR, data=data))
        ledger.append_batch([submit(i) for i in range(1, 256)])
        reviews = [
            AppendRequest(
                f"UA-{i % 5}/{i}",
                f"UA-{i % 5}",
                "review.security",
                SBU,
                statement=finding(sbu, f"UA-{i % 5}"),
            )
            for i in STATEMENTS
        ]
        ledger.append_batch(reviews)
        ledger.append_batch([submit(i) for i in range(261, SIZE)])
        with ledger.engine.connect() as conn:
            snapshot = {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in TABLES}
        return cls(ledger, signer, sbu, snapshot)

    def restore(self) -> None:
        with write_transaction(self.ledger.engine) as conn:
            for table in TABLES:
                conn.execute(delete(table))
            for table in TABLES:
                if self.snapshot[table.name]:
                    forge.insert_many(conn, table, self.snapshot[table.name])


class Bases:
    """The base log per backend and its export, each built on first use, once per module."""

    def __init__(self, tmp: Path, signer: Signer) -> None:
        self.tmp = tmp
        self.signer = signer
        self._logs: dict[str, BaseLog] = {}
        self._export: Path | None = None
        self._schema: str | None = None

    def db(self, backend: str) -> BaseLog:
        if backend not in self._logs:
            self._logs[backend] = BaseLog.build(self._url(backend), self.signer)
        return self._logs[backend]

    def export(self) -> Path:
        if self._export is None:
            self._export = self.tmp / "base-export"
            export_log(
                self.db("sqlite").ledger, self._export, initial_key=self.signer.verifier.vkey
            )
        return self._export

    def _url(self, backend: str) -> str:
        if backend == "sqlite":
            return sqlite_url(self.tmp)
        if not POSTGRES_URL:
            pytest.skip(NO_POSTGRES)
        self._schema = f"t_{uuid.uuid4().hex[:12]}"
        base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        self._admin(f'CREATE SCHEMA "{self._schema}"')
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options=-csearch_path%3D{self._schema}"

    def _admin(self, sql: str) -> None:
        admin = create_engine(
            POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(text(sql))
        admin.dispose()

    def close(self) -> None:
        # A verification that failed early leaves the source's reading generators suspended,
        # each holding a connection; let them finish before the engine goes away.
        gc.collect()
        for log in self._logs.values():
            log.ledger.engine.dispose()
        if self._schema is not None:
            self._admin(f'DROP SCHEMA "{self._schema}" CASCADE')


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, log_signer: Signer) -> Iterator[Bases]:
    built = Bases(tmp_path_factory.mktemp("tamper"), log_signer)
    yield built
    built.close()


# --- targets: one log to tamper with, in a database or an export ------------------------------


class Target(ABC):
    """A fresh copy of the base log and the tampering operations on it."""

    source: LogSource
    signer: Signer
    sbu: Ed25519PrivateKey

    @abstractmethod
    def bodies(self) -> list[bytes]:
        """Every stored body, in order."""

    @abstractmethod
    def change_body(self, seq: int) -> None:
        """Flip one bit in the middle of the body of ``seq`` (its stored hash unchanged)."""

    @abstractmethod
    def change_stored_hash(self, seq: int) -> None:
        """Flip one bit of the stored leaf hash of ``seq``."""

    @abstractmethod
    def change_tile(self, tile_level: int, index: int) -> None:
        """Flip one bit of stored hash ``index`` of tile level ``tile_level`` (tree level
        ``8 * tile_level``)."""

    @abstractmethod
    def delete(self, seq: int) -> None:
        """Remove entry ``seq``; the later ones move up (an export is rewritten throughout)."""

    @abstractmethod
    def cut_from_bundle(self, seq: int) -> None:
        """Remove entry ``seq`` from its bundle alone (a database row is just deleted)."""

    @abstractmethod
    def insert(self, seq: int, body: bytes) -> None:
        """Insert ``body`` at ``seq``; the later entries move down by one."""

    @abstractmethod
    def replace(self, seq: int, body: bytes) -> None:
        """Replace entry ``seq`` by ``body`` and store the body's true leaf hash."""

    @abstractmethod
    def swap(self, a: int, b: int) -> None:
        """Swap entries ``a`` and ``b`` (each with its stored hash)."""

    @abstractmethod
    def truncate(self, keep: int) -> None:
        """Remove the entries from ``keep`` on; the checkpoints stay."""

    @abstractmethod
    def replace_checkpoint(self, note: str) -> None:
        """Put ``note`` in place of the published checkpoint of its size."""

    @abstractmethod
    def append_forged(self, bodies: list[bytes]) -> None:
        """Append bodies as they are and a checkpoint of the new size signed by the log key."""

    @abstractmethod
    def roll_back(self, size: int) -> None:
        """Make the log what it was at its published checkpoint of ``size``."""

    def head(self, size: int | None = None) -> forge.Head:
        return forge.head_of(self.bodies()[:size])


class DbTarget(Target):
    def __init__(self, base: BaseLog) -> None:
        self.base = base
        self.source = self.ledger = base.ledger
        self.signer = base.signer
        self.sbu = base.sbu

    def _one(self, column: Any, where: Any) -> bytes:
        with self.ledger.engine.connect() as conn:
            return bytes(conn.execute(select(column).where(where)).scalar_one())

    def _write(self, *statements: Any) -> None:
        with write_transaction(self.ledger.engine) as conn:
            for statement in statements:
                conn.execute(statement)

    def bodies(self) -> list[bytes]:
        with self.ledger.engine.connect() as conn:
            return [
                bytes(b) for (b,) in conn.execute(select(entries.c.body).order_by(entries.c.seq))
            ]

    def change_body(self, seq: int) -> None:
        body = bytearray(self._one(entries.c.body, entries.c.seq == seq))
        body[len(body) // 2] ^= 0x01
        self._write(update(entries).where(entries.c.seq == seq).values(body=bytes(body)))

    def change_stored_hash(self, seq: int) -> None:
        leaf = flip(self._one(entries.c.leaf_hash, entries.c.seq == seq))
        self._write(update(entries).where(entries.c.seq == seq).values(leaf_hash=leaf))

    def change_tile(self, tile_level: int, index: int) -> None:
        where = (tree_nodes.c.level == TILE_HEIGHT * tile_level) & (tree_nodes.c.idx == index)
        node = flip(self._one(tree_nodes.c.hash, where))
        self._write(update(tree_nodes).where(where).values(hash=node))

    def delete(self, seq: int) -> None:
        self._write(delete(entries).where(entries.c.seq == seq))

    def cut_from_bundle(self, seq: int) -> None:
        self.delete(seq)

    def insert(self, seq: int, body: bytes) -> None:
        # Two steps, so that no moment has two rows with one seq (the primary key).
        self._write(
            update(entries).where(entries.c.seq >= seq).values(seq=-entries.c.seq - 1),
            update(entries).where(entries.c.seq < 0).values(seq=-entries.c.seq),
            insert(entries).values(**forge.entry_row(seq, body)),
        )

    def replace(self, seq: int, body: bytes) -> None:
        self._write(
            delete(entries).where(entries.c.seq == seq),
            insert(entries).values(**forge.entry_row(seq, body)),
        )

    def swap(self, a: int, b: int) -> None:
        self._write(
            update(entries).where(entries.c.seq == a).values(seq=-1),
            update(entries).where(entries.c.seq == b).values(seq=a),
            update(entries).where(entries.c.seq == -1).values(seq=b),
        )

    def truncate(self, keep: int) -> None:
        self._write(delete(entries).where(entries.c.seq >= keep))

    def replace_checkpoint(self, note: str) -> None:
        size = checkpoint_size(note)
        self._write(update(checkpoints).where(checkpoints.c.tree_size == size).values(note=note))

    def append_forged(self, bodies: list[bytes]) -> None:
        forge.append_rows(self.ledger, self.signer, bodies)

    def append_unsigned(self, bodies: list[bytes]) -> None:
        forge.append_rows(self.ledger, self.signer, bodies, checkpoint=False)

    def drop_latest_checkpoint(self) -> None:
        self._write(delete(checkpoints).where(checkpoints.c.tree_size == SIZE))

    def roll_back(self, size: int) -> None:
        head = self._one(entries.c.leaf_hash, entries.c.seq == size - 1)
        self._write(
            delete(entries).where(entries.c.seq >= size),
            *(
                delete(tree_nodes).where(
                    tree_nodes.c.level == level, tree_nodes.c.idx >= size >> level
                )
                for level in (TILE_HEIGHT, 2 * TILE_HEIGHT)
            ),
            delete(checkpoints).where(checkpoints.c.tree_size > size),
            update(log_head).values(tree_size=size, head_leaf_hash=head),
        )


class ExportTarget(Target):
    def __init__(self, root: Path, signer: Signer, sbu: Ed25519PrivateKey) -> None:
        self.root = root
        self.source = ExportSource(root)
        self.signer = signer
        self.sbu = sbu

    def bodies(self) -> list[bytes]:
        return forge.read_entries(self.root)[0]

    def change_body(self, seq: int) -> None:
        path, offset, length = forge.entry_location(self.root, seq)
        forge.flip_byte(path, offset + length // 2)

    def change_stored_hash(self, seq: int) -> None:
        forge.flip_byte(forge.tile_file(self.root, 0, seq // TILE_WIDTH), 32 * (seq % TILE_WIDTH))

    def change_tile(self, tile_level: int, index: int) -> None:
        path = forge.tile_file(self.root, tile_level, index // TILE_WIDTH)
        forge.flip_byte(path, 32 * (index % TILE_WIDTH) + 5)

    def _edit(self, edit: Callable[[list[bytes]], object]) -> None:
        """Apply ``edit`` to the list of bodies and to the list of stored hashes alike."""
        bodies, leaves = forge.read_entries(self.root)
        edit(bodies)
        edit(leaves)
        forge.write_entries(self.root, bodies, leaves)

    def delete(self, seq: int) -> None:
        self._edit(lambda items: items.pop(seq))

    def cut_from_bundle(self, seq: int) -> None:
        bodies, leaves = forge.read_entries(self.root)
        n = seq // TILE_WIDTH
        keep = [
            i for i in range(n * TILE_WIDTH, min(len(bodies), (n + 1) * TILE_WIDTH)) if i != seq
        ]
        forge.write_bundle(self.root, n, [bodies[i] for i in keep], [leaves[i] for i in keep])

    def insert(self, seq: int, body: bytes) -> None:
        bodies, leaves = forge.read_entries(self.root)
        bodies.insert(seq, body)
        leaves.insert(seq, leaf_hash(body))
        forge.write_entries(self.root, bodies, leaves)

    def replace(self, seq: int, body: bytes) -> None:
        bodies, leaves = forge.read_entries(self.root)
        bodies[seq], leaves[seq] = body, leaf_hash(body)
        forge.write_entries(self.root, bodies, leaves)

    def swap(self, a: int, b: int) -> None:
        def swapped(items: list[bytes]) -> None:
            items[a], items[b] = items[b], items[a]

        self._edit(swapped)

    def truncate(self, keep: int) -> None:
        def truncated(items: list[bytes]) -> None:
            del items[keep:]

        self._edit(truncated)

    def replace_checkpoint(self, note: str) -> None:
        forge.replace_checkpoint(self.root, note)

    def _rewrite(self, bodies: list[bytes], sizes: list[int]) -> None:
        shutil.rmtree(self.root)
        forge.write_export(
            self.root, bodies, signer=self.signer, origin=ORIGIN, checkpoint_sizes=sizes
        )

    def append_forged(self, bodies: list[bytes]) -> None:
        self._rewrite(self.bodies() + bodies, forge.published_sizes(self.root))

    def roll_back(self, size: int) -> None:
        sizes = [n for n in forge.published_sizes(self.root) if n <= size]
        self._rewrite(self.bodies()[:size], sizes)


def flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def checkpoint_size(note: str) -> int:
    return int(note.split("\n")[1])


@pytest.fixture(params=["sqlite", "postgresql", "export"])
def target(request: pytest.FixtureRequest, bases: Bases, tmp_path: Path) -> Iterator[Target]:
    """The base log, fresh for each test: in SQLite, in PostgreSQL, and as an export."""
    if request.param == "export":
        root = tmp_path / "export"
        shutil.copytree(bases.export(), root)
        yield ExportTarget(root, bases.signer, bases.db("sqlite").sbu)
        return
    base = bases.db(request.param)
    try:
        yield DbTarget(base)
    finally:
        base.restore()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, bases: Bases) -> Iterator[DbTarget]:
    """The base log in a database only (for faults an export cannot hold)."""
    base = bases.db(request.param)
    try:
        yield DbTarget(base)
    finally:
        base.restore()


def fails(target: Target, want: Fault, *, trusted: str | None = None) -> None:
    """Full verification must fail with ``want``."""
    fault = verification_fault(
        target.source, target.signer.verifier.vkey, trusted_checkpoint=trusted
    )
    check_fault(fault, want)


def latest_root(target: Target) -> bytes:
    return forge.Tree((leaf_hash(b) for b in target.bodies()[:SIZE]), [SIZE]).roots[SIZE]


# --- the tamper classes ------------------------------------------------------------------------


def test_the_base_log_verifies(target: Target) -> None:
    report = verify_log(target.source, target.signer.verifier.vkey)
    assert (report.tree_size, report.statements, report.checkpoints) == (SIZE, 5, 5)


def test_changed_body_byte(target: Target) -> None:
    target.change_body(300)
    fails(target, Fault("stored-hash", 300, "body hashes to [0-9a-f]{64}, stored leaf hash is"))


def test_changed_stored_hash(target: Target) -> None:
    target.change_stored_hash(300)
    fails(target, Fault("stored-hash", 300, "body hashes to [0-9a-f]{64}, stored leaf hash is"))


def test_changed_tile(target: Target) -> None:
    target.change_tile(1, 1)  # tree level 8, node 1: entries 256-511
    fails(target, Fault("tile", 511, "tile level 1 hash 1 is [0-9a-f]{64}, the entries give"))


def test_deleted_row(target: Target) -> None:
    target.delete(300)
    want = Fault("sequence", 300, "position 300 holds the body of entry 301: entry 300 is missing")
    fails(target, want)


def test_deleted_row_at_the_end_of_a_bundle(target: Target) -> None:
    target.cut_from_bundle(255)
    fails(target, Fault("sequence", 255, "missing"))


def test_inserted_row(target: Target) -> None:
    forged = forge.chain([forge.Draft("approve", "UA-0", idempotency_key="x")], target.head(300))
    target.insert(300, forged[0])
    want = Fault("sequence", 301, "position 301 holds the body of entry 300: entry 301 is dup")
    fails(target, want)


def test_swapped_rows(target: Target) -> None:
    target.swap(300, 400)
    want = Fault("sequence", 300, "position 300 holds the body of entry 400: entry 300 is missing")
    fails(target, want)


@pytest.mark.parametrize("keep", [590, 512])
def test_tail_truncated_behind_a_published_checkpoint(target: Target, keep: int) -> None:
    target.truncate(keep)
    want = Fault("truncated", keep, f"the log ends at entry {keep - 1}, its checkpoint covers 600")
    fails(target, want)


def test_checkpoint_signed_by_an_unknown_key(target: Target) -> None:
    impostor = Signer.generate(ORIGIN)  # same name, another key
    target.replace_checkpoint(forge.signed_checkpoint(impostor, ORIGIN, SIZE, latest_root(target)))
    want = Fault(
        "checkpoint-signature",
        SIZE - 1,
        "checkpoint of size 600: note has no verifiable signature: got signatures by "
        + re.escape(impostor.label),
    )
    fails(target, want)


def test_forged_statement(target: Target) -> None:
    signed = finding(target.sbu, "UA-0")
    forged = dict(signed, statement=dict(signed["statement"], finding={"result": "objection"}))
    now = format_time(datetime.now(UTC))
    drafts = [forge.Draft("review.security", "UA-0", SBU, statement=forged, time=now)]
    target.append_forged(forge.chain(drafts, target.head()))
    fails(target, Fault("statement", 600, r"bad-signature.*does not verify"))


def test_statement_by_a_revoked_key(target: Target) -> None:
    key_id = actor_key_id(raw_public_key(target.sbu.public_key()))
    now = format_time(datetime.now(UTC))
    drafts = [
        forge.Draft(
            ACTOR_KEY_REVOKE, None, REGISTRAR, revoke_data(SBU.id, key_id, "lost"), time=now
        ),
        forge.Draft(
            "review.security", "UA-1", SBU, statement=finding(target.sbu, "UA-1"), time=now
        ),
    ]
    target.append_forged(forge.chain(drafts, target.head()))
    fails(target, Fault("statement", 601, f"revoked-key.*key '{key_id}'.*revoked at entry 600"))


def test_replayed_statement_nonce(target: Target) -> None:
    earlier = parse_entry(target.bodies()[256]).statement
    assert earlier is not None
    nonce = earlier["statement"]["nonce"]
    replay = finding(target.sbu, "UA-2", nonce=nonce)  # a new statement, the old nonce
    now = format_time(datetime.now(UTC))
    drafts = [forge.Draft("review.security", "UA-2", SBU, statement=replay, time=now)]
    target.append_forged(forge.chain(drafts, target.head()))
    fails(target, Fault("statement", 600, f"replayed-nonce.*nonce {nonce} of issuer 'sbu'"))


@pytest.mark.parametrize("how", ["rows appended", "latest checkpoint deleted"])
def test_entries_beyond_the_latest_checkpoint(db_target: DbTarget, how: str) -> None:
    if how == "rows appended":
        drafts = [forge.Draft("submit", "UA-9"), forge.Draft("submit", "UA-9")]
        db_target.append_unsigned(forge.chain(drafts, db_target.head()))
        want = Fault(
            "unsigned-entries", 600, "holds 602 entries but its latest checkpoint covers only 600"
        )
    else:
        db_target.drop_latest_checkpoint()
        want = Fault(
            "unsigned-entries", 261, "holds 600 entries but its latest checkpoint covers only 261"
        )
    fails(db_target, want)


def test_trusted_checkpoint_of_a_fork(target: Target) -> None:
    """The auditor kept a checkpoint of size 300 from a view where entry 299 is another one."""
    bodies = target.bodies()[:299]
    other = forge.chain(
        [forge.Draft("withdraw", "UA-4", idempotency_key="fork")], forge.head_of(bodies)
    )
    tree = forge.Tree((leaf_hash(b) for b in bodies + other), [300])
    trusted = forge.signed_checkpoint(target.signer, ORIGIN, 300, tree.roots[300])
    want = Fault(
        "consistency",
        299,
        "your trusted checkpoint of size 300 has root [0-9a-f]{64}, but the log's root at that "
        "size is [0-9a-f]{64}: the log forked",
    )
    fails(target, want, trusted=trusted)


def test_trusted_checkpoint_of_the_same_log_verifies(target: Target) -> None:
    tree = forge.Tree((leaf_hash(b) for b in target.bodies()[:300]), [300])
    trusted = forge.signed_checkpoint(target.signer, ORIGIN, 300, tree.roots[300])
    vkey = target.signer.verifier.vkey
    assert verify_log(target.source, vkey, trusted_checkpoint=trusted).tree_size == SIZE


def test_log_shrank_below_a_trusted_checkpoint(target: Target) -> None:
    trusted = target.source.latest_checkpoint_note()
    target.roll_back(256)
    # Alone, the rolled-back log is a consistent log of 256 entries ...
    assert verify_log(target.source, target.signer.verifier.vkey).tree_size == 256
    # ... but not to an auditor who kept the checkpoint of size 600.
    want = Fault(
        "consistency",
        256,
        "the log shrank: your trusted checkpoint has size 600, the log's latest has 256",
    )
    fails(target, want, trusted=trusted)


# --- more ways to change an entry or a checkpoint ---------------------------------------------


def test_changed_body_with_its_stored_hash_recomputed(target: Target) -> None:
    """Entry 300 rewritten whole and rehashed: it is consistent in itself, so the first fault
    is entry 301, whose ``prev`` no longer names it."""
    drafts = [forge.Draft("submit", "UA-0", data={"n": -1}, idempotency_key="UA-0/300")]
    target.replace(300, forge.chain(drafts, target.head(300))[0])
    fails(target, Fault("prev-chain", 301, "prev is [0-9a-f]{64}, want leaf hash of entry 300"))


def test_published_checkpoint_that_disagrees_with_the_tree(target: Target) -> None:
    """A checkpoint of size 256, signed by the log key, over another tree (a split view)."""
    other = forge.chain([forge.Draft("withdraw", "UA-4")], target.head(255))
    tree = forge.Tree((leaf_hash(b) for b in target.bodies()[:255] + other), [256])
    target.replace_checkpoint(forge.signed_checkpoint(target.signer, ORIGIN, 256, tree.roots[256]))
    fails(
        target,
        Fault("checkpoint", 255, "checkpoint of size 256 has root [0-9a-f]{64}, the entries give"),
    )


def test_corrupt_entry_bundle(bases: Bases, tmp_path: Path) -> None:
    """One bit of the length prefix of entry 300 in its bundle file: entry 300 is the first
    whose stored bytes are wrong."""
    root = tmp_path / "export"
    shutil.copytree(bases.export(), root)
    path, offset, _ = forge.entry_location(root, 300)
    forge.flip_byte(path, offset - 1)
    target = ExportTarget(root, bases.signer, bases.db("sqlite").sbu)
    fault = verification_fault(target.source, target.signer.verifier.vkey)
    check_fault(fault, Fault("stored-hash", 300, "body hashes to"))


def test_export_helper_writes_what_export_log_writes(bases: Bases, tmp_path: Path) -> None:
    """``forge.write_export`` (which builds the vectors) gives the same folder, byte for byte,
    as ``export_log`` for the same log: same bodies, same checkpoint sizes, same key."""
    real = bases.export()
    copy = tmp_path / "forged"
    bodies, _ = forge.read_entries(real)
    forge.write_export(
        copy,
        bodies,
        signer=bases.signer,
        origin=ORIGIN,
        checkpoint_sizes=forge.published_sizes(real),
    )
    files = sorted(p.relative_to(real) for p in real.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(copy) for p in copy.rglob("*") if p.is_file())
    for rel in files:
        assert (real / rel).read_bytes() == (copy / rel).read_bytes(), rel


# --- a large log: full level-1 tiles and a level-2 tile ---------------------------------------

BIG = 66_000  # > 65,536: tile/1/000 is full, and tile/2/000.p/1 holds tree level 16


@dataclass
class BigLog:
    ledger: SqlLedger
    export: Path
    vkey: str


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, log_signer: Signer) -> Iterator[BigLog]:
    """66,000 entries in SQLite and exported. All but the last 10 are written by
    ``forge.append_rows`` (appending them through ``append_batch`` takes about 18 s); the last
    10 are a production ``append_batch`` on top, whose checkpoint is computed from the forged
    ``tree_nodes``."""
    tmp = tmp_path_factory.mktemp("big")
    ledger = SqlLedger.open(sqlite_url(tmp), log_signer)
    ledger.init(ORIGIN)
    drafts = [forge.Draft("submit", f"UA-{i % 50}", data={"n": i}) for i in range(BIG - 10)]
    bodies = forge.chain(drafts)
    for start in range(0, len(bodies), 20_000):
        forge.append_rows(ledger, log_signer, bodies[start : start + 20_000])
    ledger.append_batch([submit(i) for i in range(BIG - 10, BIG)])
    vkey = log_signer.verifier.vkey
    export_log(ledger, tmp / "export", initial_key=vkey)
    yield BigLog(ledger, tmp / "export", vkey)
    gc.collect()  # see Bases.close
    ledger.engine.dispose()


def test_the_large_log_has_the_tiles_of_its_size(big: BigLog) -> None:
    assert (big.export / "tile/1/000").stat().st_size == 32 * TILE_WIDTH
    assert (big.export / "tile/1/001.p/1").stat().st_size == 32
    assert (big.export / "tile/2/000.p/1").stat().st_size == 32
    # every hash on the path of the last entry agrees with the latest checkpoint
    assert verify_entry(ExportSource(big.export), big.vkey, BIG - 1).seq == BIG - 1
    assert verify_entry(big.ledger, big.vkey, BIG - 1).seq == BIG - 1


def test_changed_level1_tile_of_a_large_export(big: BigLog) -> None:
    path = big.export / "tile/1/000"
    forge.flip_byte(path, 32 * 3 + 7)
    try:
        fault = verification_fault(ExportSource(big.export), big.vkey)
    finally:
        forge.flip_byte(path, 32 * 3 + 7)
    check_fault(fault, Fault("tile", 1023, "tile level 1 hash 3 is [0-9a-f]{64}, the entries"))


def test_changed_tree_node_row_of_a_large_database(big: BigLog) -> None:
    where = (tree_nodes.c.level == TILE_HEIGHT) & (tree_nodes.c.idx == 3)
    with big.ledger.engine.connect() as conn:
        node = bytes(conn.execute(select(tree_nodes.c.hash).where(where)).scalar_one())
    with write_transaction(big.ledger.engine) as conn:
        conn.execute(update(tree_nodes).where(where).values(hash=flip(node)))
    try:
        fault = verification_fault(big.ledger, big.vkey)
    finally:
        with write_transaction(big.ledger.engine) as conn:
            conn.execute(update(tree_nodes).where(where).values(hash=node))
    check_fault(fault, Fault("tile", 1023, "tile level 1 hash 3 is [0-9a-f]{64}, the entries"))


def test_changed_level2_tile_of_a_large_export(big: BigLog) -> None:
    """Tree level 16, node 0 (entries 0-65535), checked with two worker processes."""
    path = big.export / "tile/2/000.p/1"
    forge.flip_byte(path, 9)
    try:
        fault = verification_fault(
            ExportSource(big.export),
            big.vkey,
            workers=2,
            bundle_reader=ExportBundleChecker(big.export, BIG),
        )
    finally:
        forge.flip_byte(path, 9)
    check_fault(fault, Fault("tile", 65_535, "tile level 2 hash 0 is [0-9a-f]{64}, the entries"))
