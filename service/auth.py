"""Who is calling: a bearer token becomes a :class:`Principal` (id, role, exporter), or the call
is refused. Deny by default: no token, an unknown one, or a JWT that fails any check is 401.

Two sources, chosen by configuration:

* **Embedded default**: a principals file (``DOZVIL_PRINCIPALS_FILE``), a JSON list of
  ``{"id", "role", "token_sha256", "exporter_id"?}``. Tokens are stored as SHA-256 hex only
  (they are random 256-bit secrets, so a plain hash is enough) and compared in constant time.
* **Production**: the authority's OIDC JWTs (``DOZVIL_OIDC_ISSUER``, ``_AUDIENCE``, ``_JWKS``),
  checked with PyJWT: signature by a key of the issuer's JWKS (file or URL), ``iss``, ``aud``,
  ``exp``, ``nbf``, ``iat``; asymmetric algorithms only. ``sub`` is the principal's id, the
  role and exporter come from configurable claims.

What each role may do is not decided here: the routes ask the lifecycle table.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ledger.keyfile import replace_private_file
from runtime.settings import Settings
from workflows.lifecycle import Role

#: Algorithms a JWT may be signed with (never ``none`` or a shared secret).
JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"


class Unauthenticated(Exception):
    """No credentials, or credentials that do not check out (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    id: str
    role: Role
    exporter_id: str | None = None  # an applicant acts for this exporter only


class PrincipalRecord(BaseModel):
    """One line of the principals file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_NAME)
    role: Role
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    exporter_id: str | None = Field(default=None, pattern=_NAME)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenFile:
    """Principals and their hashed tokens, read once from the principals file."""

    def __init__(self, records: Iterable[PrincipalRecord]) -> None:
        self._records = list(records)
        roles = [r for r in self._records if r.role == Role.SYSTEM]
        if roles:
            raise ValueError(f"no principal may act as the system: {[r.id for r in roles]}")
        ids = [r.id for r in self._records]
        if len(ids) != len(set(ids)):
            raise ValueError("principal ids in the principals file must be unique")

    @classmethod
    def load(cls, path: Path) -> TokenFile:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(
                f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it"
            )
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, list):
                raise ValueError("want a JSON list of principals")
            return cls(PrincipalRecord.model_validate(item) for item in raw)
        except (ValueError, ValidationError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def authenticate(self, token: str) -> Principal:
        digest = token_digest(token)
        found = None
        for record in self._records:  # constant time per record; no early exit
            if hmac.compare_digest(record.token_sha256, digest):
                found = record
        if found is None:
            raise Unauthenticated("unknown token")
        return Principal(found.id, found.role, found.exporter_id)


def write_principals(path: Path, principals: list[tuple[str, Role, str | None]]) -> dict[str, str]:
    """Create a principals file with a new token for each ``(id, role, exporter)``; returns the
    tokens (shown once: only their hashes are stored). Written atomically, mode 0600."""
    tokens = {pid: new_token() for pid, _, _ in principals}
    records = [
        PrincipalRecord(
            id=pid, role=role, token_sha256=token_digest(tokens[pid]), exporter_id=exporter
        ).model_dump(exclude_none=True)
        for pid, role, exporter in principals
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_private_file(path, (json.dumps(records, indent=2) + "\n").encode(), "principals")
    return tokens


class OidcVerifier:
    """Checks the authority's OIDC JWTs against its JWKS (a file, or a URL PyJWT fetches and
    caches)."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.oidc_audience and settings.oidc_jwks):
            raise ValueError("DOZVIL_OIDC_ISSUER needs DOZVIL_OIDC_AUDIENCE and DOZVIL_OIDC_JWKS")
        self._issuer = settings.oidc_issuer
        self._audience = settings.oidc_audience
        self._role_claim = settings.oidc_role_claim
        self._exporter_claim = settings.oidc_exporter_claim
        source = settings.oidc_jwks
        self._client: jwt.PyJWKClient | None = None
        self._keys: jwt.PyJWKSet | None = None
        if source.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(source, cache_keys=True, lifespan=300)
        else:
            self._keys = jwt.PyJWKSet.from_json(Path(source).read_text(encoding="utf-8"))

    def _key(self, token: str) -> Any:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token).key
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._keys.keys:
            if key.key_id == kid:
                return key.key
        raise Unauthenticated(f"no key {kid!r} in the issuer's JWKS")

    def authenticate(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=JWT_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated(f"token refused: {exc}") from exc
        try:
            role = Role(str(claims.get(self._role_claim)))
        except ValueError:
            raise Unauthenticated(
                f"claim {self._role_claim!r} is not a Dozvil role: {claims.get(self._role_claim)!r}"
            ) from None
        if role == Role.SYSTEM:
            raise Unauthenticated("no caller may act as the system")
        exporter = claims.get(self._exporter_claim)
        return Principal(str(claims["sub"]), role, exporter if isinstance(exporter, str) else None)


class Authenticator:
    """The configured source of principals."""

    def __init__(self, source: TokenFile | OidcVerifier) -> None:
        self._source = source

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        if settings.oidc_issuer:
            return cls(OidcVerifier(settings))
        return cls(TokenFile.load(settings.principals_path))

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("no credentials: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("credentials must be a bearer token")
        return self._source.authenticate(token.strip())
