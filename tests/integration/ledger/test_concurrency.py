"""Many writer processes on one ledger, on SQLite and PostgreSQL: no fork, no duplicate, no gap.

The writers (``writers.py``) are started with the "spawn" method, so each has its own engine and
connections, and released together by a barrier. They interleave single appends across shared
cases, retry some requests (the same key and content must give the same entry back), race on
keys that all of them send, append batches, and one of them sends a conflicting request. The
crash test kills a writer with SIGKILL inside its transaction, after its commit, and at a random
moment, while other writers keep appending.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

import pytest
from sqlalchemy import select

from ledger.checkpoint import open_checkpoint, parse_checkpoint
from ledger.entry import ZERO_HASH, Entry, parse_entry
from ledger.merkle import inclusion_proof, leaf_hash, verify_inclusion
from ledger.note import Signer, Verifiers
from ledger.store.schema import checkpoints, entries
from ledger.store.sql import SqlLedger
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH, TileHashReader, TileId
from ledger.verify import verify_log
from tests.conftest import ORIGIN
from tests.integration.ledger import writers
from tests.integration.ledger.writers import Call, HangMode, WriterReport

WRITERS = 8
STREAMS = 3  # writers appending while the crash test kills others
STREAM_PAUSE = 0.002  # seconds between their appends
JOIN_SECONDS = 120.0


@pytest.fixture
def spawn() -> SpawnContext:
    return multiprocessing.get_context("spawn")


@pytest.fixture
def processes() -> Iterator[list[SpawnProcess]]:
    """Processes a test starts; any still alive at the end (a failed test) are killed."""
    started: list[SpawnProcess] = []
    yield started
    for p in started:
        if p.is_alive():
            p.kill()
        p.join(10)


@dataclass(frozen=True)
class Stored:
    seq: int
    key: str
    entry: Entry


def stored_entries(ledger: SqlLedger) -> list[Stored]:
    """Every row, in seq order, after checking its stored leaf hash and body fields."""
    out = []
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(
                entries.c.seq, entries.c.idempotency_key, entries.c.body, entries.c.leaf_hash
            ).order_by(entries.c.seq)
        )
        for seq, key, body, leaf in rows:
            entry = parse_entry(bytes(body))
            assert (entry.seq, entry.idempotency_key) == (seq, key)
            assert leaf_hash(entry.body) == bytes(leaf)
            out.append(Stored(int(seq), str(key), entry))
    return out


def checkpoint_sizes(ledger: SqlLedger) -> list[int]:
    with ledger.engine.connect() as conn:
        return [int(s) for (s,) in conn.execute(select(checkpoints.c.tree_size))]


def check_log(ledger: SqlLedger, vkey: str) -> list[Stored]:
    """seq is 0..N-1, keys are unique, both chains link, and the log verifies."""
    rows = stored_entries(ledger)
    assert [r.seq for r in rows] == list(range(len(rows))), "a gap or a duplicate seq"
    duplicated = [k for k, n in Counter(r.key for r in rows).items() if n > 1]
    assert not duplicated, f"idempotency keys stored twice: {duplicated}"
    prev = ZERO_HASH
    case_heads: dict[str, bytes] = {}
    for r in rows:
        assert r.entry.prev == prev, f"entry {r.seq}: prev does not link (a fork)"
        if r.entry.case_id is not None:
            assert r.entry.case_prev == case_heads.get(r.entry.case_id), (
                f"entry {r.seq}: case_prev does not link to case {r.entry.case_id}'s previous entry"
            )
            case_heads[r.entry.case_id] = leaf_hash(r.entry.body)
        prev = leaf_hash(r.entry.body)
    report = verify_log(ledger, vkey)
    assert report.tree_size == len(rows)
    return rows


class FinalTiles:
    """Any tile of the tree at an earlier size, cut from the tiles of the final tree.

    The log only grows, so a tile of a smaller tree is a prefix of the final one; reading each
    final tile once keeps hundreds of inclusion proofs to a few queries.
    """

    def __init__(self, ledger: SqlLedger, size: int) -> None:
        self._ledger = ledger
        self._size = size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def read_tile(self, tile: TileId) -> list[bytes]:
        key = (tile.level, tile.index)
        if key not in self._tiles:
            count = self._size >> (TILE_HEIGHT * tile.level)
            width = min(TILE_WIDTH, count - tile.index * TILE_WIDTH)
            self._tiles[key] = self._ledger.read_tile(TileId(tile.level, tile.index, width))
        return self._tiles[key][: tile.width]


def wait_for(
    condition: Callable[[], bool], what: str, watch: list[SpawnProcess], timeout: float = 60.0
) -> None:
    """Poll ``condition``; fail if it takes too long or a process in ``watch`` ends meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        ended = {p.name: p.exitcode for p in watch if p.exitcode is not None}
        assert not ended, f"{ended} ended while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def collect(reports: Queue[WriterReport], procs: list[SpawnProcess]) -> list[Call]:
    """Every writer's report (read before joining: a full pipe would block the writer)."""
    got: list[WriterReport] = []
    deadline = time.monotonic() + JOIN_SECONDS
    while len(got) < len(procs):
        try:
            report = reports.get(timeout=1.0)
        except queue.Empty:
            crashed = {p.name: p.exitcode for p in procs if p.exitcode not in (None, 0)}
            if not crashed:
                assert time.monotonic() < deadline, "writers did not finish (a deadlock?)"
                continue
            try:  # a writer that failed reports before it exits
                report = reports.get(timeout=5.0)
            except queue.Empty:
                raise AssertionError(f"{crashed} died without a report") from None
        assert report.failure is None, f"writer-{report.writer} failed:\n{report.failure}"
        got.append(report)
    for p in procs:
        p.join(JOIN_SECONDS)
        assert p.exitcode == 0
    span = max(r.finished for r in got) - min(r.started for r in got)
    calls = [c for r in sorted(got, key=lambda r: r.writer) for c in r.calls]
    commits = sum(c.committed for c in calls)
    print(f"{WRITERS} writers: {len(calls)} calls, {commits} commits in {span:.2f}s")
    return calls


def test_concurrent_writers_never_fork(
    ledger: SqlLedger,
    db_url: str,
    log_signer: Signer,
    spawn: SpawnContext,
    processes: list[SpawnProcess],
) -> None:
    barrier = spawn.Barrier(WRITERS)
    reports: Queue[WriterReport] = spawn.Queue()
    for w in range(WRITERS):
        p = spawn.Process(
            target=writers.run_writer,
            args=(db_url, log_signer.skey, w, barrier, reports),
            name=f"writer-{w}",
        )
        processes.append(p)
        p.start()
    calls = collect(reports, processes)

    vkey = log_signer.verifier.vkey
    rows = check_log(ledger, vkey)
    by_key = {r.key: r for r in rows}

    # Exactly the planned entries, once each; the refused requests left nothing behind.
    planned = {
        r.idempotency_key
        for w in range(WRITERS)
        for step in writers.plan(w)
        if not step.conflict
        for r in step.requests
    }
    assert set(by_key) == planned
    assert "writer-0/orphan" not in by_key
    assert by_key["writer-0/1"].entry.data == {"writer": 0, "i": 1}
    conflicts = [c for c in calls if c.error is not None]
    assert len(conflicts) == 2
    assert all(c.error and c.error.startswith("IdempotencyConflict") for c in conflicts)

    # Per-case chains really interleave writers (the test exercised contention).
    switches = sum(a.entry.actor.id != b.entry.actor.id for a, b in pairwise(rows))
    assert switches > WRITERS, f"only {switches} changes of writer along the log"

    # Every send of a key got the same entry; exactly one send created it.
    created: Counter[str] = Counter()
    seen: dict[str, tuple[int, bytes]] = {}
    for c in calls:
        if c.error is not None:
            continue
        for key, seq, body, replayed in zip(c.keys, c.seqs, c.bodies, c.replayed, strict=True):
            assert (seq, body) == (by_key[key].seq, by_key[key].entry.body)
            assert seen.setdefault(key, (seq, body)) == (seq, body)
            created[key] += not replayed
    assert set(created) == planned
    assert {k: n for k, n in created.items() if n != 1} == {}
    shared = [c for c in calls if c.keys[0].startswith("shared/")]
    assert len(shared) == WRITERS * writers.SHARED
    assert sum(not c.replayed[0] for c in shared) == writers.SHARED

    # One published checkpoint per committing append, plus the empty tree's.
    committed = [c for c in calls if c.committed]
    sizes = checkpoint_sizes(ledger)
    assert len(sizes) == len(committed) + 1
    assert sorted(sizes) == [0, *sorted(c.checkpoint_size for c in committed)]
    assert max(sizes) == len(rows)

    # Each returned checkpoint is signed, published, and covers what the caller was given.
    verifiers = Verifiers([log_signer.verifier])
    published = {
        parse_checkpoint(n.partition("\n\n")[0] + "\n").size: n for n in ledger.checkpoint_notes()
    }
    tiles = FinalTiles(ledger, len(rows))
    for c in calls:
        if c.error is not None:
            continue
        cp, _ = open_checkpoint(c.note, verifiers, origin=ORIGIN)
        assert cp.size == c.checkpoint_size
        assert published[cp.size] == c.note
        reader = TileHashReader(tiles, cp.size)
        for seq, body in zip(c.seqs, c.bodies, strict=True):
            assert cp.size > seq
            proof = inclusion_proof(reader, seq, cp.size)
            verify_inclusion(seq, cp.size, leaf_hash(body), proof, cp.root_hash)


def sent_at_least(sent: Synchronized[int], n: int) -> bool:
    return sent.value >= n


def all_advanced(counters: list[Synchronized[int]], before: list[int], by: int = 3) -> bool:
    return all(c.value >= n + by for c, n in zip(counters, before, strict=True))


@dataclass
class Victim:
    mode: HangMode
    prefix: str
    process: SpawnProcess
    go: Event
    hung: Event
    sent: Synchronized[int]


def test_writer_killed_mid_append_leaves_a_verifying_log(
    ledger: SqlLedger,
    db_url: str,
    log_signer: Signer,
    spawn: SpawnContext,
    processes: list[SpawnProcess],
) -> None:
    skey = log_signer.skey
    vkey = log_signer.verifier.vkey
    hang_at = 5
    modes: tuple[HangMode, ...] = ("before-commit", "after-commit", "anywhere")
    ready = spawn.Barrier(STREAMS + len(modes) + 1)
    stop = spawn.Event()
    streams: list[Synchronized[int]] = []
    for j in range(STREAMS):  # writers that keep appending while the victims die
        done = spawn.Value("q", 0)
        p = spawn.Process(
            target=writers.run_stream,
            args=(db_url, skey, f"stream-{j}", ready, stop, done, STREAM_PAUSE),
        )
        processes.append(p)
        streams.append(done)
    victims: list[Victim] = []
    for mode in modes:
        go, hung, sent = spawn.Event(), spawn.Event(), spawn.Value("q", -1)
        prefix = f"victim-{mode}"
        p = spawn.Process(
            target=writers.run_victim,
            args=(db_url, skey, prefix, mode, hang_at, ready, go, hung, sent),
        )
        processes.append(p)
        victims.append(Victim(mode, prefix, p, go, hung, sent))
    for p in processes:
        p.start()
    ready.wait(JOIN_SECONDS)
    wait_for(lambda: all(d.value >= 3 for d in streams), "the streams to start", processes)
    for v in victims:
        watch = [*processes[:STREAMS], v.process]
        v.go.set()
        if v.mode == "anywhere":
            wait_for(partial(sent_at_least, v.sent, hang_at), "the victim's appends", watch)
            time.sleep(random.uniform(0, 0.02))
        else:
            wait_for(v.hung.is_set, f"the {v.mode} victim to reach its stop", watch)
        before = [d.value for d in streams]
        if v.mode == "before-commit":  # it holds the head lock: the others wait
            time.sleep(0.3)
            assert not all_advanced(streams, before, by=2), "the victim does not hold the lock"
        assert v.process.pid is not None
        os.kill(v.process.pid, signal.SIGKILL)
        v.process.join(JOIN_SECONDS)
        assert v.process.exitcode == -signal.SIGKILL
        # The dead writer's lock, if it held one, is gone: the others carry on.
        wait_for(
            partial(all_advanced, streams, before),
            f"the streams to go on after the {v.mode} victim died",
            processes[:STREAMS],
        )
    stop.set()
    for p in processes:
        p.join(JOIN_SECONDS)
    assert [p.exitcode for p in processes[:STREAMS]] == [0] * STREAMS

    # No half-written append: the log verifies and every entry has its own checkpoint.
    rows = check_log(ledger, vkey)
    assert sorted(checkpoint_sizes(ledger)) == list(range(len(rows) + 1))
    keys = {r.key for r in rows}
    for v in victims:
        last = v.sent.value
        assert {f"{v.prefix}/{i}" for i in range(last)} <= keys
        assert not {k for k in keys if k.startswith(f"{v.prefix}/")} - {
            f"{v.prefix}/{i}" for i in range(last + 1)
        }
        in_log = f"{v.prefix}/{last}" in keys
        if v.mode == "before-commit":
            assert (last, in_log) == (hang_at, False)
        elif v.mode == "after-commit":
            assert (last, in_log) == (hang_at, True)

        # The client never got an answer: it retries, and gets exactly one entry.
        result = ledger.append(writers.stream_request(v.prefix, last))
        assert result.replayed == [in_log]
        assert result.checkpoint.checkpoint.size > result.entries[0].seq

    rows = check_log(ledger, vkey)
    assert sorted(checkpoint_sizes(ledger)) == list(range(len(rows) + 1))
    for v in victims:
        mine = [r for r in rows if r.key.startswith(f"{v.prefix}/")]
        assert [r.key for r in mine] == [f"{v.prefix}/{i}" for i in range(v.sent.value + 1)]
