"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every error the service returns is one: ``type`` (a stable URI naming the kind), ``title``,
``status``, ``detail`` (what was wrong, in words), and where they apply the extension members
``errors`` (request validation), ``check`` and ``seq`` (a ledger verification fault).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError, MalformedInput, VerificationFailed
from service.auth import Unauthenticated

BASE = "https://dozvil.example/problems/"
MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable content",
    500: "Internal server error",
    503: "Unavailable",
}


class InvalidField(BaseModel):
    """One reason a request did not validate."""

    loc: list[str] = Field(description="Where: the part of the request, then the field path.")
    msg: str


class ProblemDocument(BaseModel):
    """An RFC 9457 problem document, as every error of the service is."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="What was wrong, in words.")
    errors: list[InvalidField] | SkipJsonSchema[None] = Field(
        default=None, description="Request validation: every field that failed."
    )
    check: str | SkipJsonSchema[None] = Field(
        default=None, description="A failed verification's check."
    )
    seq: int | None = Field(
        default=None, description="The first bad ledger entry (null: not one entry's fault)."
    )
    reason: str | SkipJsonSchema[None] = Field(
        default=None, description="Why the workflow refused an action."
    )


SCHEMA_REF = "#/components/schemas/Problem"


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may answer with these problems (OpenAPI)."""
    content = {MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF}}}
    return {status: {"description": TITLES[status], "content": content} for status in statuses}


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what :func:`install` does: every error response (4xx, 5xx)
    of every operation is a problem document, FastAPI's default 422 included (its
    ``HTTPValidationError`` body is never sent). Adds the ``Problem`` schema that
    :func:`responses` refers to; returns the document."""
    schema = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(schema.pop("$defs", {}))
    for member in schema["properties"].values():
        member.pop("default", None)  # an absent member is absent, not null
    schemas["Problem"] = schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    content = {MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF}}}
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = content
                    if status in ("422", "400") and response.get("description") in (
                        "Validation Error",
                        "Bad Request",
                    ):
                        response["description"] = TITLES[int(status)]
    return openapi


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, kind: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail, self.extra = status, kind, detail, extra


def problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": BASE + kind,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem(exc.status, exc.kind, exc.detail, **exc.extra)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return problem(401, "unauthenticated", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"])
        return problem(422, "invalid-request", f"{where}: {first['msg']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(VerificationFailed)
    async def _verification(_: Request, exc: VerificationFailed) -> JSONResponse:
        extra = {"check": exc.check, "seq": exc.seq}
        return problem(422, "verification-failed", str(exc), **extra)

    @app.exception_handler(MalformedInput)
    async def _malformed(_: Request, exc: MalformedInput) -> JSONResponse:
        return problem(400, "malformed-input", str(exc))

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
        return problem(409, "ledger-refused", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the exception and re-raises it after this answer; the caller learns
        # nothing of the internals.
        return problem(500, "internal-error", "the service failed; its log names the cause")
