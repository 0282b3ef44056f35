"""The command line's client of the Dozvil HTTP service: where the service is, who calls it,
and the service's problem documents (RFC 9457) turned into one line and an exit code.

``--url`` defaults to ``http://DOZVIL_HTTP_HOST:DOZVIL_HTTP_PORT`` (what ``dozvil up`` serves);
``--token`` to ``DOZVIL_TOKEN``. Exit codes of every command built on it: 0 done, 1 the service
refused (a problem document) or cannot be reached, 2 bad usage or input.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from runtime.settings import Settings

if TYPE_CHECKING:
    import httpx

REFUSED, BAD_USAGE = 1, 2
TIMEOUT_S = 60.0

err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="DOZVIL_URL",
        help="The service (default: http://DOZVIL_HTTP_HOST:DOZVIL_HTTP_PORT).",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="DOZVIL_TOKEN",
        help="Your bearer token (embedded default: one of var/tokens.json).",
        show_default=False,
    ),
]


class UsageProblem(Exception):
    """Bad usage or input, found before anything is sent (exit 2)."""


class ServiceProblem(Exception):
    """The service answered with a problem document, or did not answer (exit 1)."""

    def __init__(self, status: int | None, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.kind, self.detail = status, kind, detail

    def __str__(self) -> str:
        if self.status is None:
            return self.detail
        return f"{self.status} {self.kind}: {self.detail}"


def service_url(settings: Settings, url: str | None = None) -> str:
    """``url``, else the address ``dozvil up`` serves on (a wildcard host is reached on
    loopback)."""
    if url:
        return url.rstrip("/")
    host = settings.http_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}"


def _problem(response: httpx.Response) -> ServiceProblem:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        kind = str(body.get("type", "")).rsplit("/", 1)[-1] or "error"
        detail = str(body["detail"])
        extra = [f"{k} {body[k]}" for k in ("reason", "check", "seq") if body.get(k) is not None]
        if extra:
            detail += f" ({', '.join(extra)})"
        return ServiceProblem(response.status_code, kind, detail)
    text = response.text.strip().splitlines()
    return ServiceProblem(
        response.status_code, "http-error", text[0] if text else response.reason_phrase
    )


class Service:
    """Calls to the service as one principal (or none, for the public routes)."""

    def __init__(self, url: str, token: str | None = None, *, timeout_s: float = TIMEOUT_S):
        import httpx  # here, so that `dozvil` commands that make no call start faster

        headers = {"User-Agent": "dozvil-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def __enter__(self) -> Service:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The response to a 2xx; :class:`ServiceProblem` for anything else or no answer."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceProblem(
                None,
                "unreachable",
                f"cannot reach {self.url}{path}: {exc or type(exc).__name__} "
                "(is `dozvil up` running? --url names another service)",
            ) from exc
        if response.is_error:
            raise _problem(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body).json()

    def text(self, path: str) -> str:
        return self.request("GET", path).text


def client(url: str | None, token: str | None, *, need_token: bool = True) -> Service:
    if need_token and not token:
        raise UsageProblem(
            "no token: pass --token or set DOZVIL_TOKEN "
            "(the embedded default's tokens are in var/tokens.json)"
        )
    return Service(service_url(Settings(), url), token)


def json_arg(text: str | None, what: str, *, default: Any = None) -> Any:
    """A JSON argument given inline, as ``@FILE``, or ``-`` for standard input."""
    if text is None:
        return default
    source = what
    try:
        if text == "-":
            text = typer.get_text_stream("stdin").read()
            source = f"{what} (standard input)"
        elif text.startswith("@"):
            source = f"{what} ({text[1:]})"
            text = Path(text[1:]).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageProblem(f"{source}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{source}: not JSON: {exc}") from exc


def json_object(text: str | None, what: str) -> dict[str, Any]:
    value = json_arg(text, what, default={})
    if not isinstance(value, dict):
        raise UsageProblem(f"{what}: want a JSON object, got {type(value).__name__}")
    return value


def fail(code: int, label: str, message: str) -> NoReturn:
    err.print(Text.assemble((f"{label}: ", "red"), message))
    raise typer.Exit(code)


def handles_problems(fn: Callable[P, R]) -> Callable[P, R]:
    """One line on standard error and the documented exit code for every fault."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except UsageProblem as exc:
            fail(BAD_USAGE, "error", str(exc))
        except ServiceProblem as exc:
            fail(REFUSED, "refused" if exc.status is not None else "error", str(exc))

    return wrapper
