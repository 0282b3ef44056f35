"""``dozvil ledger checkpoint | prove-inclusion | prove-consistency --url``: the same answers
as from the database, and nothing a lying service says is printed as true.

The log is the one of ``test_log_routes`` (302 entries, a log key rotation at entry 141).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from ledger.note import Signer, sign_note
from ledger.store.sql import SqlLedger
from tests.integration.cli.test_ledger_cli import Cli
from tests.integration.service.test_log_routes import (
    ORIGIN,
    SECRET_CASE,
    SIZE,
    TAMPERED_SEQ,
    Published,
    log_app,
    published,
    serving,
)

__all__ = ["published"]  # the module's fixture, shared

Lie = Callable[[dict[str, Any]], None]


def clis(published: Published, tmp_path: Path) -> tuple[Cli, Cli]:
    """One command line reading the database, one asking the service."""
    remote = Cli(tmp_path / "remote")
    local = Cli(tmp_path / "local")
    local.env["DOZVIL_DATABASE_URL"] = f"sqlite:///{published.log.db}"
    for cli in (remote, local):
        cli.home.mkdir()
    return local, remote


def test_the_service_answers_as_the_database_does(published: Published, tmp_path: Path) -> None:
    local, remote = clis(published, tmp_path)
    url = ["--url", published.url, "--key", published.log.vkeys[0]]
    sizes = published.log.published_sizes()
    assert 142 in sizes and sizes[-1] == SIZE  # the checkpoint the rotation is in, the latest
    asks: list[list[str]] = [
        ["checkpoint"],
        ["checkpoint", "--json"],
        ["checkpoint", "--list"],
        ["checkpoint", "--list", "--json"],
        *(["checkpoint", "--size", str(n)] for n in sizes),
        ["prove-inclusion", "0"],
        ["prove-inclusion", "141", "--json"],  # the rotation itself
        ["prove-inclusion", "301", "--json"],
        ["prove-inclusion", "0", "--size", "1", "--json"],
        ["prove-inclusion", "140", "--size", "142", "--json"],
        ["prove-consistency", "1"],
        ["prove-consistency", "41", "--new", "142", "--json"],  # across the rotation
        ["prove-consistency", "142", "--json"],
        ["prove-consistency", str(SIZE), "--json"],
    ]
    for ask in asks:
        want = local(*ask).stdout
        assert remote(*ask, *url).stdout == want, ask
    proof = json.loads(remote("prove-inclusion", "141", "--json", *url).stdout)
    assert proof["tree_size"] == SIZE and len(proof["proof"]) == 9
    # A case's entries, and its receipt built from the public log alone.
    for ask in (["entries", SECRET_CASE], ["entries", SECRET_CASE, "--event", "submit"]):
        assert remote(*ask, *url).stdout == local(*ask).stdout != ""
    receipt = ["receipt", SECRET_CASE, "--key", published.log.vkeys[0]]
    assert remote(*receipt, "--url", published.url).stdout == local(*receipt).stdout
    # The key history, as the log's own rotation entry tells it.
    keys = json.loads(remote("keys", "--json", *url).stdout)
    assert keys["vkey"] == published.log.vkeys[1]
    assert keys["history"] == [
        {"vkey": published.log.vkeys[0], "from_size": 0},
        {"vkey": published.log.vkeys[1], "from_size": 142},
    ]


def test_what_cannot_be_asked_is_refused_before_asking(
    published: Published, tmp_path: Path
) -> None:
    _, remote = clis(published, tmp_path)
    url = ["--url", published.url, "--key", published.log.vkeys[0]]
    refused = {
        ("checkpoint", "--url", published.url): "--url needs --key",
        ("checkpoint", "--size", "100", *url): "no checkpoint of size 100 is published",
        ("prove-inclusion", "7", "--size", "100", *url): "no checkpoint of size 100",
        ("prove-inclusion", "302", *url): "entry 302 is not in the tree of size 302",
        ("prove-inclusion", "141", "--size", "141", *url): "not in the tree of size 141",
        ("prove-consistency", "142", "--new", "41", *url): "the older size 142 is above",
        ("prove-consistency", "100", *url): "no checkpoint of size 100",
    }
    for ask, words in refused.items():
        done = remote(*ask, code=2)
        assert done.stderr.startswith("error: ") and words in done.stderr, (ask, done.stderr)
    # A key the log did not start with: refused before any proof is asked for.
    stranger = Signer.generate(ORIGIN).verifier.vkey
    done = remote("prove-inclusion", "7", "--url", published.url, "--key", stranger, code=1)
    assert done.stderr.startswith("FAIL: entry 141: log-key-history: rotation old_vkey")


# --- a service that lies -------------------------------------------------------------------


def lying_app(ledger: SqlLedger, lie: Lie) -> FastAPI:
    """The log served truthfully, except that ``lie`` edits every proof it answers."""
    app = log_app(ledger)

    @app.middleware("http")
    async def edit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/proof/"):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
        answer = json.loads(body)
        lie(answer)
        return JSONResponse(answer, status_code=response.status_code)

    return app


def flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def resigned(note: str) -> str:
    """The same checkpoint text, signed by a key of the log's name that is not the log's."""
    return sign_note(note.partition("\n\n")[0] + "\n", [Signer.generate(ORIGIN)])


def other_checkpoint(published: Published, size: int) -> Lie:
    def lie(answer: dict[str, Any]) -> None:
        answer["checkpoint"] = published.log.writer.checkpoint_at(size).note

    return lie


def set_item(name: str, change: Callable[[Any], Any]) -> Lie:
    def lie(answer: dict[str, Any]) -> None:
        answer[name] = change(answer[name])

    return lie


def test_a_lying_service_is_caught(published: Published, tmp_path: Path) -> None:
    _, remote = clis(published, tmp_path)
    key = published.log.vkeys[0]
    seq = 200
    inclusion: dict[str, tuple[Lie, str]] = {
        "a changed proof hash": (
            set_item("proof", lambda p: [flip(p[0]), *p[1:]]),
            f"FAIL: entry {seq}: inclusion:",
        ),
        "a proof one hash short": (
            set_item("proof", lambda p: p[:-1]),
            f"FAIL: entry {seq}: inclusion:",
        ),
        "another entry's leaf hash": (
            set_item("leaf_hash", flip),
            "FAIL: served-proof: the service's leaf_hash is",
        ),
        "a root that is not the checkpoint's": (
            set_item("root_hash", flip),
            "FAIL: served-proof: the service's root_hash is",
        ),
        "the checkpoint of another size": (
            other_checkpoint(published, 142),
            "FAIL: served-proof: the service's checkpoint size is 142, want 302",
        ),
        "a checkpoint signed by another key": (
            set_item("checkpoint", resigned),
            "FAIL: entry 301: checkpoint-signature: checkpoint of size 302",
        ),
        "no proof at all": (
            set_item("proof", lambda _: None),
            "error: the service's answer has no list 'proof'",
        ),
        "a hash that is not base64": (
            set_item("proof", lambda p: ["not base64!", *p[1:]]),
            "error: the service's proof is not base64",
        ),
    }
    for what, (lie, words) in inclusion.items():
        with serving(lying_app(published.log.reader(), lie)) as url:
            code = 2 if words.startswith("error") else 1
            done = remote("prove-inclusion", str(seq), "--url", url, "--key", key, code=code)
        assert done.stdout == "", what
        assert done.stderr.startswith(words), (what, done.stderr)

    consistency: dict[str, tuple[Lie, str]] = {
        "a changed proof hash": (
            set_item("proof", lambda p: [flip(p[0]), *p[1:]]),
            "FAIL: consistency",
        ),
        "a new root of another tree": (
            set_item("new_root", flip),
            "FAIL: served-proof: the service's new_root is",
        ),
        "an old checkpoint signed by another key": (
            set_item("old_checkpoint", resigned),
            "FAIL: entry 40: checkpoint-signature: checkpoint of size 41",
        ),
    }
    for what, (lie, words) in consistency.items():
        with serving(lying_app(published.log.reader(), lie)) as url:
            done = remote("prove-consistency", "41", "--url", url, "--key", key, code=1)
        assert done.stdout == "", what
        assert done.stderr.startswith(words), (what, done.stderr)

    # A served log with an entry changed: neither its case's entries nor a receipt come out.
    case = f"UA-2026-{TAMPERED_SEQ % 9:04d}"
    for ask in (["entries", case], ["receipt", case]):
        done = remote(*ask, "--url", published.tampered_url, "--key", key, code=1)
        assert done.stdout == "" and done.stderr.startswith(f"FAIL: entry {TAMPERED_SEQ}")


def test_checkpoint_list_checks_every_signature(published: Published, tmp_path: Path) -> None:
    """A served list of checkpoints with one the log's key did not sign is refused whole."""
    _, remote = clis(published, tmp_path)
    app = log_app(published.log.reader())
    notes = list(published.log.writer.checkpoint_notes())

    @app.middleware("http")
    async def forge(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path != "/dozvil/checkpoints.jsonl":
            return await call_next(request)
        lines = [
            json.dumps({"tree_size": int(n.split("\n")[1]), "note": resigned(n) if i == 2 else n})
            + "\n"
            for i, n in enumerate(notes)
        ]
        return Response("".join(lines), media_type="application/x-ndjson")

    with serving(app) as url:
        key = published.log.vkeys[0]
        done = remote("checkpoint", "--list", "--url", url, "--key", key, code=1)
        assert done.stdout == ""  # nothing listed before every signature is checked
        assert "checkpoint-signature: checkpoint of size" in done.stderr
        size = int(notes[2].split("\n")[1])
        remote("checkpoint", "--size", str(size), "--url", url, "--key", key, code=1)
        remote("checkpoint", "--size", str(SIZE), "--url", url, "--key", key)
