"""Fixtures of the live tests: the sample split by month, a saved model, a folder of monthly files."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from live_files import months_of, write_settled


@pytest.fixture(scope="module")
def months(sample_log) -> dict[str, pd.DataFrame]:
    return months_of(sample_log)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, sample_data):
    """A model trained on the sample, saved and loaded back as a page loads it."""
    from segkit.pipeline.artifacts import load_artifacts, save_artifacts
    from segkit.pipeline.workflow import train_model

    folder = tmp_path_factory.mktemp("artifacts")
    model, _ = train_model(sample_data, k=3)
    save_artifacts(model, folder, sample_data.training_info())
    return load_artifacts(folder)


@pytest.fixture
def folder(tmp_path, months) -> Path:
    """The sample split into monthly files (csv and parquet), all but the last two months."""
    folder = tmp_path / "data"
    folder.mkdir()
    for i, (month, frame) in enumerate(list(months.items())[:-2]):
        write_settled(frame, folder / f"{month}.{'csv' if i % 2 else 'parquet'}")
    return folder
