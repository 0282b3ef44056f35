"""Fixtures shared by every test: log keys, ledgers on SQLite and PostgreSQL, Temporal servers.

PostgreSQL tests need ``DOZVIL_TEST_POSTGRES_URL`` (``.ci/run`` sets it to the machine's
server); each test gets a schema of its own, dropped afterwards. Without the URL they skip
with that reason.

Temporal tests take ``dev_env`` (the dev server, end to end) or ``time_env`` (time skipping,
timer paths), both session-scoped and chosen by ``--workflow-environment`` (see
``tests/temporal_env.py``), and a fresh ``task_queue``. Their modules run in the session's
event loop: ``pytestmark = [pytest.mark.temporal, pytest.mark.asyncio(loop_scope="session")]``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, text
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from ledger.note import Signer
from ledger.store.sql import SqlLedger
from runtime.codec import PayloadKey, data_converter, write_key_file
from runtime.settings import Settings
from tests import temporal_env

ORIGIN = "test.dozvil.local/ledger"
POSTGRES_URL = os.environ.get("DOZVIL_TEST_POSTGRES_URL", "")
NO_POSTGRES = "DOZVIL_TEST_POSTGRES_URL is not set (.ci/run sets it when PostgreSQL is up)"


@pytest.fixture(scope="session")
def log_signer() -> Signer:
    return Signer.generate(ORIGIN)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'ledger.db'}"


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL of ``DOZVIL_TEST_POSTGRES_URL`` whose search_path is a new schema, dropped after."""
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


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    with fresh_postgres_schema() as url:
        yield url


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


# Temporal -------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        temporal_env.OPTION,
        default=None,
        help="Temporal server for workflow tests: 'local' (dev server), 'time-skipping' "
        "(test server) or host:port[/namespace] of a running one; default: the dev server "
        "for dev_env, the time-skipping server for time_env",
    )


def pytest_configure(config: pytest.Config) -> None:
    temporal_env.check_option(config.getoption(temporal_env.OPTION))
    config.addinivalue_line(
        "markers", "temporal: runs workflows on a Temporal server (started once per session)"
    )


@pytest.fixture(scope="session")
def payload_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test payload key file: current key ``test-2``, retired key ``test-1``."""
    path = tmp_path_factory.mktemp("temporal") / "payload.keys"
    write_key_file(path, [PayloadKey.generate("test-2"), PayloadKey.generate("test-1")])
    return path


@pytest.fixture(scope="session")
def temporal_data_converter(payload_keys_file: Path) -> DataConverter:
    """The worker's and clients' data converter (pydantic + encryption) on the test keys."""
    settings = Settings(
        _env_file=None, data_dir=payload_keys_file.parent, payload_keys=payload_keys_file
    )
    return data_converter(settings)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_environments(
    request: pytest.FixtureRequest, temporal_data_converter: DataConverter
) -> AsyncIterator[temporal_env.Environments]:
    envs = temporal_env.Environments(
        request.config.getoption(temporal_env.OPTION), temporal_data_converter
    )
    try:
        yield envs
    finally:
        await envs.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env(temporal_environments: temporal_env.Environments) -> WorkflowEnvironment:
    """The dev server (or the server ``--workflow-environment`` names), for end-to-end tests."""
    return await temporal_environments.get(temporal_env.LOCAL)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def time_env(temporal_environments: temporal_env.Environments) -> WorkflowEnvironment:
    """The time-skipping server (or the one ``--workflow-environment`` names), for timers.

    Time skipping is global to the server: tests using it must not run concurrently.
    """
    return await temporal_environments.get(temporal_env.TIME_SKIPPING)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env_short_history(
    temporal_environments: temporal_env.Environments,
) -> WorkflowEnvironment:
    """A dev server suggesting continue-as-new after ``SUGGEST_CONTINUE_AS_NEW_AT`` events."""
    return await temporal_environments.short_history()


@pytest.fixture
def task_queue() -> str:
    """A task queue of the test's own, so no other test's worker takes its tasks."""
    return f"test-{uuid.uuid4()}"
