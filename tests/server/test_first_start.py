"""The first start on new data (``segkit.server.first_start``): ``make run`` trains and saves
the model, with lifetime value and the backtest's evidence, before the page opens."""
from __future__ import annotations

import pytest

from segkit.server import first_start


@pytest.fixture
def new_data(tmp_path, monkeypatch):
    """The built-in sample with an empty artifacts folder: a first start."""
    monkeypatch.setenv("SEGKIT_DATA", "")  # set but empty: the sample, whatever data/ holds
    monkeypatch.setenv("SEGKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_CLV", "1")  # conftest turns it off for speed; the first start fits it
    return tmp_path / "artifacts"


def _needs_clv():
    from segkit.value.clv import clv_available

    if not clv_available():
        pytest.skip("lifetime value needs the clv extra (pip install 'segkit[clv]')")


@pytest.mark.slow  # trains with lifetime value and the backtest: 10-20 s
def test_first_start_trains_and_saves_a_model_with_value_then_uses_it(new_data, capsys):
    _needs_clv()
    from segkit.dashboard.state import DashboardState
    from segkit.page.data import load_dashboard_data
    from segkit.pipeline.artifacts import read_model_card

    done = first_start.prepare_model()
    printed = capsys.readouterr().out.strip().splitlines()
    card = read_model_card(new_data)
    assert done.trained and card["clv"] and card.get("evidence"), sorted(card)
    assert printed[-2].startswith("First start on built-in sample") and f"no saved model in {new_data}. " in printed[-2]
    assert printed[-1].startswith(f"Trained and saved the model to {new_data} in "), printed
    assert " s, with lifetime value; training report: " in printed[-1], printed
    assert "lifetime value (" in done.report.read_text() and "backtest:" in done.report.read_text()
    # the lifecycle thresholds are fitted to the data, as plain `segkit train` fits them, and said so
    assert card["lifecycle_fit"]["fitted"] and card["lifecycle"] == card["lifecycle_fit"]["thresholds"]
    assert card["lifecycle"] != {"new_days": 30, "at_risk_days": 120, "lost_days": 180}
    assert card["lifecycle_fit"]["sentence"] in done.report.read_text()
    with capsys.disabled():
        print(f"\nfirst start on the sample: {done.seconds:.1f} s\n" + "\n".join(printed))

    again = first_start.prepare_model()
    assert not again.trained and capsys.readouterr().out.strip().splitlines()[-1].startswith("Using the saved model")
    state = DashboardState.load(load_dashboard_data(None, new_data), new_data)
    assert state.saved and state.value_missing == "" and state.status.text.startswith("Using the saved model (saved ")


def test_a_first_start_that_cannot_read_the_data_says_so_in_one_sentence(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "orders.csv"
    bad.write_bytes(b"\x00\x01garbage;;;\n\xff\xfe")
    monkeypatch.setenv("SEGKIT_DATA", str(bad))
    monkeypatch.setenv("SEGKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    assert first_start.main() == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segkit: error: the dashboard was not started: ") and "orders.csv" in err[0]
    assert "Traceback" not in err[0] and err[0].count(". ") == 0, err  # one sentence
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())


@pytest.mark.real_data
@pytest.mark.slow
def test_first_start_on_the_real_workbook(real_workbook, tmp_path, monkeypatch, capsys):
    """``make run`` with the workbook put in data/ and nothing else: a cold cache (the
    workbook read once), no saved model. Measured, not asserted (docs/benchmarks.md)."""
    _needs_clv()
    from segkit.pipeline.artifacts import read_model_card

    monkeypatch.setenv("SEGKIT_DATA", str(real_workbook))
    monkeypatch.setenv("SEGKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGKIT_CLV", "1")
    done = first_start.prepare_model()
    printed = capsys.readouterr().out.strip().splitlines()
    card = read_model_card(tmp_path / "artifacts")
    assert done.trained and card["clv"] and card.get("evidence") and card["training_data"]["customers"] > 4000
    with capsys.disabled():
        print(f"\nfirst start on the real workbook: {done.seconds:.1f} s\n" + "\n".join(printed))


def test_a_followed_folder_keeps_any_saved_model(sample_data, tmp_path, monkeypatch, capsys):
    """A page following a folder scores new files with the saved model, never retrains: the
    first start leaves a saved model alone there, even one trained on other lines."""
    from segkit.pipeline.artifacts import read_model_card, save_artifacts
    from segkit.pipeline.workflow import train_model

    model, _ = train_model(sample_data, k=3)
    save_artifacts(model, tmp_path / "artifacts", sample_data.training_info())
    before = read_model_card(tmp_path / "artifacts")["created"]
    folder = tmp_path / "exports"
    folder.mkdir()
    sample_data.transactions.head(2000).drop(columns=["TotalPrice"], errors="ignore").to_csv(folder / "a.csv",
                                                                                             index=False)
    monkeypatch.setenv("SEGKIT_DATA", str(folder))
    monkeypatch.setenv("SEGKIT_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("SEGKIT_CACHE", str(tmp_path / "cache"))
    done = first_start.prepare_model()
    assert not done.trained and read_model_card(tmp_path / "artifacts")["created"] == before
    assert capsys.readouterr().out.startswith(f"Using the saved model in {tmp_path / 'artifacts'} for the folder")
