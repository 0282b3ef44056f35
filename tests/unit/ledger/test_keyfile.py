"""Key files: signer keys private to their owner, verifier keys as text or file."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.errors import InsecureKeyFile, LedgerError, MalformedInput
from ledger.keyfile import load_signer, load_verifier, write_signer
from ledger.note import Signer, Verifier

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "notes"
GO_SKEY = (VECTORS / "log.skey").read_text().strip()
GO_VKEY = (VECTORS / "log.vkey").read_text().strip()
SECRET = GO_SKEY.rsplit("+", 1)[1]


@pytest.fixture
def umask_zero() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def private_file(path: Path, content: str | bytes, mode: int = 0o600) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_then_load_round_trips(tmp_path: Path, umask_zero: None) -> None:
    signer = Signer.generate("dozvil.example/log")
    path = tmp_path / "log.skey"
    write_signer(path, signer)
    assert mode_of(path) == 0o600
    assert path.read_text() == signer.skey + "\n"
    assert load_signer(path).skey == signer.skey
    assert load_signer(str(path)).verifier == signer.verifier


def test_write_signer_forces_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        write_signer(tmp_path / "k", Signer.generate("n"))
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "k") == 0o600


def test_write_signer_refuses_to_overwrite(tmp_path: Path) -> None:
    path = private_file(tmp_path / "log.skey", "old contents")
    with pytest.raises(LedgerError, match="refusing to overwrite an existing file") as info:
        write_signer(path, Signer.generate("n"))
    assert isinstance(info.value.__cause__, FileExistsError)
    assert path.read_text() == "old contents"


def test_write_signer_refuses_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(LedgerError, match="refusing to overwrite"):
        write_signer(tmp_path / "link", Signer.generate("n"))
    assert not target.exists()


def test_write_signer_reports_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot create signer key file: No such file"):
        write_signer(tmp_path / "no" / "such" / "k", Signer.generate("n"))


def test_load_go_generated_key(tmp_path: Path) -> None:
    path = private_file(tmp_path / "log.skey", GO_SKEY + "\n")
    signer = load_signer(path)
    assert signer.skey == GO_SKEY
    assert signer.verifier.vkey == GO_VKEY


@pytest.mark.parametrize("content", [GO_SKEY, GO_SKEY + "\n", GO_SKEY + "\r\n"])
def test_load_signer_accepts_one_line(tmp_path: Path, content: str) -> None:
    assert load_signer(private_file(tmp_path / "k", content)).skey == GO_SKEY


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_load_signer_accepts_owner_only_modes(tmp_path: Path, mode: int) -> None:
    assert load_signer(private_file(tmp_path / "k", GO_SKEY, mode)).skey == GO_SKEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o610, 0o601, 0o602, 0o620, 0o777])
def test_load_signer_refuses_group_or_other_access(tmp_path: Path, mode: int) -> None:
    path = private_file(tmp_path / "log.skey", GO_SKEY, mode)
    with pytest.raises(InsecureKeyFile) as info:
        load_signer(path)
    message = str(info.value)
    assert message == (
        f"{path}: signer key file has mode {mode:04o}, which lets group or others access it; "
        f"want 0600 (run: chmod 600 {path})"
    )
    assert SECRET not in message


def test_load_signer_quotes_the_path_in_the_advice(tmp_path: Path) -> None:
    path = private_file(tmp_path / "my key", GO_SKEY, 0o644)
    with pytest.raises(InsecureKeyFile, match=re.escape(f"chmod 600 '{path}'")):
        load_signer(path)


def test_load_signer_follows_symlinks_to_a_private_file(tmp_path: Path) -> None:
    # Kubernetes mounts secrets as symlinks to the real files.
    target = private_file(tmp_path / "real", GO_SKEY)
    (tmp_path / "link").symlink_to(target)
    assert load_signer(tmp_path / "link").skey == GO_SKEY
    target.chmod(0o644)
    with pytest.raises(InsecureKeyFile, match="mode 0644"):
        load_signer(tmp_path / "link")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "empty, want one signer key"),
        ("\n", "empty, want one signer key"),
        (GO_SKEY + "\n" + GO_SKEY + "\n", "more than one line, want one signer key"),
        (GO_SKEY + "\n\n", "more than one line"),
        (b"\xff\xfe", "not UTF-8 text, want one signer key"),
        ("x" * 5000, "longer than 4096 bytes, want one signer key"),
        (GO_VKEY, re.escape("signer key: does not start with PRIVATE+KEY+")),
        (" " + GO_SKEY, re.escape("signer key: does not start with PRIVATE+KEY+")),
        (GO_SKEY[:-3], "signer key: key data is not canonical standard base64"),
        (GO_SKEY.replace("+1f284766+", "+1f284767+"), "key hash got 1f284767, want 1f284766"),
    ],
)
def test_load_signer_refuses_malformed_files(
    tmp_path: Path, content: str | bytes, match: str
) -> None:
    path = private_file(tmp_path / "log.skey", content)
    with pytest.raises(MalformedInput, match=match) as info:
        load_signer(path)
    assert str(info.value).startswith(f"{path}: ")
    assert SECRET[:12] not in str(info.value)


def test_load_signer_refuses_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    with pytest.raises(MalformedInput, match="not a regular file, want a signer key file"):
        load_signer(folder)


def test_load_signer_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="cannot read signer key file: No such file"):
        load_signer(tmp_path / "missing.skey")


def test_load_verifier_from_string() -> None:
    assert load_verifier(GO_VKEY) == Verifier.from_vkey(GO_VKEY)


@pytest.mark.parametrize("content", [GO_VKEY, GO_VKEY + "\n"])
def test_load_verifier_from_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "log.vkey"
    path.write_text(content)
    path.chmod(0o644)  # public: no mode check
    assert load_verifier(path).vkey == GO_VKEY
    assert load_verifier(str(path)).vkey == GO_VKEY


def test_load_verifier_from_go_vector_file() -> None:
    assert load_verifier(VECTORS / "log.vkey").vkey == GO_VKEY


def test_load_verifier_explains_what_it_expected(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.vkey")
    with pytest.raises(MalformedInput, match=r"is neither a verifier key .* nor an existing file"):
        load_verifier(missing)
    with pytest.raises(MalformedInput, match="is neither a verifier key"):
        load_verifier("dozvil.example/log+zzzz+AAAA")


def test_load_verifier_reports_a_bad_key_string() -> None:
    bad_hash = GO_VKEY.replace("+1f284766+", "+1f284767+")
    with pytest.raises(MalformedInput, match="key hash got 1f284767, want 1f284766"):
        load_verifier(bad_hash)


def test_load_verifier_refuses_a_private_key_file_without_echoing_it(tmp_path: Path) -> None:
    path = private_file(tmp_path / "log.skey", GO_SKEY)
    with pytest.raises(MalformedInput, match="got a private signer key, want a public") as info:
        load_verifier(path)
    assert str(info.value).startswith(f"{path}: ")
    assert SECRET[:12] not in str(info.value)
