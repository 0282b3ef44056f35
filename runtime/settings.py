"""The one typed settings object. Every value comes from a ``DOZVIL_*`` environment variable
(or a ``.env`` file) and has an embedded default that runs on one machine with no services.

The ledger library never reads settings: the command line and (later) the worker pass it plain
arguments taken from here. The README's configuration table is checked against this class by
``tests/unit/runtime/test_settings.py``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _parse_dates(text: str) -> list[date]:
    days = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            days.append(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"{item!r} is not an ISO date (YYYY-MM-DD)") from None
    return days


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
    payload_keys: Path | None = Field(
        None,
        description="Keys encrypting Temporal payloads (mode 0600; lines `key-id base64-key`, "
        "first line = current key); empty means `<data_dir>/payload.keys`, generated on first "
        "use.",
    )
    temporal_address: str = Field(
        "127.0.0.1:7233", description="Temporal frontend `host:port` the worker and clients use."
    )
    temporal_namespace: str = Field("default", description="Temporal namespace of the cases.")
    task_queue: str = Field("dozvil-licences", description="Task queue of the licence workflows.")
    shutdown_grace_seconds: int = Field(
        30, ge=0, description="On SIGTERM, how long the worker lets running activities finish."
    )
    log_format: Literal["console", "json"] = Field(
        "console", description="`json` for one JSON object a line (production), else readable."
    )
    screening_lists: str = Field(
        "",
        description="Sanctions and denied-parties list files (EU, UN, US CSL or Dozvil JSON; "
        "format detected, or given as `eu:`/`un:`/`us-csl:`/`dozvil-json:` prefix), "
        "comma-separated.",
    )
    embargoed_destinations: str = Field(
        "KP,IR,RU,BY,SY",
        description="ISO 3166 country codes that screening flags as embargoed, comma-separated.",
    )

    statutory_days: str = Field(
        "military=45,dual_use=30,interagency=90,simplified=15:working",
        description="Decision deadline of each procedure (`procedure=days`, or "
        "`procedure=days:working` for working days, `:calendar` the default; comma-separated; "
        "the clock stops while information is requested).",
    )
    holiday_country: str = Field(
        "UA",
        description="Country (ISO 3166 code known to the `holidays` package) whose public "
        "holidays are not working days; empty for none.",
    )
    extra_holidays: str = Field(
        "",
        description="Further days off besides weekends and the country's holidays (ISO dates "
        "`YYYY-MM-DD`, comma-separated).",
    )
    holiday_years: int = Field(
        5,
        ge=0,
        le=20,
        description="Years after the current one whose holidays a new case is given (the "
        "current year is always resolved).",
    )
    information_reply_days: float = Field(
        30, gt=0, description="Days the applicant has to answer a request for information."
    )
    information_reminder_days: float = Field(
        5, ge=0, description="Days before the reply is due that the reminder is recorded."
    )
    review_days: float = Field(
        20, gt=0, description="Days each agency has for its finding before it is escalated."
    )
    licence_validity_days: int = Field(
        730, gt=0, le=1095, description="Longest validity of an issued licence (≤ 3 years)."
    )
    delivery_verification_days: float = Field(
        90, gt=0, description="Days after each shipment by which its delivery verification is due."
    )
    appeal_days: float = Field(28, gt=0, description="Days the applicant has to appeal a refusal.")
    appeal_decision_days: float = Field(
        30, gt=0, description="Statutory period for deciding an appeal."
    )
    suspension_max_days: float = Field(
        180, gt=0, description="Longest suspension; an unlifted one lapses at its end."
    )

    log_vkey: str = Field(
        "",
        description="The log's first public (verifier) key, as published to auditors; empty "
        "means the one the log key file's key verifies (embedded default).",
    )
    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port on which a separate worker process serves its Prometheus metrics "
        "(ledger append latency); 0: none (under `dozvil up` the service exports them).",
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP service listens on.")
    http_port: int = Field(8000, ge=0, le=65535, description="Port of the HTTP service.")
    principals_file: Path | None = Field(
        None,
        description="Who may call the service in the embedded default: a JSON list of "
        '`{"id", "role", "token_sha256", "exporter_id"?}` (tokens stored hashed, mode 0600); '
        "empty means `<data_dir>/principals.json`, created by `dozvil up`.",
    )
    oidc_issuer: str = Field(
        "",
        description="Production: the authority's OIDC issuer; when set, bearer tokens are JWTs "
        "checked for this `iss` (and the principals file is not used).",
    )
    oidc_audience: str = Field("", description="The `aud` the service's JWTs must carry.")
    oidc_jwks: str = Field(
        "", description="The issuer's signing keys: a JWKS file path or an `https://` URL."
    )
    oidc_role_claim: str = Field(
        "dozvil_role", description="JWT claim naming the caller's role (`sub` is the caller)."
    )
    oidc_exporter_claim: str = Field(
        "dozvil_exporter", description="JWT claim naming an applicant's exporter id."
    )
    screening_threshold: float = Field(
        88.0,
        gt=0,
        le=100,
        description="Lowest name similarity (0-100, rapidfuzz token-sort ratio after "
        "transliteration) that screening flags as a match.",
    )

    @field_validator("log_origin")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value or "\n" in value or " " in value or "+" in value:
            raise ValueError("origin must be one non-empty line without spaces or '+'")
        return value

    @field_validator("holiday_country")
    @classmethod
    def _country_code(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("extra_holidays")
    @classmethod
    def _iso_dates(cls, value: str) -> str:
        _parse_dates(value)
        return value

    @property
    def extra_holiday_dates(self) -> list[date]:
        return _parse_dates(self.extra_holidays)

    @property
    def screening_list_paths(self) -> list[Path]:
        return [Path(p.strip()) for p in self.screening_lists.split(",") if p.strip()]

    @property
    def embargoed(self) -> frozenset[str]:
        return frozenset(c.strip() for c in self.embargoed_destinations.split(",") if c.strip())

    @property
    def ledger_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.db'}"

    @property
    def key_path(self) -> Path:
        return self.log_key_file or self.data_dir / "log.key"

    @property
    def principals_path(self) -> Path:
        return self.principals_file or self.data_dir / "principals.json"

    @property
    def payload_keys_path(self) -> Path:
        return self.payload_keys or self.data_dir / "payload.keys"
