"""The authorization matrix, over real HTTP against a real dev server and worker: every route of
the app × every role (one principal each, ``system`` excepted: no principal may act as it) ×
no token × an unknown token.

Who may call what is stated here, independently of the routes' code: :data:`MATRIX` names, per
route, the roles admitted (deny by default: a role not named is refused), or that the route is
public, or that the lifecycle table decides per event (the actions and statements of a case:
only the event's own role from ``lifecycle.EVENTS``, no role at all for the system's events).
The routes come from the app itself, so a route added without a row here fails the test.

Expected: 401 without a token or with an unknown one, 403 for a role that may not, and neither
(nor a 5xx) for one that may; every refusal a problem document that leaves the ledger as it was.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.routing import iter_route_contexts

from ledger.statements import sign_statement
from service.openapi import offline_app
from tests.integration.service.stack import PRINCIPALS, Stack
from tests.integration.workflows.harness import application
from workflows import lifecycle as lc
from workflows.lifecycle import Role

pytestmark = [pytest.mark.temporal]

PUBLIC: Final = "public"  # anyone, with or without a token
BY_EVENT: Final = "by event"  # the lifecycle table: only the event's role

#: The roles a caller may have (``system`` is the workflow itself).
ROLES = [role for role in Role if role != Role.SYSTEM]
#: Every role that causes some case event may read a case's status; auditors too.
CASE_PARTIES = frozenset(e.role for e in lc.EVENTS.values()) - {Role.SYSTEM} | {Role.AUDITOR}
AUTHORITY = frozenset({Role.LICENSING_OFFICER, Role.SIGNING_OFFICIAL, Role.AUDITOR})
LICENCE_READERS = frozenset({Role.APPLICANT, Role.LICENSING_OFFICER, Role.CUSTOMS, Role.AUDITOR})
REGISTRAR = frozenset({Role.REGISTRAR})

#: "METHOD /path" -> who may call it.
MATRIX: dict[str, frozenset[Role] | str] = {
    "POST /cases": frozenset({Role.APPLICANT, Role.LICENSING_OFFICER}),
    "GET /cases": frozenset({Role.APPLICANT, Role.LICENSING_OFFICER, Role.SIGNING_OFFICIAL}),
    "GET /cases/{case_id}": AUTHORITY,
    "GET /cases/{case_id}/status": CASE_PARTIES,
    "POST /cases/{case_id}/actions": BY_EVENT,
    "POST /cases/{case_id}/statements": BY_EVENT,
    "GET /cases/{case_id}/receipt": AUTHORITY | {Role.APPLICANT},
    "GET /cases/{case_id}/licence": LICENCE_READERS,
    "GET /cases/{case_id}/licence.html": LICENCE_READERS,
    "POST /exporters": REGISTRAR,
    "POST /actors/{actor_id}/keys": REGISTRAR,
    "POST /actors/{actor_id}/keys/{key_id}/rotate": REGISTRAR,
    "POST /actors/{actor_id}/keys/{key_id}/revoke": REGISTRAR,
    "POST /licences/verify": frozenset({Role.CUSTOMS, Role.LICENSING_OFFICER, Role.AUDITOR}),
    # Public: health, metrics, the API's own description, and the transparency log.
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    "GET /checkpoint": PUBLIC,
    "GET /tile/{path:path}": PUBLIC,
    "GET /dozvil/manifest.json": PUBLIC,
    "GET /dozvil/checkpoints.jsonl": PUBLIC,
    "GET /dozvil/cases.jsonl": PUBLIC,
    "GET /proof/inclusion": PUBLIC,
    "GET /proof/consistency": PUBLIC,
}

#: Values for the path templates' parameters (``case_id`` is the test's case).
PATH_VALUES = {
    "actor_id": "border-guard-7",
    "key_id": "0123456789abcdef",
    "path:path": "0/000.p/1",
}
QUERY: dict[str, dict[str, Any]] = {
    "GET /proof/inclusion": {"seq": 0},
    "GET /proof/consistency": {"old": 1},
}


def app_routes() -> set[str]:
    """Every route of the app as ``METHOD /path`` (HEAD goes with GET)."""
    found = set()
    for route in iter_route_contexts(offline_app().routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add(f"{method} {route.path}")
    return found


def callers() -> dict[Role, str]:
    """One principal of the stack per role (the applicant of the test's case's exporter)."""
    chosen: dict[Role, str] = {}
    for principal, (role, _) in PRINCIPALS.items():
        if principal != "applicant-2":
            chosen.setdefault(role, principal)
    return chosen


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Call:
    route: str
    method: str
    path: str
    body: dict[str, Any] | None
    query: dict[str, Any] | None
    event: str | None = None

    def __str__(self) -> str:
        return f"{self.route}" + (f" [{self.event}]" if self.event else "")


def calls_for(stack: Stack, route: str, case_id: str, principal: str | None) -> list[Call]:
    """The request(s) ``principal`` makes to ``route``: one, or one per event of the table."""
    method, template = route.split(" ", 1)
    path = template.replace("{case_id}", case_id)
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {route}: add it to PATH_VALUES"
    caller = principal or "officer-1"  # who a statement without a token claims to be
    body: dict[str, Any] | None = None
    if route == "POST /cases":
        body = {"application": application().model_dump(mode="json")}
        if principal is None or PRINCIPALS[principal][0] != Role.APPLICANT:
            body["applicant_id"] = "applicant-1"
    elif route == "POST /cases/{case_id}/actions":
        return [Call(route, method, path, {"event": event}, None, event) for event in lc.EVENTS]
    elif route == "POST /cases/{case_id}/statements":
        key = stack.authority.keys.get(caller) or Ed25519PrivateKey.generate()
        return [
            Call(
                route,
                method,
                path,
                {
                    "statement": sign_statement(
                        key,
                        issuer=caller,
                        case_id=case_id,
                        step=event,
                        finding={"opinion": "no_objection"},
                        time=datetime.now(UTC),
                        ttl=timedelta(minutes=10),
                    )
                },
                None,
                event,
            )
            for event in lc.EVENTS
        ]
    elif route == "POST /exporters":
        body = {"exporter_id": "matrix-exporter-1"}
    elif route == "POST /actors/{actor_id}/keys":
        body = {"role": Role.CUSTOMS.value, "public_key": public_key()}
    elif route.endswith("/rotate"):
        body = {"public_key": public_key()}
    elif route.endswith("/revoke"):
        body = {"reason": "the authorization matrix"}
    elif route == "POST /licences/verify":
        body = {"document": "not a licence document"}
    return [Call(route, method, path, body, QUERY.get(route))]


def admitted(route: str, call: Call) -> frozenset[Role] | str:
    rule = MATRIX[route]
    if rule == BY_EVENT:
        assert call.event is not None
        role = lc.EVENTS[call.event].role
        return frozenset() if role == Role.SYSTEM else frozenset({role})
    return rule


async def send(stack: Stack, call: Call, headers: dict[str, str]) -> Any:
    return await stack.http.request(
        call.method, call.path, headers=headers, json=call.body, params=call.query
    )


def assert_refused(response: Any, status: int, call: Call, who: str) -> None:
    assert response.status_code == status, f"{who} → {call}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), call
    problem = response.json()
    assert problem["status"] == status and problem["type"].startswith("https://"), problem
    assert problem["detail"], problem


def test_every_route_has_a_row() -> None:
    routes = app_routes()
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"rows of the authorization matrix without a route: {stale}"
    assert set(callers()) == set(ROLES), "the stack needs a principal for every role"


async def test_the_authorization_matrix(stack: Stack) -> None:
    case_id = await stack.file_case()
    who = callers()
    routes = sorted(app_routes() & set(MATRIX))
    refused = admitted_calls = 0

    # Refusals first, while nothing else moves the ledger: each must leave it as it was.
    for route in routes:
        unknown = {"Authorization": "Bearer not-a-token-of-anyone"}
        for principal in (None, *who.values()):
            for call in calls_for(stack, route, case_id, principal):
                allowed = admitted(route, call)
                if allowed == PUBLIC:
                    continue
                assert isinstance(allowed, frozenset)
                attempts: list[tuple[str, dict[str, str], int]] = []
                if principal is None:
                    attempts += [("no token", {}, 401), ("an unknown token", unknown, 401)]
                elif PRINCIPALS[principal][0] not in allowed:
                    attempts.append((principal, stack.auth(principal), 403))
                for label, headers, expected in attempts:
                    before = stack.size()
                    assert_refused(await send(stack, call, headers), expected, call, label)
                    assert stack.size() == before, f"{label} → {call} wrote to the ledger"
                    refused += 1

    # Then every admitted caller (and anyone, on a public route) gets past the door.
    for route in routes:
        for principal in (None, *who.values()):
            for call in calls_for(stack, route, case_id, principal):
                allowed = admitted(route, call)
                if allowed == PUBLIC:
                    headers = stack.auth(principal) if principal else {}
                elif principal is not None and PRINCIPALS[principal][0] in allowed:
                    headers = stack.auth(principal)
                else:
                    continue
                response = await send(stack, call, headers)
                assert response.status_code not in (401, 403), (
                    f"{principal} → {call}: {response.status_code} {response.text}"
                )
                assert response.status_code < 500, f"{principal} → {call}: {response.text}"
                admitted_calls += 1

    events = len(lc.EVENTS)
    by_event = sum(1 for rule in MATRIX.values() if rule == BY_EVENT)
    assert refused >= by_event * events * len(ROLES), refused  # every event, every other role
    assert admitted_calls > 0
