"""Bad input on every endpoint, generated from the OpenAPI document the service serves: over
real HTTP against a real dev server and worker, schemathesis sends each operation requests that
break its schema (negative mode) and requests within it but random (positive mode, which reach
the handlers: unknown cases, events, keys, documents, search filters), each with the token of a
role the authorization matrix admits to it.

Every answer must be: never a 5xx; for a refused request a 4xx problem document
(``application/problem+json`` with ``status``, ``type``, ``detail``) whose status the document
declares for the operation; for schema-breaking input a 4xx, never an acceptance; and any refused
request must leave the ledger as it was. Bounded and reproducible: a fixed number of examples
per operation and mode, derandomized, no deadline, no example database.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from ledger.store.sql import SqlLedger
from service.problems import MEDIA_TYPE
from tests.integration.service.stack import Stack
from tests.integration.service.test_authorization import (
    BY_EVENT,
    MATRIX,
    PUBLIC,
    callers,
)
from workflows.lifecycle import Role

pytestmark = [pytest.mark.temporal, pytest.mark.slow]

MAX_EXAMPLES = 40
"""Examples per operation and mode (and per pass on the test's own case)."""
SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure reports as found, soon
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
#: Who fuzzes the operations the lifecycle table opens per event: any event's role will do, the
#: generated events are not the table's.
BY_EVENT_CALLER = {
    "POST /cases/{case_id}/actions": "officer-1",
    "POST /cases/{case_id}/statements": "sbu",
}
#: Operations that are someone else's to document (the log's routes declare their own
#: responses): they are held to no 5xx and problem documents, not to the document's statuses.
UNDOCUMENTED_TAGS = {"log"}


def caller(route: str) -> str | None:
    """A principal the authorization matrix admits to ``route`` (``METHOD /path`` as the
    document writes it: ``{path}`` for the app's ``{path:path}``; None: public)."""
    rules = {re.sub(r"\{(\w+):\w+\}", r"{\1}", row): rule for row, rule in MATRIX.items()}
    rule = rules[route]
    if rule == PUBLIC:
        return None
    if rule == BY_EVENT:
        return BY_EVENT_CALLER[route]
    assert isinstance(rule, frozenset)
    who = callers()
    # The applicant of the test's exporter first: its own cases are the ones it can reach.
    for role in (Role.APPLICANT, *sorted(rule)):
        if role in rule:
            return who[role]
    raise AssertionError(f"no principal may call {route}")


def breakable(operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> bool:
    """Whether a request can break the operation's schema: it takes a body or a query, or a
    path parameter with a constraint (a path segment is a string whatever it holds)."""
    if operation.query or list(operation.body):
        return True
    plain = {"type", "title", "description"}
    return any(
        set(parameter.definition.get("schema", {})) - plain
        for parameter in operation.path_parameters
    )


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.sent += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status < 400:
            self.accepted += 1


def assert_problem(response: schemathesis.Response, where: str) -> None:
    headers = {name.lower(): values for name, values in response.headers.items()}
    media_type = (headers.get("content-type") or [""])[0]
    assert media_type.startswith(MEDIA_TYPE), (
        f"{where}: {response.status_code} is not a problem document: {response.content[:500]!r}"
    )
    problem = response.json()
    assert problem.get("status") == response.status_code, f"{where}: {problem}"
    assert isinstance(problem.get("type"), str) and problem["type"].startswith("https://"), where
    assert isinstance(problem.get("detail"), str) and problem["detail"], f"{where}: {problem}"


def fuzz(url: str, tokens: dict[str, str], ledger_url: str, case_id: str) -> dict[str, Tally]:
    """Run every operation's examples (in this thread: the stack serves from the event loop)."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=30)
    reader = SqlLedger.open(ledger_url)
    session = requests.Session()
    tallies: dict[str, Tally] = {}

    def size() -> int:
        return reader.latest_checkpoint().checkpoint.size

    def exercise(strategy: Any, checks: list[Any], headers: dict[str, str], tally: Tally) -> None:
        @SETTINGS
        @given(case=strategy)
        def run(case: schemathesis.Case[Any]) -> None:
            before = size()
            response = case.call(base_url=url, session=session, headers=headers, timeout=30)
            tally.add(response.status_code)
            where = f"{case.method} {case.formatted_path}"
            case.validate_response(response, checks=[not_a_server_error, *checks], headers=headers)
            if response.status_code >= 400:
                assert_problem(response, where)
                assert size() == before, f"{where}: refused, yet the ledger grew"

        run()

    try:
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the served document is not valid: {result}"
            operation = result.ok()
            route = f"{operation.method.upper()} {operation.path}"
            principal = caller(route)
            headers = {"Authorization": f"Bearer {tokens[principal]}"} if principal else {}
            documented = not set(operation.definition.raw.get("tags", [])) & UNDOCUMENTED_TAGS
            conformance = [
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ]
            checks = conformance if documented else []
            # The token is fixed, not generated: bad credentials are the matrix's business.
            positive = operation.as_strategy(headers=headers)
            passes: list[tuple[str, Any, list[Any]]] = [("positive", positive, checks)]
            if breakable(operation):
                negative = operation.as_strategy(
                    generation_mode=schemathesis.GenerationMode.NEGATIVE, headers=headers
                )
                passes.append(("negative", negative, [negative_data_rejection, *checks]))
            if "{case_id}" in operation.path:  # within the schema, on a real case
                on_case = operation.as_strategy(
                    path_parameters={"case_id": case_id}, headers=headers
                )
                passes.append(("on the test's case", on_case, checks))
            for mode, strategy, mode_checks in passes:
                tally = tallies.setdefault(f"{route} ({mode})", Tally())
                exercise(strategy, mode_checks, headers, tally)
    finally:
        session.close()
        reader.engine.dispose()
    return tallies


async def test_bad_input_on_every_endpoint(stack: Stack) -> None:
    case_id = await stack.file_case()
    start, before = time.perf_counter(), stack.size()
    tallies = await asyncio.to_thread(
        fuzz, stack.url, stack.tokens, stack.authority.settings.ledger_url, case_id
    )
    seconds = time.perf_counter() - start
    sent = sum(t.sent for t in tallies.values())
    accepted = sum(t.accepted for t in tallies.values())
    report = "\n".join(f"  {name}: {t.sent} sent, {t.by_status}" for name, t in tallies.items())
    print(f"\n{sent} requests in {seconds:.1f} s, {accepted} accepted\n{report}")

    # Every operation of the served document was exercised, and refused bad input mostly at
    # validation (negative_data_rejection above judged each schema-breaking request).
    paths = (await stack.http.get("/openapi.json")).json()["paths"]
    operations = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    assert {name.rsplit(" (", 1)[0] for name in tallies} == operations
    for name, tally in tallies.items():
        assert tally.sent > 0, f"{name}: no request was generated"
        if name.endswith("(negative)"):  # (a one-element array sent as one value is valid)
            assert tally.by_status.get(422, 0) > tally.sent // 2, f"{name}: {tally.by_status}"
    # Nothing the fuzzer sent wrote to the ledger, but for what the registrar may register.
    grew = stack.size() - before
    registered = sum(
        t.accepted
        for name, t in tallies.items()
        if name.startswith(("POST /exporters", "POST /actors"))
    )
    assert grew <= registered, f"the ledger grew by {grew}, registrations accepted: {registered}"
