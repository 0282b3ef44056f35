"""The licence after issuance on the Temporal dev server, with the real ledger: shipments
against the ceilings (over-shipment refused, nothing written), delivery verifications, the
licence exhausted and the case closed; suspension, reinstatement and revocation; a party
changed during review screened again; and a case that continues as new many times."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from ledger.verify import verify_case, verify_log
from service import visibility
from tests.integration.workflows.harness import (
    APPLICANT,
    OFFICER,
    Authority,
    Case,
)
from workflows.licence_case import LicenceCase
from workflows.lifecycle import State
from workflows.models import CaseView


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path, denied=["Rosoboronexport"])


def events(authority: Authority, case: Case) -> list[str]:
    ledger = authority.ledger
    return [ledger.entry(seq).event for seq in ledger.case_seqs(case.case_id)]


def assert_whole(authority: Authority, case: Case) -> None:
    """The log and the case verify, and each transition is in the ledger exactly once."""
    vkey = authority.signer.verifier.vkey
    verify_log(authority.ledger, vkey)
    verify_case(authority.ledger, vkey, case.case_id)
    keys = [
        authority.ledger.entry(s).idempotency_key for s in authority.ledger.case_seqs(case.case_id)
    ]
    assert keys == [f"{case.case_id}/{n}" for n in range(1, len(keys) + 1)]


async def refused(authority: Authority, reason: str, update: Any) -> None:
    """The update fails naming ``reason`` and the ledger does not move."""
    size = authority.ledger.latest_checkpoint().checkpoint.size
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await update
    assert reason in str(info.value.cause), info.value.cause
    assert authority.ledger.latest_checkpoint().checkpoint.size == size


async def test_shipments_against_the_ceilings_until_exhausted_and_closed(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        # The official lowers the ceiling to 30 units and 900,000 EUR.
        lowered = {"ceilings": [{"rating": "ML10", "quantity": 30, "value": "900000.00"}]}
        await case.issue(lowered)
        await case.ship("S-1", [{"line": 1, "quantity": 10, "value": "300000.00"}])

        await refused(
            authority,
            "over-shipment: line 1 (ML10) would reach 31 of a ceiling of 30",
            case.ship("S-2", [{"line": 1, "quantity": 21, "value": "100.00"}]),
        )
        await refused(
            authority,
            "would reach a value of 900000.01 EUR",
            case.ship("S-2", [{"line": 1, "quantity": 1, "value": "600000.01"}]),
        )
        await refused(
            authority,
            "lines 1 to 1, not 2",
            case.ship("S-2", [{"line": 2, "quantity": 1, "value": "1.00"}]),
        )
        await refused(
            authority,
            "already recorded",
            case.ship("S-1", [{"line": 1, "quantity": 1, "value": "1.00"}]),
        )
        lines = [{"line": 1, "quantity": 5, "value": "100.00"}]
        other = [{"line": 1, "quantity": 6, "value": "100.00"}]
        await refused(  # the lines are not the ones customs signed
            authority,
            "lines_sha256",
            case.signed(
                "shipment_recorded",
                "customs-ua",
                {"shipment_id": "S-2", "lines_sha256": "00" * 32},
                confidential={"lines": lines},
            ),
        )
        await refused(  # customs only
            authority,
            "is for the customs role",
            case.signed("shipment_recorded", "official-a", {"shipment_id": "S-2"}),
        )
        await refused(authority, "no shipment 'S-9'", case.verify_delivery("S-9"))
        await case.ship("S-2", other)
        view = await case.handle.query(LicenceCase.view)
        assert view.usage[0]["quantity"] == {"ceiling": 30, "shipped": 16}
        assert view.awaiting_verification == ["S-1", "S-2"]
        # The last units exhaust the licence at once; the case waits for the verifications.
        await case.ship("S-3", [{"line": 1, "quantity": 14, "value": "1000.00"}])
        assert await case.handle.query(LicenceCase.state) == "exhausted"
        await refused(
            authority,
            "not allowed in state exhausted",
            case.ship("S-4", [{"line": 1, "quantity": 1, "value": "1.00"}]),
        )
        for shipment in ("S-1", "S-2", "S-3"):
            await case.verify_delivery(shipment)
        final: CaseView = await case.handle.result()
    assert final.state == "closed"
    assert events(authority, case)[-9:] == [
        "licence_issued",
        "shipment_recorded",
        "shipment_recorded",
        "shipment_recorded",
        "licence_exhausted",
        "delivery_verified",
        "delivery_verified",
        "delivery_verified",
        "case_closed",
    ]
    shipped = authority.ledger.entry(final.timeline[-8].seq)
    assert "lines" in shipped.commitments  # quantities committed, not in the clear
    assert shipped.data["clock"]["delivery_verification"] == "started"
    assert_whole(authority, case)


async def test_suspend_reinstate_and_revoke(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        await case.issue()
        await refused(
            authority,
            "suspend states its reason",
            case.signed("suspend", "official-a", {"decision": "suspend"}),
        )
        await refused(
            authority,
            "at most 180 days",
            case.signed(
                "suspend", "official-a", {"decision": "suspend"}, {"reason": "x", "days": 400}
            ),
        )
        await case.signed(
            "suspend", "official-a", {"decision": "suspend"}, {"reason": "defence needs"}
        )
        view = await case.handle.query(LicenceCase.view)
        assert view.state == "suspended"
        assert view.hold is not None
        assert view.hold["owner"] == "official-a" and view.hold["reason"] == "defence needs"
        assert {d.name for d in view.deadlines} == {"validity", "suspension"}
        await refused(
            authority,
            "not allowed in state suspended",
            case.ship("S-1", [{"line": 1, "quantity": 1, "value": "1.00"}]),
        )
        await case.signed("reinstate", "official-b", {"decision": "reinstate"})
        await case.ship("S-1", [{"line": 1, "quantity": 1, "value": "1.00"}])
        await case.signed("revoke", "official-a", {"decision": "revoke"}, {"reason": "EU-CP-2"})
        assert await case.handle.query(LicenceCase.state) == "revoked"
        await case.verify_delivery("S-1")  # still expected after revocation; then closed
        assert (await case.handle.result()).state == "closed"

        # An ended licence with a verification that will never come: an officer closes it.
        other = await authority.start(client, task_queue)
        await other.issue()
        await other.ship("S-1", [{"line": 1, "quantity": 1, "value": "1.00"}])
        await other.signed("revoke", "official-a", {"decision": "revoke"}, {"reason": "EU-CP-7"})
        await refused(authority, "close_case states its reason", other.act("close_case", OFFICER))
        await other.act("close_case", OFFICER, data={"reason": "end user dissolved"})
        assert (await other.handle.result()).state == "closed"
    assert events(authority, case)[-6:] == [
        "suspend",
        "reinstate",
        "shipment_recorded",
        "revoke",
        "delivery_verified",
        "case_closed",
    ]
    suspended = authority.ledger.entry(authority.ledger.case_seqs(case.case_id)[-6])
    assert suspended.data["clock"]["suspension"] == "started"
    assert suspended.data["reason"] == "defence needs"
    assert_whole(authority, case)
    assert_whole(authority, other)


async def test_a_changed_party_is_screened_again_and_reviewed_anew(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        await case.act("accept_complete", OFFICER)
        await case.until("in_review")
        await case.signed("security_finding", "sbu", {"opinion": "no_objection"})
        parties = [
            {"role": "consignee", "name": "Agencja Uzbrojenia", "country": "PL"},
            {"role": "end_user", "name": "Рособоронэкспорт", "country": "RU"},
        ]
        await refused(
            authority,
            "names its end user",
            case.act("amend_parties", APPLICANT, confidential={"parties": parties[:1]}),
        )
        await case.act("amend_parties", APPLICANT, confidential={"parties": parties})
        view = await case.until("in_review")
        assert [f.source for f in view.flags] == ["test-denied"]
        assert view.findings == {}  # the review starts over
    screenings = [
        authority.ledger.entry(s)
        for s in authority.ledger.case_seqs(case.case_id)
        if authority.ledger.entry(s).event == "screening_completed"
    ]
    assert [len(s.data["matches"]) for s in screenings] == [0, 1]
    assert screenings[1].data["matches"][0]["listed_as"] == "Rosoboronexport"
    amended = authority.ledger.entry(authority.ledger.case_seqs(case.case_id)[4])
    assert amended.event == "amend_parties" and "parties" in amended.commitments
    assert "Рособоронэкспорт" not in amended.body.decode()


async def test_a_long_case_continues_as_new_and_loses_nothing(
    dev_env_short_history: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    """The server suggests continue-as-new after a few dozen history events; a case with a
    licence used for many shipments runs through several runs with its whole state."""
    async with authority.worker(dev_env_short_history, task_queue) as client:
        case = await authority.start(client, task_queue)
        await case.act("request_information", OFFICER, data={"missing": ["EUC annex"]})
        await case.act("provide_information", APPLICANT)
        await case.issue()
        for n in range(1, 13):
            await case.ship(f"S-{n}", [{"line": 1, "quantity": 3, "value": "1000.00"}])
            if n % 2:
                await case.verify_delivery(f"S-{n}")
        view = await case.handle.query(LicenceCase.view)
        assert view.runs > 2, "the case never continued as new"
        # Visibility lists runs: the service's queries see the case once, in its state.
        this = f"WorkflowId = '{case.case_id}'"
        for _ in range(100):  # visibility is updated asynchronously
            runs = [wf async for wf in client.list_workflows(this)]
            if len(runs) == view.runs:
                break
            await asyncio.sleep(0.1)
        assert len(runs) == view.runs
        found = [wf async for wf in client.list_workflows(visibility.cases(this))]
        assert [(wf.id, wf.status) for wf in found] == [
            (case.case_id, WorkflowExecutionStatus.RUNNING)
        ]
        counted = await client.count_workflows(
            f"{visibility.in_state(State(view.state))} AND {this}"
        )
        assert counted.count == 1
        await refused(
            authority,
            "would reach 41 of a ceiling of 40",
            case.ship("S-13", [{"line": 1, "quantity": 5, "value": "1.00"}]),
        )
        await refused(
            authority,
            "already recorded",
            case.ship("S-3", [{"line": 1, "quantity": 1, "value": "1.00"}]),
        )
        await case.ship("S-13", [{"line": 1, "quantity": 4, "value": "1.00"}])
        assert await case.handle.query(LicenceCase.state) == "exhausted"
        for n in (2, 4, 6, 8, 10, 12, 13):
            await case.verify_delivery(f"S-{n}")
        final: CaseView = await case.handle.result()
    assert final.state == "closed"
    assert [r.event for r in final.timeline] == events(authority, case)
    assert [r.seq for r in final.timeline] == authority.ledger.case_seqs(case.case_id)
    assert_whole(authority, case)
