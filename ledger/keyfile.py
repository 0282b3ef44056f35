"""Key files: the log's signer key on disk, and verifier keys given as text or file.

A signer key file holds one line, Go's signer key string
(``PRIVATE+KEY+<name>+<hash>+<keydata>``, see :mod:`ledger.note`), optionally followed by a
newline; Go's ``note.NewSigner`` reads the same file. It must be readable by its owner only
(design brief, "Keys": never readable by others): :func:`load_signer` refuses a file whose mode
has any group or other bit set, and :func:`write_signer` creates files with mode ``0600``.

A verifier key (``<name>+<hash>+<keydata>``) is public; :func:`load_verifier` takes it either as
the string itself or as the path of a file holding it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import stat

from ledger.errors import InsecureKeyFile, LedgerError, MalformedInput
from ledger.note import Signer, Verifier

KEY_FILE_MODE = 0o600
MAX_KEY_FILE_BYTES = 4096
"""Key strings are about a hundred bytes; anything much larger is not a key file."""

_VKEY_SHAPE = re.compile(r"[^+\s]+\+[0-9A-Fa-f]{8}\+[A-Za-z0-9+/=]+")

PathArg = str | os.PathLike[str]


def load_signer(path: PathArg) -> Signer:
    """Read the signer key in ``path``; refuse it unless only its owner may read it.

    Raises :class:`InsecureKeyFile` if the mode has any group or other permission bit,
    :class:`MalformedInput` if the file is not one signer key line, :class:`LedgerError` if it
    cannot be read. The mode is checked on the opened file, so it is the file that is read.
    """
    name = os.fspath(path)
    data = _read_private(name)
    try:
        return Signer.from_skey(_single_line(data, name, "signer key"))
    except MalformedInput as e:
        raise MalformedInput(f"{name}: {e}") from None


def write_signer(path: PathArg, signer: Signer) -> None:
    """Write ``signer``'s key to a new file ``path``, mode 0600; inverse of :func:`load_signer`.

    Never overwrites: an existing ``path`` (or a symlink there) raises :class:`LedgerError`.
    """
    write_private_file(path, (signer.skey + "\n").encode(), "signer key")


def write_private_file(path: PathArg, data: bytes, what: str) -> None:
    """Write ``data`` (a ``what``, e.g. "signer key") to a new file, mode 0600 whatever the
    umask, flushed to disk. Never overwrites: an existing ``path`` (or a symlink there) raises
    :class:`LedgerError`, and a failed write leaves no file behind."""
    name = os.fspath(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, KEY_FILE_MODE)
    except FileExistsError as e:
        raise LedgerError(f"{name}: refusing to overwrite an existing file with a {what}") from e
    except OSError as e:
        raise LedgerError(f"{name}: cannot create {what} file: {e.strerror}") from e
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # the umask may have taken bits away; never added any
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def replace_private_file(path: PathArg, data: bytes, what: str) -> None:
    """Put ``data`` at ``path`` atomically: a new 0600 file beside it (as
    :func:`write_private_file`) renamed over it, so a reader sees the old file or the new one,
    never part of one."""
    name = os.fspath(path)
    tmp = f"{name}.{secrets.token_hex(6)}.tmp"
    write_private_file(tmp, data, what)
    try:
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_verifier(path_or_vkey: PathArg) -> Verifier:
    """A verifier from a verifier key string, or from the file at that path holding one.

    A string shaped like a verifier key (``<name>+<8 hex digits>+<base64>``) is parsed as one;
    any other string, and any path object, names a file of one verifier key line.
    """
    if isinstance(path_or_vkey, str) and _VKEY_SHAPE.fullmatch(path_or_vkey):
        return Verifier.from_vkey(path_or_vkey)
    name = os.fspath(path_or_vkey)
    try:
        with open(name, "rb") as f:
            data = f.read(MAX_KEY_FILE_BYTES + 1)
    except FileNotFoundError as e:
        raise MalformedInput(
            f"{name!r} is neither a verifier key (name+hash+base64) nor an existing file"
        ) from e
    except OSError as e:
        raise LedgerError(f"{name}: cannot read verifier key file: {e.strerror}") from e
    try:
        return Verifier.from_vkey(_single_line(data, name, "verifier key"))
    except MalformedInput as e:
        raise MalformedInput(f"{name}: {e}") from None


def _read_private(name: str) -> bytes:
    return read_private_file(name, "signer key")


def read_private_file(path: PathArg, what: str) -> bytes:
    """The contents (at most 4 KiB and one byte) of a ``what`` file only its owner may access,
    checked on the open descriptor (no check-then-open race).

    Raises :class:`InsecureKeyFile` if the mode has any group or other permission bit,
    :class:`MalformedInput` if it is not a regular file, :class:`LedgerError` if it cannot be
    read.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise LedgerError(f"{name}: cannot read {what} file: {e.strerror}") from e
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise MalformedInput(f"{name}: not a regular file, want a {what} file")
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise InsecureKeyFile(
                f"{name}: {what} file has mode {mode:04o}, which lets group or others "
                f"access it; want 0600 (run: chmod 600 {shlex.quote(name)})"
            )
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_KEY_FILE_BYTES + 1)


def _single_line(data: bytes, name: str, what: str) -> str:
    """The one line of a key file, without its optional final newline (LF or CRLF)."""
    if len(data) > MAX_KEY_FILE_BYTES:
        raise MalformedInput(f"{name}: longer than {MAX_KEY_FILE_BYTES} bytes, want one {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedInput(f"{name}: not UTF-8 text, want one {what}") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise MalformedInput(f"{name}: empty, want one {what}")
    if "\n" in text:
        raise MalformedInput(f"{name}: more than one line, want one {what}")
    return text
