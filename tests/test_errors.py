"""segkit.errors: errors for people, caught where the documentation says they are."""
from __future__ import annotations

import pytest

from segkit.cli import main
from segkit.errors import SegkitArtifactError, SegkitDataError, SegkitError, SegkitFeatureError


def test_a_data_error_is_also_a_value_error_and_a_feature_error_an_artifact_error():
    with pytest.raises(ValueError):  # code catching ValueError around a read keeps working
        raise SegkitDataError("'log.csv' has no column 'Quantity'; add it.")
    with pytest.raises(SegkitArtifactError):  # the page's "saved model" message covers changed features too
        raise SegkitFeatureError("feature 'basket' changed since training; train again.")
    assert all(issubclass(e, SegkitError) for e in (SegkitDataError, SegkitArtifactError, SegkitFeatureError))


def test_a_segkit_error_reaches_the_user_as_its_sentence_alone(tmp_path, capsys):
    missing = tmp_path / "nowhere.csv"
    assert main(["train", "--data", str(missing), "--artifacts", str(tmp_path / "model")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segkit: error: ") and "nowhere.csv" in err[0]
    assert "Traceback" not in err[0] and not (tmp_path / "model").exists()
