"""Customs check a licence document they were shown, offline-style: the service runs the same
check ``dozvil licence verify`` does, with the log's first key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from ledger.errors import MalformedInput, VerificationFailed
from licence.verify import verify_document
from service.auth import Principal
from service.deps import InitialKeyDep, require
from service.problems import Problem, responses
from service.schemas import LicenceCheck, LicenceChecked
from workflows.lifecycle import Role

router = APIRouter(prefix="/licences", tags=["licences"])
STATUS_NOTE = (
    "The document proves the licence was issued as shown; its current status (suspended, "
    "revoked, exhausted) is the case's: GET /cases/{case_id}/status."
)


@router.post("/verify", response_model=LicenceChecked, responses=responses(400, 401, 403, 422))
async def verify_licence(
    body: LicenceCheck,
    initial_key: InitialKeyDep,
    principal: Annotated[
        Principal, Depends(require(Role.CUSTOMS, Role.LICENSING_OFFICER, Role.AUDITOR))
    ],
) -> LicenceChecked:
    """Is this licence document genuine, which licence is it, its ceilings and validity.
    A document that is not genuine is a 422 problem naming the failed check."""
    try:
        report = verify_document(body.document, initial_key)
    except VerificationFailed:
        raise  # the problem handler names the check
    except MalformedInput as exc:
        raise Problem(422, "not-a-licence-document", str(exc)) from exc
    at = body.at or datetime.now(UTC)
    ceilings = (
        None
        if report.ceilings is None
        else [
            {"rating": c.rating, "quantity": c.quantity, "value": c.value, "currency": c.currency}
            for c in report.ceilings
        ]
    )
    return LicenceChecked(
        genuine=True,
        validity=report.validity(at if at.tzinfo else at.replace(tzinfo=UTC)),
        licence_number=report.licence_number,
        case_id=report.case_id,
        valid_from=report.valid_from,
        valid_until=report.valid_until,
        provisos=report.provisos,
        ceilings=ceilings,
        checkpoint_size=report.checkpoint_size,
        note=STATUS_NOTE,
    )
