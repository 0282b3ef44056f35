"""Writer processes for the concurrency tests (importable, so the "spawn" start method finds them).

Each process opens its own engine from the database URL and rebuilds the log signer from its
``skey`` string. Requests are deterministic functions of their names, so the test process can
rebuild any request a writer sent (to check it, or to retry it after the writer died).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Barrier, Event
from typing import Any, Literal

from sqlalchemy import event

from ledger.entry import Actor
from ledger.errors import IdempotencyConflict
from ledger.note import Signer
from ledger.store.sql import AppendRequest, AppendResult, SqlLedger, make_engine

CASES = ("UA-2026-C0", "UA-2026-C1", "UA-2026-C2", "UA-2026-C3")
SINGLES = 40  # fresh single appends per writer
SHARED = 5  # requests every writer sends (same key, same content): one creates, the rest replay
START_SECONDS = 120.0  # how long a writer waits for the others at the start line
HANG_SECONDS = 600.0  # a hooked victim sleeps this long, until the test kills it


# --- requests ------------------------------------------------------------------------------


def writer_request(writer: int, i: int) -> AppendRequest:
    """The ``i``-th single append of ``writer``; the cases rotate so per-case chains interleave."""
    return AppendRequest(
        idempotency_key=f"writer-{writer}/{i}",
        case_id=CASES[(writer + i) % len(CASES)],
        event="submit",
        actor=Actor(f"officer-{writer}", "licensing_officer"),
        to_state="submitted",
        data={"writer": writer, "i": i},
    )


def batch_request(writer: int, batch: int, k: int) -> AppendRequest:
    return AppendRequest(
        idempotency_key=f"writer-{writer}/batch-{batch}/{k}",
        case_id=CASES[(writer + batch + k) % len(CASES)],
        event="screening.match",
        actor=Actor(f"officer-{writer}", "licensing_officer"),
        data={"writer": writer, "batch": batch, "k": k},
    )


def shared_request(k: int) -> AppendRequest:
    """Sent by every writer at about the same moment, as a client retrying against many servers."""
    return AppendRequest(
        idempotency_key=f"shared/{k}",
        case_id=CASES[k % len(CASES)],
        event="review.requested",
        actor=Actor("gateway", "service"),
        data={"shared": k},
    )


def conflicting_request(writer: int) -> AppendRequest:
    """The key of ``writer_request(writer, 1)`` with other content."""
    original = writer_request(writer, 1)
    return AppendRequest(
        idempotency_key=original.idempotency_key,
        case_id=original.case_id,
        event=original.event,
        actor=original.actor,
        to_state=original.to_state,
        data={**original.data, "tampered": True},
    )


def orphan_request(writer: int) -> AppendRequest:
    """A fresh request batched with a conflicting one: it must not be written either."""
    return AppendRequest(
        idempotency_key=f"writer-{writer}/orphan",
        case_id=CASES[0],
        event="submit",
        actor=Actor(f"officer-{writer}", "licensing_officer"),
        data={"orphan": True},
    )


def stream_request(prefix: str, i: int) -> AppendRequest:
    """The ``i``-th append of an endless stream (crash test)."""
    return AppendRequest(
        idempotency_key=f"{prefix}/{i}",
        case_id=CASES[i % len(CASES)],
        event="shipment.recorded",
        actor=Actor(prefix, "customs"),
        data={"i": i, "stream": prefix},
    )


# --- the plan of one writer -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One call: a single append (one request) or a batch; ``conflict`` calls must be refused."""

    requests: tuple[AppendRequest, ...]
    batch: bool = False
    conflict: bool = False


def plan(writer: int) -> list[Step]:
    """What ``writer`` sends, in order: fresh singles, retries, shared keys, batches, conflicts."""
    first_batch = (*(batch_request(writer, 0, k) for k in range(4)), writer_request(writer, 3))
    steps: list[Step] = []
    for i in range(SINGLES):
        steps.append(Step((writer_request(writer, i),)))
        if i % 5 == 2:  # the reply was "lost": send the same request again at once
            steps.append(Step((writer_request(writer, i),)))
        if i % 10 == 7:  # a late retry of an earlier request
            steps.append(Step((writer_request(writer, i - 6),)))
        if i % 8 == 4:  # every writer races on the same key
            steps.append(Step((shared_request(i // 8),)))
        if i == 20:  # four fresh entries and a replay of an earlier single, in one transaction
            steps.append(Step(first_batch, batch=True))
        if i == 30:  # the whole batch again: all replayed, nothing written
            steps.append(Step(first_batch, batch=True))
        if i == 35:
            steps.append(Step(tuple(batch_request(writer, 1, k) for k in range(3)), batch=True))
        if writer == 0 and i == 10:
            steps.append(Step((conflicting_request(writer),), conflict=True))
            steps.append(
                Step(
                    (orphan_request(writer), conflicting_request(writer)), batch=True, conflict=True
                )
            )
    return steps


@dataclass(frozen=True)
class Call:
    """What one call returned, as plain data the test process checks."""

    keys: tuple[str, ...]
    seqs: tuple[int, ...]
    bodies: tuple[bytes, ...]
    replayed: tuple[bool, ...]
    checkpoint_size: int
    note: str
    error: str | None = None

    @property
    def committed(self) -> bool:
        """Whether this call wrote anything (and so published a checkpoint)."""
        return self.error is None and not all(self.replayed)


@dataclass(frozen=True)
class WriterReport:
    writer: int
    calls: list[Call]
    started: float
    finished: float
    failure: str | None = None


def _call(ledger: SqlLedger, step: Step) -> Call:
    keys = tuple(r.idempotency_key for r in step.requests)
    try:
        result: AppendResult = (
            ledger.append_batch(step.requests) if step.batch else ledger.append(step.requests[0])
        )
    except IdempotencyConflict as exc:
        if not step.conflict:
            raise
        return Call(keys, (), (), (), -1, "", error=f"IdempotencyConflict: {exc}")
    if step.conflict:
        raise AssertionError(f"{keys} should have been refused as a conflict")
    return Call(
        keys=keys,
        seqs=tuple(e.seq for e in result.entries),
        bodies=tuple(e.body for e in result.entries),
        replayed=tuple(result.replayed),
        checkpoint_size=result.checkpoint.checkpoint.size,
        note=result.checkpoint.note,
    )


def run_writer(
    url: str, skey: str, writer: int, barrier: Barrier, reports: Queue[WriterReport]
) -> None:
    """Open the ledger, wait for every writer, then run ``plan(writer)``; report what came back."""
    calls: list[Call] = []
    started = finished = 0.0
    try:
        ledger = SqlLedger.open(url, Signer.from_skey(skey))
        ledger.latest_checkpoint()  # connect before the start line
        barrier.wait(START_SECONDS)
        started = time.perf_counter()
        for step in plan(writer):
            calls.append(_call(ledger, step))
        finished = time.perf_counter()
        ledger.engine.dispose()
    except BaseException:
        reports.put(WriterReport(writer, calls, started, finished, traceback.format_exc()))
        raise
    reports.put(WriterReport(writer, calls, started, finished))


# --- crash test -----------------------------------------------------------------------------

HangMode = Literal["before-commit", "after-commit", "anywhere"]


def run_victim(
    url: str,
    skey: str,
    prefix: str,
    mode: HangMode,
    hang_at: int,
    ready: Barrier,
    go: Event,
    hung: Event,
    sent: Synchronized[int],
) -> None:
    """Append ``stream_request(prefix, 0, 1, ...)`` until killed; ``sent`` is the one in flight.

    ``before-commit``: append ``hang_at`` stops inside its transaction, every statement run
    (entries, checkpoint, head) but nothing committed. ``after-commit``: it stops once committed,
    before the result reaches the caller. Either way ``hung`` is set and the process sleeps, holding
    whatever it holds, until the test kills it. ``anywhere``: no stop; the test kills it at will.
    """
    ledger = SqlLedger.open(url, Signer.from_skey(skey))

    def hang() -> None:
        hung.set()
        time.sleep(HANG_SECONDS)

    if mode == "before-commit":

        @event.listens_for(ledger.engine, "commit")
        def _commit(_conn: Any) -> None:
            # Every statement of the append has run; the COMMIT has not been sent.
            if sent.value == hang_at:
                hang()

    elif mode == "after-commit":

        @event.listens_for(ledger.engine, "checkin")
        def _checkin(_dbapi_conn: Any, _record: Any) -> None:
            # An append holds one connection; it goes back to the pool after the commit.
            if sent.value == hang_at:
                hang()

    ledger.latest_checkpoint()
    ready.wait(START_SECONDS)
    go.wait()
    i = 0
    while True:
        sent.value = i
        ledger.append(stream_request(prefix, i))
        i += 1


def run_stream(
    url: str,
    skey: str,
    prefix: str,
    ready: Barrier,
    stop: Event,
    done: Synchronized[int],
    pause: float,
) -> None:
    """Append ``stream_request(prefix, i)`` until ``stop``; ``done`` counts the returned appends.

    The ``pause`` between appends leaves the lock free now and then: SQLite's busy handler
    polls rather than queues, so writers that never pause starve the others.
    """
    ledger = SqlLedger.open(url, Signer.from_skey(skey))
    ledger.latest_checkpoint()
    ready.wait(START_SECONDS)
    i = 0
    while not stop.is_set():
        ledger.append(stream_request(prefix, i))
        i += 1
        done.value = i
        time.sleep(pause)
    ledger.engine.dispose()


def run_init(url: str, skey: str, origin: str, ready: Barrier, results: Queue[str]) -> None:
    """Call ``init`` at the same moment as the other processes; report "ok" or the error."""
    try:
        ledger = SqlLedger(make_engine(url), Signer.from_skey(skey))
        ready.wait(START_SECONDS)
        ledger.init(origin)
        ledger.engine.dispose()
        results.put("ok")
    except Exception:  # reported to the test, which fails with it
        results.put(traceback.format_exc())
