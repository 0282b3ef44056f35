"""Fixtures shared by every test: log keys and ledgers on SQLite and PostgreSQL.

PostgreSQL tests need ``DOZVIL_TEST_POSTGRES_URL`` (``.ci/run`` sets it to the machine's
server); each test gets a schema of its own, dropped afterwards. Without the URL they skip
with that reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from ledger.note import Signer
from ledger.store.sql import SqlLedger

ORIGIN = "test.dozvil.local/ledger"
POSTGRES_URL = os.environ.get("DOZVIL_TEST_POSTGRES_URL", "")
NO_POSTGRES = "DOZVIL_TEST_POSTGRES_URL is not set (.ci/run sets it when PostgreSQL is up)"


@pytest.fixture(scope="session")
def log_signer() -> Signer:
    return Signer.generate(ORIGIN)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'ledger.db'}"


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The ledger database URL, once per backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def ledger(db_url: str, log_signer: Signer) -> Iterator[SqlLedger]:
    store = SqlLedger.open(db_url, log_signer)
    store.init(ORIGIN)
    yield store
    store.engine.dispose()
