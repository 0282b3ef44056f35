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
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import lifecycle as lc
    from workflows import search_attributes as sa
    from workflows.lifecycle import Role, State
    from workflows.models import (
        Action,
        Actor,
        AppendInput,
        CaseStart,
        CaseView,
        Flag,
        LicenceDocument,
        LicenceInput,
        OpenDeadline,
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

    # -- the case -------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
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
        due = workflow.now() + timedelta(days=days)
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
                    "clock": {"statutory": "started", "days": days, "due": _iso(due)},
                },
                confidential={
                    "goods": [g.model_dump(mode="json") for g in application.goods],
                    "parties": [p.model_dump(mode="json") for p in application.parties],
                    "end_use": application.end_use,
                },
            )
            self._statutory_due = due
        while self._state not in lc.TERMINAL:
            self._publish()  # after every change: the loop turns once per transition
            if self._state == State.SCREENING:
                await self._screen()
            elif self._state == State.IN_REVIEW and len(self._findings) == len(lc.FINDINGS):
                await self._close_review()
            elif self._state == State.APPROVED:
                await self._issue()
            else:
                await self._wait_for_change()
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view()

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
        return min(pending) if pending else None

    def _reminder_lead(self) -> timedelta:
        return timedelta(days=self._start.config.information_reminder_days)

    async def _deadlines_passed(self) -> None:
        """Record every deadline that has passed (the lock is held)."""
        now = workflow.now()
        if self._state in lc.TERMINAL:
            return
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
                parties=application.parties,
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
        """Number the licence, set its validity and ceilings, and make its document."""
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
        async with self._lock:
            recorded = await self._record(
                "licence_issued",
                SYSTEM,
                data={
                    "licence_number": number,
                    "valid_from": _iso(now),
                    "valid_until": _iso(now + timedelta(days=validity)),
                    "provisos": conditions.get("provisos", []),
                    "clock": {"statutory": "stopped"},
                },
                confidential={"ceilings": ceilings},
            )
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
        to = lc.target(event, source)
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
        if to in lc.TERMINAL:
            self._reply_due = self._review_due = None
        return recorded

    def _publish(self) -> None:
        """Keep the case's search attributes current (after each transition)."""
        if not self._start.publish_search_attributes or not workflow.patched(sa.PATCH):
            return  # not wanted, or a case recorded before cases published them
        application = self._start.application
        due = None if self._state in lc.TERMINAL else self._next_deadline()
        workflow.upsert_search_attributes(
            [
                sa.STATE.value_set(self.state()),
                sa.EXPORTER.value_set(application.exporter_id),
                sa.DESTINATION.value_set(application.destination),
                sa.RATINGS.value_set(sorted({g.rating for g in application.goods})),
                sa.NEXT_DEADLINE.value_set(due) if due else sa.NEXT_DEADLINE.value_unset(),
                sa.OVERDUE.value_set(self._statutory_breached or bool(self._escalated)),
            ]
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
            clock = self._clock_change(action.event, now)
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
            # The last finding closes the review at once, so its caller sees where the case went.
            await self._close_review_locked()
            return recorded

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
            lc.check(action.event, self._state, action.actor.role)
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

    def _clock_change(self, event: str, now: datetime) -> dict[str, Any] | None:
        """The statutory clock's pause or resumption that ``event`` causes (recorded with it)."""
        if event == "request_information" and self._statutory_due is not None:
            reply_due = now + timedelta(days=self._start.config.information_reply_days)
            return {"statutory": "paused", "reply_due": _iso(reply_due)}
        if event == "provide_information" and self._statutory_left is not None:
            return {"statutory": "resumed", "due": _iso(now + self._statutory_left)}
        if event == "withdraw":
            return {"statutory": "stopped"}
        return None

    def _apply(self, action: Action, source: State | None, now: datetime) -> None:
        """What an accepted action changes besides the state (the ledger has it already), its
        clocks reckoned from ``now``, the moment :meth:`_clock_change` recorded them at."""
        event = action.event
        if event == "request_information" and self._statutory_due is not None:
            self._statutory_left = max(self._statutory_due - now, timedelta(0))
            self._statutory_due = None
            self._reply_due = now + timedelta(days=self._start.config.information_reply_days)
            self._reminded = False
        elif event == "provide_information" and self._statutory_left is not None:
            self._statutory_due = now + self._statutory_left
            self._statutory_left = None
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
        )
