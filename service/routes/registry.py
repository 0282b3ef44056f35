"""The authority's register: exporters, and the keys external services and signing officials
sign their statements with. Each change is an update to the ``Registry`` workflow, whose
activity appends the log-level entry; a repeated request returns the entry already written."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from ledger.errors import LedgerError
from ledger.keys import (
    ACTOR_KEY_REGISTER,
    ACTOR_KEY_REVOKE,
    ACTOR_KEY_ROTATE,
    decode_public_key,
    register_data,
    revoke_data,
    rotate_data,
)
from service.auth import Principal
from service.deps import ClientDep, SettingsDep, require
from service.problems import Problem, responses
from service.schemas import ActorKeyIn, ActorKeyRevoke, ActorKeyRotate, ExporterIn
from workflows.lifecycle import Role
from workflows.models import Actor, Recorded, RegistryChange
from workflows.registry import REGISTRY_ID, Registry

router = APIRouter(tags=["registry"])
Registrar = Annotated[Principal, Depends(require(Role.REGISTRAR))]
EXPORTER_REGISTER = "exporter.register"


async def _record(
    client: ClientDep, settings: SettingsDep, principal: Principal, change: dict[str, Any]
) -> Recorded:
    handle = await client.start_workflow(
        Registry.run,
        id=f"{REGISTRY_ID}/{settings.task_queue}",  # one register per deployment
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        recorded: Recorded = await handle.execute_update(
            Registry.record,
            RegistryChange(actor=Actor(id=principal.id, role=principal.role.value), **change),
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = str(getattr(cause, "message", None) or cause or exc)
        raise Problem(409, "register-refused", message) from exc
    return recorded


def _public_key(text: str) -> bytes:
    try:
        return decode_public_key(text)
    except LedgerError as exc:
        raise Problem(422, "invalid-key", str(exc)) from exc


@router.post(
    "/exporters",
    status_code=201,
    response_model=Recorded,
    responses=responses(400, 401, 403, 409, 422),
)
async def register_exporter(
    body: ExporterIn, client: ClientDep, settings: SettingsDep, principal: Registrar
) -> Recorded:
    """Register an exporter with the authority (only registered exporters may apply)."""
    return await _record(
        client,
        settings,
        principal,
        {
            "event": EXPORTER_REGISTER,
            "idempotency_key": f"{EXPORTER_REGISTER}/{body.exporter_id}",
            "data": {"exporter_id": body.exporter_id},
        },
    )


@router.post(
    "/actors/{actor_id}/keys",
    status_code=201,
    response_model=Recorded,
    responses=responses(400, 401, 403, 409, 422),
)
async def register_key(
    actor_id: str,
    body: ActorKeyIn,
    client: ClientDep,
    settings: SettingsDep,
    principal: Registrar,
) -> Recorded:
    """Register an actor's Ed25519 key for the role it signs statements in."""
    try:
        data = register_data(actor_id, body.role, _public_key(body.public_key))
    except LedgerError as exc:
        raise Problem(422, "invalid-key", str(exc)) from exc
    key = f"{ACTOR_KEY_REGISTER}/{actor_id}/{data['key_id']}"
    return await _record(
        client,
        settings,
        principal,
        {"event": ACTOR_KEY_REGISTER, "idempotency_key": key, "data": data},
    )


@router.post(
    "/actors/{actor_id}/keys/{key_id}/rotate",
    status_code=201,
    response_model=Recorded,
    responses=responses(400, 401, 403, 409, 422),
)
async def rotate_key(
    actor_id: str,
    key_id: str,
    body: ActorKeyRotate,
    client: ClientDep,
    settings: SettingsDep,
    principal: Registrar,
) -> Recorded:
    """Replace an actor's key by a new one (the old one is revoked as "rotated")."""
    try:
        data = rotate_data(actor_id, key_id, _public_key(body.public_key))
    except LedgerError as exc:
        raise Problem(422, "invalid-key", str(exc)) from exc
    idempotency = f"{ACTOR_KEY_ROTATE}/{actor_id}/{key_id}/{data['key_id']}"
    return await _record(
        client,
        settings,
        principal,
        {"event": ACTOR_KEY_ROTATE, "idempotency_key": idempotency, "data": data},
    )


@router.post(
    "/actors/{actor_id}/keys/{key_id}/revoke",
    status_code=201,
    response_model=Recorded,
    responses=responses(400, 401, 403, 409, 422),
)
async def revoke_key(
    actor_id: str,
    key_id: str,
    body: ActorKeyRevoke,
    client: ClientDep,
    settings: SettingsDep,
    principal: Registrar,
) -> Recorded:
    """Revoke an actor's key from this point of the log on."""
    try:
        data = revoke_data(actor_id, key_id, body.reason)
    except LedgerError as exc:
        raise Problem(422, "invalid-key", str(exc)) from exc
    idempotency = f"{ACTOR_KEY_REVOKE}/{actor_id}/{key_id}"
    return await _record(
        client,
        settings,
        principal,
        {"event": ACTOR_KEY_REVOKE, "idempotency_key": idempotency, "data": data},
    )
