"""A live log: verification while writers append, and servers that initialise at once."""

from __future__ import annotations

import multiprocessing
import time

from ledger.note import Signer
from ledger.store.sql import SqlLedger
from ledger.verify import verify_case, verify_log
from tests.conftest import ORIGIN
from tests.integration.ledger import writers

SPAWN = multiprocessing.get_context("spawn")


def test_verification_sees_one_snapshot_while_writers_append(
    ledger: SqlLedger, db_url: str, log_signer: Signer
) -> None:
    """Online verification reads one consistent snapshot: appends made meanwhile are not
    mistaken for unsigned entries or checkpoints beyond the latest."""
    vkey = log_signer.verifier.vkey
    ready = SPAWN.Barrier(3)
    stop = SPAWN.Event()
    counters = [SPAWN.Value("i", 0) for _ in range(2)]
    procs = [
        SPAWN.Process(
            target=writers.run_stream,
            args=(db_url, log_signer.skey, f"live-{n}", ready, stop, counters[n], 0.002),
        )
        for n in range(2)
    ]
    for p in procs:
        p.start()
    try:
        ready.wait(writers.START_SECONDS)
        deadline = time.monotonic() + 60
        while min(c.value for c in counters) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        sizes = []
        for _ in range(5):
            report = verify_log(ledger, vkey)
            sizes.append(report.tree_size)
            verify_case(ledger, vkey, writers.CASES[0])
    finally:
        stop.set()
        for p in procs:
            p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0] > 0
    assert verify_log(ledger, vkey).tree_size == sum(c.value for c in counters)


def test_servers_initialising_at_once_all_succeed(db_url: str, log_signer: Signer) -> None:
    """Replicas that start together each call init on the empty database: one creates the
    schema and the empty log, the others find it; none fails."""
    ready = SPAWN.Barrier(6)
    results = SPAWN.Queue()
    procs = [
        SPAWN.Process(
            target=writers.run_init, args=(db_url, log_signer.skey, ORIGIN, ready, results)
        )
        for _ in range(6)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert outcomes == ["ok"] * 6, "\n".join(o for o in outcomes if o != "ok")
    log = SqlLedger.open(db_url)
    assert log.latest_checkpoint().checkpoint.size == 0
    assert len(list(log.checkpoint_notes())) == 1
    log.engine.dispose()
