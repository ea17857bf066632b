"""Paths from config: SEGKIT_DATA set, set but empty, or unset."""
from __future__ import annotations

from segkit.config import Settings, default_data_path


def test_segkit_data_names_a_file_or_forces_the_sample(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGKIT_DATA", str(tmp_path / "log.csv"))
    assert default_data_path() == tmp_path / "log.csv"
    monkeypatch.setenv("SEGKIT_DATA", "")
    assert default_data_path() is None  # the built-in sample, whatever data/ holds
    monkeypatch.setenv("SEGKIT_DATA", "  ")
    assert default_data_path() is None


def test_settings_from_the_environment():
    from segkit.config import settings

    assert settings({}).currency == "£" and not settings({}).analyst
    assert settings({"SEGKIT_CURRENCY": "€", "SEGKIT_ANALYST": "1"}) == Settings(currency="€", analyst=True)
