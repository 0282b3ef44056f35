"""Liveness, readiness (Temporal and the database answer) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.deps import ClientDep, LedgerDep
from service.metrics import Metrics
from service.problems import Problem, responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=responses(503))
async def readyz(client: ClientDep, ledger: LedgerDep) -> dict[str, str]:
    """Ready when Temporal and the ledger database both answer (503 problem otherwise)."""
    try:
        await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    except Exception as exc:
        raise Problem(503, "not-ready", f"Temporal does not answer: {exc}") from exc
    try:
        size = await asyncio.to_thread(lambda: ledger.latest_checkpoint().checkpoint.size)
    except Exception as exc:
        raise Problem(503, "not-ready", f"the ledger database does not answer: {exc}") from exc
    return {"status": "ready", "ledger_size": str(size)}


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
async def metrics(request: Request, client: ClientDep, ledger: LedgerDep) -> Response:
    """Prometheus text: cases by state and overdue (visibility counts, cached briefly),
    ledger size, request latency by route, action (update) latency."""
    collected: Metrics = request.app.state.metrics
    await collected.refresh(client, ledger, now=time.monotonic())
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)
