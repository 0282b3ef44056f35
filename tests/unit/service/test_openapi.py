"""The committed OpenAPI document (``docs/openapi.json``) is the one the app generates and
serves, and it is honest about authentication and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from service import openapi
from service.problems import MEDIA_TYPE

#: Route tags whose operations anyone may call (no token): the public log and health.
PUBLIC_TAGS = {"health", "log"}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_the_committed_document_is_current() -> None:
    committed = openapi.DOCUMENT.read_text(encoding="utf-8")
    assert committed == openapi.render(openapi.document()), (
        "docs/openapi.json is not current: run `python -m service.openapi`"
    )


async def test_the_service_serves_the_same_document() -> None:
    transport = httpx.ASGITransport(app=openapi.offline_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://dozvil.test") as http:
        served = await http.get("/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(openapi.DOCUMENT.read_text(encoding="utf-8"))


def test_the_check_option_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert openapi.main(["--output", str(stale), "--check"]) == 1
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--output", str(stale), "--check"]) == 0


def test_bearer_security_on_every_authenticated_operation_and_only_there() -> None:
    document = openapi.document()
    assert document["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": document["components"]["securitySchemes"]["bearer"]["description"],
        }
    }
    public, secured = [], []
    for method, path, operation in operations(document):
        if set(operation.get("tags", [])) & PUBLIC_TAGS:
            assert "security" not in operation, f"{method} {path} is public"
            public.append(path)
        else:
            assert operation.get("security") == [{"bearer": []}], f"{method} {path}"
            for status in ("401", "403"):
                assert status in operation["responses"], f"{method} {path} lacks {status}"
            secured.append(path)
    assert {"/healthz", "/readyz", "/metrics"} <= set(public)
    assert "/cases" in secured


def test_every_error_response_is_a_problem_document() -> None:
    document = openapi.document()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in operations(document):
        takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
        if takes_input:
            assert "422" in operation["responses"], f"{method} {path} lacks 422"
        if any(p["in"] == "path" for p in operation.get("parameters", [])) and "{case_id}" in path:
            assert "404" in operation["responses"], f"{method} {path} lacks 404"
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            assert response["content"] == {
                MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, f"{method} {path} {status}"
