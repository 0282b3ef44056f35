"""Licence cases end to end on the Temporal dev server, with the real ledger: the happy path to
an issued licence, each exit, and every kind of refused action (nothing written)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from ledger.receipts import verify_receipt
from ledger.verify import verify_case, verify_log
from licence.render import render
from licence.verify import read_document, verify_document
from tests.integration.workflows.harness import (
    AGENCY_FOR,
    APPLICANT,
    OFFICER,
    Authority,
    Case,
    application,
)
from workflows.licence_case import LicenceCase
from workflows.lifecycle import EDGES, EVENTS, RECORDS, Role, State
from workflows.models import Actor, CaseConfig, CaseView


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path, denied=["Rosoboronexport"])


def case_events(authority: Authority, case: Case) -> list[str]:
    ledger = authority.ledger
    return [ledger.entry(seq).event for seq in ledger.case_seqs(case.case_id)]


def assert_verifies(authority: Authority, case: Case) -> None:
    vkey = authority.signer.verifier.vkey
    verify_log(authority.ledger, vkey)
    verify_case(authority.ledger, vkey, case.case_id)
    keys = [
        authority.ledger.entry(s).idempotency_key for s in authority.ledger.case_seqs(case.case_id)
    ]
    assert len(keys) == len(set(keys)), "a transition was recorded twice"


async def to_review(case: Case) -> None:
    await case.act("accept_complete", OFFICER)
    for _ in range(100):
        if await case.handle.query(LicenceCase.state) == "in_review":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("screening did not finish")


async def test_a_case_from_application_to_issued_licence(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        await case.act("request_information", OFFICER, data={"missing": ["EUC annex"]})
        await case.act("provide_information", APPLICANT, data={"documents": ["annex-2"]})
        await to_review(case)
        await case.findings()
        await case.signed(
            "approve",
            "official-a",
            {"decision": "approve"},
            data={"conditions": {"provisos": ["no re-export"], "validity_days": 365}},
        )
        await case.signed("countersign", "official-b", {"decision": "countersign"})
        view: CaseView = await case.until("issued")
        licence = await case.handle.query(LicenceCase.licence)
    assert view.state == "issued"
    assert view.licence_number == f"L-{case.case_id}"
    assert case_events(authority, case) == [
        "submit",
        "request_information",
        "provide_information",
        "accept_complete",
        "screening_completed",
        "security_finding",
        "defence_finding",
        "foreign_affairs_finding",
        "euc_authenticated",
        "reviews_complete",
        "approve",
        "countersign",
        "licence_issued",
    ]
    assert [r.event for r in view.timeline] == case_events(authority, case)
    assert_verifies(authority, case)
    assert licence is not None
    report = verify_receipt(licence.receipt, authority.signer.verifier.vkey)
    assert report.case_id == case.case_id
    # The document customs hold: printed with its QR code and checked offline.
    page = render(read_document(licence.model_dump_json())).html
    shown = verify_document(page, authority.signer.verifier.vkey)
    assert shown.licence_number == view.licence_number
    assert shown.ceilings is not None
    assert [(c.rating, c.quantity) for c in shown.ceilings] == [("ML10", 40)]
    assert (shown.valid_until - shown.valid_from).days == 365
    issued = authority.ledger.entry(view.timeline[-1].seq)
    assert issued.data["licence_number"] == view.licence_number
    assert "ceilings" in issued.commitments  # confidential: committed, not in the clear
    submit = authority.ledger.entry(view.timeline[0].seq)
    assert "Polish Armed Forces" not in submit.body.decode()
    assert submit.data["clock"]["statutory"] == "started"
    paused = authority.ledger.entry(view.timeline[1].seq)
    assert paused.data["clock"]["statutory"] == "paused"


async def test_refusal_withdrawal_and_disagreement(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        refused = await authority.start(client, task_queue)
        await to_review(refused)
        await refused.findings({"defence_finding": "objection"})  # disagreement
        assert await refused.handle.query(LicenceCase.state) == "collegial_review"
        await refused.signed("collegial_resolution", "collegium", {"resolution": "refuse"})
        await refused.signed(
            "refuse", "official-a", {"decision": "refuse"}, data={"criteria": ["EU-CP-1"]}
        )
        await refused.signed("countersign", "official-b", {"decision": "countersign"})
        await refused.until("refused")

        withdrawn = await authority.start(client, task_queue)
        await withdrawn.act("withdraw", APPLICANT, data={"reason": "contract cancelled"})
        assert (await withdrawn.handle.result()).state == "withdrawn"
    assert "reviews_disagree" in case_events(authority, refused)
    assert case_events(authority, withdrawn) == ["submit", "withdraw"]
    assert_verifies(authority, refused)


async def test_refused_actions_write_nothing(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        await case.act("request_information", OFFICER, data={"missing": ["EUC"]})
        await case.act("provide_information", APPLICANT)
        size = authority.ledger.latest_checkpoint().checkpoint.size

        async def refused(reason: str, coro: object) -> None:
            with pytest.raises(WorkflowUpdateFailedError) as info:
                await coro  # type: ignore[misc]
            assert reason in str(info.value.cause), str(info.value.cause)

        ministry = Actor(id="mod-ua", role="ministry_of_defence")
        await refused(
            "not allowed in state",
            case.act("approve", Actor(id="official-a", role="signing_official")),
        )
        await refused("is for the licensing_officer role", case.act("accept_complete", ministry))
        await refused(
            "recorded by the workflow", case.act("licence_issued", Actor(id="x", role="system"))
        )
        await to_review(case)
        size = authority.ledger.latest_checkpoint().checkpoint.size
        await refused(
            "needs the actor's signed statement",
            case.act("security_finding", Actor(id="sbu", role="security_service")),
        )
        # signed by another agency's key: the ledger refuses the signature
        forged = case.statement("mod-ua", "security_finding", {"opinion": "no_objection"})
        forged["statement"]["issuer"] = "sbu"
        await refused(
            "statement rejected",
            case.act(
                "security_finding", Actor(id="sbu", role="security_service"), statement=forged
            ),
        )
        # a statement for another step
        await refused(
            "statement step",
            case.act(
                "security_finding",
                Actor(id="sbu", role="security_service"),
                statement=case.statement("sbu", "defence_finding", {"opinion": "no_objection"}),
            ),
        )
        assert authority.ledger.latest_checkpoint().checkpoint.size == size
        await case.signed("security_finding", "sbu", {"opinion": "no_objection"})
        await refused(
            "already given", case.signed("security_finding", "sbu", {"opinion": "no_objection"})
        )
        for event in ("defence_finding", "foreign_affairs_finding", "euc_authenticated"):
            await case.signed(event, AGENCY_FOR[event], {"opinion": "no_objection"})
        await case.signed("approve", "official-a", {"decision": "approve"})
        size = authority.ledger.latest_checkpoint().checkpoint.size
        await refused(
            "another official countersigns",
            case.signed("countersign", "official-a", {"decision": "countersign"}),
        )
        assert authority.ledger.latest_checkpoint().checkpoint.size == size
        await case.signed("countersign", "official-b", {"decision": "countersign"})
        await case.until("issued")
    assert_verifies(authority, case)


async def test_screening_flags_block_the_decision_until_cleared(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(
            client, task_queue, app=application(end_user="ROSOBORONEXPORT")
        )
        await to_review(case)
        view = await case.handle.query(LicenceCase.view)
        assert [f.source for f in view.flags] == ["test-denied"]
        await case.findings()
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await case.signed("approve", "official-a", {"decision": "approve"})
        assert "screening flags are open" in str(info.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await case.act("clear_flag", OFFICER, data={"flag_id": view.flags[0].id})
        assert "clear_flag states its disposition" in str(info.value.cause)
        await case.act(
            "clear_flag",
            OFFICER,
            data={"flag_id": view.flags[0].id, "disposition": "false positive: different entity"},
        )
        await case.signed("approve", "official-a", {"decision": "approve"})
        await case.signed("countersign", "official-b", {"decision": "countersign"})
        await case.until("issued")
    screened = authority.ledger.entry(authority.ledger.case_seqs(case.case_id)[2])
    assert screened.event == "screening_completed"
    assert screened.data["matches"][0]["score"] == 1.0
    assert {v["source"] for v in screened.data["lists"]} == {
        "test-denied",
        "embargoed-destinations",
    }


async def test_an_unregistered_exporter_cannot_apply(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    app = application().model_copy(update={"exporter_id": "nobody-001"})
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue, app=app)
        with pytest.raises(WorkflowFailureError) as info:
            await case.handle.result()
    assert "not registered" in str(info.value.cause)
    assert authority.ledger.case_seqs(case.case_id) == []


async def test_no_reply_closes_the_case_on_a_real_server(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    """The close-without-action exit end to end (reply due in 2 s, reminder 1 s before)."""
    second = 1 / 86_400
    config = CaseConfig(information_reply_days=2 * second, information_reminder_days=second)
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue, config=config)
        await case.act("request_information", OFFICER, data={"missing": ["EUC"]})
        view = await case.handle.result()
    assert view.state == "closed"
    assert case_events(authority, case)[-2:] == ["information_reminder", "close_without_action"]
    assert_verifies(authority, case)


@pytest.mark.parametrize("state", ["submitted", "in_review", "issued"])
async def test_every_action_the_table_forbids_is_refused(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority, state: str
) -> None:
    """Generated from the table: every event by every role that the table does not allow in
    the case's state is refused by the workflow, and the ledger does not move."""
    async with authority.worker(dev_env, task_queue) as client:
        case = await authority.start(client, task_queue)
        if state == "in_review":
            await to_review(case)
        elif state == "issued":
            await case.issue()
        else:
            while await case.handle.query(LicenceCase.state) != "submitted":
                await asyncio.sleep(0.02)
        size = authority.ledger.latest_checkpoint().checkpoint.size
        current = State(state)
        tried = 0
        for event, role in itertools.product(EVENTS, Role):
            allowed = event not in RECORDS and any(
                e.event == event and e.source == current for e in EDGES
            )
            if allowed and EVENTS[event].role == role:
                continue
            tried += 1
            with pytest.raises(WorkflowUpdateFailedError):
                await case.act(event, Actor(id="someone-1", role=role.value))
        assert tried > 150
        assert authority.ledger.latest_checkpoint().checkpoint.size == size
        assert await case.handle.query(LicenceCase.state) == state
        if state != "issued":  # (an issued licence runs on; the harness ends it)
            await case.act("withdraw", APPLICANT)
            await case.handle.result()


async def test_cases_are_listed_by_their_search_attributes(
    dev_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    """How an operator finds cases: by state, exporter, destination, control-list entry and
    overdue deadlines, through Temporal visibility."""
    second = 1 / 86_400
    async with authority.worker(dev_env, task_queue) as client:
        waiting = await authority.start(client, task_queue)
        asked = await authority.start(client, task_queue)
        await asked.act("request_information", OFFICER, data={"missing": ["EUC"]})
        late = await authority.start(client, task_queue, config=CaseConfig(review_days=second))
        await late.act("accept_complete", OFFICER)

        async def listed(query: str) -> set[str]:
            scoped = f'{query} AND TaskQueue = "{task_queue}"'
            return {wf.id async for wf in client.list_workflows(scoped)}

        async def eventually(query: str, want: set[str]) -> None:
            for _ in range(200):  # visibility is updated asynchronously
                if await listed(query) == want:
                    return
                await asyncio.sleep(0.05)
            assert await listed(query) == want, query

        everyone = {waiting.case_id, asked.case_id, late.case_id}
        await eventually('DozvilState = "information_requested"', {asked.case_id})
        await eventually("DozvilOverdue = true", {late.case_id})
        await eventually('DozvilExporter = "motor-ua-001" AND DozvilRatings = "ML10"', everyone)
        soon = 'DozvilDestination = "PL" AND DozvilNextDeadline > "2000-01-01T00:00:00Z"'
        await eventually(soon, everyone)
        for case in (waiting, asked, late):
            await case.act("withdraw", APPLICANT)
            await case.handle.result()
        await eventually('DozvilState = "withdrawn"', everyone)
