"""Settings: secret handling and parsing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.core.config import Settings


@pytest.mark.parametrize("weak", ["changethis", "secret", "short-key"])
def test_weak_secret_key_is_refused(tmp_path: Path, weak: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY is too weak"):
        Settings(_env_file=None, data_dir=tmp_path, secret_key=weak)  # type: ignore[call-arg]


def test_missing_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings(_env_file=None, data_dir=tmp_path).signing_key()  # type: ignore[call-arg]
    again = Settings(_env_file=None, data_dir=tmp_path).signing_key()  # type: ignore[call-arg]
    assert first == again and len(first) >= 32
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_lists_parse_from_comma_separated_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("REGISTRATION", "open")
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.registration == "open"
    assert settings.resolved_database_url.endswith(f"{tmp_path}/orchestrator.db")


def test_bad_setting_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, data_dir=tmp_path, registration="sometimes")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, data_dir=tmp_path, port=70000)  # type: ignore[call-arg]


def test_unknown_risk_classes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown risk classes"):
        Settings(_env_file=None, data_dir=tmp_path, approval_risks="exec,dangerous")  # type: ignore[call-arg]
