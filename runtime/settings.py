"""The one typed settings object. Every value comes from a ``DOZVIL_*`` environment variable
(or a ``.env`` file) and has an embedded default that runs on one machine with no services.

The ledger library never reads settings: the command line and (later) the worker pass it plain
arguments taken from here. The README's configuration table is checked against this class by
``tests/unit/runtime/test_settings.py``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Dozvil configuration (variable name = ``DOZVIL_`` + field name in upper case)."""

    model_config = SettingsConfigDict(env_prefix="DOZVIL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("var"), description="Folder for the embedded SQLite ledger and the log key."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the ledger database; empty means "
        "`sqlite:///<data_dir>/ledger.db`. Production: `postgresql://user@host/db`.",
    )
    log_key_file: Path | None = Field(
        None,
        description="Private key of the log (Go note `PRIVATE+KEY+…` form, mode 0600); "
        "empty means `<data_dir>/log.key`, created by `dozvil ledger init`.",
    )
    log_origin: str = Field(
        "dozvil.local/ledger",
        description="Checkpoint origin line (C2SP tlog-checkpoint), also the log key's name.",
    )

    @field_validator("log_origin")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value or "\n" in value or " " in value or "+" in value:
            raise ValueError("origin must be one non-empty line without spaces or '+'")
        return value

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.db'}"

    @property
    def key_path(self) -> Path:
        return self.log_key_file or self.data_dir / "log.key"
