"""``dozvil setup``, ``dozvil worker``, ``dozvil serve``: what a production deployment runs
(``deploy/``), one component per process, each configured by ``DOZVIL_*`` variables.

``setup`` runs once per release before the others (a compose one-shot service, a Kubernetes
Job). It waits for the database and Temporal, then — every step idempotent —

1. creates or upgrades the ledger's schema and its signed empty checkpoint (as ``dozvil ledger
   init``) with the log key mounted from its secret. It generates that key only when told
   (``--generate-log-key``, for one host with a persistent volume): one made inside a
   container by accident would be lost with it, and with it the log's identity;
2. registers the cases' search attributes in the namespace, once the namespace exists (a name
   registered with another type is refused: listing by it would silently find nothing);
3. with ``--principals``, writes the embedded principals file and ``tokens.json`` if missing
   (a compose evaluation; production authenticates with the authority's OIDC tokens);

and prints the log's first verifier key, the one auditors are given.

``worker`` runs the Temporal worker (:mod:`worker`); ``serve`` the HTTP service under uvicorn.
Both stop cleanly on SIGTERM: the service finishes in-flight requests, the worker its running
activities, each within ``DOZVIL_SHUTDOWN_GRACE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cli.up import QUIET_LOGGERS, ensure_principals, init_ledger
from ledger.errors import LedgerError
from ledger.keyfile import load_signer, write_signer
from ledger.note import Signer
from runtime.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

T = TypeVar("T")
RETRY_EVERY_S = 1.0


class NotYet(Exception):
    """A part of the deployment that is still starting: try again until the wait is over."""


class SetupError(Exception):
    """``setup`` cannot complete (exit 1; exit 2 for configuration the operator must fix)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


async def _until(
    deadline: float, what: str, attempt: Callable[[], Awaitable[T]], *transient: type[Exception]
) -> T:
    """``attempt()`` until it succeeds, retrying on ``transient`` errors until ``deadline``."""
    while True:
        try:
            return await attempt()
        except transient as exc:
            if time.monotonic() >= deadline:
                raise SetupError(f"{what}: still failing after the wait: {exc}") from exc
            err.print(f"waiting for {what}: {exc}".splitlines()[0], highlight=False)
            await asyncio.sleep(RETRY_EVERY_S)


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _setup(
    settings: Settings, wait_s: float, principals: bool, generate_key: bool
) -> list[str]:
    from temporalio.service import RPCError, RPCStatusCode

    from runtime.temporal import connect, register_search_attributes
    from workflows.search_attributes import ALL

    key_path = settings.key_path
    if generate_key and not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        write_signer(key_path, Signer.generate(settings.log_origin))
        err.print(f"created log key {key_path} (mode 0600): back it up", highlight=False)
    if not key_path.is_file():
        raise SetupError(
            f"no log key at {key_path} (DOZVIL_LOG_KEY_FILE): create it once with "
            f"`dozvil ledger keys generate {key_path} --name {settings.log_origin}`, keep it "
            "as a secret, and mount it there (mode 0400 or 0600)",
            code=2,
        )
    try:
        load_signer(key_path)  # refuses a group- or world-readable key, names a malformed one
    except LedgerError as exc:
        raise SetupError(f"log key {key_path}: {exc}", code=2) from exc
    deadline = time.monotonic() + wait_s

    async def ledger() -> str:
        return await asyncio.to_thread(init_ledger, settings)

    database = f"the database {_safe_url(settings.ledger_url)}"
    vkey = await _until(deadline, database, ledger, OperationalError)
    client = await _until(
        deadline,
        f"Temporal at {settings.temporal_address}",
        lambda: connect(settings),
        RuntimeError,
        OSError,
    )

    async def register() -> list[str]:
        try:
            return await register_search_attributes(client, ALL)
        except RPCError as exc:
            # The namespace may not exist yet: the server's own setup (auto-setup, the Helm
            # chart's job) creates it after the frontend answers.
            if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE):
                raise NotYet(exc.message) from exc
            raise

    namespace = f"namespace {settings.temporal_namespace!r} on {settings.temporal_address}"
    try:
        added = await _until(deadline, namespace, register, NotYet)
    except ValueError as exc:
        raise SetupError(str(exc), code=2) from exc
    lines = [
        f"ledger      {_safe_url(settings.ledger_url)} (origin {settings.log_origin})",
        f"temporal    {settings.temporal_address}, namespace {settings.temporal_namespace}: "
        + (f"registered {', '.join(added)}" if added else "search attributes already registered"),
    ]
    if principals:
        tokens = ensure_principals(settings)
        lines.append(
            "principals  OIDC (DOZVIL_OIDC_ISSUER): no principals file"
            if settings.oidc_issuer
            else f"principals  {settings.principals_path}"
            + (f", tokens in {tokens}" if tokens else "")
        )
    lines.append(f"log key     {vkey}")
    return lines


def setup(
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for the database and Temporal to answer.")
    ] = 120.0,
    principals: Annotated[
        bool,
        typer.Option(
            "--principals",
            help="Also write the embedded principals file and tokens.json if missing "
            "(evaluation; production uses OIDC).",
        ),
    ] = False,
    generate_log_key: Annotated[
        bool,
        typer.Option(
            "--generate-log-key",
            help="Create the log key if there is none (one host with a persistent volume, "
            "backed up: the key is the log's identity).",
        ),
    ] = False,
) -> None:
    """Prepare a deployment, idempotently: ledger schema and empty checkpoint, Temporal search
    attributes; print the log's first verifier key."""
    settings = Settings()
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
    from runtime.temporal import exit_process

    try:
        lines = asyncio.run(_setup(settings, wait, principals, generate_log_key))
    except SetupError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        exit_process(exc.code)
    except LedgerError as exc:
        err.print(f"[red]error:[/red] the ledger: {exc}", markup=True, highlight=False)
        exit_process(1)
    for line in lines:
        out.print(line, highlight=False)
    exit_process(0)  # a Temporal client was used: see exit_process


def worker() -> None:
    """Run the Temporal worker (workflows and activities) until SIGTERM or SIGINT."""
    from worker import main

    main()


def serve() -> None:
    """Run the HTTP service on DOZVIL_HTTP_HOST:DOZVIL_HTTP_PORT until SIGTERM or SIGINT."""
    import uvicorn

    from service.app import create_app
    from worker import configure_logging

    settings = Settings()
    configure_logging(settings.log_format == "json")
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # structlog formats uvicorn's lines too
        access_log=False,  # request latency by route is in /metrics
        timeout_graceful_shutdown=settings.shutdown_grace_seconds or None,
    )
