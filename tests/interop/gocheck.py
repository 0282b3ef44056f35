"""Build and run ``gocheck``, the Go interoperability checker in ``gocheck/main.go``.

``gocheck`` verifies a Dozvil export with Go's ``golang.org/x/mod/sumdb/note`` and
``golang.org/x/mod/sumdb/tlog``. It is built offline in GOPATH mode against the Debian package
``golang-golang-x-mod-dev`` (sources under ``/usr/share/gocode/src``): no modules, no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

SOURCE_DIR = Path(__file__).parent / "gocheck"
"""The Go package of the checker."""
GOPATH = Path("/usr/share/gocode")
"""The GOPATH holding ``golang.org/x/mod`` (Debian's golang-golang-x-mod-dev)."""
GO_PACKAGES = ("golang.org/x/mod/sumdb/note", "golang.org/x/mod/sumdb/tlog")
BUILD_TIMEOUT = 300
RUN_TIMEOUT = 600


def _go() -> str | None:
    return shutil.which("go") or ("/usr/bin/go" if Path("/usr/bin/go").is_file() else None)


def go_available() -> str | None:
    """``None`` if gocheck can be built here, else the reason it cannot (for ``pytest.skip``)."""
    if _go() is None:
        return "the Go toolchain is not installed (no `go` on PATH or at /usr/bin/go)"
    for package in GO_PACKAGES:
        if not (GOPATH / "src" / package).is_dir():
            return (
                f"{package} is not under {GOPATH}/src "
                "(install the Debian package golang-golang-x-mod-dev)"
            )
    return None


def _writable(path: Path) -> bool:
    """Whether ``path`` (or the nearest existing directory above it) is writable."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


def _go_env(scratch: Path) -> dict[str, str]:
    """The environment of ``go build``: GOPATH mode, offline, a writable build cache."""
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=str(GOPATH),
        GOFLAGS="",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
    )
    cache = env.get("GOCACHE")
    if not cache:
        home = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "/nonexistent")) / ".cache")
        cache = str(Path(home) / "go-build")
    if not _writable(Path(cache)):
        cache = str(scratch / "go-build-cache")
    env["GOCACHE"] = cache
    return env


def build_gocheck(out_dir: Path) -> Path:
    """Build gocheck into ``out_dir`` and return the binary; raise RuntimeError on failure."""
    reason = go_available()
    if reason is not None:
        raise RuntimeError(f"cannot build gocheck: {reason}")
    go = _go()
    assert go is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "gocheck"
    with tempfile.TemporaryDirectory(prefix="gocheck-build-") as scratch:
        done = subprocess.run(
            [go, "build", "-o", str(binary), "."],
            cwd=SOURCE_DIR,
            env=_go_env(Path(scratch)),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"go build of {SOURCE_DIR} failed:\n{done.stdout}{done.stderr}")
    return binary


def run_gocheck(
    binary: Path,
    export_dir: Path,
    vkeys: Sequence[str],
    proofs_file: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run gocheck on ``export_dir`` trusting ``vkeys``; never raises on a non-zero exit."""
    args = [str(binary), "-dir", str(export_dir)]
    for vkey in vkeys:
        args += ["-vkey", vkey]
    if proofs_file is not None:
        args += ["-proofs", str(proofs_file)]
    return subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False)
