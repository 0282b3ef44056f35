"""The service over real HTTP against a real dev server and worker: a case from application to
a shipment recorded against the issued licence, every role through its own door, and refusals
that are problem documents and leave the ledger unchanged."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.canonical import canonicalize
from ledger.receipts import verify_receipt
from ledger.statements import sign_statement
from tests.integration.service.stack import Stack
from tests.integration.workflows.harness import AGENCY_FOR, application


def signed(stack: Stack, issuer: str, case_id: str, step: str, finding: dict[str, Any]) -> Any:
    return sign_statement(
        stack.authority.keys[issuer],
        issuer=issuer,
        case_id=case_id,
        step=step,
        finding=finding,
        time=datetime.now(UTC),
        ttl=timedelta(minutes=10),
    )


def assert_problem(response: Any, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].startswith("https://")
    assert words in body["detail"], body


async def test_a_case_through_the_service(stack: Stack) -> None:
    case_id = await stack.file_case()

    async def act(principal: str, event: str, **body: Any) -> Any:
        response = await stack.call(
            "POST", f"/cases/{case_id}/actions", principal, json={"event": event, **body}
        )
        assert response.status_code == 200, response.text
        return response.json()

    await act("officer-1", "request_information", data={"missing": ["EUC annex"]})
    await act("applicant-1", "provide_information", data={"documents": ["annex"]})
    await act("officer-1", "accept_complete")
    await stack.until_state(case_id, "in_review")
    for event, agency in AGENCY_FOR.items():
        statement = signed(stack, agency, case_id, event, {"opinion": "no_objection"})
        response = await stack.call(
            "POST", f"/cases/{case_id}/statements", agency, json={"statement": statement}
        )
        assert response.status_code == 200, response.text
    for official, step in (("official-a", "approve"), ("official-b", "countersign")):
        statement = signed(stack, official, case_id, step, {"decision": step})
        response = await stack.call(
            "POST", f"/cases/{case_id}/statements", official, json={"statement": statement}
        )
        assert response.status_code == 200, response.text
    status = await stack.until_state(case_id, "issued")
    assert status["licence_number"] == f"L-{case_id}"

    # Customs: the printed licence checks out; a shipment is recorded against it.
    page = await stack.call("GET", f"/cases/{case_id}/licence.html", "customs-ua")
    assert page.status_code == 200 and "DZL1:" in page.text
    checked = await stack.call(
        "POST", "/licences/verify", "customs-ua", json={"document": page.text}
    )
    assert checked.status_code == 200, checked.text
    assert checked.json()["genuine"] and checked.json()["ceilings"][0]["quantity"] == 40
    lines = [{"line": 1, "quantity": 10, "value": "300000.00"}]
    digest = hashlib.sha256(canonicalize(lines)).hexdigest()
    shipment = signed(
        stack,
        "customs-ua",
        case_id,
        "shipment_recorded",
        {"shipment_id": "S-1", "lines_sha256": digest},
    )
    response = await stack.call(
        "POST",
        f"/cases/{case_id}/statements",
        "customs-ua",
        json={"statement": shipment, "confidential": {"lines": lines}},
    )
    assert response.status_code == 200, response.text

    # The applicant's receipt verifies offline with the log's first key.
    receipt = await stack.call("GET", f"/cases/{case_id}/receipt", "applicant-1")
    assert receipt.status_code == 200
    report = verify_receipt(receipt.json(), stack.authority.signer.verifier.vkey)
    assert [e.event for e in report.entries][-2:] == ["licence_issued", "shipment_recorded"]

    # The authority sees the whole case; the listing finds it.
    detail = await stack.call("GET", f"/cases/{case_id}", "officer-1")
    assert detail.json()["usage"][0]["quantity"] == {"ceiling": 40, "shipped": 10}
    for _ in range(100):
        listed = await stack.call(
            "GET", "/cases", "officer-1", params={"state": "issued", "rating": "ML10"}
        )
        if case_id in {c["case_id"] for c in listed.json()["cases"]}:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(listed.text)
    mine = await stack.call("GET", "/cases", "applicant-2")
    assert case_id not in {c["case_id"] for c in mine.json()["cases"]}


async def test_refusals_are_problems_and_write_nothing(stack: Stack) -> None:
    case_id = await stack.file_case()
    size = stack.size()
    path = f"/cases/{case_id}/actions"
    assert_problem(await stack.call("POST", path, json={"event": "accept_complete"}), 401, "")
    bad = {"Authorization": "Bearer not-a-token"}
    response = await stack.http.post(path, json={"event": "accept_complete"}, headers=bad)
    assert_problem(response, 401, "unknown token")
    assert_problem(
        await stack.call("POST", path, "customs-ua", json={"event": "accept_complete"}),
        403,
        "licensing_officer role",
    )
    assert_problem(
        await stack.call("POST", path, "officer-1", json={"event": "licence_issued"}),
        403,
        "system role",
    )
    assert_problem(
        await stack.call("POST", path, "officer-1", json={"event": "no_such_event"}),
        422,
        "unknown event",
    )
    assert_problem(
        await stack.call("POST", path, "officer-1", json={"event": "request_information"}),
        409,
        "states its missing",
    )
    assert_problem(
        await stack.call("POST", path, "applicant-2", json={"event": "withdraw"}),
        404,
        "no case",
    )
    # A statement signed by someone else's key, posted by the caller: refused by the ledger.
    forged = sign_statement(
        Ed25519PrivateKey.generate(),
        issuer="sbu",
        case_id=case_id,
        step="security_finding",
        finding={"opinion": "no_objection"},
        time=datetime.now(UTC),
        ttl=timedelta(minutes=5),
    )
    assert_problem(
        await stack.call(
            "POST", f"/cases/{case_id}/statements", "mod-ua", json={"statement": forged}
        ),
        403,
        "not the caller",
    )
    assert_problem(
        await stack.call(
            "POST",
            "/cases",
            "applicant-2",
            json={"application": application().model_dump(mode="json")},
        ),
        403,
        "acts for exporter",
    )
    assert_problem(await stack.call("GET", f"/cases/{case_id}", "applicant-1"), 403, "role")
    assert_problem(await stack.call("GET", "/cases/nope-1/status", "officer-1"), 404, "no case")
    assert stack.size() == size


async def test_the_registrar_registers_exporters_and_keys(stack: Stack) -> None:
    first = await stack.call(
        "POST", "/exporters", "registrar-1", json={"exporter_id": "drone-ua-002"}
    )
    again = await stack.call(
        "POST", "/exporters", "registrar-1", json={"exporter_id": "drone-ua-002"}
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["seq"] == again.json()["seq"]  # idempotent
    assert_problem(
        await stack.call("POST", "/exporters", "officer-1", json={"exporter_id": "x-1"}),
        403,
        "registrar",
    )
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    registered = await stack.call(
        "POST",
        "/actors/border-guard-1/keys",
        "registrar-1",
        json={"role": "customs", "public_key": base64.b64encode(raw).decode()},
    )
    assert registered.status_code == 201, registered.text
    entry = stack.authority.ledger.entry(registered.json()["seq"])
    assert entry.event == "actor_key.register" and entry.data["actor_id"] == "border-guard-1"
    key_id = entry.data["key_id"]
    revoked = await stack.call(
        "POST",
        f"/actors/border-guard-1/keys/{key_id}/revoke",
        "registrar-1",
        json={"reason": "device lost"},
    )
    assert revoked.status_code == 201, revoked.text
    # What the ledger's register refuses is a 409 naming why, and writes nothing.
    size = stack.authority.ledger.latest_checkpoint().checkpoint.size
    new = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    refusals = {
        f"/actors/border-guard-1/keys/{key_id}/rotate": (
            {"public_key": base64.b64encode(new).decode()},
            "already revoked",
        ),
        f"/actors/someone-else/keys/{key_id}/revoke": (
            {"reason": "not theirs"},
            "want its owner 'border-guard-1'",
        ),
    }
    for path, (body, words) in refusals.items():
        refused = await stack.call("POST", path, "registrar-1", json=body)
        assert_problem(refused, 409, words)
        assert refused.json()["type"].endswith("register-refused"), refused.text
    assert stack.authority.ledger.latest_checkpoint().checkpoint.size == size
    assert_problem(
        await stack.call(
            "POST",
            "/actors/border-guard-1/keys",
            "registrar-1",
            json={"role": "customs", "public_key": "A" * 44},
        ),
        422,
        "",
    )


async def test_an_officer_registers_a_paper_application(stack: Stack) -> None:
    app = application().model_dump(mode="json")
    assert_problem(
        await stack.call("POST", "/cases", "officer-1", json={"application": app}),
        422,
        "applicant_id",
    )
    created = await stack.call(
        "POST",
        "/cases",
        "officer-1",
        json={"application": app, "applicant_id": "applicant-1", "case_id": "UA-PAPER-1"},
    )
    assert created.status_code == 201, created.text
    await stack.until_state("UA-PAPER-1", "submitted")
    (seq,) = stack.authority.ledger.case_seqs("UA-PAPER-1")
    submit = stack.authority.ledger.entry(seq)
    assert submit.actor.id == "applicant-1" and submit.data["registered_by"] == "officer-1"
    again = await stack.call(
        "POST",
        "/cases",
        "officer-1",
        json={"application": app, "applicant_id": "applicant-1", "case_id": "UA-PAPER-1"},
    )
    assert_problem(again, 409, "exists already")
