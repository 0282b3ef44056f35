"""Signed statements through the service, as DESIGN.md's "Trust and access" says: replayed,
expired, wrong-case, wrong-step, unregistered-key and revoked-key statements are refused with a
clear problem, and nothing is written."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.keys import actor_key_id
from ledger.statements import sign_statement
from tests.integration.service.stack import Stack
from tests.integration.workflows.harness import application


async def in_review(stack: Stack) -> str:
    app = application().model_dump(mode="json")
    case_id: str = (
        await stack.call("POST", "/cases", "applicant-1", json={"application": app})
    ).json()["case_id"]
    for _ in range(100):
        if (await stack.call("GET", f"/cases/{case_id}/status", "officer-1")).status_code == 200:
            break
        await asyncio.sleep(0.05)
    accepted = await stack.call(
        "POST", f"/cases/{case_id}/actions", "officer-1", json={"event": "accept_complete"}
    )
    assert accepted.status_code == 200, accepted.text
    for _ in range(200):
        status = await stack.call("GET", f"/cases/{case_id}/status", "officer-1")
        if status.json()["state"] == "in_review":
            return case_id
        await asyncio.sleep(0.05)
    raise AssertionError(status.text)


def statement(
    key: Ed25519PrivateKey,
    case_id: str,
    *,
    issuer: str = "sbu",
    step: str = "security_finding",
    time: datetime | None = None,
    ttl: timedelta = timedelta(minutes=10),
) -> dict[str, Any]:
    signed: dict[str, Any] = sign_statement(
        key,
        issuer=issuer,
        case_id=case_id,
        step=step,
        finding={"opinion": "no_objection"},
        time=time or datetime.now(UTC),
        ttl=ttl,
    )
    return signed


async def refused(
    stack: Stack, case_id: str, body: dict[str, Any], status: int, words: str
) -> None:
    size = stack.size()
    response = await stack.call("POST", f"/cases/{case_id}/statements", "sbu", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"], response.json()
    assert stack.size() == size


async def test_every_bad_statement_is_refused_and_writes_nothing(stack: Stack) -> None:
    case_id = await in_review(stack)
    other_case = await in_review(stack)
    key = stack.authority.keys["sbu"]

    old = datetime.now(UTC) - timedelta(hours=2)
    expired = statement(key, case_id, time=old, ttl=timedelta(minutes=5))
    await refused(stack, case_id, {"statement": expired}, 409, "expired")

    wrong_case = statement(key, other_case)
    await refused(stack, case_id, {"statement": wrong_case}, 422, "is for case")

    # Posted as an action for one step with a statement for another.
    wrong_step = statement(key, case_id, step="defence_finding")
    size = stack.size()
    response = await stack.call(
        "POST",
        f"/cases/{case_id}/actions",
        "sbu",
        json={"event": "security_finding", "statement": wrong_step},
    )
    assert response.status_code == 409 and "statement step" in response.json()["detail"]
    assert stack.size() == size

    stranger = Ed25519PrivateKey.generate()  # the issuer's name, a key never registered
    await refused(stack, case_id, {"statement": statement(stranger, case_id)}, 409, "unknown-key")

    tampered = statement(key, case_id)
    tampered["statement"]["finding"] = {"opinion": "objection"}  # not what was signed
    await refused(stack, case_id, {"statement": tampered}, 409, "bad-signature")

    good = statement(key, case_id)
    accepted = await stack.call(
        "POST", f"/cases/{case_id}/statements", "sbu", json={"statement": good}
    )
    assert accepted.status_code == 200, accepted.text
    await refused(stack, case_id, {"statement": good}, 409, "already given")
    # A fresh signature over a used nonce (a captured statement re-signed elsewhere): replay.
    nonce = good["statement"]["nonce"]
    replayed = sign_statement(
        key,
        issuer="sbu",
        case_id=other_case,
        step="security_finding",
        finding={"opinion": "no_objection"},
        time=datetime.now(UTC),
        ttl=timedelta(minutes=10),
        nonce=nonce,
    )
    await refused(stack, other_case, {"statement": replayed}, 409, "replayed-nonce")


async def test_a_revoked_key_signs_nothing_more(stack: Stack) -> None:
    case_id = await in_review(stack)
    key = stack.authority.keys["mod-ua"]
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    revoked = await stack.call(
        "POST",
        f"/actors/mod-ua/keys/{actor_key_id(raw)}/revoke",
        "registrar-1",
        json={"reason": "key compromised"},
    )
    assert revoked.status_code == 201, revoked.text
    signed = statement(key, case_id, issuer="mod-ua", step="defence_finding")
    size = stack.size()
    response = await stack.call(
        "POST", f"/cases/{case_id}/statements", "mod-ua", json={"statement": signed}
    )
    assert response.status_code == 409, response.text
    assert "revoked-key" in response.json()["detail"]
    assert stack.size() == size
    # A new key, registered, signs again.
    fresh = Ed25519PrivateKey.generate()
    public = base64.b64encode(fresh.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    registered = await stack.call(
        "POST",
        "/actors/mod-ua/keys",
        "registrar-1",
        json={"role": "ministry_of_defence", "public_key": public.decode()},
    )
    assert registered.status_code == 201, registered.text
    signed = statement(fresh, case_id, issuer="mod-ua", step="defence_finding")
    response = await stack.call(
        "POST", f"/cases/{case_id}/statements", "mod-ua", json={"statement": signed}
    )
    assert response.status_code == 200, response.text
