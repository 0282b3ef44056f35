"""What a route needs, as named ``Annotated`` types. The app's state holds the one instance of
each (:func:`service.app.create_app` sets them up); who may call a route is decided by
:func:`require` from the roles the lifecycle table gives, and nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from ledger.store.export import first_log_key
from ledger.store.sql import SqlLedger
from runtime.settings import Settings
from service.auth import Authenticator, Principal
from service.problems import Problem
from workflows.lifecycle import Role


def get_ledger(request: Request) -> SqlLedger:
    """The ledger, opened read-only: the service reads tiles, proofs and receipts, and never
    appends (every append goes through a workflow)."""
    ledger: SqlLedger = request.app.state.ledger
    return ledger


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_initial_key(request: Request) -> str:
    """The log's first verifier key (receipts start their key history from it): set when the
    app starts; an app without that step (a bare router in a test) asks the database."""
    key: str | None = getattr(request.app.state, "initial_key", None)
    return key or first_log_key(get_ledger(request))


def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


#: The one security scheme, declared on every route that depends on the caller (OpenAPI
#: ``security``). It only documents: the authenticator reads the header itself, so a missing or
#: malformed one is the authenticator's 401 problem, never FastAPI's plain 403.
BEARER = HTTPBearer(
    scheme_name="bearer",
    auto_error=False,
    description="A principal's token (the principals file) or the authority's OIDC JWT.",
)


def get_principal(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """The authenticated caller; 401 for anyone else (deny by default)."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    return principal


LedgerDep = Annotated[SqlLedger, Depends(get_ledger)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
InitialKeyDep = Annotated[str, Depends(get_initial_key)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only these roles (403 for any other authenticated caller)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Problem(
                403,
                "forbidden",
                f"the {principal.role} role may not do this (only {sorted(allowed)})",
            )
        return principal

    return check
