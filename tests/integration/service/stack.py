"""The HTTP service under test over real HTTP: a real dev server, a real worker with its ledger
(the workflow harness's :class:`Authority`), the app served by uvicorn on a loopback port, and
one principal with a token for each role."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from temporalio.testing import WorkflowEnvironment

from ledger.store.sql import SqlLedger
from service.app import create_app
from service.auth import Authenticator, TokenFile, write_principals
from tests.integration.workflows.harness import EXPORTER, SIGNERS, Authority, application
from workflows.lifecycle import Role

#: principal id -> (role, exporter): the harness's signers plus the authority's own people.
PRINCIPALS: dict[str, tuple[Role, str | None]] = {
    **{name: (role, None) for name, role in SIGNERS.items()},
    "applicant-1": (Role.APPLICANT, EXPORTER),
    "applicant-2": (Role.APPLICANT, "other-exporter-9"),
    "officer-1": (Role.LICENSING_OFFICER, None),
    "registrar-1": (Role.REGISTRAR, None),
    "auditor-1": (Role.AUDITOR, None),
}


@dataclass
class Stack:
    url: str
    tokens: dict[str, str]
    authority: Authority
    http: httpx.AsyncClient

    def auth(self, principal: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[principal]}"}

    async def call(
        self, method: str, path: str, principal: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = self.auth(principal) if principal else {}
        return await self.http.request(method, path, headers=headers, **kwargs)

    def size(self) -> int:
        return self.authority.ledger.latest_checkpoint().checkpoint.size

    async def until_state(self, case_id: str, state: str) -> dict[str, Any]:
        """The case's status once it is in ``state`` (the officer asks, up to 10 s)."""
        for _ in range(200):
            response = await self.call("GET", f"/cases/{case_id}/status", "officer-1")
            if response.status_code == 200 and response.json()["state"] == state:
                body: dict[str, Any] = response.json()
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"{case_id} never reached {state}: {response.text}")

    async def file_case(self, applicant: str = "applicant-1") -> str:
        """A new case filed by ``applicant``, once its submission is in the ledger and the
        case is at rest; its id."""
        app = application().model_dump(mode="json")
        created = await self.call("POST", "/cases", applicant, json={"application": app})
        assert created.status_code == 201, created.text
        case_id: str = created.json()["case_id"]
        await self.until_state(case_id, "submitted")
        return case_id


@asynccontextmanager
async def running_stack(
    env: WorkflowEnvironment, task_queue: str, folder: Path
) -> AsyncIterator[Stack]:
    authority = Authority.create(folder, denied=["Rosoboronexport"])
    principals_file = folder / "principals.json"
    tokens = write_principals(
        principals_file, [(pid, role, exporter) for pid, (role, exporter) in PRINCIPALS.items()]
    )
    settings = authority.settings.model_copy(
        update={"task_queue": task_queue, "principals_file": principals_file}
    )
    reader = SqlLedger.open(settings.ledger_url)  # read-only: no signer
    app = create_app(
        settings,
        client=env.client,
        ledger=reader,
        authenticator=Authenticator(TokenFile.load(principals_file)),
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        async with (
            authority.worker(env, task_queue),
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            yield Stack(url, tokens, authority, http)
    finally:
        server.should_exit = True
        await serving
        reader.engine.dispose()
