"""The authority's register: exporters, and the keys external services and signing officials
sign their statements with. Each change is an update to the ``Registry`` workflow, whose
activity appends the log-level entry; a repeated request returns the entry already written."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    client: ClientDep,
    settings: SettingsDep,
    principal: Principal,
    event: str,
    key: str,
    data: dict[str, Any],
) -> Recorded:
    """Record one change through the Registry workflow; ``key`` makes it idempotent (the
    entry's idempotency key is ``<event>/<key>``)."""
    handle = await client.start_workflow(
        Registry.run,
        id=f"{REGISTRY_ID}/{settings.task_queue}",  # one register per deployment
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    change = RegistryChange(
        actor=Actor(id=principal.id, role=principal.role.value),
        event=event,
        idempotency_key=f"{event}/{key}",
        data=data,
    )
    try:
        recorded: Recorded = await handle.execute_update(Registry.record, change)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = str(getattr(cause, "message", None) or cause or exc)
        raise Problem(409, "register-refused", message) from exc
    return recorded


@contextmanager
def _invalid_key() -> Iterator[None]:
    """A key or change the ledger's rules refuse is a 422 problem."""
    try:
        yield
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
    data = {"exporter_id": body.exporter_id}
    return await _record(client, settings, principal, EXPORTER_REGISTER, body.exporter_id, data)


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
    with _invalid_key():
        data = register_data(actor_id, body.role, decode_public_key(body.public_key))
    key = f"{actor_id}/{data['key_id']}"
    return await _record(client, settings, principal, ACTOR_KEY_REGISTER, key, data)


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
    with _invalid_key():
        data = rotate_data(actor_id, key_id, decode_public_key(body.public_key))
    key = f"{actor_id}/{key_id}/{data['key_id']}"
    return await _record(client, settings, principal, ACTOR_KEY_ROTATE, key, data)


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
    with _invalid_key():
        data = revoke_data(actor_id, key_id, body.reason)
    key = f"{actor_id}/{key_id}"
    return await _record(client, settings, principal, ACTOR_KEY_REVOKE, key, data)
