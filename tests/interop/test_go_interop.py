"""Dozvil's ledger formats, checked by Go's own transparency-log code.

Each test builds a real ledger with the Python API, exports it as a C2SP tlog-tiles folder and
runs ``gocheck`` (``gocheck/main.go``, built on ``golang.org/x/mod/sumdb/note`` and
``golang.org/x/mod/sumdb/tlog``) over it: the checkpoints must open with ``note.Open``, the
tiles and entry bundles must give the signed root under ``tlog.TreeHash``, and Dozvil's RFC 9162
proofs must verify with ``tlog.CheckRecord`` / ``tlog.CheckTree`` and be byte-for-byte the
proofs ``tlog.ProveRecord`` / ``tlog.ProveTree`` make. Tampered exports must fail.

Skipped, with the reason, where Go or golang.org/x/mod is not installed.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ledger.checkpoint import Checkpoint, parse_checkpoint, sign_checkpoint
from ledger.entry import Actor
from ledger.merkle import leaf_hash
from ledger.note import Signer, sign_note
from ledger.store.export import ExportSource, export_log
from ledger.store.sql import AppendRequest, SqlLedger
from ledger.verify import verify_log
from tests.interop.gocheck import build_gocheck, go_available, run_gocheck

ORIGIN = "interop.test/log"
BIG_SIZE = 100_000
BIG_BATCH = 5_000
LEVEL2_PLAN = [5_000] * 13 + [536, 1, 4]  # checkpoints at 5000..65000, 65536, 65537, 65541
LEVEL2_SIZE = sum(LEVEL2_PLAN)


# --- the checker ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gocheck_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gocheck, built once per session (skips the module when Go cannot build it)."""
    reason = go_available()
    if reason is not None:
        pytest.skip(f"Go interop checks need Go and golang.org/x/mod: {reason}")
    return build_gocheck(tmp_path_factory.mktemp("gocheck-bin"))


def assert_ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"gocheck failed:\n{done.stdout}{done.stderr}"
    assert done.stdout.splitlines()[-1] == "OK", done.stdout


def assert_fails(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """gocheck exited 1 with one ``FAIL:`` line containing every needle; return that line."""
    assert done.returncode == 1, f"gocheck did not fail:\n{done.stdout}{done.stderr}"
    lines = [line for line in done.stdout.splitlines() if line.startswith("FAIL: ")]
    assert len(lines) == 1, done.stdout
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# --- building ledgers ----------------------------------------------------------------------


@dataclass
class Log:
    """A ledger under test and every log key it had, oldest first."""

    ledger: SqlLedger
    url: str
    signers: list[Signer] = field(default_factory=list)
    appended: int = 0

    @property
    def vkeys(self) -> list[str]:
        return [s.verifier.vkey for s in self.signers]

    def append(self, plan: Iterable[int]) -> None:
        """Append one batch (one checkpoint) per number in ``plan``."""
        for count in plan:
            requests = [self._request(self.appended + i) for i in range(count)]
            self.ledger.append_batch(requests)
            self.appended += count

    @staticmethod
    def _request(n: int) -> AppendRequest:
        return AppendRequest(
            idempotency_key=f"interop-{n}",
            case_id=f"UA-{n % 7 + 1}",
            event="submit",
            actor=Actor("op-1", "officer"),
            data={"n": n, "pad": "x" * (n % 37)},  # entries of varying length
        )

    def rotate(self) -> Signer:
        new = Signer.generate(ORIGIN)
        self.ledger.rotate_log_key(new, Actor("admin", "log_admin"))
        self.signers.append(new)
        self.appended += 1
        return new

    def export(self, destination: Path) -> Path:
        export_log(self.ledger, destination, initial_key=self.vkeys[0])
        return destination

    def published_sizes(self) -> list[int]:
        return [
            parse_checkpoint(n.partition("\n\n")[0] + "\n").size
            for n in self.ledger.checkpoint_notes()
        ]


def new_log(directory: Path, plan: Sequence[int] = ()) -> Log:
    directory.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate(ORIGIN)
    url = f"sqlite:///{directory}/l.db"
    ledger = SqlLedger.open(url, signer)
    ledger.init(ORIGIN)
    log = Log(ledger, url, [signer])
    log.append(plan)
    return log


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inclusion(log: Log, seq: int, size: int) -> dict[str, Any]:
    """An inclusion proof in the shape of ``dozvil ledger prove-inclusion --json``."""
    return {
        "leaf_index": seq,
        "tree_size": size,
        "leaf_hash": _b64(leaf_hash(log.ledger.entry(seq).body)),
        "root_hash": _b64(log.ledger.root(size)),
        "proof": [_b64(p) for p in log.ledger.inclusion_proof(seq, size)],
    }


def consistency(log: Log, old: int, new: int) -> dict[str, Any]:
    """A consistency proof in the shape of ``dozvil ledger prove-consistency --json``."""
    return {
        "old_size": old,
        "new_size": new,
        "old_root": _b64(log.ledger.root(old)),
        "new_root": _b64(log.ledger.root(new)),
        "proof": [_b64(p) for p in log.ledger.consistency_proof(old, new)],
    }


def proofs_for(log: Log, *, extra_sizes: Sequence[int] = ()) -> dict[str, Any]:
    """Proofs between and under every published checkpoint (and ``extra_sizes``)."""
    sizes = sorted({*log.published_sizes(), *extra_sizes})
    latest = sizes[-1]
    incl: list[dict[str, Any]] = []
    cons: list[dict[str, Any]] = []
    for size in sizes:
        for seq in sorted({0, size // 3, size // 2, size - 1} if size else set()):
            incl.append(inclusion(log, seq, size))
    for old, new in itertools.pairwise(sizes):
        cons.append(consistency(log, old, new))
    for old in sizes:
        cons.append(consistency(log, old, latest))
    return {"inclusion": incl, "consistency": cons}


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=2) + "\n")
    return path


# --- sizes ---------------------------------------------------------------------------------

SMALL_PLANS = {
    0: [],
    1: [1],
    255: [1, 2, 52, 100, 100],
    256: [1, 127, 128],
    257: [1, 255, 1],
}


@pytest.mark.parametrize("size", sorted(SMALL_PLANS))
def test_small_export_verifies_with_go(gocheck_bin: Path, tmp_path: Path, size: int) -> None:
    log = new_log(tmp_path / "db", SMALL_PLANS[size])
    assert log.ledger.latest_checkpoint().checkpoint.size == size
    export = log.export(tmp_path / "export")
    proofs = write_json(tmp_path / "proofs.json", proofs_for(log))
    done = run_gocheck(gocheck_bin, export, log.vkeys, proofs)
    assert_ok(done)
    assert f"size {size}" in done.stdout


@pytest.fixture(scope="module")
def level2_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, Path]:
    """65,541 entries: a full level-1 tile and a level-2 tile (tlog-tiles levels 0-2)."""
    root = tmp_path_factory.mktemp("level2")
    log = new_log(root / "db", LEVEL2_PLAN)
    return log, log.export(root / "export")


@pytest.mark.slow
def test_level2_export_verifies_with_go(
    gocheck_bin: Path, level2_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = level2_log
    assert (export / "tile/1/000").stat().st_size == 256 * 32
    assert (export / "tile/2/000.p/1").stat().st_size == 32
    edge = [65_535, 65_536, 65_537, LEVEL2_SIZE]
    proofs = proofs_for(log, extra_sizes=edge)
    proofs["inclusion"] += [inclusion(log, seq, LEVEL2_SIZE) for seq in (255, 256, 65_535)]
    done = run_gocheck(gocheck_bin, export, log.vkeys, write_json(tmp_path / "p.json", proofs))
    assert_ok(done)
    assert "1 level-2 tiles" in done.stdout


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, Path, float]:
    """10^5 entries in batches of 5,000, exported; also returns the seconds it took."""
    root = tmp_path_factory.mktemp("big")
    start = time.monotonic()
    log = new_log(root / "db", [BIG_BATCH] * (BIG_SIZE // BIG_BATCH))
    export = log.export(root / "export")
    return log, export, time.monotonic() - start


@pytest.mark.slow
def test_100k_export_verifies_with_go_and_python(
    gocheck_bin: Path, big_log: tuple[Log, Path, float], tmp_path: Path
) -> None:
    log, export, seconds = big_log
    print(f"built and exported {BIG_SIZE} entries in {seconds:.1f} s")
    proofs = proofs_for(log)
    done = run_gocheck(gocheck_bin, export, log.vkeys, write_json(tmp_path / "p.json", proofs))
    assert_ok(done)
    assert f"size {BIG_SIZE}" in done.stdout
    assert "1000 of 100000 entries proved" in done.stdout

    report = verify_log(ExportSource(export), log.vkeys[0])
    assert report.tree_size == BIG_SIZE
    assert report.entries == BIG_SIZE
    assert report.root_hash == log.ledger.latest_checkpoint().checkpoint.root_hash


# --- key rotation --------------------------------------------------------------------------


def test_key_rotation_verifies_with_both_keys(gocheck_bin: Path, tmp_path: Path) -> None:
    log = new_log(tmp_path / "db", [1, 100, 150])
    log.rotate()
    log.append([3, 200])
    export = log.export(tmp_path / "export")
    rotation = 251
    proofs = proofs_for(log)
    proofs["inclusion"].append(inclusion(log, rotation, rotation + 1))
    proofs_file = write_json(tmp_path / "p.json", proofs)

    assert_ok(run_gocheck(gocheck_bin, export, log.vkeys, proofs_file))
    # The checkpoint covering the rotation carries both signatures.
    note = log.ledger.checkpoint_at(rotation + 1).note
    assert note.count("\n— ") == 2
    # Only the old key: the latest checkpoint is signed by the new key alone.
    assert_fails(run_gocheck(gocheck_bin, export, log.vkeys[:1]), "checkpoint:", "trusted key")
    # Only the new key: the checkpoints before the rotation are signed by the old key alone.
    assert_fails(
        run_gocheck(gocheck_bin, export, log.vkeys[1:]), "checkpoints:", "(size 0)", "trusted key"
    )
    # Python follows the key history from the first key alone.
    report = verify_log(ExportSource(export), log.vkeys[0])
    assert report.tree_size == log.appended


# --- tampered exports ----------------------------------------------------------------------


def _tampered(export: Path, destination: Path) -> Path:
    shutil.copytree(export, destination)
    return destination


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _entry_offset(bundle: bytes, index: int) -> int:
    """Offset of the body of entry ``index`` in a tlog-tiles entry bundle."""
    pos = 0
    for _ in range(index):
        pos += 2 + int.from_bytes(bundle[pos : pos + 2], "big")
    return pos + 2


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Log, Path]:
    root = tmp_path_factory.mktemp("small")
    log = new_log(root / "db", [1, 255, 44])
    return log, log.export(root / "export")


def test_changed_entry_byte_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    bundle = bad / "tile/entries/000"
    _flip(bundle, _entry_offset(bundle.read_bytes(), 7) + 20)
    done = run_gocheck(gocheck_bin, bad, log.vkeys)
    assert_fails(done, "tiles:", "entry 7:", "tile/0/000 hash 7", "tile/entries/000")


def test_changed_partial_bundle_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    bundle = bad / "tile/entries/001.p/44"
    _flip(bundle, _entry_offset(bundle.read_bytes(), 43) + 3)
    assert_fails(run_gocheck(gocheck_bin, bad, log.vkeys), "entry 299:", "tile/entries/001.p/44")


def test_truncated_bundle_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    bundle = bad / "tile/entries/001.p/44"
    bundle.write_bytes(bundle.read_bytes()[:-1])
    assert_fails(run_gocheck(gocheck_bin, bad, log.vkeys), "tile/entries/001.p/44", "entry 43")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "index", "needle"),
    [
        # A level-1 hash: the tree root does not cover it directly; the tile walk must.
        ("tile/1/000", 3, "tile/1/000 hash 3"),
        ("tile/1/000", 255, "tile/1/000 hash 255"),
        ("tile/2/000.p/1", 0, "tile/2/000.p/1 hash 0"),
        ("tile/0/256.p/5", 2, "entry 65538:"),
        ("tile/0/017", 0, "entry 4352:"),
    ],
)
def test_changed_hash_tile_fails(
    gocheck_bin: Path,
    level2_log: tuple[Log, Path],
    tmp_path: Path,
    path: str,
    index: int,
    needle: str,
) -> None:
    log, export = level2_log
    bad = _tampered(export, tmp_path / "bad")
    _flip(bad / path, 32 * index + 31)
    assert_fails(run_gocheck(gocheck_bin, bad, log.vkeys), "tiles:", needle)


def test_checkpoint_signed_by_unknown_key_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    text = (bad / "checkpoint").read_text().partition("\n\n")[0] + "\n"
    impostor = Signer.generate(ORIGIN)
    (bad / "checkpoint").write_text(sign_note(text, [impostor]))
    done = run_gocheck(gocheck_bin, bad, log.vkeys)
    assert_fails(done, "checkpoint:", "no signature by a trusted key", impostor.label)


def test_checkpoint_with_altered_text_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    note = (bad / "checkpoint").read_text()
    (bad / "checkpoint").write_text(note.replace("\n300\n", "\n299\n", 1))
    assert_fails(run_gocheck(gocheck_bin, bad, log.vkeys), "checkpoint:", "invalid signature")


def test_published_checkpoint_by_unknown_key_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    path = bad / "dozvil/checkpoints.jsonl"
    lines = path.read_text().splitlines()
    line = json.loads(lines[1])
    line["note"] = sign_note(line["note"].partition("\n\n")[0] + "\n", [Signer.generate(ORIGIN)])
    lines[1] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n")
    assert_fails(
        run_gocheck(gocheck_bin, bad, log.vkeys), "checkpoints:", "line 2 (size 1)", "trusted key"
    )


def test_signed_wrong_root_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    """A checkpoint properly signed by the log key but with a root the tiles do not give."""
    log, export = small_log
    bad = _tampered(export, tmp_path / "bad")
    lie = sign_checkpoint(Checkpoint(ORIGIN, 300, bytes(32)), [log.signers[-1]])
    (bad / "checkpoint").write_text(lie)
    path = bad / "dozvil/checkpoints.jsonl"
    lines = path.read_text().splitlines()
    lines[-1] = json.dumps({"tree_size": 300, "note": lie})
    path.write_text("\n".join(lines) + "\n")
    assert_fails(run_gocheck(gocheck_bin, bad, log.vkeys), "tree hash:", "size 300")


def test_tampered_proof_fails(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    proof = inclusion(log, 5, 300)
    proof["proof"][2] = _b64(bytes(32))
    cons = consistency(log, 1, 300)
    file = write_json(tmp_path / "p.json", {"inclusion": [proof], "consistency": [cons]})
    assert_fails(
        run_gocheck(gocheck_bin, export, log.vkeys, file),
        "proofs:",
        "inclusion[0] (entry 5, size 300)",
        "tlog.CheckRecord",
    )
    cons["proof"] = cons["proof"][:-1]
    file = write_json(tmp_path / "p.json", {"inclusion": [], "consistency": [cons]})
    assert_fails(
        run_gocheck(gocheck_bin, export, log.vkeys, file),
        "proofs:",
        "consistency[0] (size 1 -> 300)",
        "tlog.CheckTree",
    )


# --- proofs from Dozvil's command line -----------------------------------------------------


def _dozvil(*args: str) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("dozvil")
    command = [str(exe)] if exe.is_file() else [sys.executable, "-m", "cli.main"]
    done = subprocess.run(
        [*command, "ledger", *args, "--json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"dozvil {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_cli_proofs_match_go(
    gocheck_bin: Path, small_log: tuple[Log, Path], tmp_path: Path
) -> None:
    log, export = small_log
    db = ["--db", log.url]
    incl = [_dozvil(*db, "prove-inclusion", str(seq)) for seq in (0, 1, 128, 255, 256, 299)]
    incl += [_dozvil(*db, "prove-inclusion", str(seq), "--size", "256") for seq in (0, 100, 255)]
    cons = [_dozvil(*db, "prove-consistency", str(old)) for old in (0, 1, 256, 300)]
    cons.append(_dozvil(*db, "prove-consistency", "1", "--new", "256"))
    assert {p["tree_size"] for p in incl} == {256, 300}
    file = write_json(tmp_path / "cli-proofs.json", {"inclusion": incl, "consistency": cons})
    done = run_gocheck(gocheck_bin, export, log.vkeys, file)
    assert_ok(done)
    assert "9 inclusion and 5 consistency proofs" in done.stdout
