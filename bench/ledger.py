"""Ledger benchmark: each figure beside a baseline measured in the same run.

Run from the repository root (see ``bench/README.md``)::

    .venv/bin/python bench/ledger.py --quick                  # smoke run: 10^4 and 10^5 entries
    .venv/bin/python bench/ledger.py --full --postgres URL    # includes 10^6 entries

Figures (each with its baseline, the ratio, the target and PASS/MISS):

1. batched appends/s: ``SqlLedger.append_batch`` of 1,000 requests a batch into a SQLite file,
   vs raw ``sqlite3.executemany`` of the very rows the ledger wrote (body, leaf hash, seq, key,
   ...) in one transaction a batch into an identical ``entries`` table.
2. durable single appends/s (one commit each), 1 and 8 writer processes, SQLite (WAL +
   ``synchronous=FULL``) and PostgreSQL (server defaults), vs raw ``sqlite3`` / raw ``psycopg``
   single-row commits of precomputed rows into an identical table, same settings.
3. full offline verification of an export (``verify_log(ExportSource(dir), vkey)``) in entries/s
   vs a minimal verifier written here (bundles, ``json.loads``, ``prev`` links, ``hashlib`` leaf
   hashes, root by a compact range), on one core; the speed-up with ``workers=2``; and the peak
   RSS of the verifying process.
4. inclusion and consistency proof latency (p50, p99) from the SQLite store at 10^4, 10^5 and
   10^6 entries, and how the p99 grows against log n.

Big ledgers (and their exports) are built once with batched appends and cached under
``var/bench/`` keyed by size; ``--rebuild`` drops the cache.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script, this file's folder comes first on sys.path, and this ``ledger.py`` would
    # shadow the ``ledger`` package: put the repository root there instead.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.path.insert(0, os.path.dirname(_HERE))

import argparse
import hashlib
import json
import math
import multiprocessing
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.entry import ZERO_HASH, Actor, build_body
from ledger.merkle import leaf_hash
from ledger.note import Signer
from ledger.store.export import ExportBundleChecker, ExportSource, export_log
from ledger.store.sql import AppendRequest, SqlLedger, migrate
from ledger.tiles import ENTRIES, TILE_WIDTH, TileId, tile_path
from ledger.verify import verify_log

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var" / "bench"
WORK = VAR / "work"
ORIGIN = "bench.dozvil.local/ledger"
WORKLOAD = "dozvil-bench-workload/1"  # change when make_request changes: invalidates the cache
BATCH = 1_000
ACTIVE_CASES = 500  # cases open at any time; each gets STEPS entries, 500 entries apart
STEPS = 20

# --------------------------------------------------------------------------------------------
# The workload: export-licence case events, ~700-byte bodies with Ukrainian text.

_EVENTS = [
    ("submit", None, "submitted"),
    ("register", "submitted", "registered"),
    ("screen", "registered", "screened"),
    ("assign", "screened", "in_review"),
    ("consult", "in_review", "consulting"),
    ("opinion", "consulting", "in_review"),
    ("decide", "in_review", "decided"),
    ("countersign", "decided", "issued"),
    ("ship", "issued", "issued"),
    ("report", "issued", "issued"),
]
_GOODS = [
    ("ML5.b", "Тепловізійний приціл для стрілецької зброї"),
    ("5A002.a", "Апаратура шифрування для мереж зв'язку"),
    ("9A012.a", "Безпілотний літальний апарат розвідувальний"),
    ("6A003.b.4", "Камера тепловізійна неохолоджувана"),
    ("ML10.a", "Запасні частини до гелікоптерів"),
]
_DESTINATIONS = ["PL", "DE", "FR", "GB", "US", "RO", "LT", "CZ", "NL", "SE"]
_ROLES = ["licensing_officer", "screening_service", "ministry", "signing_official"]


def make_request(i: int, prefix: str = "") -> AppendRequest:
    """The ``i``-th request: ACTIVE_CASES cases interleaved, STEPS entries each."""
    window, rest = divmod(i, ACTIVE_CASES * STEPS)
    case_no = window * ACTIVE_CASES + rest % ACTIVE_CASES
    step = rest // ACTIVE_CASES
    case_id = f"UA-2026-{case_no:07d}"
    event, from_state, to_state = _EVENTS[step % len(_EVENTS)]
    code, description = _GOODS[case_no % len(_GOODS)]
    return AppendRequest(
        idempotency_key=f"{prefix}{case_id}/{step}",
        case_id=case_id,
        event=event,
        actor=Actor(f"officer-{i % 37}", _ROLES[step % len(_ROLES)]),
        from_state=from_state,
        to_state=to_state,
        data={
            "step": step,
            "goods": {
                "code": code,
                "description": description,
                "quantity": 10 + case_no % 990,
                "unit": "шт",
                "value_uah": 125_000 * (1 + case_no % 40),
            },
            "destination": _DESTINATIONS[case_no % len(_DESTINATIONS)],
            "end_use": "Використання збройними силами держави-отримувача",
            "documents": [
                {"kind": "euc", "sha256": hashlib.sha256(f"euc/{case_no}".encode()).hexdigest()},
            ],
            "comment": f"Крок {step} справи {case_id}",
        },
    )


# --------------------------------------------------------------------------------------------
# Plumbing.


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def fresh_db(name: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / name
    remove_db(path)
    return path


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def raw_sqlite_connect(path: Path) -> sqlite3.Connection:
    """A raw connection with the ledger's durability settings (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=120)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=120000")
    return conn


def entries_ddl(ledger_db: Path) -> list[str]:
    """The ``entries`` table and its indexes exactly as the ledger's migrations made them."""
    conn = sqlite3.connect(ledger_db)
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'entries' AND sql IS NOT NULL "
            "ORDER BY type DESC"  # the table before its indexes
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


RAW_COLUMNS = "seq, idempotency_key, request_hash, case_id, event, body, leaf_hash"
RAW_INSERT_SQLITE = f"INSERT INTO entries ({RAW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
RAW_INSERT_PG = f"INSERT INTO entries ({RAW_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
Row = tuple[int, str, bytes, str | None, str, bytes, bytes]


def chained_rows(count: int, prefix: str) -> list[Row]:
    """Rows as the ledger would store them: canonical bodies, chained ``prev``, leaf hashes."""
    rows: list[Row] = []
    prev = ZERO_HASH
    heads: dict[str, bytes] = {}
    for i in range(count):
        r = make_request(i, prefix)
        assert r.case_id is not None
        body = build_body(
            seq=i,
            prev=prev,
            case_prev=heads.get(r.case_id),
            time="2026-11-25T18:42:39.123456Z",
            case_id=r.case_id,
            event=r.event,
            from_state=r.from_state,
            to_state=r.to_state,
            actor=r.actor,
            statement=None,
            idempotency_key=r.idempotency_key,
            commitments={},
            data=r.data,
        )
        leaf = leaf_hash(body)
        rows.append((i, r.idempotency_key, r.content_hash(), r.case_id, r.event, body, leaf))
        prev = heads[r.case_id] = leaf
    return rows


# --------------------------------------------------------------------------------------------
# Cached ledgers and exports, keyed by size.


def cached_ledger(n: int) -> tuple[Path, Signer]:
    """A SQLite ledger of ``n`` workload entries built with batched appends (cached)."""
    VAR.mkdir(parents=True, exist_ok=True)
    db = VAR / f"ledger-{n}.db"
    meta_path = VAR / f"ledger-{n}.json"
    if meta_path.is_file() and db.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("workload") == WORKLOAD and meta.get("size") == n:
            return db, Signer.from_skey(meta["skey"])
    meta_path.unlink(missing_ok=True)
    remove_db(db)
    signer = Signer.generate(ORIGIN)
    store = SqlLedger.open(sqlite_url(db), signer)
    store.init(ORIGIN)
    log(f"building a ledger of {n:,} entries in {db} (cached for later runs) ...")
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        store.append_batch([make_request(i) for i in range(start, min(n, start + BATCH))])
        if start and start % 100_000 == 0:
            log(f"  {start:,} entries, {start / (time.perf_counter() - started):,.0f}/s")
    elapsed = time.perf_counter() - started
    store.engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log(f"  built {n:,} entries in {elapsed:.1f} s ({n / elapsed:,.0f}/s)")
    meta_path.write_text(
        json.dumps({"workload": WORKLOAD, "size": n, "skey": signer.skey, "build_seconds": elapsed})
    )
    os.chmod(meta_path, 0o600)
    return db, signer


def cached_export(n: int) -> tuple[Path, str]:
    """The export folder of the cached ledger of ``n`` entries, and the log's vkey."""
    db, signer = cached_ledger(n)
    vkey = signer.verifier.vkey
    dest = VAR / f"export-{n}"
    meta_path = VAR / f"export-{n}.json"
    if meta_path.is_file() and dest.is_dir():
        meta = json.loads(meta_path.read_text())
        if meta.get("workload") == WORKLOAD and meta.get("vkey") == vkey:
            return dest, vkey
    meta_path.unlink(missing_ok=True)
    shutil.rmtree(dest, ignore_errors=True)
    log(f"exporting the ledger of {n:,} entries to {dest} (cached) ...")
    store = SqlLedger.open(sqlite_url(db))
    export_log(store, dest, initial_key=vkey)
    store.engine.dispose()
    meta_path.write_text(json.dumps({"workload": WORKLOAD, "vkey": vkey}))
    return dest, vkey


# --------------------------------------------------------------------------------------------
# Results.


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    passed: bool | None = None  # None: informational
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "MISS"


FIGURES: list[Figure] = []


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in {"ms", "x"}:
        return f"{value:.3f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    if unit == "MB":
        return f"{value:.0f} MB"
    return f"{value:,.0f} {unit}"


def record(fig: Figure) -> Figure:
    FIGURES.append(fig)
    parts = [f"[{fig.section}] {fig.name}: {fmt(fig.value, fig.unit)}"]
    if fig.baseline is not None:
        parts.append(f"baseline ({fig.baseline_name}) {fmt(fig.baseline, fig.unit)}")
    if fig.ratio is not None:
        parts.append(f"ratio {fig.ratio:.2f}x")
    if fig.target:
        parts.append(f"target {fig.target}")
    parts.append(fig.verdict())
    if fig.note:
        parts.append(fig.note)
    print("  ".join(parts), flush=True)
    return fig


def ratio_figure(
    section: str,
    name: str,
    value: float,
    baseline: float,
    baseline_name: str,
    unit: str,
    want: float = 0.5,
    note: str = "",
) -> Figure:
    fig = Figure(section, name, value, unit, baseline, baseline_name, f">= {want:.2f}x", None, note)
    fig.passed = (fig.ratio or 0.0) >= want
    return record(fig)


# --------------------------------------------------------------------------------------------
# 1. Batched appends.


def bench_batched(batches: int) -> None:
    total = batches * BATCH
    log(f"[1] batched appends: {batches} batches of {BATCH:,} ...")
    db = fresh_db("batched.db")
    store = SqlLedger.open(sqlite_url(db), Signer.generate(ORIGIN))
    store.init(ORIGIN)
    requests = [[make_request(b * BATCH + i) for i in range(BATCH)] for b in range(batches)]
    started = time.perf_counter()
    for batch in requests:
        store.append_batch(batch)
    ledger_rate = total / (time.perf_counter() - started)
    store.engine.dispose()

    # The very rows the ledger wrote, into an identical table, one transaction a batch.
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {RAW_COLUMNS} FROM entries ORDER BY seq").fetchall()
    assert len(rows) == total
    raw_db = fresh_db("batched-raw.db")
    raw = raw_sqlite_connect(raw_db)
    for ddl in entries_ddl(db):
        raw.execute(ddl)
    started = time.perf_counter()
    for b in range(batches):
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(RAW_INSERT_SQLITE, rows[b * BATCH : (b + 1) * BATCH])
        raw.execute("COMMIT")
    raw_rate = total / (time.perf_counter() - started)
    raw.close()
    ratio_figure(
        "1",
        f"batched appends/s (SQLite, {batches}x{BATCH})",
        ledger_rate,
        raw_rate,
        "raw sqlite3 executemany",
        "/s",
    )
    remove_db(db)
    remove_db(raw_db)


# --------------------------------------------------------------------------------------------
# 2. Durable single appends, 1 and 8 writer processes.


def _run_writers(
    procs: int, duration: float, target: Callable[..., None], args: tuple[Any, ...]
) -> tuple[float, int]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(procs)
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=target, args=(k, duration, barrier, queue, *args)) for k in range(procs)
    ]
    for w in workers:
        w.start()
    results = [queue.get(timeout=duration * 10 + 300) for _ in workers]
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise RuntimeError(f"a writer process failed with exit code {w.exitcode}")
    count = sum(r[0] for r in results)
    span = max(r[2] for r in results) - min(r[1] for r in results)
    return count / span, count


def _timed_loop(
    op: Callable[[int], None], duration: float, barrier: Any, queue: Any, warmup: int = 3
) -> None:
    for n in range(warmup):
        op(n)
    barrier.wait()
    started = time.monotonic()
    end = started + duration
    n = warmup
    while True:
        op(n)
        n += 1
        now = time.monotonic()
        if now >= end:
            break
    queue.put((n - warmup, started, now))


def _writer_ledger(k: int, duration: float, barrier: Any, queue: Any, url: str, skey: str) -> None:
    store = SqlLedger.open(url, Signer.from_skey(skey))
    base = (k + 1) * 10_000_000
    # Built before the clock starts, as the baseline's rows are: the caller's work, not the
    # ledger's (the ledger still checks, canonicalizes and hashes each one inside append).
    requests = [make_request(base + n, f"w{k}-") for n in range(int(duration * 6_000) + 10)]

    def op(n: int) -> None:
        store.append(requests[n] if n < len(requests) else make_request(base + n, f"w{k}-"))

    _timed_loop(op, duration, barrier, queue)
    store.engine.dispose()


def _raw_row(k: int, n: int, pool: list[Row]) -> Row:
    _, key, request_hash, case_id, event, body, leaf = pool[n % len(pool)]
    return ((k + 1) * 10_000_000 + n, f"w{k}-{n}-{key}", request_hash, case_id, event, body, leaf)


def _writer_raw_sqlite(
    k: int, duration: float, barrier: Any, queue: Any, path: str, pool: list[Row]
) -> None:
    conn = raw_sqlite_connect(Path(path))

    def op(n: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(RAW_INSERT_SQLITE, _raw_row(k, n, pool))
        conn.execute("COMMIT")

    _timed_loop(op, duration, barrier, queue)
    conn.close()


def _writer_raw_pg(
    k: int, duration: float, barrier: Any, queue: Any, url: str, pool: list[Row]
) -> None:
    import psycopg

    conn = psycopg.connect(url)

    def op(n: int) -> None:
        conn.execute(RAW_INSERT_PG, _raw_row(k, n, pool))
        conn.commit()

    _timed_loop(op, duration, barrier, queue)
    conn.close()


class PgSchemas:
    """Fresh PostgreSQL schemas for the bench, dropped at the end."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.base = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.admin = psycopg.connect(self.base, autocommit=True)
        self.names: list[str] = []

    def create(self) -> tuple[str, str]:
        """A new schema: its name and a libpq URL whose search_path is it."""
        name = f"bench_{uuid.uuid4().hex[:12]}"
        self.admin.execute(f'CREATE SCHEMA "{name}"')
        self.names.append(name)
        sep = "&" if "?" in self.base else "?"
        return name, f"{self.base}{sep}options=-csearch_path%3D{name}"

    def version(self) -> str:
        row = self.admin.execute("SHOW server_version").fetchone()
        sync = self.admin.execute("SHOW synchronous_commit").fetchone()
        return (
            f"PostgreSQL {row[0] if row else '?'} (synchronous_commit={sync[0] if sync else '?'})"
        )

    def close(self) -> None:
        for name in self.names:
            self.admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        self.admin.close()


def bench_single(duration: float, postgres: str | None) -> None:
    pool = chained_rows(2_000, "pool-")
    signer = Signer.generate(ORIGIN)
    for procs in (1, 8):
        log(f"[2] durable single appends, SQLite, {procs} writer(s), {duration:.0f} s each ...")
        db = fresh_db(f"single-{procs}.db")
        SqlLedger.open(sqlite_url(db), signer).init(ORIGIN)
        ledger_rate, _ = _run_writers(
            procs, duration, _writer_ledger, (sqlite_url(db), signer.skey)
        )
        raw_db = fresh_db(f"single-{procs}-raw.db")
        raw = raw_sqlite_connect(raw_db)
        for ddl in entries_ddl(db):
            raw.execute(ddl)
        raw.close()
        raw_rate, _ = _run_writers(procs, duration, _writer_raw_sqlite, (str(raw_db), pool))
        ratio_figure(
            "2",
            f"single appends/s, SQLite, {procs} writer{'s' if procs > 1 else ''}",
            ledger_rate,
            raw_rate,
            "raw sqlite3 commits",
            "/s",
        )
        remove_db(db)
        remove_db(raw_db)
    if not postgres:
        record(
            Figure("2", "single appends/s, PostgreSQL", None, "/s", note="skipped: no --postgres")
        )
        return
    schemas = PgSchemas(postgres)
    try:
        log(f"    {schemas.version()}")
        for procs in (1, 8):
            log(f"[2] durable single appends, PostgreSQL, {procs} writer(s) ...")
            ledger_schema, url = schemas.create()
            store = SqlLedger.open(url, signer)
            store.init(ORIGIN)
            store.engine.dispose()
            ledger_rate, _ = _run_writers(procs, duration, _writer_ledger, (url, signer.skey))
            raw_schema, raw_url = schemas.create()
            schemas.admin.execute(
                f'CREATE TABLE "{raw_schema}".entries '
                f'(LIKE "{ledger_schema}".entries INCLUDING ALL)'
            )
            raw_rate, _ = _run_writers(procs, duration, _writer_raw_pg, (raw_url, pool))
            ratio_figure(
                "2",
                f"single appends/s, PostgreSQL, {procs} writer{'s' if procs > 1 else ''}",
                ledger_rate,
                raw_rate,
                "raw psycopg commits",
                "/s",
            )
    finally:
        schemas.close()


# --------------------------------------------------------------------------------------------
# 3. Offline verification of an export.


def minimal_verify(root: Path) -> int:
    """The baseline verifier: bundles, json.loads, prev links, leaf hashes, compact-range root."""
    import base64

    note = (root / "checkpoint").read_text()
    lines = note.split("\n")
    size, want_root = int(lines[1]), base64.b64decode(lines[2])
    sha256 = hashlib.sha256
    prev = "0" * 64
    stack: list[bytes] = []
    seq = 0
    for n in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - n * TILE_WIDTH)
        data = (root / tile_path(TileId(ENTRIES, n, width))).read_bytes()
        pos = 0
        while pos < len(data):
            length = int.from_bytes(data[pos : pos + 2], "big")
            body = data[pos + 2 : pos + 2 + length]
            pos += 2 + length
            obj = json.loads(body)
            if obj["seq"] != seq or obj["prev"] != prev:
                raise SystemExit(f"minimal verifier: chain broken at {seq}")
            leaf = sha256(b"\x00" + body).digest()
            prev = leaf.hex()
            # compact range: merge complete subtrees while the low bits of seq are ones
            h = leaf
            i = seq
            while i & 1:
                h = sha256(b"\x01" + stack.pop() + h).digest()
                i >>= 1
            stack.append(h)
            seq += 1
    if seq != size:
        raise SystemExit(f"minimal verifier: {seq} entries, checkpoint covers {size}")
    acc = stack[-1]
    for h in reversed(stack[:-1]):
        acc = sha256(b"\x01" + h + acc).digest()
    if acc != want_root:
        raise SystemExit("minimal verifier: root mismatch")
    return size


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB: VmHWM of /proc/self/status.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the peak of the pre-exec address
    space (the parent's, as ``subprocess`` forks) into it, so a big parent would inflate it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _child_main(argv: list[str]) -> None:
    """Runs in a fresh interpreter: one verification, then a JSON line with time and RSS."""
    kind, folder = argv[0], Path(argv[1])
    started = time.perf_counter()
    if kind == "minimal":
        entries = minimal_verify(folder)
    else:
        vkey, workers = argv[2], int(argv[3])
        source = ExportSource(folder)
        if workers > 1:
            size = source.stored_entry_count()
            checker = ExportBundleChecker(folder, size)
            report = verify_log(source, vkey, workers=workers, bundle_reader=checker)
        else:
            report = verify_log(source, vkey)
        entries = report.entries
    elapsed = time.perf_counter() - started
    own = peak_rss_kb()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {"entries": entries, "seconds": elapsed, "rss_kb": own, "children_rss_kb": children}
        )
    )


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "_child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_verify(n: int) -> None:
    folder, vkey = cached_export(n)
    log(f"[3] offline verification of {n:,} entries ...")
    minimal = _child("minimal", str(folder))
    one = _child("ledger", str(folder), vkey, "1")
    two = _child("ledger", str(folder), vkey, "2")
    for r in (minimal, one, two):
        assert r["entries"] == n, r
    base_rate = n / minimal["seconds"]
    one_rate = n / one["seconds"]
    two_rate = n / two["seconds"]
    ratio_figure(
        "3",
        f"verify_log entries/s, 1 core ({n:,})",
        one_rate,
        base_rate,
        "minimal verifier",
        "/s",
    )
    record(
        Figure(
            "3",
            f"verify_log entries/s, workers=2 ({n:,})",
            two_rate,
            "/s",
            one_rate,
            "workers=1",
            note=f"speed-up {two_rate / one_rate:.2f}x on {os.cpu_count()} cores",
        )
    )
    rss_mb = one["rss_kb"] / 1024
    record(
        Figure(
            "3",
            f"peak RSS of verify_log, 1 core ({n:,})",
            rss_mb,
            "MB",
            minimal["rss_kb"] / 1024,
            "minimal verifier",
            "<= 200 MB" if n >= 1_000_000 else "",
            rss_mb <= 200 if n >= 1_000_000 else None,
        )
    )
    record(
        Figure(
            "3",
            f"peak RSS of verify_log, workers=2 ({n:,})",
            two["rss_kb"] / 1024,
            "MB",
            note=f"main process; largest worker {two['children_rss_kb'] / 1024:.0f} MB",
        )
    )


# --------------------------------------------------------------------------------------------
# 4. Proof latency.


def warm_page_cache(path: Path) -> None:
    """Read a file once so that the measurement sees the OS page cache warm, as a serving
    database would be (this machine's kernel reclaims idle page cache)."""
    with path.open("rb") as f:
        while f.read(1 << 20):
            pass


def _latencies(call: Callable[[int, int], object], args: list[tuple[int, int]]) -> list[float]:
    out: list[float] = []
    for a, b in args:
        started = time.perf_counter_ns()
        call(a, b)
        out.append((time.perf_counter_ns() - started) / 1e6)
    out.sort()
    return out


def bench_proofs(sizes: list[int], samples: int) -> None:
    p99s: dict[tuple[str, int], float] = {}
    for n in sizes:
        db, _ = cached_ledger(n)
        log(f"[4] proof latency at {n:,} entries, {samples:,} samples each ...")
        store = SqlLedger.open(sqlite_url(db))
        migrate(store.engine)  # a ledger cached by an older version: as a server's upgrade would
        warm_page_cache(db)
        rng = random.Random(n)
        inclusion = [(seq, size) for size in [rng.randint(1, n) for _ in range(samples)]
                     for seq in [rng.randrange(size)]]  # fmt: skip
        consistency = []
        for _ in range(samples):
            new = rng.randint(2, n)
            consistency.append((rng.randint(1, new - 1), new))
        for seq, size in inclusion[:20]:  # warm the pool and the page cache
            store.inclusion_proof(seq, size)
        inc = _latencies(store.inclusion_proof, inclusion)
        con = _latencies(store.consistency_proof, consistency)
        store.engine.dispose()
        for kind, lat in (("inclusion", inc), ("consistency", con)):
            p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
            p99s[kind, n] = p99
            record(Figure("4", f"{kind} proof p50 ({n:,})", p50, "ms"))
            big = n >= 1_000_000
            record(
                Figure(
                    "4",
                    f"{kind} proof p99 ({n:,})",
                    p99,
                    "ms",
                    target="<= 2 ms" if big else "",
                    passed=(p99 <= 2.0) if big else None,
                )
            )
    small = min(sizes)
    for kind in ("inclusion", "consistency"):
        for n in sizes:
            if n == small:
                continue
            growth = p99s[kind, n] / p99s[kind, small]
            log_ratio = math.log(n) / math.log(small)
            checked = n == max(sizes)
            record(
                Figure(
                    "4",
                    f"{kind} p99 growth {small:,} -> {n:,}",
                    growth,
                    "x",
                    target=f"<= {log_ratio:.2f}x (log ratio)" if checked else "",
                    passed=(growth <= log_ratio) if checked else None,
                    note=f"log-ratio {log_ratio:.2f}",
                )
            )


# --------------------------------------------------------------------------------------------
# Report.


def cpu_pressure() -> str:
    """``some avg10`` of /proc/pressure/cpu: % of the last 10 s that tasks waited for a CPU."""
    try:
        fields = Path("/proc/pressure/cpu").read_text().split()
    except OSError:
        return "?"
    return next((f.split("=")[1] + "%" for f in fields if f.startswith("avg10=")), "?")


def machine() -> list[str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: nproc={cores}, CPU {model}, {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
    ]


def print_table(extra: list[str]) -> None:
    header = ("#", "figure", "ledger", "baseline", "ratio", "target", "result")
    rows = [header]
    for f in FIGURES:
        base = f"{fmt(f.baseline, f.unit)} ({f.baseline_name})" if f.baseline is not None else "-"
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        rows.append(
            (f.section, f.name, fmt(f.value, f.unit), base, ratio, f.target or "-", f.verdict())
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print()
    for line in [*machine(), *extra]:
        print(line)
    sep = "+".join("-" * (w + 2) for w in widths)
    for i, r in enumerate(rows):
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
        if i == 0:
            print(sep)
    notes = [f for f in FIGURES if f.note]
    if notes:
        print()
        for f in notes:
            print(f"  [{f.section}] {f.name}: {f.note}")


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] == "_child":
        _child_main(args_in[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="10^4 and 10^5 entries (smoke run)")
    mode.add_argument("--full", action="store_true", help="also 10^6 entries (the targets)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("DOZVIL_BENCH_POSTGRES_URL"),
        help="PostgreSQL URL for the single-append figures (fresh schemas, dropped after)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--rebuild", action="store_true", help="drop the cached ledgers first")
    parser.add_argument(
        "--only", metavar="N", action="append", choices=["1", "2", "3", "4"], help="run section N"
    )
    args = parser.parse_args(args_in)
    full = args.full
    sizes = [10_000, 100_000, 1_000_000] if full else [10_000, 100_000]
    if args.rebuild:
        shutil.rmtree(VAR, ignore_errors=True)
    sections = set(args.only or ["1", "2", "3", "4"])
    extra = [
        f"command: {' '.join([Path(sys.executable).name, 'bench/ledger.py', *args_in])}",
        f"mode: {'full' if full else 'quick'}; batch {BATCH:,}; workload {WORKLOAD}",
    ]
    for line in machine():
        print(line, flush=True)
    started = time.perf_counter()
    runs: list[tuple[str, Callable[[], None]]] = [
        ("1", lambda: bench_batched(100 if full else 20)),
        ("2", lambda: bench_single(5.0 if full else 2.0, args.postgres)),
        ("3", lambda: bench_verify(sizes[-1])),
        ("4", lambda: bench_proofs(sizes, 2_000 if full else 1_000)),
    ]
    for section, run in runs:
        if section in sections:
            before = cpu_pressure()
            section_started = time.perf_counter()
            run()
            extra.append(
                f"section {section}: {time.perf_counter() - section_started:.0f} s, CPU pressure "
                f"(other load on this machine, /proc/pressure/cpu some avg10) {before} -> "
                f"{cpu_pressure()}"
            )
    extra.append(f"bench wall time {time.perf_counter() - started:.0f} s")
    print_table(extra)
    missed = [f for f in FIGURES if f.passed is False]
    if missed:
        print(f"\n{len(missed)} target(s) missed: " + "; ".join(f.name for f in missed))
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
