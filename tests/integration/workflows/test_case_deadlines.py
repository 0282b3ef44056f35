"""Every deadline path, on the time-skipping test server: the reminder before an information
reply is due and the case closed without action; a late agency finding escalated; the
statutory clock paused while information is requested and breached when it runs out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.integration.workflows.harness import APPLICANT, OFFICER, Authority, Case
from workflows.licence_case import LicenceCase
from workflows.models import CaseConfig

CONFIG = CaseConfig(information_reply_days=30, information_reminder_days=5, review_days=20)


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path)


def events(authority: Authority, case: Case) -> list[str]:
    ledger = authority.ledger
    return [ledger.entry(seq).event for seq in ledger.case_seqs(case.case_id)]


async def test_no_reply_closes_the_case_after_a_reminder(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(time_env, task_queue) as client:
        case = await authority.start(client, task_queue, config=CONFIG, publish=False)
        await case.act("request_information", OFFICER, data={"missing": ["EUC"]})
        deadlines = await case.handle.query(LicenceCase.deadlines)
        assert {(d.name, d.paused) for d in deadlines} == {
            ("statutory", True),
            ("information_reply", False),
        }
        # The reply due date the ledger records is the one the workflow's timer runs to.
        asked = authority.ledger.entry(authority.ledger.case_seqs(case.case_id)[-1])
        (reply,) = [d for d in deadlines if d.name == "information_reply"]
        assert asked.data["clock"]["reply_due"] == reply.due.isoformat().replace("+00:00", "Z")
        await time_env.sleep(timedelta(days=26))  # past the reminder, before the due date
        assert await case.handle.query(LicenceCase.state) == "information_requested"
        view = await case.handle.result()  # the time-skipping server runs on to the due date
    assert view.state == "closed"
    assert events(authority, case) == [
        "submit",
        "request_information",
        "information_reminder",
        "close_without_action",
    ]


async def test_a_reply_in_time_resumes_the_statutory_clock(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(time_env, task_queue) as client:
        case = await authority.start(client, task_queue, config=CONFIG, publish=False)
        await time_env.sleep(timedelta(days=10))
        await case.act("request_information", OFFICER, data={"missing": ["EUC"]})
        await time_env.sleep(timedelta(days=20))  # paused: these days do not count
        await case.act("provide_information", APPLICANT)
        (statutory,) = await case.handle.query(LicenceCase.deadlines)
        left = statutory.due - await time_env.get_current_time()
        assert abs(left - timedelta(days=35)) < timedelta(minutes=1)  # 45 - 10: paused days
        # do not count (the test server's clock and the workflow's differ by milliseconds)
        await time_env.sleep(timedelta(days=36))
        assert "statutory_breached" in events(authority, case)
        await case.act("withdraw", APPLICANT)
        await case.handle.result()
    entries = [authority.ledger.entry(s) for s in authority.ledger.case_seqs(case.case_id)]
    clocks = [e.data["clock"]["statutory"] for e in entries if "clock" in e.data]
    assert clocks == ["started", "paused", "resumed", "breached", "stopped"]


async def test_a_late_finding_is_escalated(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(time_env, task_queue) as client:
        case = await authority.start(client, task_queue, config=CONFIG, publish=False)
        await case.act("accept_complete", OFFICER)
        await time_env.sleep(timedelta(hours=1))
        assert await case.handle.query(LicenceCase.state) == "in_review"
        await case.signed("security_finding", "sbu", {"opinion": "no_objection"})
        await time_env.sleep(timedelta(days=21))
        overdue = [
            authority.ledger.entry(s)
            for s in authority.ledger.case_seqs(case.case_id)
            if authority.ledger.entry(s).event == "review_overdue"
        ]
        assert len(overdue) == 1
        assert overdue[0].data["late"] == [
            "ministry_of_defence",
            "ministry_of_foreign_affairs",
            "importing_state_authority",
        ]
        for event, agency in (
            ("defence_finding", "mod-ua"),
            ("foreign_affairs_finding", "mfa-ua"),
            ("euc_authenticated", "euc-pl"),
        ):
            await case.signed(event, agency, {"opinion": "no_objection"})
        assert await case.handle.query(LicenceCase.state) == "awaiting_decision"
        await case.act("withdraw", APPLICANT)
        await case.handle.result()
