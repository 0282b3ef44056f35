"""Authentication: the hashed principals file and the authority's OIDC JWTs, each failing
closed with a reason."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runtime.settings import Settings
from service.auth import (
    Authenticator,
    OidcVerifier,
    Principal,
    TokenFile,
    Unauthenticated,
    token_digest,
    write_principals,
)
from workflows.lifecycle import Role

ISSUER = "https://id.dozvil.example/realms/authority"
AUDIENCE = "dozvil-api"


def test_the_principals_file_keeps_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "principals.json"
    tokens = write_principals(
        path,
        [("officer-1", Role.LICENSING_OFFICER, None), ("app-1", Role.APPLICANT, "motor-ua-001")],
    )
    assert path.stat().st_mode & 0o777 == 0o600
    stored = path.read_text()
    assert all(token not in stored for token in tokens.values())
    assert token_digest(tokens["officer-1"]) in stored
    auth = Authenticator(TokenFile.load(path))
    assert auth.authenticate(f"Bearer {tokens['app-1']}") == Principal(
        "app-1", Role.APPLICANT, "motor-ua-001"
    )
    for header, reason in (
        (None, "no credentials"),
        ("", "no credentials"),
        (f"Basic {tokens['app-1']}", "bearer"),
        ("Bearer ", "bearer"),
        ("Bearer wrong", "unknown token"),
    ):
        with pytest.raises(Unauthenticated, match=reason):
            auth.authenticate(header)


def test_a_bad_principals_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "principals.json"
    write_principals(path, [("officer-1", Role.LICENSING_OFFICER, None)])
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        TokenFile.load(path)
    path.chmod(0o600)
    record = {"id": "robot-1", "role": "system", "token_sha256": "0" * 64}
    path.write_text(json.dumps([record]))
    with pytest.raises(ValueError, match="system"):
        TokenFile.load(path)
    path.write_text(json.dumps([{**record, "role": "emperor"}]))
    with pytest.raises(ValueError, match="role"):
        TokenFile.load(path)
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="JSON list"):
        TokenFile.load(path)


@pytest.fixture
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def oidc(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> OidcVerifier:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    settings = Settings(
        _env_file=None,
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks=str(jwks),
    )
    return OidcVerifier(settings)


def token(key: Any, *, kid: str = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "officer-7",
        "iat": now,
        "exp": now + 300,
        "dozvil_role": "licensing_officer",
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid})


def test_an_oidc_jwt_becomes_a_principal(oidc: OidcVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert oidc.authenticate(token(rsa_key)) == Principal("officer-7", Role.LICENSING_OFFICER)
    applicant = token(rsa_key, sub="app-3", dozvil_role="applicant", dozvil_exporter="exp-1")
    assert oidc.authenticate(applicant) == Principal("app-3", Role.APPLICANT, "exp-1")


def test_oidc_jwts_fail_closed(oidc: OidcVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = {
        "signed by another key": token(other),
        "unknown kid": token(rsa_key, kid="k9"),
        "wrong audience": token(rsa_key, aud="someone-else"),
        "wrong issuer": token(rsa_key, iss="https://evil.example"),
        "expired": token(rsa_key, iat=now - 900, exp=now - 600),
        "no subject": token(rsa_key, sub=None),
        "no expiry": token(rsa_key, exp=None),
        "not a role": token(rsa_key, dozvil_role="emperor"),
        "the system": token(rsa_key, dozvil_role="system"),
        "garbage": "abc.def.ghi",
    }
    for name, bad in cases.items():
        with pytest.raises(Unauthenticated):
            oidc.authenticate(bad)
            pytest.fail(f"accepted a token with {name}")


def test_a_symmetric_algorithm_is_never_accepted(oidc: OidcVerifier) -> None:
    """Algorithm confusion: a token MACed with a shared secret is refused whatever its key."""
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": 1, "exp": 2**31},
        "k" * 32,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated):
        oidc.authenticate(forged)


def test_an_ec_issuer_key_works_too(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "e1"}]}))
    settings = Settings(
        _env_file=None, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks=str(jwks)
    )
    verifier = OidcVerifier(settings)
    assert verifier.authenticate(token(key, kid="e1", alg="ES256")).role == Role.LICENSING_OFFICER


def test_oidc_needs_audience_and_keys() -> None:
    with pytest.raises(ValueError, match="AUDIENCE"):
        OidcVerifier(Settings(_env_file=None, oidc_issuer=ISSUER))
