"""Cases: create, list and search (Temporal visibility), read, act, post a signed statement,
fetch the case receipt and the licence document.

A case changes only through the workflow's ``act`` update, which checks the lifecycle table
again; here the caller's role is checked against the same table first (deny by default), and an
applicant reaches only the cases of its own exporter.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from temporalio.client import (
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from ledger.receipts import build_receipt
from licence.render import render
from licence.verify import read_document
from service import visibility
from service.auth import Principal
from service.case_config import case_config
from service.deps import (
    ClientDep,
    InitialKeyDep,
    LedgerDep,
    PrincipalDep,
    SettingsDep,
    require,
)
from service.problems import Problem, responses
from service.schemas import (
    CASE_ID,
    ActionIn,
    CaseCreate,
    CaseCreated,
    CaseDetail,
    CaseList,
    CaseStatus,
    CaseSummary,
    StatementIn,
)
from workflows import lifecycle as lc
from workflows import search_attributes as sa
from workflows.licence_case import LicenceCase
from workflows.lifecycle import Role
from workflows.models import Action, Actor, CaseStart, CaseView, LicenceDocument, Recorded

router = APIRouter(prefix="/cases", tags=["cases"])

#: Who reads a whole case (timeline, flags, findings): the authority and its auditors.
AUTHORITY = (Role.LICENSING_OFFICER, Role.SIGNING_OFFICIAL, Role.AUDITOR)
#: Every role that takes part in some case step (and so may read a case's status).
PARTIES = tuple(sorted({e.role for e in lc.EVENTS.values()} - {Role.SYSTEM}))
_KEYWORD = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
#: A case id in a path, of the form ``CaseCreate.case_id`` admits (anything else: a 422 problem).
CaseId = Annotated[str, Path(pattern=CASE_ID, description="The case (workflow) id.")]


def _handle(client: ClientDep, case_id: str) -> WorkflowHandle[LicenceCase, CaseView]:
    return client.get_workflow_handle_for(LicenceCase.run, case_id)


async def _view(handle: WorkflowHandle[LicenceCase, CaseView]) -> CaseView:
    try:
        view: CaseView = await handle.query(LicenceCase.view)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise Problem(404, "no-such-case", f"no case {handle.id!r}") from exc
        raise
    return view


async def _own(principal: Principal, view: CaseView, handle: WorkflowHandle[Any, Any]) -> None:
    """An applicant reaches only its own exporter's cases (404, not 403: it cannot tell)."""
    if principal.role != Role.APPLICANT:
        return
    description: WorkflowExecutionDescription = await handle.describe()
    exporter = description.typed_search_attributes.get(sa.EXPORTER)
    if exporter is None or exporter != principal.exporter_id:
        raise Problem(404, "no-such-case", f"no case {view.case_id!r}")


@router.post(
    "", status_code=201, response_model=CaseCreated, responses=responses(400, 401, 403, 409, 422)
)
async def create_case(
    body: CaseCreate,
    client: ClientDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(require(Role.APPLICANT, Role.LICENSING_OFFICER))],
) -> CaseCreated:
    """File an application: the applicant for its own exporter, or an officer registering
    one received on paper for the applicant it names (recorded as ``registered_by``)."""
    application = body.application
    if principal.role == Role.APPLICANT:
        if body.applicant_id is not None:
            raise Problem(422, "invalid-request", "an applicant files for itself: no applicant_id")
        if principal.exporter_id != application.exporter_id:
            raise Problem(
                403,
                "forbidden",
                f"{principal.id} acts for exporter {principal.exporter_id!r}, "
                f"not {application.exporter_id!r}",
            )
        applicant, registered_by = principal.id, None
    else:
        if body.applicant_id is None:
            raise Problem(422, "invalid-request", "name the applicant (applicant_id)")
        applicant, registered_by = body.applicant_id, principal.id
    case_id = body.case_id or f"UA-{datetime.now(UTC).year}-{uuid.uuid4().hex[:8].upper()}"
    start = CaseStart(
        case_id=case_id,
        applicant=Actor(id=applicant, role=Role.APPLICANT.value),
        application=application,
        config=case_config(settings),
        registered_by=registered_by,
    )
    try:
        await client.start_workflow(
            LicenceCase.run,
            start,
            id=case_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError as exc:
        raise Problem(409, "case-exists", f"case {case_id!r} exists already") from exc
    return CaseCreated(case_id=case_id, state="new")


@router.get("", response_model=CaseList, responses=responses(401, 403, 422))
async def list_cases(
    request: Request,
    client: ClientDep,
    principal: Annotated[
        Principal, Depends(require(Role.APPLICANT, Role.LICENSING_OFFICER, Role.SIGNING_OFFICIAL))
    ],
    state: Annotated[lc.State | None, Query()] = None,
    exporter: Annotated[str | None, Query(pattern=_KEYWORD)] = None,
    destination: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$")] = None,
    rating: Annotated[str | None, Query(pattern=_KEYWORD)] = None,
    overdue: Annotated[bool | None, Query()] = None,
    due_before: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CaseList:
    """Search cases through Temporal visibility (the typed search attributes). An applicant
    sees its own exporter's cases only."""
    given = request.query_params
    repeated = sorted({name for name in given if len(given.getlist(name)) > 1})
    if repeated:  # each filter takes one value: a second one is not silently dropped
        raise Problem(422, "invalid-request", f"give each filter once: {', '.join(repeated)}")
    if principal.role == Role.APPLICANT:
        if exporter not in (None, principal.exporter_id):
            raise Problem(403, "forbidden", "an applicant lists its own exporter's cases only")
        exporter = principal.exporter_id or "-"
    clauses: list[str] = []
    if state is not None:
        clauses.append(f"{sa.STATE.name} = '{state.value}'")
    if exporter is not None:
        clauses.append(f"{sa.EXPORTER.name} = '{exporter}'")
    if destination is not None:
        clauses.append(f"{sa.DESTINATION.name} = '{destination}'")
    if rating is not None:
        clauses.append(f"{sa.RATINGS.name} = '{rating}'")
    if overdue is not None:
        clauses.append(f"{sa.OVERDUE.name} = {'true' if overdue else 'false'}")
    if due_before is not None:
        moment = due_before if due_before.tzinfo else due_before.replace(tzinfo=UTC)
        clauses.append(f"{sa.NEXT_DEADLINE.name} < '{moment.isoformat()}'")
    found: list[CaseSummary] = []
    async for wf in client.list_workflows(visibility.cases(*clauses), limit=limit):
        attributes = wf.typed_search_attributes
        found.append(
            CaseSummary(
                case_id=wf.id,
                state=attributes.get(sa.STATE),
                exporter_id=attributes.get(sa.EXPORTER),
                destination=attributes.get(sa.DESTINATION),
                ratings=list(attributes.get(sa.RATINGS) or []),
                next_deadline=attributes.get(sa.NEXT_DEADLINE),
                overdue=bool(attributes.get(sa.OVERDUE)),
                status=_status(wf.status),
            )
        )
    return CaseList(cases=found)


def _status(status: object) -> str:
    """``WorkflowExecutionStatus.RUNNING`` -> ``running``."""
    name = getattr(status, "name", None)
    return name.lower() if isinstance(name, str) else "unknown"


@router.get("/{case_id}", response_model=CaseDetail, responses=responses(401, 403, 404, 422))
async def read_case(
    case_id: CaseId,
    client: ClientDep,
    principal: Annotated[Principal, Depends(require(*AUTHORITY))],
) -> CaseDetail:
    """The whole case: timeline, flags, findings, deadlines, the licence's usage."""
    view = await _view(_handle(client, case_id))
    return CaseDetail(**view.model_dump(exclude={"case_id"}), case_id=view.case_id)


@router.get("/{case_id}/status", response_model=CaseStatus, responses=responses(401, 403, 404, 422))
async def read_status(
    case_id: CaseId,
    client: ClientDep,
    principal: Annotated[Principal, Depends(require(*PARTIES, Role.AUDITOR))],
) -> CaseStatus:
    """Where a case is and what is due: for every party to a case step."""
    handle = _handle(client, case_id)
    view = await _view(handle)
    await _own(principal, view, handle)
    return CaseStatus(
        case_id=view.case_id,
        state=view.state,
        deadlines=view.deadlines,
        hold=view.hold,
        licence_number=view.licence_number,
    )


async def _act(client: ClientDep, principal: Principal, case_id: str, action: ActionIn) -> Recorded:
    known = lc.EVENTS.get(action.event)
    if known is None:
        raise Problem(422, "unknown-event", f"unknown event {action.event!r}")
    if known.role != principal.role:
        raise Problem(
            403,
            "forbidden",
            f"{action.event} is for the {known.role} role; {principal.id} is {principal.role}",
        )
    handle = _handle(client, case_id)
    if principal.role == Role.APPLICANT:
        await _own(principal, await _view(handle), handle)
    try:
        recorded: Recorded = await handle.execute_update(
            LicenceCase.act,
            Action(
                event=action.event,
                actor=Actor(id=principal.id, role=principal.role.value),
                statement=action.statement,
                data=action.data,
                confidential=action.confidential,
            ),
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = str(getattr(cause, "message", None) or cause or exc)
        kind = getattr(cause, "type", None) or "refused"
        raise Problem(409, "action-refused", message, reason=kind) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise Problem(404, "no-such-case", f"no open case {case_id!r}") from exc
        raise
    return recorded


@router.post(
    "/{case_id}/actions", response_model=Recorded, responses=responses(400, 401, 403, 404, 409, 422)
)
async def act(
    case_id: CaseId, body: ActionIn, client: ClientDep, principal: PrincipalDep
) -> Recorded:
    """One event of the lifecycle table by the caller, in the caller's role (the table says
    which role each event is for; a signed statement where the table requires one)."""
    return await _act(client, principal, case_id, body)


@router.post(
    "/{case_id}/statements",
    response_model=Recorded,
    responses=responses(400, 401, 403, 404, 409, 422),
)
async def post_statement(
    case_id: CaseId, body: StatementIn, client: ClientDep, principal: PrincipalDep
) -> Recorded:
    """A signed statement for a case step (an agency's finding, an official's decision,
    customs' shipment, a delivery verification): the step is the statement's ``step``, its
    issuer must be the caller."""
    inner = body.statement.get("statement")
    if not isinstance(inner, dict) or not isinstance(inner.get("step"), str):
        raise Problem(422, "invalid-statement", "statement.statement.step is missing")
    if inner.get("issuer") != principal.id:
        raise Problem(
            403,
            "forbidden",
            f"the statement's issuer {inner.get('issuer')!r} is not the caller {principal.id!r}",
        )
    if inner.get("case_id") != case_id:
        raise Problem(
            422, "invalid-statement", f"the statement is for case {inner.get('case_id')!r}"
        )
    action = ActionIn(
        event=inner["step"],
        statement=body.statement,
        data=body.data,
        confidential=body.confidential,
    )
    return await _act(client, principal, case_id, action)


@router.get("/{case_id}/receipt", responses=responses(401, 403, 404, 422))
async def receipt(
    case_id: CaseId,
    client: ClientDep,
    ledger: LedgerDep,
    initial_key: InitialKeyDep,
    principal: Annotated[
        Principal,
        Depends(
            require(Role.APPLICANT, Role.LICENSING_OFFICER, Role.SIGNING_OFFICIAL, Role.AUDITOR)
        ),
    ],
    response: Response,
) -> dict[str, Any]:
    """The case receipt: its entries with inclusion proofs under the latest checkpoint,
    checkable offline with the log's first key (``dozvil ledger verify --receipt``)."""
    handle = _handle(client, case_id)
    await _own(principal, await _view(handle), handle)
    if not ledger.case_seqs(case_id):
        raise Problem(404, "no-such-case", f"no entries for case {case_id!r}")
    response.headers["Cache-Control"] = "no-store"
    receipt: dict[str, Any] = build_receipt(ledger, ledger, initial_key, case_id)
    return receipt


@router.get(
    "/{case_id}/licence", response_model=LicenceDocument, responses=responses(401, 403, 404, 422)
)
async def licence(
    case_id: CaseId,
    client: ClientDep,
    principal: Annotated[
        Principal,
        Depends(require(Role.APPLICANT, Role.LICENSING_OFFICER, Role.CUSTOMS, Role.AUDITOR)),
    ],
) -> LicenceDocument:
    """The licence document (receipt of the issuance entry and the ceilings' openings)."""
    handle = _handle(client, case_id)
    await _own(principal, await _view(handle), handle)
    document: LicenceDocument | None = await handle.query(LicenceCase.licence)
    if document is None:
        raise Problem(404, "no-licence", f"case {case_id!r} has no issued licence")
    return document


@router.get(
    "/{case_id}/licence.html",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "The licence page."},
        **responses(401, 403, 404, 422),
    },
)
async def licence_page(
    case_id: CaseId,
    client: ClientDep,
    principal: Annotated[
        Principal,
        Depends(require(Role.APPLICANT, Role.LICENSING_OFFICER, Role.CUSTOMS, Role.AUDITOR)),
    ],
) -> Response:
    """The printable licence page with its QR code."""
    document = await licence(case_id, client, principal)
    page = render(read_document(document.model_dump_json()))
    return Response(page.html, media_type="text/html; charset=utf-8")
