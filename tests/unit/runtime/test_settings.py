"""The README's configuration table and :class:`runtime.settings.Settings` say the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"
ROW = re.compile(r"^\| `(DOZVIL_[A-Z_]+)` \| (.*?) \| (.*?) \|$")


def readme_rows() -> dict[str, str]:
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_every_setting_is_documented_and_nothing_else() -> None:
    documented = readme_rows()
    fields = {f"DOZVIL_{name.upper()}" for name in Settings.model_fields}
    assert set(documented) == fields


def test_documented_defaults_are_the_real_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"DOZVIL_{name.upper()}", raising=False)
    settings = Settings(_env_file=None)
    for name, field in Settings.model_fields.items():
        shown = readme_rows()[f"DOZVIL_{name.upper()}"].strip("`").replace("(empty)", "")
        value = getattr(settings, name)
        assert shown == ("" if value is None else str(value)), name
        assert field.description, name


def test_derived_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOZVIL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DOZVIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("DOZVIL_LOG_KEY_FILE", raising=False)
    settings = Settings(_env_file=None)
    assert settings.ledger_url == f"sqlite:///{tmp_path / 'ledger.db'}"
    assert settings.key_path == tmp_path / "log.key"


def test_a_bad_origin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOZVIL_LOG_ORIGIN", "two words")
    with pytest.raises(ValidationError, match="one non-empty line without spaces"):
        Settings(_env_file=None)
