"""Liveness, readiness and metrics: ready only when Temporal and the ledger database answer;
the metrics count cases by state, overdue cases, ledger entries, appends and requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from ledger.store.sql import SqlLedger
from service.app import create_app
from service.auth import Authenticator, TokenFile
from tests.integration.service.stack import Stack
from tests.integration.workflows.harness import Authority, application


async def test_ready_and_measured(stack: Stack) -> None:
    assert (await stack.call("GET", "/healthz")).json() == {"status": "ok"}
    ready = await stack.call("GET", "/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    app = application().model_dump(mode="json")
    created = await stack.call("POST", "/cases", "applicant-1", json={"application": app})
    case_id = created.json()["case_id"]
    for _ in range(100):
        status = await stack.call("GET", f"/cases/{case_id}/status", "officer-1")
        if status.status_code == 200 and status.json()["state"] == "submitted":
            break
        await asyncio.sleep(0.05)
    text = ""
    for _ in range(150):  # visibility is eventually consistent; the gauges refresh every 10 s
        text = (await stack.http.get("/metrics")).text
        if _gauge(text, 'dozvil_cases{state="submitted"}') >= 1:
            break
        await asyncio.sleep(0.2)
    # The dev server is shared by the session's tests: at least this case is counted.
    assert _gauge(text, 'dozvil_cases{state="submitted"}') >= 1, text
    assert _gauge(text, "dozvil_cases_overdue") >= 0
    size = stack.size()
    assert _line(text, "dozvil_ledger_entries").endswith(f" {float(size)}")
    assert 'dozvil_http_request_seconds_count{method="POST",route="/cases",status="201"}' in text
    assert 'dozvil_ledger_append_seconds_count{kind="case"}' in text


def _gauge(text: str, prefix: str) -> float:
    line = _line(text, prefix)
    return float(line.rsplit(" ", 1)[1]) if line else -1.0


def _line(text: str, prefix: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return line
    return ""


async def test_not_ready_without_temporal_or_database(tmp_path: Path) -> None:
    authority = Authority.create(tmp_path)
    principals = tmp_path / "principals.json"
    principals.write_text("[]")
    principals.chmod(0o600)
    dead = await Client.connect("127.0.0.1:1", lazy=True)
    app = create_app(
        authority.settings,
        client=dead,
        ledger=SqlLedger.open(authority.settings.ledger_url),
        authenticator=Authenticator(TokenFile.load(principals)),
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://dozvil") as http,
    ):
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert "Temporal does not answer" in response.json()["detail"]
        assert (await http.get("/healthz")).status_code == 200


async def test_not_ready_when_the_database_is_gone(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    authority = Authority.create(home)
    principals = tmp_path / "principals.json"
    principals.write_text("[]")
    principals.chmod(0o600)
    reader = SqlLedger.open(authority.settings.ledger_url)
    app = create_app(
        authority.settings,
        client=dev_env.client,
        ledger=reader,
        authenticator=Authenticator(TokenFile.load(principals)),
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://dozvil") as http,
    ):
        assert (await http.get("/readyz")).status_code == 200
        reader.engine.dispose()
        authority.ledger.engine.dispose()
        home.rename(tmp_path / "moved")  # the database file is no longer where it was
        response = await http.get("/readyz")
        assert response.status_code == 503, response.text
        assert "ledger database does not answer" in response.json()["detail"]
