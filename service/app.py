"""``create_app(settings)``: the HTTP service. It mounts one router per resource, turns every
error into an RFC 9457 problem, times every request by route, and holds the Temporal client,
the read-only ledger and the authenticator in the app's state (see :mod:`service.deps`).

``dozvil serve`` runs it alone (:mod:`cli.deploy`), ``dozvil up`` beside the worker.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from temporalio.client import Client

from ledger.store.export import first_log_key
from ledger.store.sql import SqlLedger
from runtime.settings import Settings
from runtime.temporal import connect
from service import problems
from service.auth import Authenticator
from service.metrics import Metrics
from service.routes import cases, health, licences, log, registry

VERSION = "0.5.0"


def initial_key(settings: Settings, ledger: SqlLedger) -> str:
    """The log's first verifier key: as configured (``DOZVIL_LOG_VKEY``, what auditors were
    given), else as the database tells it (the old key of its first rotation, else the key
    that signs it now)."""
    return settings.log_vkey or first_log_key(ledger)


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    ledger: SqlLedger | None = None,
    authenticator: Authenticator | None = None,
) -> FastAPI:
    """The service. ``client``, ``ledger`` and ``authenticator`` default to what ``settings``
    configure (tests pass their own)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = ledger is None
        app.state.ledger = ledger or SqlLedger.open(settings.ledger_url)
        app.state.client = client or await connect(settings)
        app.state.initial_key = initial_key(settings, app.state.ledger)
        try:
            yield
        finally:
            if owned:
                app.state.ledger.engine.dispose()

    app = FastAPI(
        title="Dozvil",
        version=VERSION,
        summary="Export-licence cases on Temporal, recorded in a verifiable ledger.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.authenticator = authenticator or Authenticator.from_settings(settings)
    app.state.metrics = Metrics()
    problems.install(app)
    for module in (cases, registry, licences, log, health):
        app.include_router(module.router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with the problem schema the routes' error responses name."""
        if app.openapi_schema is None:
            app.openapi_schema = problems.document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.middleware("http")
    async def timed(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        app.state.metrics.requests.labels(
            method=request.method, route=path, status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response

    return app
