"""The log over HTTP (``service.routes.log``), served by uvicorn on a loopback port and read back
with httpx, ``dozvil ledger mirror`` / ``verify --url`` and Go's ``golang.org/x/mod/sumdb/tlog``.

The ledger: 302 entries (a full tile and a partial one at levels 0 and entries, a level-1
tile of one hash), a case with confidential fields, and a log key rotation at entry 141.
"""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from ledger.checkpoint import parse_checkpoint
from ledger.entry import Actor
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.note import Signer, Verifier, Verifiers, open_note
from ledger.store.export import SIDECAR, export_log
from ledger.store.sql import AppendRequest, SqlLedger
from ledger.tiles import decode_entry_bundle, tile_path, tiles_for_size
from service.routes.log import IMMUTABLE, NO_CACHE, router
from tests.integration.cli.test_ledger_cli import Cli
from tests.interop.gocheck import BUILD_TIMEOUT, RUN_TIMEOUT, _go, _go_env, go_available

ORIGIN = "http.test/log"
PLAN_BEFORE = [1, 40, 100]  # then the rotation (entry 141), then
PLAN_AFTER = [3, 120, 37]
SIZE = sum(PLAN_BEFORE) + 1 + sum(PLAN_AFTER)  # 302
SECRET_CASE = "UA-2026-0001"
SECRET = "Khimprom end user"  # a confidential value: committed, never published
TAMPERED_SEQ = 200
TLOGCLIENT = Path(__file__).parent / "tlogclient"


# --- the log -------------------------------------------------------------------------------


@dataclass
class Log:
    """A ledger with its writer (the signer in force) and every log key, oldest first."""

    writer: SqlLedger
    db: Path
    vkeys: list[str] = field(default_factory=list)
    appended: int = 0

    def append(self, count: int) -> None:
        self.writer.append_batch([self._request(self.appended + i) for i in range(count)])
        self.appended += count

    @staticmethod
    def _request(n: int) -> AppendRequest:
        case = f"UA-2026-{n % 9:04d}"
        return AppendRequest(
            idempotency_key=f"http-{n}",
            case_id=case,
            event="submit",
            actor=Actor("officer-1", "licensing_officer"),
            data={"n": n, "pad": "x" * (n % 23)},
            confidential={"end_user": SECRET, "quantity": n} if case == SECRET_CASE else {},
        )

    def rotate(self) -> None:
        new = Signer.generate(ORIGIN)
        self.writer.rotate_log_key(new, Actor("admin", "log_admin"))
        self.vkeys.append(new.verifier.vkey)
        self.appended += 1

    def reader(self) -> SqlLedger:
        return SqlLedger.open(f"sqlite:///{self.db}")  # read-only: no signer

    def published_sizes(self) -> list[int]:
        return [
            parse_checkpoint(note.partition("\n\n")[0] + "\n").size
            for note in self.writer.checkpoint_notes()
        ]


def build_log(directory: Path) -> Log:
    directory.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate(ORIGIN)
    db = directory / "ledger.db"
    writer = SqlLedger.open(f"sqlite:///{db}", signer)
    writer.init(ORIGIN)
    log = Log(writer, db, [signer.verifier.vkey])
    for count in PLAN_BEFORE:
        log.append(count)
    log.rotate()
    for count in PLAN_AFTER:
        log.append(count)
    assert log.appended == SIZE
    return log


def tampered_copy(db: Path, copy: Path, seq: int) -> None:
    """A copy of the database ``db`` with one digit of entry ``seq``'s body changed."""
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
        (body,) = dst.execute("SELECT body FROM entries WHERE seq = ?", (seq,)).fetchone()
        data = bytearray(body)
        at = data.index(b'"n":') + 4
        data[at] = ord("7") if data[at] != ord("7") else ord("8")
        dst.execute("UPDATE entries SET body = ? WHERE seq = ?", (bytes(data), seq))
        dst.commit()


# --- the server ----------------------------------------------------------------------------


def log_app(ledger: SqlLedger) -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.ledger = ledger
    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free loopback port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def grow_after(app: FastAPI, log: Log, prefix: str, count: int, times: int = 1) -> None:
    """After the server answers a request under ``prefix`` (the first ``times`` of them), the
    log grows by ``count`` entries, as a live log does while a client reads it."""
    left = [times]

    @app.middleware("http")
    async def grow(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if left[0] and request.url.path.startswith(prefix):
            left[0] -= 1
            await run_in_threadpool(log.append, count)
        return response


@dataclass
class Published:
    log: Log
    url: str
    export: Path
    tampered_url: str


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """The log served (with two foreign routes beside it), its export, and a tampered copy of
    its database served too."""
    root = tmp_path_factory.mktemp("published")
    log = build_log(root / "db")
    export = root / "export"
    export_log(log.writer, export, initial_key=log.vkeys[0])
    app = log_app(log.reader())

    @app.get("/web/checkpoint", response_class=HTMLResponse)
    def web_page() -> str:
        return "<!doctype html><title>Welcome</title><p>Not a log.</p>"

    @app.get("/broken/checkpoint")
    def broken() -> None:
        raise HTTPException(503, "down for maintenance")

    tampered = root / "tampered.db"
    tampered_copy(log.db, tampered, TAMPERED_SEQ)
    tampered_app = log_app(SqlLedger.open(f"sqlite:///{tampered}"))
    with serving(app) as url, serving(tampered_app) as tampered_url:
        yield Published(log, url, export, tampered_url)


@pytest.fixture
def http(published: Published) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=published.url, timeout=30) as client:
        yield client


def files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def assert_same_folder(got: Path, want: Path) -> None:
    mine, theirs = files(got), files(want)
    assert sorted(mine) == sorted(theirs)
    for name, data in theirs.items():
        assert mine[name] == data, f"{name} differs"
    assert got.stat().st_mode & 0o777 == want.stat().st_mode & 0o777


# --- tiles, checkpoint and sidecar ---------------------------------------------------------


def test_every_file_of_the_export_is_served_byte_for_byte(
    published: Published, http: httpx.Client
) -> None:
    exported = files(published.export)
    tiles = [tile_path(t) for t in tiles_for_size(SIZE)]
    assert sorted(exported) == sorted(["checkpoint", *SIDECAR, *tiles])
    for name, data in exported.items():
        response = http.get(f"/{name}")
        assert response.status_code == 200, (name, response.text)
        assert response.content == data, f"{name} differs from the export"
    # Never the openings: the confidential values appear in nothing served.
    assert http.get("/dozvil/openings.jsonl").status_code == 404
    assert not any(SECRET.encode() in data for data in exported.values())
    assert published.log.writer.openings(published.log.writer.case_seqs(SECRET_CASE)[0])


def test_tiles_are_served_at_their_width_and_nothing_else(http: httpx.Client) -> None:
    # 302 entries: level 0 and entries have a full tile and one of 46; level 1 one hash.
    assert len(http.get("/tile/0/000").content) == 256 * 32
    assert len(http.get("/tile/0/001.p/46").content) == 46 * 32
    assert len(http.get("/tile/1/000.p/1").content) == 32
    assert len(decode_entry_bundle(http.get("/tile/entries/000").content)) == 256
    bundle = decode_entry_bundle(http.get("/tile/entries/001.p/46").content)
    assert [json.loads(b)["seq"] for b in bundle] == list(range(256, 302))

    absent = {
        "/tile/0/001": "has tile/0/001.p/46, not tile/0/001",
        "/tile/0/001.p/45": "has tile/0/001.p/46",
        "/tile/0/001.p/47": "has tile/0/001.p/46",
        "/tile/0/000.p/255": "has tile/0/000, not tile/0/000.p/255",
        "/tile/entries/001": "has tile/entries/001.p/46",
        "/tile/0/002.p/1": "beyond the log's tree of size 302",
        "/tile/entries/002": "beyond",
        "/tile/1/000": "has tile/1/000.p/1",
        "/tile/2/000.p/1": "beyond",
        "/tile/0/x001/000": "beyond",
    }
    malformed = [
        "/tile/0/0",
        "/tile/0/0000",
        "/tile/0/x000/001",
        "/tile/abc/000",
        "/tile/-1/000",
        "/tile/00/000",
        "/tile/64/000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/046",
        "/tile/0/000.p/",
        "/tile/0/000/",
        "/tile/data/000",
        "/tile/8/0/000",
        "/tile/",
    ]
    for path, words in absent.items():
        response = http.get(path)
        assert response.status_code == 404, path
        assert words in response.json()["detail"], (path, response.json())
        assert "immutable" not in response.headers.get("cache-control", ""), path
    for path in malformed:
        response = http.get(path)
        assert response.status_code == 404, path
        assert "malformed tile path" in response.json()["detail"], (path, response.json())


def test_cache_headers_and_media_types(published: Published, http: httpx.Client) -> None:
    checkpoint = http.get("/checkpoint")
    assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
    assert checkpoint.headers["cache-control"] == NO_CACHE
    assert checkpoint.text == published.log.writer.latest_checkpoint().note
    for path in ("/tile/0/000", "/tile/0/001.p/46", "/tile/entries/001.p/46", "/tile/1/000.p/1"):
        response = http.get(path)
        assert response.headers["content-type"] == "application/octet-stream"
        assert (
            response.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
        )
    for name in SIDECAR:
        assert http.get(f"/{name}").headers["cache-control"] == NO_CACHE
    assert http.get("/dozvil/manifest.json").headers["content-type"] == "application/json"
    assert http.get("/proof/inclusion", params={"seq": 3}).headers["cache-control"] == NO_CACHE
    pinned = http.get("/proof/inclusion", params={"seq": 3, "size": SIZE})
    assert pinned.headers["cache-control"] == IMMUTABLE
    assert http.get("/proof/consistency", params={"old": 41}).headers["cache-control"] == NO_CACHE
    pinned = http.get("/proof/consistency", params={"old": 41, "new": 141})
    assert pinned.headers["cache-control"] == IMMUTABLE


def test_the_manifest_names_the_key_history(http: httpx.Client, published: Published) -> None:
    manifest = http.get("/dozvil/manifest.json").json()
    assert manifest["tree_size"] == SIZE
    assert manifest["log_keys"] == [
        {"vkey": published.log.vkeys[0], "from_size": 0},
        {"vkey": published.log.vkeys[1], "from_size": 142},
    ]


# --- proofs --------------------------------------------------------------------------------


def _hashes(values: Sequence[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def _signed_root(note: str, vkeys: Sequence[str], size: int) -> bytes:
    """The root of a checkpoint note signed by one of ``vkeys``, of tree ``size``."""
    opened = open_note(note, Verifiers([Verifier.from_vkey(k) for k in vkeys]))
    cp = parse_checkpoint(opened.text)
    assert cp.size == size
    return cp.root_hash


def test_inclusion_proofs_verify(published: Published, http: httpx.Client) -> None:
    log = published.log
    sizes = log.published_sizes()
    assert sizes == [0, 1, 41, 141, 142, 145, 265, 302]
    checked = 0
    for size in sizes[1:]:
        for seq in sorted({0, size // 2, size - 1}):
            body = http.get("/proof/inclusion", params={"seq": seq, "size": size}).json()
            assert body["leaf_index"] == seq and body["tree_size"] == size
            root = _signed_root(body["checkpoint"], log.vkeys, size)
            assert base64.b64decode(body["root_hash"]) == root
            leaf = leaf_hash(log.writer.entry(seq).body)
            assert base64.b64decode(body["leaf_hash"]) == leaf
            verify_inclusion(seq, size, leaf, _hashes(body["proof"]), root)
            checked += 1
    latest = http.get("/proof/inclusion", params={"seq": 300}).json()
    assert latest["tree_size"] == SIZE
    assert latest["checkpoint"] == http.get("/checkpoint").text
    assert checked == 19


def test_consistency_proofs_verify(published: Published, http: httpx.Client) -> None:
    log = published.log
    sizes = log.published_sizes()
    for i, old in enumerate(sizes):
        for new in sizes[i:]:
            body = http.get("/proof/consistency", params={"old": old, "new": new}).json()
            old_root = _signed_root(body["old_checkpoint"], log.vkeys, old)
            new_root = _signed_root(body["new_checkpoint"], log.vkeys, new)
            assert (body["old_size"], body["new_size"]) == (old, new)
            assert base64.b64decode(body["old_root"]) == old_root
            proof = _hashes(body["proof"])
            verify_consistency(old, new, old_root, new_root, proof)
            if old in (0, new):
                assert proof == []
    latest = http.get("/proof/consistency", params={"old": 142}).json()
    assert latest["new_size"] == SIZE


def test_bad_proof_parameters_are_refused_clearly(http: httpx.Client) -> None:
    refused = {
        ("/proof/inclusion", "seq=302"): (400, "entry 302 is not in the tree of size 302"),
        ("/proof/inclusion", "seq=41&size=41"): (400, "entry 41 is not in the tree of size 41"),
        ("/proof/inclusion", "seq=0&size=0"): (400, "entry 0 is not in the tree of size 0"),
        ("/proof/inclusion", "seq=1&size=40"): (404, "no checkpoint was published at tree size 40"),
        ("/proof/inclusion", "seq=1&size=303"): (404, "tree size 303"),
        ("/proof/consistency", "old=142&new=41"): (400, "old size 142 is larger than"),
        ("/proof/consistency", "old=2"): (404, "no checkpoint was published at tree size 2"),
        ("/proof/consistency", "old=1&new=300"): (404, "tree size 300"),
    }
    for (path, query), (status, words) in refused.items():
        response = http.get(f"{path}?{query}")
        assert response.status_code == status, (path, query, response.text)
        assert words in response.json()["detail"], (path, query, response.json())
    for path, query in [
        ("/proof/inclusion", "seq=-1"),
        ("/proof/inclusion", "seq=abc"),
        ("/proof/inclusion", ""),
        ("/proof/inclusion", "seq=1&size=-5"),
        ("/proof/consistency", "new=5"),
        ("/proof/consistency", "old=x"),
    ]:
        assert http.get(f"{path}?{query}").status_code == 422, (path, query)


# --- mirror and verify --url ---------------------------------------------------------------


def test_mirror_writes_exactly_the_export(published: Published, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    mirror = tmp_path / "mirror"
    done = cli("mirror", published.url, str(mirror), "--key", published.log.vkeys[0])
    assert done.stdout.strip() == f"mirrored {SIZE} entries from {published.url} to {mirror}"
    assert_same_folder(mirror, published.export)
    again = cli("mirror", published.url + "/", str(mirror), "--key", published.log.vkeys[0], code=2)
    assert "already exists" in again.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mirror")] == []


def test_verify_url(published: Published, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    url, key = published.url, published.log.vkeys[0]
    ok = cli("verify", "--url", url, "--key", key)
    assert ok.stdout.startswith(f"OK: {SIZE} entries, 8 checkpoints")
    report = cli.json("verify", "--url", url, "--key", key)
    assert report["tree_size"] == SIZE and report["log_keys"] == published.log.vkeys
    case = cli.json("verify", "--url", url, "--key", key, "--case", SECRET_CASE)
    assert case["entries"] == published.log.writer.case_seqs(SECRET_CASE)
    assert cli.json("verify", "--url", url, "--key", key, "--entry", "300")["seq"] == 300
    kept = tmp_path / "kept"
    kept.write_text(published.log.writer.checkpoint_at(141).note)
    cli("verify", "--url", url, "--key", key, "--trusted", str(kept))
    # The auditor's own verifier alone (python -m ledger), without the rest of Dozvil.
    alone = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "--url", url, "--key", key],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.startswith(f"OK: {SIZE} entries")
    both = cli("verify", "--url", url, "--export", str(published.export), "--key", key, code=2)
    assert "--url verifies a served log: not with --export or --receipt" in both.stderr


def test_verify_url_fails_on_a_tampered_log(published: Published, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    key = published.log.vkeys[0]
    bad = cli("verify", "--url", published.tampered_url, "--key", key, code=1)
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"FAIL: entry {TAMPERED_SEQ}: stored-hash: body hashes to")
    case = f"UA-2026-{TAMPERED_SEQ % 9:04d}"  # the log numbers entries as it appends them
    seqs = published.log.writer.case_seqs(case)
    assert TAMPERED_SEQ in seqs
    by_case = cli("verify", "--url", published.tampered_url, "--key", key, "--case", case, code=1)
    assert by_case.stderr.startswith(f"FAIL: entry {TAMPERED_SEQ}")
    # The mirror itself copies what is served; it is verification that finds the fault.
    cli("mirror", published.tampered_url, str(tmp_path / "copy"), "--key", key)


def test_mirror_refuses_a_log_its_key_did_not_sign(published: Published, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    stranger = Signer.generate(ORIGIN).verifier.vkey
    # A log that never rotated: its checkpoint is not signed by the stranger's key.
    signer = Signer.generate(ORIGIN)
    small = SqlLedger.open(f"sqlite:///{tmp_path / 'small.db'}", signer)
    small.init(ORIGIN)
    small.append_batch([Log._request(n) for n in range(3)])
    with serving(log_app(small)) as url:
        refused = cli("mirror", url, str(tmp_path / "m"), "--key", stranger, code=1)
        assert refused.stderr.startswith(
            "FAIL: entry 2: checkpoint-signature: checkpoint of size 3: note has no verifiable"
        )
        assert f"want a signature by {stranger}" in refused.stderr
        cli("mirror", url, str(tmp_path / "m"), "--key", signer.verifier.vkey)
    # The rotated log: the stranger's key is not the one its rotation replaced, nor the second
    # key alone, which does not start the chain.
    for key in (stranger, published.log.vkeys[1]):
        refused = cli("mirror", published.url, str(tmp_path / "r"), "--key", key, code=1)
        assert refused.stderr.startswith("FAIL: entry 141: log-key-history: rotation old_vkey")
        cli("verify", "--url", published.url, "--key", key, code=1)
    other = Signer.generate("other.test/log").verifier.vkey
    refused = cli("mirror", published.url, str(tmp_path / "r"), "--key", other, code=1)
    assert refused.stderr.startswith("FAIL: checkpoint-origin:")
    assert "serves the log 'http.test/log'" in refused.stderr
    # Nothing is left of a refused mirror, not even its temporary folder.
    assert not [p.name for p in tmp_path.iterdir() if p.name == "r" or p.name.startswith(".r.")]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_and_foreign_urls_exit_2(published: Published, tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    key = published.log.vkeys[0]
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    expected = {
        unreachable: f"cannot reach {unreachable}/checkpoint",
        f"{published.url}/nothing": f"{published.url}/nothing/checkpoint: not found (HTTP 404)",
        f"{published.url}/web": f"{published.url}/web/checkpoint is not a tlog checkpoint",
        f"{published.url}/broken": f"{published.url}/broken/checkpoint: HTTP 503",
        "ftp://127.0.0.1/log": "want an http:// or https:// URL",
        "not a url": "want an http:// or https:// URL",
    }
    for url, words in expected.items():
        done = cli("verify", "--url", url, "--key", key, code=2)
        assert done.stderr.startswith("error: "), done.stderr
        assert words in done.stderr, (url, done.stderr)
        done = cli("mirror", url, str(tmp_path / "m"), "--key", key, code=2)
        assert words in done.stderr, (url, done.stderr)
    assert not (tmp_path / "m").exists()


def test_mirror_of_a_log_growing_while_it_reads_the_sidecar(tmp_path: Path) -> None:
    log = build_log(tmp_path / "db")
    app = log_app(log.reader())
    grow_after(app, log, "/dozvil/manifest.json", 5)
    cli = Cli(tmp_path)
    with serving(app) as url:
        cli("mirror", url, str(tmp_path / "mirror"), "--key", log.vkeys[0])
    assert log.appended == SIZE + 5
    export_log(log.writer, tmp_path / "export", initial_key=log.vkeys[0])  # at the new size
    assert_same_folder(tmp_path / "mirror", tmp_path / "export")


def test_mirror_of_a_log_growing_while_it_reads_the_tiles(tmp_path: Path) -> None:
    log = build_log(tmp_path / "db")
    export_log(log.writer, tmp_path / "export", initial_key=log.vkeys[0])  # at 302
    app = log_app(log.reader())
    # After the first tile the log reaches 512: tile/0/001.p/46 and tile/entries/001.p/46 give
    # way to full tiles, tile/1/000.p/1 to tile/1/000.p/2; the mirror cuts them to size.
    grow_after(app, log, "/tile/", 512 - SIZE)
    cli = Cli(tmp_path)
    with serving(app) as url:
        cli("mirror", url, str(tmp_path / "mirror"), "--key", log.vkeys[0])
        with httpx.Client(base_url=url) as http:
            assert http.get("/tile/0/001.p/46").status_code == 404
            assert http.get("/tile/1/000.p/2").status_code == 200
    assert_same_folder(tmp_path / "mirror", tmp_path / "export")
    cli("verify", "--export", str(tmp_path / "mirror"), "--key", log.vkeys[0])


def test_mirror_gives_up_on_a_log_that_never_holds_still(tmp_path: Path) -> None:
    log = build_log(tmp_path / "db")
    app = log_app(log.reader())
    grow_after(app, log, "/dozvil/cases.jsonl", 1, times=10)
    cli = Cli(tmp_path)
    with serving(app) as url:
        done = cli("mirror", url, str(tmp_path / "mirror"), "--key", log.vkeys[0], code=2)
    assert f"{url} grew each of 5 times it was read: try again" in done.stderr
    assert not (tmp_path / "mirror").exists()


# --- Go's tlog over HTTP -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tlogclient(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tlogclient/main.go`` built in GOPATH mode against Debian's golang.org/x/mod."""
    reason = go_available()
    if reason is not None:
        pytest.skip(f"the Go tlog client needs Go and golang.org/x/mod: {reason}")
    go = _go()
    assert go is not None
    out = tmp_path_factory.mktemp("tlogclient")
    done = subprocess.run(
        [go, "build", "-o", str(out / "tlogclient"), "."],
        cwd=TLOGCLIENT,
        env=_go_env(out),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "tlogclient"


def run_tlogclient(
    binary: Path, url: str, vkeys: Sequence[str]
) -> subprocess.CompletedProcess[str]:
    args = [str(binary), "-url", url]
    for vkey in vkeys:
        args += ["-vkey", vkey]
    return subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def test_go_tlog_reads_the_served_log(published: Published, tlogclient: Path) -> None:
    done = run_tlogclient(tlogclient, published.url, published.log.vkeys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"checkpoint: {ORIGIN}, size {SIZE}, 1 signature(s) verified",
        "tree hash: tlog.TreeHash over the served tiles equals the checkpoint root",
        "tiles: all 3 hash tiles check against their parents and the root",
        f"entries: all {SIZE} entries hash to their level-0 hashes",
        f"inclusion: {SIZE} served proofs equal tlog.ProveRecord's",
        "consistency: 7 served proofs equal tlog.ProveTree's",
        "OK",
    ]
    # The old key alone no longer opens the latest checkpoint.
    old_only = run_tlogclient(tlogclient, published.url, published.log.vkeys[:1])
    assert old_only.returncode == 1
    assert old_only.stdout.startswith("FAIL: checkpoint: note.Open:")


def test_go_tlog_finds_the_tampered_entry(published: Published, tlogclient: Path) -> None:
    done = run_tlogclient(tlogclient, published.tampered_url, published.log.vkeys)
    assert done.returncode == 1, done.stdout
    assert done.stdout.splitlines()[-1] == (
        f"FAIL: entries: entry {TAMPERED_SEQ} does not hash to its level-0 hash"
    )
