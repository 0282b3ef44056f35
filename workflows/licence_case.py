"""``LicenceCase``: one export-licence case as a durable workflow (workflow id = case id).

The workflow owns the case's state and its clocks; the lifecycle table
(:mod:`workflows.lifecycle`) says which event may happen in which state and by which role.
Every transition is written to the ledger by the ``ledger.append`` activity *before* the
workflow's state changes, under one lock, with the idempotency key ``<case id>/<transition
number>`` — a retried activity finds its entry instead of writing another. So the ledger is
never behind the case, and never holds a transition twice.

People and services act through the ``act`` update: its validator refuses at once, and writes
nothing, an event the table does not allow in this state or for this role, a missing or
misaddressed statement, the same official countersigning their own decision, an approval
while screening flags are open, a second finding from the same agency. The ledger then checks
each statement's signature against the actor key registry as it stands; a refusal fails the
update with nothing written.

Clocks: the statutory decision clock (paused while information is requested), the applicant's
reply (with a reminder before it is due; no reply closes the case), and the agencies' review
deadline (a late finding is escalated). Their starts, pauses, resumptions, breaches and
escalations are ledger entries (the ``data.clock`` of a transition, or an entry of their own).

After issuance the licence lives on: customs record shipments against its per-line ceilings
(over-shipment is refused by the validator, nothing written), each shipment's delivery
verification is due within a configured time and escalated when late, an official may suspend
(a hold with owner, reason and expiry), reinstate or revoke it, it expires on a durable timer or
is exhausted when every ceiling is used, and the case closes once every shipment is verified.
A refusal opens an appeal window; an appeal sends the case back to decision.

A case lives for years: when Temporal suggests it, the case continues as new, carrying its
whole state (:class:`~workflows.models.CaseCarry`) into the next run. Cases started before the
licence's life after issuance existed (patch ``post-issuance-v1``) keep ending at issuance.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ledger.canonical import canonicalize
    from workflows import lifecycle as lc
    from workflows import search_attributes as sa
    from workflows.calendar import WorkingCalendar
    from workflows.lifecycle import Role, State
    from workflows.models import (
        Action,
        Actor,
        AppendInput,
        CaseCarry,
        CaseStart,
        CaseView,
        DayCount,
        Flag,
        LicenceDocument,
        LicenceInput,
        OpenDeadline,
        Party,
        PartyRole,
        Recorded,
        ScreeningInput,
        ScreeningResult,
    )

#: Ledger appends retry until they succeed (a refusal by the ledger is non-retryable).
LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)
#: An append takes milliseconds; a worker that dies mid-activity is noticed after this long.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
SYSTEM = Actor(id="dozvil", role=Role.SYSTEM.value)
#: What a finding's ``finding.opinion`` may say.
OPINIONS = frozenset({"no_objection", "objection"})
#: The versioned change that gave the licence a life after issuance (and refusal an appeal).
POST_ISSUANCE = "post-issuance-v1"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@workflow.defn(name="LicenceCase")
class LicenceCase:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._start = start
        self._case_id = start.case_id
        self._state: State | None = None
        self._transitions = 0
        self._timeline: list[Recorded] = []
        self._flags: dict[str, Flag] = {}
        self._findings: dict[str, tuple[str, str]] = {}  # event -> (actor id, opinion)
        self._decided_by: str | None = None
        self._decision_data: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        # Clocks (workflow time). The statutory clock keeps its remainder while paused.
        self._statutory_due: datetime | None = None
        self._statutory_left: timedelta | None = None
        self._statutory_breached = False
        self._reply_due: datetime | None = None
        self._reminded = False
        self._review_due: datetime | None = None
        self._escalated: set[str] = set()
        self._licence: LicenceDocument | None = None
        # Which states end this case: cases started before POST_ISSUANCE ended at issuance.
        self._terminal = lc.TERMINAL
        self._runs = 1
        self._parties: list[Party] = list(start.application.parties)  # amendable
        # The issued licence: ceilings per line and what customs recorded against them.
        self._ceilings: list[dict[str, Any]] = []
        self._shipped: list[tuple[int, Decimal]] = []
        self._shipment_ids: set[str] = set()
        self._awaiting: dict[str, datetime] = {}  # shipment id -> verification due
        self._late: set[str] = set()  # shipments whose verification was escalated
        self._valid_until: datetime | None = None
        self._suspension: dict[str, str] | None = None  # owner, reason, until
        self._suspended_until: datetime | None = None
        self._appeal_due: datetime | None = None
        self._statutory_left_working: int | None = None  # working days left while paused
        self._working_calendar: WorkingCalendar | None = None
        if start.carried is not None:
            self._restore(start.carried)

    # -- the case -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        if start.carried is None:
            self._terminal = lc.TERMINAL if workflow.patched(POST_ISSUANCE) else lc.TERMINAL_V1
            await self._file(start)
        while self._state not in self._terminal:
            self._publish()  # after every change: the loop turns once per transition
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new()
            if self._state == State.SCREENING:
                await self._screen()
            elif self._state == State.IN_REVIEW and len(self._findings) == len(lc.FINDINGS):
                await self._close_review()
            elif self._state == State.APPROVED:
                await self._issue()
            elif self._state in lc.LICENCE_ENDED and not self._awaiting:
                async with self._lock:
                    await self._follow_up()
            else:
                await self._wait_for_change()
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

    async def _file(self, start: CaseStart) -> None:
        """Check the exporter and record the application (the case's first entry)."""
        application = start.application
        try:
            lc.check("submit", None, start.applicant.role)
        except lc.TransitionRefused as exc:
            raise ApplicationError(str(exc), type="TransitionRefused", non_retryable=True) from exc
        registered = await workflow.execute_activity(
            "exporter.registered",
            application.exporter_id,
            result_type=bool,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        if not registered:
            raise ApplicationError(
                f"exporter {application.exporter_id!r} is not registered with the authority",
                type="ExporterNotRegistered",
                non_retryable=True,
            )
        days = start.config.statutory_days[application.procedure]
        due = self._statutory_after(workflow.now(), days)
        async with self._lock:
            await self._record(
                "submit",
                start.applicant,
                data={
                    "exporter_id": application.exporter_id,
                    "procedure": application.procedure.value,
                    "kind": application.kind.value,
                    "destination": application.destination,
                    "ratings": sorted({g.rating for g in application.goods}),
                    "euc_reference": application.euc_reference,
                    "euc_sha256": application.euc_sha256,
                    **({"registered_by": start.registered_by} if start.registered_by else {}),
                    "clock": {
                        "statutory": "started",
                        "days": days,
                        "counting": self._counting().value,
                        "due": _iso(due),
                    },
                },
                confidential={
                    "goods": [g.model_dump(mode="json") for g in application.goods],
                    "parties": [p.model_dump(mode="json") for p in application.parties],
                    "end_use": application.end_use,
                },
            )
            self._statutory_due = due

    async def _continue_as_new(self) -> None:
        """Start the next run with the case's whole state, once no update is in flight."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._lock.locked()
        )
        workflow.logger.info("continuing as new after %d transitions", self._transitions)
        workflow.continue_as_new(self._start.model_copy(update={"carried": self._carry()}))

    def _carry(self) -> CaseCarry:
        assert self._state is not None
        left = self._statutory_left
        return CaseCarry(
            state=self._state.value,
            terminal=sorted(s.value for s in self._terminal),
            runs=self._runs + 1,
            transitions=self._transitions,
            timeline=list(self._timeline),
            parties=list(self._parties),
            flags=list(self._flags.values()),
            findings=dict(self._findings),
            decided_by=self._decided_by,
            decision_data=dict(self._decision_data),
            statutory_due=self._statutory_due,
            statutory_left_seconds=None if left is None else left.total_seconds(),
            statutory_left_working_days=self._statutory_left_working,
            statutory_breached=self._statutory_breached,
            reply_due=self._reply_due,
            reminded=self._reminded,
            review_due=self._review_due,
            escalated=sorted(self._escalated),
            licence=self._licence,
            ceilings=list(self._ceilings),
            shipped=list(self._shipped),
            shipment_ids=sorted(self._shipment_ids),
            awaiting_verification=dict(self._awaiting),
            late_verifications=sorted(self._late),
            valid_until=self._valid_until,
            suspension=self._suspension,
            suspended_until=self._suspended_until,
            appeal_due=self._appeal_due,
        )

    def _restore(self, carried: CaseCarry) -> None:
        self._state = State(carried.state)
        self._terminal = frozenset(State(s) for s in carried.terminal)
        self._runs = carried.runs
        self._transitions = carried.transitions
        self._timeline = list(carried.timeline)
        self._parties = list(carried.parties)
        self._flags = {f.id: f for f in carried.flags}
        self._findings = {k: (v[0], v[1]) for k, v in carried.findings.items()}
        self._decided_by = carried.decided_by
        self._decision_data = dict(carried.decision_data)
        self._statutory_due = carried.statutory_due
        left = carried.statutory_left_seconds
        self._statutory_left = None if left is None else timedelta(seconds=left)
        self._statutory_left_working = carried.statutory_left_working_days
        self._statutory_breached = carried.statutory_breached
        self._reply_due = carried.reply_due
        self._reminded = carried.reminded
        self._review_due = carried.review_due
        self._escalated = set(carried.escalated)
        self._licence = carried.licence
        self._ceilings = list(carried.ceilings)
        self._shipped = [(q, Decimal(v)) for q, v in carried.shipped]
        self._shipment_ids = set(carried.shipment_ids)
        self._awaiting = dict(carried.awaiting_verification)
        self._late = set(carried.late_verifications)
        self._valid_until = carried.valid_until
        self._suspension = carried.suspension
        self._suspended_until = carried.suspended_until
        self._appeal_due = carried.appeal_due

    # -- statutory periods ------------------------------------------------------------------

    def _counting(self) -> DayCount:
        procedure = self._start.application.procedure
        return self._start.config.statutory_counting.get(procedure, DayCount.CALENDAR)

    def _statutory_after(self, now: datetime, days: float) -> datetime:
        """The end of a statutory period of ``days`` starting at ``now``, counted as the
        procedure's configuration says (calendar or working days)."""
        if self._counting() == DayCount.WORKING:
            return self._calendar().add_days(now, int(days), DayCount.WORKING)
        return now + timedelta(days=days)

    def _calendar(self) -> WorkingCalendar:
        if self._working_calendar is None:
            self._working_calendar = WorkingCalendar.of(self._start.config.holidays)
        return self._working_calendar

    async def _wait_for_change(self) -> None:
        """Wait for the next transition, or the next deadline, whichever comes first."""
        seen = len(self._timeline)
        due = self._next_deadline()
        timeout = None if due is None else max(due - workflow.now(), timedelta(0))
        try:
            await workflow.wait_condition(lambda: len(self._timeline) != seen, timeout=timeout)
        except TimeoutError:
            async with self._lock:
                await self._deadlines_passed()

    def _next_deadline(self) -> datetime | None:
        pending: list[datetime] = []
        if self._state == State.INFORMATION_REQUESTED and self._reply_due is not None:
            pending.append(self._reply_due)
            if not self._reminded:
                pending.append(self._reply_due - self._reminder_lead())
        if self._state == State.IN_REVIEW and self._review_due and not self._escalated:
            pending.append(self._review_due)
        if self._statutory_due is not None and not self._statutory_breached:
            pending.append(self._statutory_due)
        if self._state == State.REFUSED and self._appeal_due is not None:
            pending.append(self._appeal_due)
        if self._state in (State.ISSUED, State.SUSPENDED) and self._valid_until is not None:
            pending.append(self._valid_until)
        if self._state == State.SUSPENDED and self._suspended_until is not None:
            pending.append(self._suspended_until)
        pending.extend(due for sid, due in self._awaiting.items() if sid not in self._late)
        return min(pending) if pending else None

    def _reminder_lead(self) -> timedelta:
        return timedelta(days=self._start.config.information_reminder_days)

    async def _deadlines_passed(self) -> None:
        """Record every deadline that has passed (the lock is held)."""
        now = workflow.now()
        if self._state in self._terminal:
            return
        if self._state == State.REFUSED and self._appeal_due and now >= self._appeal_due:
            await self._record(
                "appeal_window_closed", SYSTEM, data={"appeal_due": _iso(self._appeal_due)}
            )
            self._appeal_due = None
            return
        if self._state in (State.ISSUED, State.SUSPENDED):
            if self._valid_until is not None and now >= self._valid_until:
                await self._record(
                    "licence_expired", SYSTEM, data={"valid_until": _iso(self._valid_until)}
                )
                self._suspension = self._suspended_until = None
            elif self._suspended_until is not None and now >= self._suspended_until:
                await self._record(
                    "suspension_lapsed",
                    SYSTEM,
                    data={"suspension": self._suspension, "until": _iso(self._suspended_until)},
                )
                self._suspension = self._suspended_until = None
        late = sorted(s for s, due in self._awaiting.items() if now >= due and s not in self._late)
        if late:
            self._late.update(late)
            await self._record(
                "delivery_verification_overdue",
                SYSTEM,
                data={
                    "shipments": {s: _iso(self._awaiting[s]) for s in late},
                    "escalated_to": "head_of_authority",
                },
            )
        if self._state == State.INFORMATION_REQUESTED and self._reply_due is not None:
            if not self._reminded and now >= self._reply_due - self._reminder_lead():
                self._reminded = True
                await self._record(
                    "information_reminder", SYSTEM, data={"reply_due": _iso(self._reply_due)}
                )
            if now >= self._reply_due:
                await self._record(
                    "close_without_action",
                    SYSTEM,
                    data={"reply_due": _iso(self._reply_due), "clock": {"statutory": "stopped"}},
                )
                return
        if self._state == State.IN_REVIEW and self._review_due and now >= self._review_due:
            late = [f for f in lc.FINDINGS if f not in self._findings]
            if late and not self._escalated:
                self._escalated.update(late)
                await self._record(
                    "review_overdue",
                    SYSTEM,
                    data={
                        "review_due": _iso(self._review_due),
                        "late": [lc.EVENTS[f].role.value for f in late],
                        "escalated_to": "head_of_authority",
                    },
                )
        if (
            self._statutory_due is not None
            and not self._statutory_breached
            and now >= self._statutory_due
        ):
            self._statutory_breached = True
            await self._record(
                "statutory_breached",
                SYSTEM,
                data={"clock": {"statutory": "breached", "due": _iso(self._statutory_due)}},
            )

    async def _screen(self) -> None:
        application = self._start.application
        result = await workflow.execute_activity(
            "screening.screen",
            ScreeningInput(
                case_id=self._case_id,
                destination=application.destination,
                parties=self._parties,
            ),
            result_type=ScreeningResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        due = workflow.now() + timedelta(days=self._start.config.review_days)
        async with self._lock:
            if self._state != State.SCREENING:  # withdrawn meanwhile
                return
            await self._record(
                "screening_completed",
                SYSTEM,
                data={
                    "lists": [v.model_dump() for v in result.lists],
                    "matches": [f.model_dump() for f in result.flags],
                    "clock": {"review": "started", "due": _iso(due)},
                },
            )
            self._flags = {f.id: f for f in result.flags}
            self._review_due = due

    async def _close_review(self) -> None:
        async with self._lock:
            await self._close_review_locked()

    async def _close_review_locked(self) -> None:
        """Once every agency has spoken: to the decision, or to the collegial body if they
        disagree (the lock is held)."""
        if self._state != State.IN_REVIEW or len(self._findings) != len(lc.FINDINGS):
            return
        opinions = {opinion for _, opinion in self._findings.values()}
        event = "reviews_complete" if len(opinions) == 1 else "reviews_disagree"
        await self._record(
            event,
            SYSTEM,
            data={
                "findings": {
                    f: {"by": by, "opinion": opinion}
                    for f, (by, opinion) in sorted(self._findings.items())
                }
            },
        )

    async def _issue(self) -> None:
        async with self._lock:
            await self._issue_locked()

    async def _issue_locked(self) -> None:
        """Number the licence, set its validity and ceilings, and make its document (the lock
        is held). Right after the countersignature, in its update (cases started before
        ``post-issuance-v1`` did it from the main loop, after the update)."""
        if self._state != State.APPROVED:
            return
        application = self._start.application
        conditions = self._decision_data.get("conditions", {})
        validity = min(
            self._start.config.licence_validity_days,
            int(conditions.get("validity_days", self._start.config.licence_validity_days)),
        )
        lowered = {c["rating"]: c for c in conditions.get("ceilings", [])}
        ceilings = []
        for goods in application.goods:
            cap = lowered.get(goods.rating, {})
            ceilings.append(
                {
                    "rating": goods.rating,
                    "quantity": min(goods.quantity, int(cap.get("quantity", goods.quantity))),
                    "value": str(min(goods.value, Decimal(str(cap.get("value", goods.value))))),
                    "currency": goods.currency,
                }
            )
        now = workflow.now()
        number = f"L-{self._case_id}"
        valid_until = now + timedelta(days=validity)
        recorded = await self._record(
            "licence_issued",
            SYSTEM,
            data={
                "licence_number": number,
                "valid_from": _iso(now),
                "valid_until": _iso(valid_until),
                "provisos": conditions.get("provisos", []),
                "clock": {"statutory": "stopped"},
            },
            confidential={"ceilings": ceilings},
        )
        self._ceilings = ceilings
        self._shipped = [(0, Decimal(0)) for _ in ceilings]
        self._valid_until = valid_until
        self._licence = await workflow.execute_activity(
            "licence.document",
            LicenceInput(case_id=self._case_id, issuance_seq=recorded.seq),
            result_type=LicenceDocument,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )

    # -- the ledger -------------------------------------------------------------------------

    async def _record(
        self,
        event: str,
        actor: Actor,
        *,
        statement: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        confidential: dict[str, Any] | None = None,
    ) -> Recorded:
        """Append the transition to the ledger, then move the case (the lock is held)."""
        source = self._state
        to = lc.target(event, source, self._terminal)
        self._transitions += 1
        recorded = await workflow.execute_activity(
            "ledger.append",
            AppendInput(
                idempotency_key=f"{self._case_id}/{self._transitions}",
                case_id=self._case_id,
                event=event,
                actor=actor,
                from_state=None if source is None else source.value,
                to_state=to.value,
                statement=statement,
                data=data or {},
                confidential=confidential or {},
            ),
            result_type=Recorded,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=LEDGER_RETRY,
        )
        assert isinstance(recorded, Recorded)
        workflow.logger.info(
            "%s: %s -> %s (entry %d)", event, source, to.value, recorded.seq,
            extra={"transition": event, "seq": recorded.seq},
        )  # fmt: skip
        self._state = to
        self._timeline.append(recorded)
        if to not in lc.DECIDING:  # decided, withdrawn or closed: the statutory clock stops
            self._statutory_due = self._statutory_left = self._statutory_left_working = None
        if to in self._terminal:
            self._reply_due = self._review_due = None
            self._awaiting.clear()
        return recorded

    def _publish(self) -> None:
        """Keep the case's search attributes current (after each transition)."""
        if not self._start.publish_search_attributes or not workflow.patched(sa.PATCH):
            return  # not wanted, or a case recorded before cases published them
        application = self._start.application
        due = None if self._state in self._terminal else self._next_deadline()
        workflow.upsert_search_attributes(
            [
                sa.STATE.value_set(self.state()),
                sa.EXPORTER.value_set(application.exporter_id),
                sa.DESTINATION.value_set(application.destination),
                sa.RATINGS.value_set(sorted({g.rating for g in application.goods})),
                sa.NEXT_DEADLINE.value_set(due) if due else sa.NEXT_DEADLINE.value_unset(),
                sa.OVERDUE.value_set(self._overdue()),
            ]
        )

    def _overdue(self) -> bool:
        """Someone is late now: the decision, an agency's finding, a delivery verification."""
        return (
            (self._statutory_breached and self._state in lc.DECIDING)
            or (self._state == State.IN_REVIEW and bool(self._escalated))
            or bool(self._late & self._awaiting.keys())
        )

    # -- people and services ------------------------------------------------------------------

    @workflow.update
    async def act(self, action: Action) -> Recorded:
        # An action that arrives before the application is recorded waits for it.
        await workflow.wait_condition(lambda: self._state is not None)
        async with self._lock:
            try:  # the state may have moved since the validator ran
                self._check(action)
            except ValueError as exc:
                raise ApplicationError(str(exc), type="TransitionRefused") from exc
            source = self._state
            data = dict(action.data)
            # One moment for the clocks the ledger records and the ones the workflow then runs
            # (the append in between takes time).
            now = workflow.now()
            clock = self._clock_change(action, now)
            if clock:
                data["clock"] = clock
            try:
                recorded = await self._record(
                    action.event,
                    action.actor,
                    statement=action.statement,
                    data=data,
                    confidential=action.confidential,
                )
            except Exception as exc:
                # The ledger refused (bad statement, ...): nothing was written, nothing moves.
                cause = getattr(exc, "cause", None)
                message = str(cause) if cause is not None else str(exc)
                kind = getattr(cause, "type", None) or "LedgerRefused"
                raise ApplicationError(message, type=kind) from exc
            self._apply(action, source, now)
            # What follows at once (the last finding closes the review, the last shipment
            # exhausts the licence...), so the caller sees where the case went.
            await self._follow_up()
            return recorded

    async def _follow_up(self) -> None:
        """The workflow's own transitions that an action makes due (the lock is held)."""
        await self._close_review_locked()
        if self._state == State.APPROVED and self._v2():
            await self._issue_locked()
        if self._state == State.ISSUED and self._ceilings and self._exhausted():
            await self._record("licence_exhausted", SYSTEM, data={"usage": self._usage()})
        if self._state in lc.LICENCE_ENDED and not self._awaiting:
            await self._record("case_closed", SYSTEM, data={"all_deliveries_verified": True})

    def _exhausted(self) -> bool:
        return all(
            qty >= int(c["quantity"]) or value >= Decimal(str(c["value"]))
            for c, (qty, value) in zip(self._ceilings, self._shipped, strict=True)
        )

    def _usage(self) -> list[dict[str, Any]]:
        return [
            {
                "line": n,
                "rating": c["rating"],
                "quantity": {"ceiling": int(c["quantity"]), "shipped": qty},
                "value": {"ceiling": str(c["value"]), "shipped": str(value)},
                "currency": c["currency"],
            }
            for n, (c, (qty, value)) in enumerate(
                zip(self._ceilings, self._shipped, strict=True), start=1
            )
        ]

    @act.validator
    def _validate_act(self, action: Action) -> None:
        if self._state is None:  # the case is being recorded: only the role can be checked
            event = lc.EVENTS.get(action.event)
            if event is None or event.role == Role.SYSTEM or event.role != action.actor.role:
                self._check(action)  # raises, naming what is wrong
            return
        self._check(action)

    def _check(self, action: Action) -> None:
        """Raise ``ValueError`` naming why ``action`` may not happen now."""
        known = lc.EVENTS.get(action.event)
        if known is not None and known.role == Role.SYSTEM:
            raise ValueError(f"{action.event} is recorded by the workflow itself")
        try:
            lc.check(action.event, self._state, action.actor.role, self._terminal)
        except lc.TransitionRefused as exc:
            raise ValueError(str(exc)) from exc
        event = lc.EVENTS[action.event]
        if event.statement:
            self._check_statement(action)
        elif action.statement is not None:
            raise ValueError(f"{action.event} takes no statement")
        if action.event in lc.FINDINGS and action.event in self._findings:
            raise ValueError(f"{action.event} was already given for case {self._case_id}")
        flag = action.data.get("flag_id")
        if action.event == "clear_flag" and flag not in self._flags:
            raise ValueError(f"no open flag {flag!r} (open: {sorted(self._flags)})")
        if action.event == "approve" and self._flags:
            raise ValueError(f"screening flags are open: {sorted(self._flags)}")
        if action.event == "refuse" and not action.data.get("criteria"):
            raise ValueError("a refusal names its criteria (data.criteria)")
        if action.event == "countersign" and action.actor.id == self._decided_by:
            raise ValueError(f"{action.actor.id} took the decision: another official countersigns")
        reasons = {  # what each of these events must state in its data
            "clear_flag": "disposition",
            "request_information": "missing",
            "appeal": "grounds",
            "suspend": "reason",
            "revoke": "reason",
            "close_case": "reason",
        }
        field = reasons.get(action.event)
        if field is not None and not action.data.get(field):
            raise ValueError(f"{action.event} states its {field} (data.{field})")
        if action.event == "suspend":
            self._suspension_days(action)
        elif action.event == "amend_parties":
            self._amended_parties(action)
        elif action.event == "shipment_recorded":
            self._shipment(action)
        elif action.event == "delivery_verified":
            shipment = self._finding(action).get("shipment_id")
            if shipment not in self._awaiting:
                raise ValueError(
                    f"no shipment {shipment!r} awaits delivery verification "
                    f"(awaiting: {sorted(self._awaiting)})"
                )

    @staticmethod
    def _finding(action: Action) -> dict[str, Any]:
        assert action.statement is not None  # checked by _check_statement
        finding = action.statement["statement"].get("finding")
        return finding if isinstance(finding, dict) else {}

    def _suspension_days(self, action: Action) -> float:
        longest = self._start.config.suspension_max_days
        days = action.data.get("days", longest)
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= longest:
            raise ValueError(
                f"a suspension lasts more than 0 and at most {longest:g} days (data.days)"
            )
        return float(days)

    @staticmethod
    def _amended_parties(action: Action) -> list[Party]:
        parties = action.confidential.get("parties")
        if not isinstance(parties, list) or not parties:
            raise ValueError("amend_parties gives the new parties (confidential.parties)")
        try:
            found = [Party.model_validate(p) for p in parties]
        except Exception as exc:  # pydantic's message names the field
            raise ValueError(f"confidential.parties: {exc}") from None
        if not any(p.role == PartyRole.END_USER for p in found):
            raise ValueError("an application names its end user")
        return found

    def _shipment(self, action: Action) -> list[tuple[int, int, Decimal]]:
        """Check a shipment against the ceilings; returns (line index, quantity, value)."""
        finding = self._finding(action)
        shipment = finding.get("shipment_id")
        if not isinstance(shipment, str) or not shipment:
            raise ValueError("customs name the shipment (finding.shipment_id)")
        if shipment in self._shipment_ids:
            raise ValueError(f"shipment {shipment!r} is already recorded")
        lines = action.confidential.get("lines")
        if not isinstance(lines, list) or not lines:
            raise ValueError("a shipment lists its lines (confidential.lines)")
        digest = hashlib.sha256(canonicalize(lines)).hexdigest()
        if finding.get("lines_sha256") != digest:
            raise ValueError(
                "the statement's finding.lines_sha256 is not the SHA-256 of the RFC 8785 "
                "form of confidential.lines"
            )
        quantities = [qty for qty, _ in self._shipped]
        values = [value for _, value in self._shipped]
        found: list[tuple[int, int, Decimal]] = []
        for item in lines:
            line, qty, value = self._shipment_line(item)
            ceiling = self._ceilings[line]
            quantities[line] += qty
            values[line] += value
            if quantities[line] > int(ceiling["quantity"]):
                raise ValueError(
                    f"over-shipment: line {line + 1} ({ceiling['rating']}) would reach "
                    f"{quantities[line]} of a ceiling of {ceiling['quantity']}"
                )
            if values[line] > Decimal(str(ceiling["value"])):
                raise ValueError(
                    f"over-shipment: line {line + 1} ({ceiling['rating']}) would reach a value "
                    f"of {values[line]} {ceiling['currency']} of a ceiling of {ceiling['value']}"
                )
            found.append((line, qty, value))
        return found

    def _shipment_line(self, item: object) -> tuple[int, int, Decimal]:
        if not isinstance(item, dict) or set(item) != {"line", "quantity", "value"}:
            raise ValueError("each shipment line is {line, quantity, value}")
        line, qty, text = item["line"], item["quantity"], item["value"]
        if isinstance(line, bool) or not isinstance(line, int):
            raise ValueError(f"shipment line {line!r} is not a licence line number")
        if not 1 <= line <= len(self._ceilings):
            raise ValueError(f"the licence has lines 1 to {len(self._ceilings)}, not {line}")
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise ValueError(f"line {line}: quantity must be a positive whole number")
        try:
            value = Decimal(text) if isinstance(text, str) else Decimal("NaN")
        except ArithmeticError:
            value = Decimal("NaN")
        exponent = value.as_tuple().exponent
        if not value.is_finite() or value <= 0 or (isinstance(exponent, int) and exponent < -2):
            raise ValueError(f"line {line}: value must be a positive decimal string like '10.50'")
        return line - 1, qty, value

    def _check_statement(self, action: Action) -> None:
        """The statement's shape and address (its signature is the ledger's to check)."""
        signed = action.statement
        inner = signed.get("statement") if isinstance(signed, dict) else None
        if not isinstance(inner, dict):
            raise ValueError(f"{action.event} needs the actor's signed statement")
        for name, want in (
            ("case_id", self._case_id),
            ("step", action.event),
            ("issuer", action.actor.id),
        ):
            if inner.get(name) != want:
                raise ValueError(f"statement {name}: got {inner.get(name)!r}, want {want!r}")
        finding = inner.get("finding")
        if action.event in lc.FINDINGS and (
            not isinstance(finding, dict) or finding.get("opinion") not in OPINIONS
        ):
            raise ValueError(f"a finding states finding.opinion, one of {sorted(OPINIONS)}")

    def _clock_change(self, action: Action, now: datetime) -> dict[str, Any] | None:
        """The clocks that ``action`` starts, pauses, resumes or stops (recorded with it)."""
        event = action.event
        config = self._start.config
        if event == "request_information" and self._statutory_due is not None:
            reply_due = now + timedelta(days=config.information_reply_days)
            clock: dict[str, Any] = {"statutory": "paused", "reply_due": _iso(reply_due)}
            if self._counting() == DayCount.WORKING:
                clock["working_days_left"] = self._calendar().working_days_left(
                    now, self._statutory_due
                )
            return clock
        if event == "provide_information" and self._statutory_left is not None:
            return {"statutory": "resumed", "due": _iso(self._resumed_due(now))}
        if event == "withdraw":
            return {"statutory": "stopped"}
        if event == "countersign" and self._state == State.REFUSAL_SIGNED and self._v2():
            due = now + timedelta(days=config.appeal_days)
            return {"statutory": "stopped", "appeal": "opened", "due": _iso(due)}
        if event == "appeal":
            due = self._statutory_after(now, config.appeal_decision_days)
            return {"statutory": "started", "days": config.appeal_decision_days, "due": _iso(due)}
        if event == "shipment_recorded":
            due = now + timedelta(days=config.delivery_verification_days)
            return {"delivery_verification": "started", "due": _iso(due)}
        if event == "suspend":
            until = now + timedelta(days=self._suspension_days(action))
            return {"suspension": "started", "until": _iso(until)}
        return None

    def _v2(self) -> bool:
        return self._terminal == lc.TERMINAL

    def _resumed_due(self, now: datetime) -> datetime:
        """The statutory due date when the clock runs again at ``now``."""
        if self._statutory_left_working is not None:
            return self._calendar().add_days(now, self._statutory_left_working, DayCount.WORKING)
        assert self._statutory_left is not None
        return now + self._statutory_left

    def _apply(self, action: Action, source: State | None, now: datetime) -> None:
        """What an accepted action changes besides the state (the ledger has it already), its
        clocks reckoned from ``now``, the moment :meth:`_clock_change` recorded them at."""
        event = action.event
        config = self._start.config
        if event == "request_information" and self._statutory_due is not None:
            self._statutory_left = max(self._statutory_due - now, timedelta(0))
            if self._counting() == DayCount.WORKING:
                self._statutory_left_working = self._calendar().working_days_left(
                    now, self._statutory_due
                )
            self._statutory_due = None
            self._reply_due = now + timedelta(days=self._start.config.information_reply_days)
            self._reminded = False
        elif event == "provide_information" and self._statutory_left is not None:
            self._statutory_due = self._resumed_due(now)
            self._statutory_left = self._statutory_left_working = None
            self._reply_due = None
        elif event in lc.FINDINGS:
            assert action.statement is not None
            opinion = str(action.statement["statement"]["finding"]["opinion"])
            self._findings[event] = (action.actor.id, opinion)
        elif event == "clear_flag":
            self._flags.pop(str(action.data["flag_id"]), None)
        elif event in ("approve", "refuse"):
            self._decided_by = action.actor.id
            self._decision_data = dict(action.data)
        elif event == "withdraw":
            self._statutory_due = None
        elif event == "amend_parties":
            self._parties = self._amended_parties(action)
            if self._state == State.SCREENING:  # screened and reviewed anew
                self._flags.clear()
                self._findings.clear()
                self._escalated.clear()
        elif event == "countersign" and self._state == State.REFUSED:
            self._appeal_due = now + timedelta(days=config.appeal_days)
        elif event == "appeal":
            self._appeal_due = None
            self._decided_by = None
            self._decision_data = {}
            self._statutory_due = self._statutory_after(now, config.appeal_decision_days)
            self._statutory_breached = False
        elif event == "shipment_recorded":
            for line, qty, value in self._shipment(action):
                shipped_qty, shipped_value = self._shipped[line]
                self._shipped[line] = (shipped_qty + qty, shipped_value + value)
            shipment = str(self._finding(action)["shipment_id"])
            self._shipment_ids.add(shipment)
            self._awaiting[shipment] = now + timedelta(days=config.delivery_verification_days)
        elif event == "delivery_verified":
            shipment = str(self._finding(action)["shipment_id"])
            self._awaiting.pop(shipment, None)
            self._late.discard(shipment)
        elif event == "suspend":
            until = now + timedelta(days=self._suspension_days(action))
            self._suspension = {
                "owner": action.actor.id,
                "reason": str(action.data["reason"]),
                "until": _iso(until),
            }
            self._suspended_until = until
        elif event in ("reinstate", "revoke"):
            self._suspension = self._suspended_until = None
        if source == State.IN_REVIEW and self._state != State.IN_REVIEW:
            self._review_due = None

    # -- queries ----------------------------------------------------------------------------

    @workflow.query
    def state(self) -> str:
        return "new" if self._state is None else self._state.value

    @workflow.query
    def timeline(self) -> list[Recorded]:
        return list(self._timeline)

    @workflow.query
    def deadlines(self) -> list[OpenDeadline]:
        found: list[OpenDeadline] = []
        if self._statutory_due is not None and not self._statutory_breached:
            found.append(OpenDeadline(name=lc.Deadline.STATUTORY, due=self._statutory_due))
        if self._statutory_left is not None:
            found.append(
                OpenDeadline(
                    name=lc.Deadline.STATUTORY,
                    due=workflow.now() + self._statutory_left,
                    paused=True,
                    remaining_seconds=self._statutory_left.total_seconds(),
                )
            )
        if self._state == State.INFORMATION_REQUESTED and self._reply_due is not None:
            found.append(OpenDeadline(name=lc.Deadline.INFORMATION_REPLY, due=self._reply_due))
        if self._state == State.IN_REVIEW and self._review_due is not None:
            found.append(OpenDeadline(name=lc.Deadline.REVIEW, due=self._review_due))
        if self._state == State.REFUSED and self._appeal_due is not None:
            found.append(OpenDeadline(name=lc.Deadline.APPEAL, due=self._appeal_due))
        if self._state in (State.ISSUED, State.SUSPENDED) and self._valid_until is not None:
            found.append(OpenDeadline(name=lc.Deadline.VALIDITY, due=self._valid_until))
        if self._state == State.SUSPENDED and self._suspended_until is not None:
            found.append(OpenDeadline(name=lc.Deadline.SUSPENSION, due=self._suspended_until))
        found.extend(
            OpenDeadline(name=lc.Deadline.DELIVERY_VERIFICATION, due=due, subject=shipment)
            for shipment, due in sorted(self._awaiting.items())
        )
        return found

    @workflow.query
    def licence(self) -> LicenceDocument | None:
        return self._licence

    @workflow.query
    def view(self) -> CaseView:
        return self._view()

    def _view(self) -> CaseView:
        return CaseView(
            case_id=self._case_id,
            state=self.state(),
            flags=list(self._flags.values()),
            findings={f: by for f, (by, _) in self._findings.items()},
            timeline=list(self._timeline),
            deadlines=self.deadlines(),
            licence_number=None if self._licence is None else self._licence.licence_number,
            usage=self._usage() if self._ceilings else [],
            awaiting_verification=sorted(self._awaiting),
            hold=self._hold(),
            runs=self._runs,
        )

    def _hold(self) -> dict[str, str] | None:
        """Who the case waits on, why, and until when (the holds of ``lifecycle.HOLDS``)."""
        if self._state == State.SUSPENDED and self._suspension is not None:
            return dict(self._suspension)
        if self._state == State.INFORMATION_REQUESTED and self._reply_due is not None:
            return {
                "owner": self._start.applicant.id,
                "reason": "information requested",
                "until": _iso(self._reply_due),
            }
        if self._state == State.REFUSED and self._appeal_due is not None:
            return {
                "owner": self._start.applicant.id,
                "reason": "refused; appeal window open",
                "until": _iso(self._appeal_due),
            }
        return None
