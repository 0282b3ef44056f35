"""Cases that live for years, on the time-skipping test server: a three-year licence with
shipments, a late delivery verification, suspension and reinstatement, a suspension that lapses,
expiry and closure; a refusal appealed to approval, and one whose appeal window closes; the
statutory clock counted in working days across weekends and Ukrainian holidays."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from ledger.verify import verify_case
from runtime.calendar import holiday_dates
from tests.integration.workflows.harness import (
    APPLICANT,
    OFFICER,
    Authority,
    Case,
    application,
)
from workflows.calendar import WorkingCalendar
from workflows.licence_case import LicenceCase
from workflows.models import CaseConfig, CaseView, DayCount, Procedure

THREE_YEARS = 3 * 365
CONFIG = CaseConfig(
    licence_validity_days=THREE_YEARS,
    delivery_verification_days=90,
    suspension_max_days=60,
    appeal_days=28,
    appeal_decision_days=30,
)


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.create(tmp_path)


def entries(authority: Authority, case: Case) -> list[tuple[str, dict[str, Any]]]:
    ledger = authority.ledger
    return [(ledger.entry(s).event, ledger.entry(s).data) for s in ledger.case_seqs(case.case_id)]


def moment(text: object) -> datetime:
    assert isinstance(text, str)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_three_year_licence(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async with authority.worker(time_env, task_queue) as client:
        case = await authority.start(client, task_queue, config=CONFIG, publish=False)
        issued = await case.issue({"validity_days": THREE_YEARS})
        assert [d.name for d in issued.deadlines] == ["validity"]
        valid_until = issued.deadlines[0].due

        # Year one: a shipment verified in time, one verified late (escalated first).
        await case.ship("S-1", [{"line": 1, "quantity": 10, "value": "300000.00"}])
        await time_env.sleep(timedelta(days=30))
        await case.verify_delivery("S-1")
        await case.ship("S-2", [{"line": 1, "quantity": 10, "value": "300000.00"}])
        await time_env.sleep(timedelta(days=100))
        view = await case.handle.query(LicenceCase.view)
        assert view.awaiting_verification == ["S-2"]
        await case.verify_delivery("S-2")

        # Year two: suspended for defence needs and reinstated; then a suspension that lapses.
        await time_env.sleep(timedelta(days=200))
        await case.signed(
            "suspend",
            "official-a",
            {"decision": "suspend"},
            {"reason": "defence needs: goods requisitioned", "days": 60},
        )
        await time_env.sleep(timedelta(days=10))
        await case.signed("reinstate", "official-b", {"decision": "reinstate"})
        await case.signed(
            "suspend", "official-a", {"decision": "suspend"}, {"reason": "EUC query", "days": 30}
        )
        await time_env.sleep(timedelta(days=31))
        assert await case.handle.query(LicenceCase.state) == "issued"

        # Year three: a last shipment, verified; the licence expires and the case closes.
        await case.ship("S-3", [{"line": 1, "quantity": 5, "value": "150000.00"}])
        await case.verify_delivery("S-3")
        final: CaseView = await case.handle.result()  # the server skips to the expiry
        now = await time_env.get_current_time()
    assert final.state == "closed"
    assert now >= valid_until
    recorded = entries(authority, case)
    assert [e for e, _ in recorded][-14:] == [
        "licence_issued",
        "shipment_recorded",
        "delivery_verified",
        "shipment_recorded",
        "delivery_verification_overdue",
        "delivery_verified",
        "suspend",
        "reinstate",
        "suspend",
        "suspension_lapsed",
        "shipment_recorded",
        "delivery_verified",
        "licence_expired",
        "case_closed",
    ]
    overdue = dict(recorded)["delivery_verification_overdue"]
    assert list(overdue["shipments"]) == ["S-2"]
    assert overdue["escalated_to"] == "head_of_authority"
    expired = dict(recorded)["licence_expired"]
    assert moment(expired["valid_until"]) == valid_until
    verify_case(authority.ledger, authority.signer.verifier.vkey, case.case_id)


async def test_a_refusal_appealed_to_approval_and_one_that_becomes_final(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    async def refuse(case: Case) -> None:
        await case.act("accept_complete", OFFICER)
        await case.until("in_review")
        await case.findings()
        await case.signed("refuse", "official-a", {"decision": "refuse"}, {"criteria": ["EU-CP-7"]})
        await case.signed("countersign", "official-b", {"decision": "countersign"})
        await case.until("refused")

    async with authority.worker(time_env, task_queue) as client:
        appealed = await authority.start(client, task_queue, config=CONFIG, publish=False)
        await refuse(appealed)
        view = await appealed.handle.query(LicenceCase.view)
        assert view.hold is not None and view.hold["owner"] == APPLICANT.id
        await time_env.sleep(timedelta(days=20))
        await appealed.act("appeal", APPLICANT, data={"grounds": "new EUC from the end user"})
        assert await appealed.handle.query(LicenceCase.state) == "awaiting_decision"
        # The decision after an appeal is a new one: the official who refused may approve it,
        # and another countersigns.
        await appealed.signed("approve", "official-a", {"decision": "approve"})
        await appealed.signed("countersign", "official-b", {"decision": "countersign"})
        await appealed.until("issued")

        final = await authority.start(client, task_queue, config=CONFIG, publish=False)
        await refuse(final)
        view = await final.handle.result()  # the window closes unappealed
    assert view.state == "refusal_final"
    recorded = [e for e, _ in entries(authority, appealed)]
    assert recorded[-6:] == [
        "refuse",
        "countersign",
        "appeal",
        "approve",
        "countersign",
        "licence_issued",
    ]
    appeal = dict(entries(authority, appealed))["appeal"]
    assert appeal["clock"]["statutory"] == "started"
    closed = entries(authority, final)
    assert closed[-1][0] == "appeal_window_closed"
    countersigned = dict(closed)["countersign"]
    opened = countersigned["clock"]
    assert opened["appeal"] == "opened"


async def test_the_statutory_clock_in_working_days(
    time_env: WorkflowEnvironment, task_queue: str, authority: Authority
) -> None:
    """15 working days on the simplified track, weekends, the country's holidays and three
    configured extra days off excluded; the clock pauses for a request for information and
    resumes with the working days that were left."""
    start = await time_env.get_current_time()
    extra = [start.date() + timedelta(days=n) for n in (5, 6, 7)]
    days_off = holiday_dates("UA", start.year, 2, extra)
    calendar = WorkingCalendar.of(days_off)
    config = CaseConfig(
        statutory_counting={Procedure.SIMPLIFIED: DayCount.WORKING}, holidays=days_off
    )
    simplified = application().model_copy(update={"procedure": Procedure.SIMPLIFIED})
    async with authority.worker(time_env, task_queue) as client:
        case = await authority.start(
            client, task_queue, app=simplified, config=config, publish=False
        )
        await case.until("submitted")
        await time_env.sleep(timedelta(days=3))
        await case.act("request_information", OFFICER, data={"missing": ["EUC"]})
        await time_env.sleep(timedelta(days=9))
        resumed_at = await time_env.get_current_time()
        await case.act("provide_information", APPLICANT)
        (due,) = await case.handle.query(LicenceCase.deadlines)
        await case.act("withdraw", APPLICANT)
        await case.handle.result()
    # Entry times are the ledger's wall clock; the workflow's clock is the test server's,
    # skipped ahead: the moments the clocks were reckoned from are in the clocks themselves.
    ledger = authority.ledger
    submit, paused, resumed = (
        ledger.entry(s).data["clock"] for s in ledger.case_seqs(case.case_id)[:3]
    )
    assert submit["counting"] == "working"
    first_due = moment(submit["due"])
    assert first_due == calendar.add_days(start, 15, DayCount.WORKING)
    assert calendar.is_working_day((first_due - timedelta(seconds=1)).date())
    # 15 working days span at least three weeks, plus the three extra days off.
    assert first_due - start > timedelta(days=21)
    paused_at = moment(paused["reply_due"]) - timedelta(days=config.information_reply_days)
    left = paused["working_days_left"]
    assert left == calendar.working_days_left(paused_at, first_due)
    assert left < 15
    resumed_due = moment(resumed["due"])
    assert resumed_due == calendar.add_days(resumed_at, left, DayCount.WORKING)
    assert resumed_due == due.due
    assert resumed_due > first_due  # the paused days did not count
